"""Pseudo-labels on the ``execution16`` dimensions from symbolic proxies, checked against people.

Task
    Give every manifest row (PercePiano segments, ASAP windows, user performances) weak
    labels on the execution dimensions a MIDI file can speak to, with a confidence per
    dimension, so that unlabelled data can train a rater (evaluator guide, section 16.2).

Proxies (:func:`segment_proxies`)
    ``midi.*`` columns come from the notes and pedals of the performance alone
    (:func:`midi_proxies`); ``alignment.*`` columns need the score
    (:func:`pianoeval.symbolic.align.alignment_features`). Each ``execution16`` dimension
    has a short list of candidate proxies, each with the sign that makes "higher" mean
    "more of the named quality" (:data:`CANDIDATES`). The three timbre dimensions have none:
    MIDI says nothing about the sound of a piano.

Scaling
    A proxy becomes a pseudo-label by robust min-max scaling: its 5th percentile maps to 0,
    its 95th to 1, and values outside are clipped. The percentiles are fitted on a
    reference pool, PercePiano's 1189 labelled segments plus every ASAP window, each
    dataset weighted equally, and committed in ``pseudo_calibration.json``.

Validation (:func:`within_excerpt_spearman`)
    PercePiano has several performers of each passage (an *excerpt*). Per excerpt with at
    least :data:`MIN_PERFORMERS` performers, the Spearman correlation between the proxy and
    the matching human label (DIMENSIONS.md; sign applied, so agreement is positive) is
    taken across its performers, which removes the piece: a proxy cannot pass by
    recognising the composition. Correlations are averaged over excerpts weighted by their
    number of performers. For each dimension the candidate with the highest mean on the
    excerpt split's training side (everything but the held-out test excerpts) is chosen;
    it **passes** when that mean is at least :data:`PASS_RHO` (0.2). The test excerpts give
    an unbiased figure for the chosen proxy. Only passing proxies become pseudo-labels.
    Dimensions without a human counterpart (tempo_control, rhythmic_accuracy,
    phrasing_continuity) cannot be validated: their proxies are direct measurements of the
    quality (tempo variability, onset error, silences), kept as ``unvalidated`` with the
    low confidence :data:`UNVALIDATED_CONF`.

Calibration (:func:`calibrate_to_human`)
    Where a human dimension matches, the pseudo-label is mapped to the human scale (the
    released percepiano19 mean rating / 7) by an affine or an isotonic fit, chosen by the
    mean R2 over the excerpt split's four validation folds, refitted on its training side
    and evaluated on its test excerpts (R2, Spearman, within-excerpt Spearman).

Confidence
    ``pseudo_conf[dim]`` is the chosen proxy's within-excerpt Spearman on all labelled
    excerpts (clipped to [0, 1]); for ``alignment.*`` proxies it is multiplied by the
    alignment's quality, ``clip((f_measure - 0.5) / 0.4, 0, 1)`` (1 at an F-measure of 0.9
    or more, 0 at 0.5 or less). Where a row has no alignment, a passing ``midi.*`` fallback
    is used with its own confidence, or the dimension is left out.

Scores
    PercePiano rows use their excerpt's score MIDI, ``score_midi/{piece}_{N}bars_Score_{k}``,
    else the ``Score`` rendition in ``midi/`` (made from the score MIDI; most are
    byte-identical), else the MusicXML, found from the row's MIDI name with the segment
    token as written (``01``, not ``1``). A score MIDI carries the score's tempo, which
    tempo ratios need. Other rows use ``score_uri``; when an ASAP-style
    ``<score stem>_annotations.txt`` lies beside the score its downbeats number the bars.
    Long performances (more than :data:`FULL_ALIGN_MAX_NOTES` notes) are aligned piece by
    piece between the (``t0``, ``score_t0``) and (``t1``, ``score_t1``) anchors of their
    rows, once per performance; each row then takes its window of that alignment.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import re
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pianoeval._parallel import resolve_jobs
from pianoeval._typing import Float64Array, PathLike
from pianoeval.constants import PEDAL_DOWN
from pianoeval.errors import AlignmentError, MidiError, ParameterError, SchemaError
from pianoeval.symbolic.midi import (
    PEDAL_DTYPE,
    PerformanceMidi,
    load_midi,
    sounding_offsets,
)

__all__ = [
    "CALIBRATION_PATH",
    "CANDIDATES",
    "CHORD_SEC",
    "FULL_ALIGN_MAX_NOTES",
    "HUMAN_MATCH",
    "MIN_PERFORMERS",
    "PASS_RHO",
    "PERCENTILES",
    "PROXY_VERSION",
    "TIMBRE_DIMS",
    "UNVALIDATED_CONF",
    "ProxyResult",
    "PseudoCalibration",
    "PseudoReport",
    "WithinExcerpt",
    "alignment_quality",
    "calibrate_to_human",
    "compute_proxies",
    "cut_performance",
    "fit_pseudo_calibration",
    "fit_robust_scaler",
    "load_calibration",
    "midi_proxies",
    "percepiano_score_path",
    "pseudo_labels_for",
    "robust_scale",
    "segment_proxies",
    "within_excerpt_spearman",
    "write_pseudo_labels",
]

TAXONOMY = "execution16"
#: The committed calibration: scalers, chosen proxies, validation and pseudo->human maps.
CALIBRATION_PATH = Path(__file__).resolve().with_name("pseudo_calibration.json")
#: Percentiles mapped to 0 and 1 by the robust scaling.
PERCENTILES = (5.0, 95.0)
#: A proxy passes when its mean within-excerpt Spearman (sign applied) reaches this.
PASS_RHO = 0.2
#: Excerpts with fewer performers than this are left out of within-excerpt correlations.
MIN_PERFORMERS = 4
#: Confidence of the proxies of dimensions without a human counterpart.
UNVALIDATED_CONF = 0.2
#: Notes whose onsets lie this close (seconds) to a chord's first onset belong to the chord.
CHORD_SEC = 0.05
#: Time step (seconds) of the grid on which pedal and silence measures are sampled.
GRID_SEC = 0.02
#: Performances with more notes are aligned between anchors (or not at all without them).
FULL_ALIGN_MAX_NOTES = 4000
#: Version of the proxy definitions; proxy caches written by another version are ignored.
PROXY_VERSION = 1

#: execution16 dimension -> (matching percepiano19 dimension, sign), from DIMENSIONS.md.
HUMAN_MATCH: dict[str, tuple[str, int]] = {
    "timing_stability": ("timing", -1),
    "articulation_length": ("articulation_length", +1),
    "articulation_hardness": ("articulation_touch", +1),
    "pedal_density": ("pedal_amount", +1),
    "pedal_clarity": ("pedal_clarity", -1),
    "dynamic_range": ("dynamic_range", +1),
    "dynamic_control": ("dynamic_sophistication", -1),
    "balance_melody_vs_accomp": ("balance", +1),
    "expressiveness_intensity": ("drama", +1),
    "energy_level": ("mood_energy", +1),
}
TIMBRE_DIMS = ("timbre_brightness", "timbre_richness", "timbre_color_variety")

#: Candidate proxies per dimension: (column, sign); sign +1 when a higher value means more
#: of the named quality. The candidates were written down from what each quality means
#: before looking at any correlation; validation picks among them.
CANDIDATES: dict[str, tuple[tuple[str, int], ...]] = {
    "timing_stability": (
        ("alignment.onset_dev_std_ms", -1),
        ("alignment.tempo_jitter", -1),
        ("midi.ioi_unevenness", -1),
    ),
    "tempo_control": (("alignment.tempo_variability", -1),),
    "rhythmic_accuracy": (("alignment.onset_dev_abs_ms", -1),),
    "articulation_length": (
        ("alignment.duration_ratio_mean", +1),
        ("alignment.staccato_share", -1),
        ("midi.articulation_ratio", +1),
        ("midi.sounding_ratio", +1),
    ),
    "articulation_hardness": (
        ("midi.velocity_mean", +1),
        ("midi.velocity_p90", +1),
    ),
    "pedal_density": (
        ("midi.pedal_down_share", +1),
        ("midi.pedal_depth_mean", +1),
    ),
    "pedal_clarity": (
        ("midi.pedal_extension_share", -1),
        ("midi.pedal_clash_share", -1),
    ),
    "dynamic_range": (
        ("midi.velocity_range", +1),
        ("midi.velocity_std", +1),
        ("midi.dynamic_contour_range", +1),
    ),
    "dynamic_control": (
        ("midi.velocity_roughness", -1),
        ("midi.velocity_p90", -1),
    ),
    "balance_melody_vs_accomp": (
        ("midi.melody_lead", +1),
        ("midi.skyline_lead", +1),
    ),
    "phrasing_continuity": (("midi.silence_share", -1),),
    "expressiveness_intensity": (
        ("alignment.tempo_variability", +1),
        ("midi.velocity_std", +1),
        ("midi.dynamic_contour_range", +1),
    ),
    "energy_level": (
        ("midi.velocity_mean", +1),
        ("midi.note_rate", +1),
    ),
}

_MIDI_COLUMNS = (
    "velocity_mean", "velocity_p90", "velocity_std", "velocity_range", "velocity_roughness",
    "dynamic_contour_range", "melody_lead", "skyline_lead", "articulation_ratio", "sounding_ratio",
    "pedal_down_share", "pedal_depth_mean", "pedal_changes_per_sec", "pedal_extension_share",
    "pedal_clash_share", "silence_share", "onset_rate", "note_rate", "ioi_unevenness",
)  # fmt: skip


# --------------------------------------------------------------------------- proxies


def cut_performance(perf: PerformanceMidi, t0: float, t1: float) -> PerformanceMidi:
    """Return the notes with onsets in ``[t0, t1)`` and the pedal events that act on them.

    Notes keep their full length (a note held past ``t1`` is still legato); pedal events
    within the window are kept, the pedal state at ``t0`` becomes an event at ``t0``, and
    events after ``t1`` up to the first release are kept, so the window's last notes ring
    as long as they did. ``end_sec`` is recomputed from the kept notes and pedal.
    """
    on = perf.notes["onset_sec"]
    notes = perf.notes[(on >= t0) & (on < t1)]

    def cut(events: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
        if len(events) == 0:
            return events
        times = events["time_sec"]
        inside = events[(times >= t0) & (times < t1)]
        after = events[times >= t1]
        released = np.flatnonzero(after["value"] < PEDAL_DOWN)
        if released.size:
            inside = np.concatenate([inside, after[: released[0] + 1]])
        before = events[times < t0]
        if len(before):
            start = np.array([(t0, before["value"][-1])], dtype=PEDAL_DTYPE)
            inside = np.concatenate([start, inside])
        return inside

    sustain = cut(perf.sustain)
    ends = _sounding_offsets(notes, sustain)
    return PerformanceMidi(
        path=perf.path,
        notes=notes,
        sustain=sustain,
        sostenuto=cut(perf.sostenuto),
        soft=cut(perf.soft),
        end_sec=float(ends.max()) if len(ends) else 0.0,
    )


def _sounding_offsets(notes: npt.NDArray[np.void], sustain: npt.NDArray[np.void]) -> Float64Array:
    """:func:`sounding_offsets`, also when the pedal is never released.

    ``sounding_offsets`` indexes the next pedal release and fails when there is none (a
    window cut while the pedal is down, or a file ending with the pedal down); a release at
    the last pedal event gives the behaviour it documents for that case.
    """
    if len(sustain) and bool(np.all(sustain["value"] >= PEDAL_DOWN)):
        last = np.array([(float(sustain["time_sec"][-1]), 0)], dtype=PEDAL_DTYPE)
        sustain = np.concatenate([sustain, last])
    return sounding_offsets(notes, sustain)


def _clusters(onsets: Float64Array) -> npt.NDArray[np.intp]:
    """Return the chord id of each (sorted) onset: a new chord after a gap over CHORD_SEC."""
    if onsets.size == 0:
        return np.zeros(0, dtype=np.intp)
    return np.concatenate([[0], np.cumsum(np.diff(onsets) > CHORD_SEC)]).astype(np.intp)


def _step_value(times: Float64Array, values: npt.NDArray[Any], grid: Float64Array) -> Float64Array:
    """Value of a step function (events at ``times``) at each grid time (0 before any)."""
    if times.size == 0:
        return np.zeros(grid.size)
    i = np.searchsorted(times, grid, side="right") - 1
    out = np.where(i >= 0, values[np.clip(i, 0, None)], 0)
    return np.asarray(out, dtype=np.float64)


def midi_proxies(perf: PerformanceMidi) -> dict[str, float]:
    """Return proxies computed from a performance's notes and pedals alone.

    Columns (prefixed ``midi.``; NaN where a segment has too few notes to say):

    - ``velocity_mean``, ``velocity_p90``, ``velocity_std``, ``velocity_range``
      (95th minus 5th percentile);
    - ``velocity_roughness``: mean absolute second difference of the chords' mean
      velocities (how erratically loudness moves from chord to chord);
    - ``dynamic_contour_range``: 90th minus 10th percentile of the mean velocity per second;
    - ``melody_lead``: in chords of two or more notes, the top note's velocity minus the
      mean of the others; ``skyline_lead``: each chord's top note minus the mean velocity
      of the other notes within 0.5 s;
    - ``articulation_ratio``: key-down time over the time to the next chord (clipped to
      [0, 2]; above 1 the keys overlap: legato);
    - ``pedal_down_share``: share of the segment with the sustain pedal down (>= 64);
      ``pedal_depth_mean``: mean pedal value / 127; ``pedal_changes_per_sec``: presses
      per second; ``pedal_extension_share``: share of the sounding note time that only the
      pedal holds; ``pedal_clash_share``: share of sounding time in which a note held only
      by the pedal sounds a semitone (pitch class) away from another sounding note;
    - ``silence_share``: share of the segment in which nothing sounds (pedal included);
    - ``onset_rate`` (chords per second), ``note_rate`` (notes per second);
    - ``ioi_unevenness``: mean absolute log ratio of consecutive inter-chord intervals
      whose ratio is within 1.5 (nominally even notes played unevenly).

    Examples
    --------
    >>> from pianoeval.examples import example_midi_path
    >>> from pianoeval.symbolic.midi import load_midi
    >>> p = midi_proxies(load_midi(example_midi_path()))
    >>> 0 < p["midi.pedal_down_share"] < 1
    True
    """
    out = {f"midi.{c}": math.nan for c in _MIDI_COLUMNS}
    notes = perf.notes
    n = len(notes)
    if n == 0:
        return out
    on = np.asarray(notes["onset_sec"], dtype=np.float64)
    off = np.asarray(notes["offset_sec"], dtype=np.float64)
    pitch = np.asarray(notes["pitch"], dtype=np.intp)
    vel = np.asarray(notes["velocity"], dtype=np.float64)
    sound_off = _sounding_offsets(notes, perf.sustain)
    out["midi.velocity_mean"] = float(vel.mean())
    out["midi.velocity_p90"] = float(np.percentile(vel, 90))
    out["midi.velocity_std"] = float(vel.std())
    out["midi.velocity_range"] = float(np.percentile(vel, 95) - np.percentile(vel, 5))

    cid = _clusters(on)
    n_c = int(cid[-1]) + 1
    c_on = np.array([on[cid == k][0] for k in range(n_c)])
    c_vel = np.bincount(cid, weights=vel) / np.bincount(cid)
    if n_c >= 3:
        out["midi.velocity_roughness"] = float(
            np.mean(np.abs(c_vel[1:-1] - (c_vel[:-2] + c_vel[2:]) / 2))
        )
    span = float(on[-1] - on[0])
    if span > 0:
        out["midi.onset_rate"] = (n_c - 1) / span
        out["midi.note_rate"] = (n - 1) / span
    if span >= 3.0:
        bins = ((on - on[0]) // 1.0).astype(np.intp)
        counts = np.bincount(bins)
        means = np.bincount(bins, weights=vel)[counts >= 2] / counts[counts >= 2]
        if means.size >= 3:
            out["midi.dynamic_contour_range"] = float(
                np.percentile(means, 90) - np.percentile(means, 10)
            )

    # voicing: the top note of each chord against the rest
    tops = np.array([np.flatnonzero(cid == k)[np.argmax(pitch[cid == k])] for k in range(n_c)])
    sizes = np.bincount(cid)
    multi = sizes[cid[tops]] >= 2
    if multi.any():
        leads = [
            vel[t] - (c_vel[cid[t]] * sizes[cid[t]] - vel[t]) / (sizes[cid[t]] - 1)
            for t in tops[multi]
        ]
        out["midi.melody_lead"] = float(np.mean(leads))
    is_top = np.zeros(n, dtype=bool)
    is_top[tops] = True
    others_on, others_vel = on[~is_top], vel[~is_top]
    if others_on.size and tops.size:
        csum = np.concatenate([[0.0], np.cumsum(others_vel)])
        lo = np.searchsorted(others_on, on[tops] - 0.5, side="left")
        hi = np.searchsorted(others_on, on[tops] + 0.5, side="right")
        has = hi > lo
        if has.any():
            local = (csum[hi[has]] - csum[lo[has]]) / (hi[has] - lo[has])
            out["midi.skyline_lead"] = float(np.mean(vel[tops][has] - local))

    # articulation: key-down time over the time to the next chord
    nxt = cid + 1
    has_next = nxt < n_c
    if has_next.sum() >= 3:
        gap = c_on[nxt[has_next]] - on[has_next]
        ratio = np.clip((off[has_next] - on[has_next]) / np.maximum(gap, 1e-3), 0.0, 2.0)
        out["midi.articulation_ratio"] = float(ratio.mean())
        # what a listener hears: the sustain pedal lengthens notes beyond their keys
        heard = np.clip((sound_off[has_next] - on[has_next]) / np.maximum(gap, 1e-3), 0.0, 2.0)
        out["midi.sounding_ratio"] = float(heard.mean())

    if n_c >= 4:
        ioi = np.diff(c_on)
        r = np.abs(np.log(ioi[1:] / ioi[:-1]))
        even = r < math.log(1.5)
        if even.sum() >= 3:
            out["midi.ioi_unevenness"] = float(r[even].mean())

    # pedal and sound on a time grid from the first onset to the end of the sound
    end = float(max(sound_off.max(), on[-1]))
    grid = np.arange(on[0], end, GRID_SEC)
    if grid.size >= 2:
        sus = perf.sustain
        ped = _step_value(
            np.asarray(sus["time_sec"], dtype=np.float64), np.asarray(sus["value"]), grid
        )
        out["midi.pedal_down_share"] = float(np.mean(ped >= PEDAL_DOWN))
        out["midi.pedal_depth_mean"] = float(np.mean(ped) / 127.0)
        if len(sus):
            down = np.asarray(sus["value"]) >= PEDAL_DOWN
            presses = int(np.sum(down[1:] & ~down[:-1]) + int(down[0]))
        else:
            presses = 0
        out["midi.pedal_changes_per_sec"] = presses / (end - on[0])
        held_time = float(np.sum(off - on))
        sound_time = float(np.sum(sound_off - on))
        out["midi.pedal_extension_share"] = 1.0 - held_time / sound_time if sound_time else 0.0
        sounding = np.zeros((12, grid.size), dtype=np.int32)
        pedal_only = np.zeros((12, grid.size), dtype=bool)
        pc = pitch % 12
        for c in range(12):
            sel = pc == c
            if not sel.any():
                continue
            started = np.searchsorted(np.sort(on[sel]), grid, side="right")
            s_count = started - np.searchsorted(np.sort(sound_off[sel]), grid, side="right")
            h_count = started - np.searchsorted(np.sort(off[sel]), grid, side="right")
            sounding[c] = s_count
            pedal_only[c] = s_count > h_count
        any_sound = sounding.sum(axis=0) > 0
        out["midi.silence_share"] = float(np.mean(~any_sound))
        snd = sounding > 0
        neighbour = np.roll(snd, 1, axis=0) | np.roll(snd, -1, axis=0)
        clash = np.any(pedal_only & neighbour, axis=0)
        out["midi.pedal_clash_share"] = (
            float(np.mean(clash[any_sound])) if any_sound.any() else math.nan
        )
    return out


def segment_proxies(perf: PerformanceMidi, alignment: Any | None = None) -> dict[str, float]:
    """Return every proxy column of a segment: ``midi.*`` and, with an alignment, ``alignment.*``.

    Parameters
    ----------
    perf : PerformanceMidi
        The segment (cut to its window).
    alignment : pianoeval.symbolic.align.Alignment, optional
        Its alignment (windowed the same way).
    """
    out = midi_proxies(perf)
    if alignment is not None:
        from pianoeval.symbolic.align import alignment_features

        out.update(alignment_features(perf, alignment))
    return out


def alignment_quality(proxies: Mapping[str, float]) -> float:
    """Return the weight an alignment-based proxy gets: ``clip((F - 0.5) / 0.4, 0, 1)``."""
    f = proxies.get("alignment.f_measure", math.nan)
    if f is None or not math.isfinite(f):
        return 0.0
    return float(np.clip((f - 0.5) / 0.4, 0.0, 1.0))


# --------------------------------------------------------------------------- scores of rows

_PP_NAME = re.compile(r"^(?P<piece>.+)_(?P<n_bars>\d+)bars_(?P<player>[^_]+)_(?P<segment>\d+)$")


def percepiano_score_path(midi_path: PathLike) -> Path | None:
    """Return the score of a PercePiano segment's MIDI, or None if there is none.

    Looks in the dataset folder (the MIDI's folder's parent) for, in order,
    ``score_midi/{stem}.mid``, ``midi/{stem}.mid`` (the ``Score`` rendition) and
    ``score_xml/{stem}.musicxml``, with ``stem = {piece}_{N}bars_Score_{segment}`` and the
    segment token as written in the file name.

    Examples
    --------
    >>> percepiano_score_path("/nowhere/midi/Beethoven_WoO80_var27_8bars_3_15.mid") is None
    True
    """
    p = Path(midi_path)
    m = _PP_NAME.match(p.name.strip().removesuffix(".mid"))
    if m is None:
        return None
    stem = f"{m['piece']}_{m['n_bars']}bars_Score_{m['segment']}"
    base = p.parent.parent
    for folder, ext in (("score_midi", ".mid"), ("midi", ".mid"), ("score_xml", ".musicxml")):
        cand = base / folder / f"{stem}{ext}"
        if cand.is_file():
            return cand
    return None


def _score_downbeats(score_path: Path) -> Float64Array | None:
    """Downbeats from an ASAP-style ``<stem>_annotations.txt`` beside the score, if any."""
    ann = score_path.with_name(f"{score_path.stem}_annotations.txt")
    if not ann.is_file():
        return None
    from pianoeval.data.asap import AnnotationError, read_annotations

    try:
        return read_annotations(ann).downbeats_sec
    except AnnotationError:
        return None


@dataclass(frozen=True)
class _RowWindow:
    segment_id: str
    t0: float
    t1: float
    score_t0: float | None
    score_t1: float | None


@dataclass(frozen=True)
class _Task:
    midi_path: str
    score_path: str | None
    rows: tuple[_RowWindow, ...]


_SCORES: OrderedDict[str, Any] = OrderedDict()
_SCORE_CACHE_SIZE = 4


def _cached_score(path: str) -> Any:
    from pianoeval.symbolic.align import load_score

    if path in _SCORES:
        _SCORES.move_to_end(path)
        cached = _SCORES[path]
        if isinstance(cached, AlignmentError):  # a bad score fails once per batch, not per row
            raise cached
        return cached
    p = Path(path)
    try:
        score = load_score(p, downbeats_sec=_score_downbeats(p))
    except AlignmentError as e:
        _SCORES[path] = e
        raise
    _SCORES[path] = score
    while len(_SCORES) > _SCORE_CACHE_SIZE:
        _SCORES.popitem(last=False)
    return score


def _run_task(task: _Task) -> tuple[list[tuple[str, dict[str, float]]], dict[str, str]]:
    """Proxies of every row of one performance (aligned once); returns rows and statuses."""
    from pianoeval.symbolic.align import align

    status: dict[str, str] = {}
    try:
        perf = load_midi(task.midi_path)
    except MidiError as e:
        return [], {r.segment_id: f"midi: {e.problem}" for r in task.rows}
    alignment = None
    align_status = "no score"
    if task.score_path is not None:
        anchors = _anchors(task.rows)
        try:
            score = _cached_score(task.score_path)
            if perf.n_notes <= FULL_ALIGN_MAX_NOTES:
                alignment = align(perf, score)
            elif len(anchors) >= 2:
                alignment = align(perf, score, anchors=anchors)
            else:
                align_status = (
                    f"not aligned: {perf.n_notes} notes and no score windows to anchor them"
                )
        except AlignmentError as e:
            align_status = f"alignment failed: {e}"
        except Exception as e:  # a matcher crash on odd input must not stop 36k rows
            align_status = f"alignment failed: {type(e).__name__}: {e}"
        if alignment is not None:
            align_status = "aligned"
    out: list[tuple[str, dict[str, float]]] = []
    last_onset = float(perf.notes["onset_sec"][-1]) if perf.n_notes else 0.0
    for r in task.rows:
        whole = r.t0 <= perf.start_sec and r.t1 > last_onset
        seg = perf if whole else cut_performance(perf, r.t0, r.t1)
        if seg.n_notes == 0:
            status[r.segment_id] = "no notes in the window"
            continue
        al = None
        if alignment is not None:
            al = (
                alignment
                if whole
                else alignment.window(r.t0, r.t1, score_t0=r.score_t0, score_t1=r.score_t1)
            )
            if al.n_matched == 0:
                al = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                values = segment_proxies(seg, al)
        except Exception as e:  # reported per row, like an unreadable file
            status[r.segment_id] = f"proxy error: {type(e).__name__}: {e}"
            continue
        out.append((r.segment_id, values))
        status[r.segment_id] = (
            align_status
            if al is not None or alignment is None
            else ("no matched notes in the window")
        )
    return out, status


def _run_batch(
    tasks: Sequence[_Task],
) -> tuple[list[tuple[str, dict[str, float]]], dict[str, str]]:
    """Run the tasks of one score in turn (the score is read once)."""
    rows: list[tuple[str, dict[str, float]]] = []
    status: dict[str, str] = {}
    for task in tasks:
        r, st = _run_task(task)
        rows += r
        status.update(st)
    _SCORES.clear()  # the next batch has another score
    return rows, status


def _anchors(rows: Sequence[_RowWindow]) -> Float64Array:
    pairs = sorted(
        {
            (t, s)
            for r in rows
            if r.score_t0 is not None and r.score_t1 is not None
            for t, s in ((r.t0, r.score_t0), (r.t1, r.score_t1))
        }
    )
    kept: list[tuple[float, float]] = []
    for t, s in pairs:
        if not kept or (t > kept[-1][0] and s > kept[-1][1]):
            kept.append((t, s))
    return np.array(kept, dtype=np.float64).reshape(-1, 2)


def _tasks(segments: Sequence[Any], base_dir: Path | None) -> list[_Task]:
    from pianoeval.manifest import uri_to_path

    groups: dict[tuple[str, str | None], list[_RowWindow]] = {}
    for seg in segments:
        if not seg.midi_uri:
            continue
        midi = uri_to_path(seg.midi_uri, base_dir)
        score: Path | None = None
        if seg.dataset == "percepiano":
            score = percepiano_score_path(midi)
        if score is None and seg.score_uri:
            score = uri_to_path(seg.score_uri, base_dir)
            if not score.is_file():
                score = None
        extra = seg.model_extra or {}
        s0, s1 = extra.get("score_t0"), extra.get("score_t1")
        row = _RowWindow(
            seg.segment_id,
            float(seg.t0),
            float(seg.t1),
            float(s0) if s0 is not None else None,
            float(s1) if s1 is not None else None,
        )
        groups.setdefault((str(midi), str(score) if score else None), []).append(row)
    return [_Task(m, s, tuple(rows)) for (m, s), rows in groups.items()]


@dataclass
class ProxyResult:
    """Proxies of manifest rows.

    Attributes
    ----------
    values : dict of str to dict
        ``{segment_id: {column: value}}`` for every row with notes.
    status : dict of str to str
        ``{segment_id: "aligned" | "no score" | "alignment failed: ..." | ...}``.
    seconds : float
        Wall-clock time taken.
    """

    values: dict[str, dict[str, float]]
    status: dict[str, str]
    seconds: float = 0.0


def compute_proxies(
    segments: Iterable[Any],
    *,
    base_dir: PathLike | None = None,
    jobs: int | None = None,
    progress: bool = True,
    cache: PathLike | None = None,
) -> ProxyResult:
    """Compute the proxies of manifest rows, one alignment per performance.

    Parameters
    ----------
    segments : iterable of Segment
        Manifest rows with ``midi_uri``; windows are ``[t0, t1)``.
    base_dir : path-like, optional
        The manifest's folder (relative URIs).
    jobs : int, optional
        Processes (None: one per CPU, at most 8; 1: this process).
    progress : bool
        Show a progress bar over rows (stderr).
    cache : path-like, optional
        A JSONL file the rows are appended to as each score's batch finishes; rows already
        there (same MIDI, score, window and :data:`PROXY_VERSION`) are not computed again,
        so an interrupted run resumes where it stopped.

    Returns
    -------
    ProxyResult
    """
    import time

    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    tasks = _tasks(list(segments), Path(base_dir) if base_dir is not None else None)
    values: dict[str, dict[str, float]] = {}
    status: dict[str, str] = {}
    cache_path = Path(cache) if cache is not None else None
    done = _read_cache(cache_path) if cache_path is not None else {}
    todo = []
    for task in tasks:
        hits = [done.get(_cache_key(task, r)) for r in task.rows]
        if all(h is not None for h in hits):
            for r, hit in zip(task.rows, hits, strict=True):
                assert hit is not None
                status[r.segment_id] = hit[0]
                if hit[1] is not None:
                    values[r.segment_id] = hit[1]
        else:
            todo.append(task)
    n_rows = sum(len(t.rows) for t in todo)
    n_workers = resolve_jobs(jobs)
    # one batch per score: a worker reads each score once (partitura takes seconds on
    # long score MIDIs); the biggest batches first, so the workers finish together
    batches: dict[str, list[_Task]] = {}
    for k, task in enumerate(todo):
        batches.setdefault(task.score_path or f"no score {k}", []).append(task)
    ordered = sorted(batches.values(), key=lambda b: -sum(len(t.rows) for t in b))

    def collect(batch: Sequence[_Task], rows: list[tuple[str, dict[str, float]]],
                st: dict[str, str]) -> None:  # fmt: skip
        values.update(rows)
        status.update(st)
        if cache_path is not None:
            _append_cache(cache_path, batch, dict(rows), st)

    with tqdm(total=n_rows, desc="proxies", unit="row", disable=not progress) as bar:
        if n_workers == 1 or len(ordered) <= 1:
            for batch in ordered:
                collect(batch, *_run_batch(batch))
                bar.update(sum(len(t.rows) for t in batch))
        else:
            ctx = multiprocessing.get_context("spawn")  # parangonar imports torch: no fork
            with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
                futures = {pool.submit(_run_batch, b): b for b in ordered}
                for fut in as_completed(futures):
                    collect(futures[fut], *fut.result())
                    bar.update(sum(len(t.rows) for t in futures[fut]))
    return ProxyResult(values, status, time.perf_counter() - t_start)


_CacheHit = tuple[str, dict[str, float] | None]


def _cache_key(task: _Task, row: _RowWindow) -> str:
    return json.dumps(
        [PROXY_VERSION, row.segment_id, task.midi_path, task.score_path, row.t0, row.t1,
         row.score_t0, row.score_t1]
    )  # fmt: skip


def _read_cache(path: Path) -> dict[str, _CacheHit]:
    out: dict[str, _CacheHit] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
            out[rec["key"]] = (rec["status"], rec.get("values"))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by an interrupted run
    return out


def _append_cache(
    path: Path, batch: Sequence[_Task], values: Mapping[str, dict[str, float]],
    status: Mapping[str, str],
) -> None:  # fmt: skip
    lines = [
        json.dumps(
            {
                "key": _cache_key(task, r),
                "status": status.get(r.segment_id, "unknown"),
                "values": values.get(r.segment_id),
            }
        )
        for task in batch
        for r in task.rows
    ]
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
        fh.flush()


# --------------------------------------------------------------------------- scaling


def fit_robust_scaler(
    values: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    percentiles: tuple[float, float] = PERCENTILES,
) -> tuple[float, float]:
    """Return the (weighted) percentiles that :func:`robust_scale` maps to 0 and 1.

    NaNs are ignored. Weighted percentiles interpolate the weighted empirical CDF at the
    mid-points of each value's weight (equal weights give numpy's "hazen" percentiles).

    Raises
    ------
    ParameterError
        If there are fewer than two finite values or they are all equal.

    Examples
    --------
    >>> fit_robust_scaler(range(101))
    (5.0, 95.0)
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    ok = np.isfinite(x) & (w > 0)
    x, w = x[ok], w[ok]
    if x.size < 2:
        raise ParameterError(f"need at least two finite values to fit a scaler, got {x.size}")
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    if weights is None:
        lo, hi = np.percentile(x, percentiles)
    else:
        cdf = (np.cumsum(w) - w / 2) / w.sum()
        lo, hi = np.interp(np.array(percentiles) / 100.0, cdf, x)
    if not hi > lo:
        raise ParameterError(f"percentiles {percentiles} are equal ({lo}): a constant proxy")
    return float(lo), float(hi)


