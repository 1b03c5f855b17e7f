"""Score-performance alignment: which performed note plays which score note.

Task
    Given a performance (MIDI, read by :func:`~pianoeval.symbolic.midi.load_midi`) and its
    score (a score MIDI or MusicXML, read by partitura), pair every performed note with the
    score note it plays. Score notes without a partner are **missing** (not played),
    performed notes without a partner are **extra** (not in the score). A wrong note shows
    up as one missing plus one extra note; :func:`note_accuracy` estimates how many of those
    pairs are wrong pitches.

Backends (:data:`ALIGN_BACKENDS`, chosen by name: ``align(perf, score, backend=...)``)
    ``parangonar`` (:mod:`.parangonar`, the default): parangonar's ``DualDTWNoteMatcher``
    (Peter, 2023), an onset DTW run forwards and backwards, then per-pitch matching along
    it; pianoeval passes it a vectorised but equivalent onset DTW. Its matching stage grows
    quadratically, so long performances are aligned in pieces between **anchors**, pairs
    of corresponding (performance, score) times such as annotated downbeats
    (:func:`anchors_from_downbeats`); a PercePiano segment aligns in about 0.06 s.

    ``chord_dtw`` (:mod:`.chord_dtw`): a DTW over onset clusters (chords) as pitch sets,
    greedy same-pitch matching around the mapped onsets, and an isotonic time map; numpy
    only, linear time and memory (coarse-to-fine banded DTW for long pairs), no anchors
    needed. The feature families (:mod:`pianoeval.symbolic.features`) use it.

    Every backend returns the same :class:`Alignment` (pairs, missing and extra notes,
    and a score-to-performance time map, :meth:`Alignment.score_to_perf`).

Conventions
    Score time is in quarter notes from the start of the score file (``onset_quarter``) and
    in seconds (``onset_sec``): a score MIDI's own tempo map, or for MusicXML its first
    metronome mark (else :data:`NOMINAL_QPM`). Bar numbers come from the score's measures as
    partitura numbers them, or, when ``downbeats_sec`` are given (score seconds, e.g. ASAP's
    ``midi_score_annotations.txt``), bar ``i`` starts at the ``i``-th downbeat and notes
    before the first are bar 0 (a pickup). Performance note indices refer to the
    ``PerformanceMidi.notes`` array (sorted by onset, then pitch); score note indices to
    :attr:`NotatedScore.notes` (sorted by onset, then pitch).

Alignment features (:func:`alignment_features`, columns ``alignment.*``)
    Computed from the matched non-grace notes. The *local tempo* is a tricube-weighted
    linear fit of performed onset (s) against score onset (quarters) around each score
    onset (half-width :data:`LOCAL_FIT_QUARTERS` quarters, widened to take at least five
    onsets); its slope is the local seconds per quarter. Onset deviation is the performed
    onset minus the fit (chord asynchrony included). Tempo ratio is performed seconds per
    score second (> 1: slower than the score). Duration ratio is the key-down time over the
    notated value at the local tempo; legato means a ratio of at least
    :data:`LEGATO_RATIO`, staccato at most :data:`STACCATO_RATIO`. Rubato at the end is the
    local seconds per quarter over the last bar divided by that over the bars before it.

Unlike score-following work that reports alignment F-measure against hand-made ground
truth, pianoeval uses the alignment only as a measuring device: its quality is reported
per segment (:func:`note_accuracy`), and downstream confidence drops with it.
"""

from __future__ import annotations

from pianoeval.symbolic.align._api import (
    ALIGN_BACKENDS,
    AlignBackend,
    align,
    anchors_from_downbeats,
    time_map_from_pairs,
)
from pianoeval.symbolic.align.alignment import SCHEMA_VERSION, Alignment, BackendMatch
from pianoeval.symbolic.align.measures import (
    LEGATO_RATIO,
    LOCAL_FIT_QUARTERS,
    STACCATO_RATIO,
    WRONG_PITCH_MAX_SEC,
    WRONG_PITCH_MAX_SEMITONES,
    alignment_features,
    note_accuracy,
)
from pianoeval.symbolic.align.parangonar import MAX_DTW_CELLS
from pianoeval.symbolic.align.score import (
    NOMINAL_QPM,
    SCORE_NOTE_DTYPE,
    NotatedScore,
    load_score,
    score_from_notes,
    score_from_partitura,
)

__all__ = [
    "ALIGN_BACKENDS",
    "LEGATO_RATIO",
    "LOCAL_FIT_QUARTERS",
    "MAX_DTW_CELLS",
    "NOMINAL_QPM",
    "SCHEMA_VERSION",
    "SCORE_NOTE_DTYPE",
    "STACCATO_RATIO",
    "WRONG_PITCH_MAX_SEC",
    "WRONG_PITCH_MAX_SEMITONES",
    "AlignBackend",
    "Alignment",
    "BackendMatch",
    "NotatedScore",
    "align",
    "alignment_features",
    "anchors_from_downbeats",
    "load_score",
    "note_accuracy",
    "score_from_notes",
    "score_from_partitura",
    "time_map_from_pairs",
]
