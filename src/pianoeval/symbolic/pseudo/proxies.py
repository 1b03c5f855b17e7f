"""Symbolic proxies of the ``execution16`` dimensions: what a MIDI file says about the playing.

Task
    Measure, on one performance (and its alignment to a score when there is one), the
    qualities the ``execution16`` dimensions name, so that a fitted scaling
    (:mod:`pianoeval.symbolic.pseudo.scaling`) can turn them into weak labels. Nothing here
    knows a dataset: choosing, validating and calibrating proxies against human labels is
    :mod:`pianoeval.data.pseudo_fit`'s job, running them over manifests
    :mod:`pianoeval.data.pseudo_labels`'.

Proxies (:func:`segment_proxies`)
    ``midi.*`` columns come from the notes and pedals of the performance alone
    (:func:`midi_proxies`); ``alignment.*`` columns need the score
    (:func:`pianoeval.symbolic.align.alignment_features`). Each ``execution16`` dimension
    has a short list of candidate proxies, each with the sign that makes "higher" mean
    "more of the named quality" (:data:`CANDIDATES`). The three timbre dimensions have none:
    MIDI says nothing about the sound of a piano. :data:`HUMAN_MATCH` names the
    ``percepiano19`` dimension each one can be checked against (DIMENSIONS.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from pianoeval._typing import Float64Array
from pianoeval.constants import CHORD_WINDOW_SEC, PEDAL_DOWN
from pianoeval.symbolic.midi import PEDAL_DTYPE, PerformanceMidi, sounding_offsets

__all__ = [
    "CANDIDATES",
    "GRID_SEC",
    "HUMAN_MATCH",
    "MIDI_COLUMNS",
    "PROXY_VERSION",
    "TAXONOMY",
    "TIMBRE_DIMS",
    "alignment_quality",
    "cut_performance",
    "midi_proxies",
    "segment_proxies",
]

#: The dimension set pseudo-labels are given on.
TAXONOMY = "execution16"
#: Time step (seconds) of the grid on which pedal and silence measures are sampled.
GRID_SEC = 0.02
#: Version of the proxy definitions; cached proxies of another version are not reused.
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

#: The ``midi.*`` columns of :func:`midi_proxies` (without the prefix).
MIDI_COLUMNS = (
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
    ends = sounding_offsets(notes, sustain)
    return PerformanceMidi(
        path=perf.path,
        notes=notes,
        sustain=sustain,
        sostenuto=cut(perf.sostenuto),
        soft=cut(perf.soft),
        end_sec=float(ends.max()) if len(ends) else 0.0,
    )


def _clusters(onsets: Float64Array) -> npt.NDArray[np.intp]:
    """Return the chord id of each (sorted) onset: a new chord after a gap over CHORD_WINDOW_SEC."""
    if onsets.size == 0:
        return np.zeros(0, dtype=np.intp)
    return np.concatenate([[0], np.cumsum(np.diff(onsets) > CHORD_WINDOW_SEC)]).astype(np.intp)


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
    out = {f"midi.{c}": math.nan for c in MIDI_COLUMNS}
    notes = perf.notes
    n = len(notes)
    if n == 0:
        return out
    on = np.asarray(notes["onset_sec"], dtype=np.float64)
    off = np.asarray(notes["offset_sec"], dtype=np.float64)
    pitch = np.asarray(notes["pitch"], dtype=np.intp)
    vel = np.asarray(notes["velocity"], dtype=np.float64)
    sound_off = sounding_offsets(notes, perf.sustain)
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