def robust_scale(values: npt.ArrayLike, lo: float, hi: float) -> Float64Array:
    """Map ``lo`` to 0 and ``hi`` to 1, clipping outside (NaN stays NaN).

    Examples
    --------
    >>> robust_scale([0.0, 5.0, 10.0, 20.0], 5.0, 15.0).tolist()
    [0.0, 0.0, 0.5, 1.0]
    """
    x = np.asarray(values, dtype=np.float64)
    return np.asarray(np.clip((x - lo) / (hi - lo), 0.0, 1.0), dtype=np.float64)


# --------------------------------------------------------------------------- validation


def _spearman(a: Float64Array, b: Float64Array) -> float:
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


@dataclass(frozen=True)
class WithinExcerpt:
    """A within-excerpt Spearman correlation.

    Attributes
    ----------
    rho : float
        Mean of the per-excerpt correlations weighted by performers (NaN if none).
    n_excerpts, n_segments : int
        Excerpts (and their segments) that entered the mean.
    ci95 : tuple of float
        2.5th and 97.5th percentiles over 1000 bootstrap resamples of excerpts.
    """

    rho: float
    n_excerpts: int
    n_segments: int
    ci95: tuple[float, float] = (math.nan, math.nan)


def within_excerpt_spearman(
    values: npt.ArrayLike,
    human: npt.ArrayLike,
    excerpts: Sequence[str],
    *,
    min_performers: int = MIN_PERFORMERS,
    n_boot: int = 1000,
    seed: int = 0,
) -> WithinExcerpt:
    """Average the Spearman correlation across performers of each excerpt.

    Parameters
    ----------
    values, human : array-like, shape=(n,)
        Proxy and human label of each segment (NaN pairs are dropped).
    excerpts : sequence of str, length n
        The excerpt of each segment.
    min_performers : int
        Excerpts with fewer finite pairs are left out (as are constant ones).

    Examples
    --------
    >>> r = within_excerpt_spearman([1, 2, 3, 4, 1, 2, 3, 4], [1, 2, 3, 4, 4, 3, 2, 1],
    ...                             ["a"] * 4 + ["b"] * 4, n_boot=0)
    >>> r.rho, r.n_excerpts
    (0.0, 2)
    """
    v = np.asarray(values, dtype=np.float64)
    h = np.asarray(human, dtype=np.float64)
    ex = np.asarray(excerpts)
    rhos: list[float] = []
    ns: list[int] = []
    for e in np.unique(ex):
        sel = (ex == e) & np.isfinite(v) & np.isfinite(h)
        if sel.sum() < min_performers:
            continue
        r = _spearman(v[sel], h[sel])
        if math.isfinite(r):
            rhos.append(r)
            ns.append(int(sel.sum()))
    if not rhos:
        return WithinExcerpt(math.nan, 0, 0)
    r_arr, n_arr = np.array(rhos), np.array(ns, dtype=np.float64)
    mean = float(np.average(r_arr, weights=n_arr))
    ci = (math.nan, math.nan)
    if n_boot > 0 and r_arr.size >= 3:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, r_arr.size, size=(n_boot, r_arr.size))
        boots = (r_arr[idx] * n_arr[idx]).sum(axis=1) / n_arr[idx].sum(axis=1)
        ci = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5)))
    return WithinExcerpt(mean, len(rhos), int(n_arr.sum()), ci)


# --------------------------------------------------------------------------- calibration


def _r2(y: Float64Array, pred: Float64Array) -> float:
    sst = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - pred) ** 2)) / sst if sst > 0 else math.nan


_HUMAN_LO, _HUMAN_HI = 1.0 / 7.0, 1.0


def _fit_map(kind: str, x: Float64Array, y: Float64Array, sign: int) -> dict[str, Any]:
    if kind == "affine":
        slope, intercept = np.polyfit(x, y, 1)
        return {"kind": "affine", "slope": float(slope), "intercept": float(intercept)}
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(increasing=sign > 0, out_of_bounds="clip")
    iso.fit(x, y)
    return {
        "kind": "isotonic",
        "x": [float(v) for v in iso.X_thresholds_],
        "y": [float(v) for v in iso.y_thresholds_],
    }


def _apply_map(cal: Mapping[str, Any], x: Float64Array) -> Float64Array:
    if cal["kind"] == "affine":
        y = cal["intercept"] + cal["slope"] * x
    else:
        y = np.interp(x, np.asarray(cal["x"]), np.asarray(cal["y"]))
    return np.asarray(np.clip(y, _HUMAN_LO, _HUMAN_HI), dtype=np.float64)


def _pool_columns(
    pool: Sequence[Mapping[str, Mapping[str, float]]], column: str
) -> tuple[Float64Array, Float64Array]:
    xs, ws = [], []
    for table in pool:
        vals = np.array([row.get(column, math.nan) for row in table.values()], dtype=np.float64)
        finite = np.isfinite(vals)
        if finite.any():
            xs.append(vals[finite])
            ws.append(np.full(int(finite.sum()), 1.0 / finite.sum()))
    if not xs:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ws)


def fit_pseudo_calibration(
    proxies: Mapping[str, Mapping[str, float]],
    labels: Mapping[str, Mapping[str, float | None]],
    excerpts: Mapping[str, str],
    *,
    test_ids: Iterable[str],
    folds: Sequence[Sequence[str]],
    pool: Sequence[Mapping[str, Mapping[str, float]]] | None = None,
    pool_description: str = "",
    pass_rho: float = PASS_RHO,
    min_performers: int = MIN_PERFORMERS,
) -> dict[str, Any]:
    """Choose, validate, scale and calibrate a proxy per ``execution16`` dimension.

    Parameters
    ----------
    proxies : mapping
        ``{segment_id: {column: value}}`` of the labelled segments (PercePiano).
    labels : mapping
        ``{segment_id: {percepiano19 dim: value}}`` (released mean ratings / 7).
    excerpts : mapping
        ``{segment_id: excerpt}``.
    test_ids : iterable of str
        Held-out segments (the excerpt split's test): never used to choose or fit.
    folds : sequence of sequences of str
        Validation folds of the training side, to choose affine or isotonic calibration.
    pool : sequence of mappings, optional
        Proxy tables the scalers are fitted on, each weighted equally (default: ``proxies``).
    pool_description : str
        Recorded in the result.
    pass_rho : float
        The threshold on the mean within-excerpt Spearman (training side).
    min_performers : int
        Smallest excerpt entering a within-excerpt correlation.

    Returns
    -------
    dict
        The JSON-ready calibration (see ``pseudo_calibration.json`` and
        :class:`PseudoCalibration`).
    """
    ids = sorted(i for i in proxies if i in labels and i in excerpts)
    test = set(test_ids) & set(ids)
    train = [i for i in ids if i not in test]
    test_l = sorted(test)
    pool_tables = list(pool) if pool is not None else [proxies]
    fold_sets = [set(f) & set(train) for f in folds]

    def column(sids: Sequence[str], col: str) -> Float64Array:
        return np.array([proxies[i].get(col, math.nan) for i in sids], dtype=np.float64)

    def human(sids: Sequence[str], dim: str) -> Float64Array:
        return np.array(
            [v if (v := labels[i].get(dim)) is not None else math.nan for i in sids],
            dtype=np.float64,
        )

    def exc(sids: Sequence[str]) -> list[str]:
        return [excerpts[i] for i in sids]

    dims: dict[str, Any] = {}
    for dim, cands in CANDIDATES.items():
        match = HUMAN_MATCH.get(dim)
        entry: dict[str, Any] = {"human": None, "human_sign": None, "candidates": []}
        scored = []
        for col, sign in cands:
            try:
                lo, hi = fit_robust_scaler(
                    sign * _pool_columns(pool_tables, col)[0],
                    weights=_pool_columns(pool_tables, col)[1],
                )
            except ParameterError:
                continue
            cand: dict[str, Any] = {"proxy": col, "sign": sign, "p_lo": lo, "p_hi": hi}
            if match is not None:
                hdim, hsign = match
                h_tr = hsign * human(train, hdim)
                h_te = hsign * human(test_l, hdim)
                h_all = hsign * human(ids, hdim)
                w_tr = within_excerpt_spearman(
                    sign * column(train, col), h_tr, exc(train), min_performers=min_performers
                )
                w_te = within_excerpt_spearman(
                    sign * column(test_l, col), h_te, exc(test_l), min_performers=min_performers
                )
                w_all = within_excerpt_spearman(
                    sign * column(ids, col), h_all, exc(ids), min_performers=min_performers
                )
                cand.update(
                    rho_train=w_tr.rho,
                    rho_train_ci95=list(w_tr.ci95),
                    n_excerpts_train=w_tr.n_excerpts,
                    rho_test=w_te.rho,
                    n_excerpts_test=w_te.n_excerpts,
                    rho_all=w_all.rho,
                    rho_all_ci95=list(w_all.ci95),
                    n_excerpts_all=w_all.n_excerpts,
                )
            scored.append(cand)
        entry["candidates"] = scored
        if not scored:
            entry["status"] = "no_proxy"
            dims[dim] = entry
            continue
        if match is None:
            chosen = scored[0]
            entry.update(
                status="unvalidated",
                proxy=chosen["proxy"],
                sign=chosen["sign"],
                p_lo=chosen["p_lo"],
                p_hi=chosen["p_hi"],
                conf=UNVALIDATED_CONF,
            )
            dims[dim] = entry
            continue
        hdim, hsign = match
        entry["human"], entry["human_sign"] = f"percepiano19.{hdim}", hsign

        def key(c: Mapping[str, Any]) -> float:
            r = c.get("rho_train", math.nan)
            return r if math.isfinite(r) else -math.inf

        chosen = max(scored, key=key)
        passed = key(chosen) >= pass_rho
        entry.update(
            status="passed" if passed else "failed",
            proxy=chosen["proxy"],
            sign=chosen["sign"],
            p_lo=chosen["p_lo"],
            p_hi=chosen["p_hi"],
            rho_train=chosen["rho_train"],
            rho_test=chosen["rho_test"],
            rho_all=chosen["rho_all"],
            conf=float(np.clip(chosen["rho_all"], 0.0, 1.0)) if passed else 0.0,
        )
        # a MIDI-only stand-in for rows without an alignment
        if passed and chosen["proxy"].startswith("alignment."):
            midi_c = [c for c in scored if c["proxy"].startswith("midi.") and key(c) >= pass_rho]
            if midi_c:
                fb = max(midi_c, key=key)
                entry["fallback"] = {
                    k: fb[k] for k in ("proxy", "sign", "p_lo", "p_hi", "rho_train", "rho_test",
                                       "rho_all")
                }  # fmt: skip
                entry["fallback"]["conf"] = float(np.clip(fb["rho_all"], 0.0, 1.0))
        if passed:
            entry["calibration"] = _fit_calibration(
                entry, column, human, exc, train, test_l, fold_sets, hdim, hsign, min_performers
            )
        dims[dim] = entry

    return {
        "schema_version": 1,
        "taxonomy": TAXONOMY,
        "threshold": {
            "statistic": "mean within-excerpt Spearman (weighted by performers), sign applied, "
            "on the excerpt split's training side",
            "min_rho": pass_rho,
            "min_performers": min_performers,
        },
        "scaling": {
            "percentiles": list(PERCENTILES),
            "pool": pool_description or "the labelled segments",
            "n_pool": [len(t) for t in pool_tables],
        },
        "confidence": "rho_all clipped to [0, 1]; alignment.* proxies times "
        "clip((f_measure - 0.5) / 0.4, 0, 1); unvalidated dims "
        f"{UNVALIDATED_CONF}",
        "n_train": len(train),
        "n_test": len(test_l),
        "no_proxy": list(TIMBRE_DIMS),
        "dims": dims,
    }


def _fit_calibration(
    entry: Mapping[str, Any],
    column: Any,
    human: Any,
    exc: Any,
    train: Sequence[str],
    test: Sequence[str],
    fold_sets: Sequence[set[str]],
    hdim: str,
    hsign: int,
    min_performers: int,
) -> dict[str, Any]:
    def pseudo(sids: Sequence[str]) -> Float64Array:
        return robust_scale(
            entry["sign"] * column(sids, entry["proxy"]), entry["p_lo"], entry["p_hi"]
        )

    def finite(sids: Sequence[str]) -> tuple[list[str], Float64Array, Float64Array]:
        x, y = pseudo(sids), human(sids, hdim)
        ok = np.isfinite(x) & np.isfinite(y)
        return [s for s, k in zip(sids, ok, strict=True) if k], x[ok], y[ok]

    cv: dict[str, float] = {}
    for kind in ("affine", "isotonic"):
        scores = []
        for val in fold_sets:
            tr = [i for i in train if i not in val]
            _, x_tr, y_tr = finite(tr)
            _, x_va, y_va = finite(sorted(val))
            if x_tr.size < 10 or x_va.size < 3:
                continue
            scores.append(_r2(y_va, _apply_map(_fit_map(kind, x_tr, y_tr, hsign), x_va)))
        cv[kind] = float(np.mean(scores)) if scores else math.nan
    kind = "isotonic" if cv.get("isotonic", -math.inf) > cv.get("affine", -math.inf) else "affine"
    _, x_tr, y_tr = finite(train)
    cal = _fit_map(kind, x_tr, y_tr, hsign)
    test_ids, x_te, y_te = finite(test)
    result: dict[str, Any] = {**cal, "cv_r2": cv, "n_train": int(x_tr.size)}
    if x_te.size >= 3:
        pred = _apply_map(cal, x_te)
        w = within_excerpt_spearman(
            hsign * pred, hsign * y_te, exc(test_ids), min_performers=min_performers, n_boot=0
        )
        result["test"] = {
            "n": int(x_te.size),
            "r2": _r2(y_te, pred),
            "spearman": hsign * _spearman(pred, y_te) if np.ptp(pred) > 0 else math.nan,
            "within_excerpt_spearman": w.rho,
        }
    return result


@dataclass(frozen=True)
class PseudoCalibration:
    """The fitted pseudo-label calibration (``pseudo_calibration.json``).

    Attributes
    ----------
    data : dict
        The JSON content: per dimension ``status`` (``passed``, ``failed``,
        ``unvalidated``, ``no_proxy``), ``proxy``, ``sign``, ``p_lo``/``p_hi``, ``conf``,
        validation figures, optional ``fallback`` and ``calibration``.
    path : str or None
    """

    data: dict[str, Any]
    path: str | None = None

    def usable(self) -> list[str]:
        """Dimensions that get pseudo-labels (passed or unvalidated)."""
        return [
            d for d, e in self.data["dims"].items() if e.get("status") in ("passed", "unvalidated")
        ]

    def save(self, path: PathLike) -> None:
        """Write the calibration as JSON (sorted keys, NaN as null)."""
        Path(path).write_text(json.dumps(_jsonable(self.data), indent=1) + "\n", encoding="utf-8")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    return obj


def load_calibration(path: PathLike | None = None) -> PseudoCalibration:
    """Read a pseudo-label calibration (default: the committed one).

    Raises
    ------
    SchemaError
        If the file is missing or not a calibration.
    """
    p = Path(path) if path is not None else CALIBRATION_PATH
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(
            f"{p}: no pseudo-label calibration; fit one with benchmarks/pseudo_labels.py"
        ) from None
    except json.JSONDecodeError as e:
        raise SchemaError(f"{p}: bad JSON: {e}") from None
    if not isinstance(data, dict) or data.get("schema_version") != 1 or "dims" not in data:
        raise SchemaError(f"{p}: not a pseudo-label calibration (schema_version 1 with dims)")
    return PseudoCalibration(data, str(p))


def pseudo_labels_for(
    proxies: Mapping[str, float], calibration: PseudoCalibration
) -> tuple[dict[str, float], dict[str, float]]:
    """Return ``(pseudo_labels, pseudo_conf)`` of one segment from its proxies.

    Dimensions whose proxy (and fallback) is missing for this segment are left out.
    """
    labels: dict[str, float] = {}
    conf: dict[str, float] = {}
    quality = alignment_quality(proxies)
    for dim, e in calibration.data["dims"].items():
        if e.get("status") not in ("passed", "unvalidated"):
            continue
        for spec in (e, e.get("fallback")):
            if not spec:
                continue
            v = proxies.get(spec["proxy"], math.nan)
            if v is None or not math.isfinite(v):
                continue
            c = float(spec["conf"])
            if spec["proxy"].startswith("alignment."):
                c *= quality
            labels[dim] = round(
                float(robust_scale(spec["sign"] * v, spec["p_lo"], spec["p_hi"])), 4
            )
            conf[dim] = round(c, 4)
            break
    return labels, conf


def calibrate_to_human(
    dim: str, pseudo: npt.ArrayLike, calibration: PseudoCalibration | None = None
) -> Float64Array:
    """Map execution16 pseudo-labels of ``dim`` to its human percepiano19 scale.

    Returns
    -------
    np.ndarray
        Predicted mean rating / 7 of the matching percepiano19 dimension (its own
        direction, e.g. ``timing`` runs stable → unstable), clipped to [1/7, 1].

    Raises
    ------
    ParameterError
        If ``dim`` has no calibration (no human match, or its proxy failed).
    """
    cal = calibration or load_calibration()
    entry = cal.data["dims"].get(dim, {})
    if "calibration" not in entry:
        raise ParameterError(
            f"{dim!r} has no pseudo->human calibration (status {entry.get('status', 'unknown')})"
        )
    return _apply_map(entry["calibration"], np.asarray(pseudo, dtype=np.float64))


# --------------------------------------------------------------------------- manifests


@dataclass
class PseudoReport:
    """What :func:`write_pseudo_labels` did.

    Attributes
    ----------
    manifest_path : str
    n_rows : int
        Rows written.
    n_labelled : int
        Rows that got at least one pseudo-label.
    status_counts : dict
        How many rows were aligned, had no score, failed to align, ...
    dims : list of str
        Dimensions pseudo-labelled.
    seconds : float
    """

    manifest_path: str
    n_rows: int
    n_labelled: int
    status_counts: dict[str, int] = field(default_factory=dict)
    dims: list[str] = field(default_factory=list)
    seconds: float = 0.0


def write_pseudo_labels(
    manifest_in: PathLike,
    manifest_out: PathLike,
    *,
    calibration: PseudoCalibration | PathLike | None = None,
    proxies: ProxyResult | None = None,
    jobs: int | None = None,
    progress: bool = True,
) -> PseudoReport:
    """Add ``pseudo_labels``/``pseudo_conf`` (execution16) to every row of a manifest.

    Each row also gets ``pseudo_calibrated`` (``{"percepiano19.<dim>": value}`` for the
    dimensions with a pseudo->human calibration) and ``pseudo_meta`` (the alignment status
    and F-measure). Relative media URIs are rewritten when ``manifest_out`` is in another
    folder. Rows without notes keep no pseudo-labels.

    Parameters
    ----------
    manifest_in, manifest_out : path-like
        May be the same file (replaced atomically).
    calibration : PseudoCalibration or path-like, optional
        Default: the committed ``pseudo_calibration.json``.
    proxies : ProxyResult, optional
        Proxies already computed for these rows (else computed here).
    jobs : int, optional
        Processes for the proxies (None: one per CPU, at most 8).
    progress : bool
        Show a progress bar.

    Returns
    -------
    PseudoReport
    """
    import time
    from collections import Counter

    from pianoeval.manifest import Segment, path_to_uri, read_manifest, uri_to_path, write_manifest

    t_start = time.perf_counter()
    cal = (
        calibration if isinstance(calibration, PseudoCalibration) else load_calibration(calibration)
    )
    src, dst = Path(manifest_in), Path(manifest_out)
    segments = read_manifest(src, check_media=False)
    if proxies is None:
        proxies = compute_proxies(segments, base_dir=src.parent, jobs=jobs, progress=progress)
    move = src.parent.absolute() != dst.parent.absolute()
    out_rows: list[Segment] = []
    n_labelled = 0
    for seg in segments:
        row = seg.to_json_dict()
        if move:
            for key in ("audio_uri", "midi_uri", "score_uri"):
                if row.get(key):
                    row[key] = path_to_uri(uri_to_path(row[key], src.parent), dst.parent)
        values = proxies.values.get(seg.segment_id)
        if values is not None:
            labels, conf = pseudo_labels_for(values, cal)
            row["pseudo_taxonomy"] = TAXONOMY
            row["pseudo_labels"] = labels
            row["pseudo_conf"] = conf
            calibrated = {}
            for dim, v in labels.items():
                entry = cal.data["dims"][dim]
                if "calibration" in entry:
                    calibrated[entry["human"]] = round(
                        float(_apply_map(entry["calibration"], np.array([v]))[0]), 4
                    )
            row["pseudo_calibrated"] = calibrated
            f = values.get("alignment.f_measure", math.nan)
            row["pseudo_meta"] = {
                "calibration": cal.data.get("version"),
                "status": proxies.status.get(seg.segment_id, "unknown"),
                "alignment_f_measure": round(f, 4) if f is not None and math.isfinite(f) else None,
            }
            n_labelled += bool(labels)
        out_rows.append(Segment.model_validate(row))
    n = write_manifest(dst, out_rows)
    counts = Counter(
        "aligned" if s == "aligned" else s.split(":")[0] for s in proxies.status.values()
    )
    return PseudoReport(
        manifest_path=str(dst),
        n_rows=n,
        n_labelled=n_labelled,
        status_counts=dict(counts),
        dims=cal.usable(),
        seconds=time.perf_counter() - t_start,
    )
