"""The feature-family contract and the context every family reads.

A *feature family* is a named function from a :class:`FeatureContext` (one performance,
optionally aligned to its score) to a fixed set of finite numbers. The registry boundary
(:meth:`FeatureFamily.compute`) prefixes every column with the family's name and checks
the output: exactly the declared columns, every value finite. A family must return the
same columns for every input (a one-note MIDI, a performance without a score, a bar): it
fills what it cannot measure with a documented neutral value (0 for score-relative
deviations and correlations), and ``score.available`` says whether a score was used.

The context precomputes what several families share: note arrays in float64, onset
clusters ("chords": notes starting within :data:`CHORD_WINDOW_SEC` of the cluster's first
onset), the sounding offsets (key release held on by the sustain pedal), a beat grid in
performance time and, with a score, the note alignment and the score-to-performance time
map (:func:`pianoeval.symbolic.align.align` with the ``chord_dtw`` backend).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pianoeval._typing import Float64Array, PathLike
from pianoeval.constants import CHORD_WINDOW_SEC
from pianoeval.errors import AlignmentError, ParameterError, SchemaError
from pianoeval.symbolic.align import Alignment, align, score_from_notes
from pianoeval.symbolic.align.chord_dtw import cluster_onsets
from pianoeval.symbolic.midi import NOTE_DTYPE, PerformanceMidi, load_midi, sounding_offsets

IntArray = npt.NDArray[np.int64]

#: Beat periods estimated without a score are folded into this range (seconds).
BEAT_RANGE_SEC = (0.35, 1.0)
#: Beats per bar assumed when no score (and no downbeats) tells.
DEFAULT_BEATS_PER_BAR = 4


def finite(x: float, default: float = 0.0) -> float:
    """Return ``x`` as a float, or ``default`` when it is NaN or infinite."""
    x = float(x)
    return x if math.isfinite(x) else default


def safe_mean(x: Float64Array, default: float = 0.0) -> float:
    """Mean of the finite values of ``x`` (``default`` when there are none)."""
    x = x[np.isfinite(x)]
    return float(np.mean(x)) if len(x) else default


def safe_median(x: Float64Array, default: float = 0.0) -> float:
    """Median of the finite values of ``x`` (``default`` when there are none)."""
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else default


def safe_std(x: Float64Array, default: float = 0.0) -> float:
    """Return the population std of the finite values of ``x`` (``default`` if fewer than 2)."""
    x = x[np.isfinite(x)]
    return float(np.std(x)) if len(x) > 1 else default


def safe_quantile(x: Float64Array, q: float, default: float = 0.0) -> float:
    """Quantile ``q`` of the finite values of ``x`` (``default`` when there are none)."""
    x = x[np.isfinite(x)]
    return float(np.quantile(x, q)) if len(x) else default


def safe_corr(a: Float64Array, b: Float64Array, default: float = 0.0) -> float:
    """Pearson correlation, ``default`` when undefined (fewer than 3 pairs or a constant)."""
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return default
    return finite(float(np.corrcoef(a, b)[0, 1]), default)


def theil_sen_slope(x: Float64Array, y: Float64Array, *, max_points: int = 400) -> float:
    """Median of pairwise slopes (robust to outlying IOIs); 0 with fewer than 2 points."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) > max_points:  # keep it O(max_points^2)
        keep = np.linspace(0, len(x) - 1, max_points).astype(np.int64)
        x, y = x[keep], y[keep]
    if len(x) < 2:
        return 0.0
    i, j = np.triu_indices(len(x), k=1)
    dx = x[j] - x[i]
    ok = dx > 0
    if not ok.any():
        return 0.0
    return float(np.median((y[j] - y[i])[ok] / dx[ok]))


def linear_slope(x: Float64Array, y: Float64Array) -> float:
    """Least-squares slope of ``y`` on ``x``; 0 when undefined."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 2 or np.ptp(x) == 0:
        return 0.0
    xc = x - x.mean()
    return float(np.dot(xc, y - y.mean()) / np.dot(xc, xc))


def step_value_at(times: Float64Array, values: Float64Array, t: Float64Array) -> Float64Array:
    """Value of a step function (controller events) at times ``t`` (0 before the first)."""
    if len(times) == 0:
        return np.zeros(len(t))
    idx = np.searchsorted(times, t, side="right") - 1
    return np.where(idx >= 0, values[np.clip(idx, 0, None)], 0.0)


def time_fraction(
    times: Float64Array, values: Float64Array, t0: float, t1: float, pred: Callable[..., object]
) -> float:
    """Fraction of ``[t0, t1]`` during which a step function satisfies ``pred(value)``."""
    span = t1 - t0
    if span <= 0:
        return 0.0
    inside = (times > t0) & (times < t1)
    edges = np.concatenate([[t0], times[inside], [t1]])
    vals = step_value_at(times, values, edges[:-1])
    mask = np.asarray(pred(vals), dtype=bool)
    return float(np.sum(np.diff(edges)[mask]) / span)


def time_mean(times: Float64Array, values: Float64Array, t0: float, t1: float) -> float:
    """Time-weighted mean of a step function over ``[t0, t1]``."""
    span = t1 - t0
    if span <= 0:
        return 0.0
    inside = (times > t0) & (times < t1)
    edges = np.concatenate([[t0], times[inside], [t1]])
    vals = step_value_at(times, values, edges[:-1])
    return float(np.sum(np.diff(edges) * vals) / span)


@dataclass(frozen=True)
class ScoreNotes:
    """A score as the features see it: notes in score seconds plus its beat grid.

    Attributes
    ----------
    onset, offset, pitch, velocity : np.ndarray, shape=(n_notes,)
    beats_sec, downbeats_sec : np.ndarray
        Beats and bar lines in score seconds (from the MIDI's tempo map and time
        signatures, else a grid estimated from the notes).
    beats_per_bar : float
    path : str
    """

    onset: Float64Array
    offset: Float64Array
    pitch: Float64Array
    velocity: Float64Array
    beats_sec: Float64Array
    downbeats_sec: Float64Array
    beats_per_bar: float
    path: str = ""

    @property
    def n_notes(self) -> int:
        """Number of notes."""
        return len(self.onset)

    @property
    def tempo_bpm(self) -> float:
        """Notated tempo: 60 / median beat period of the grid."""
        if len(self.beats_sec) < 2:
            return 0.0
        return finite(60.0 / float(np.median(np.diff(self.beats_sec))))


@dataclass
class FeatureContext:
    """One performance (optionally aligned to its score), ready for the feature families.

    Build it with :func:`make_context`. Arrays are float64, notes in onset order.

    Attributes
    ----------
    onset, offset, pitch, velocity, sounding_offset : np.ndarray, shape=(n_notes,)
        ``sounding_offset`` is the key release held on by the sustain pedal.
    sustain_t, sustain_v, soft_t, soft_v, sostenuto_t, sostenuto_v : np.ndarray
        Controller events (time in seconds, value 0-127).
    t_start, t_end : float
        First onset and end of the last sounding note.
    cluster : np.ndarray [int64], shape=(n_notes,)
        Onset cluster (chord) of each note.
    beats_sec : np.ndarray
        Beat grid in performance seconds (mapped from the score when aligned, else a
        regular grid at the estimated beat period).
    downbeats_sec : np.ndarray
        Bar lines in performance seconds (empty when unknown).
    beats_per_bar : float
    score : ScoreNotes or None
    alignment : pianoeval.symbolic.align.Alignment or None
        The ``chord_dtw`` alignment to the score (its performed notes are this context's).
    """

    onset: Float64Array
    offset: Float64Array
    pitch: Float64Array
    velocity: Float64Array
    sounding_offset: Float64Array
    sustain_t: Float64Array
    sustain_v: Float64Array
    soft_t: Float64Array
    soft_v: Float64Array
    sostenuto_t: Float64Array
    sostenuto_v: Float64Array
    t_start: float
    t_end: float
    beats_sec: Float64Array
    downbeats_sec: Float64Array
    beats_per_bar: float
    score: ScoreNotes | None = None
    alignment: Alignment | None = None
    cluster: IntArray = field(init=False)

    def __post_init__(self) -> None:
        window = CHORD_WINDOW_SEC
        self.cluster = cluster_onsets(self.onset, window)

    @property
    def n_notes(self) -> int:
        """Number of notes."""
        return len(self.onset)

    @property
    def duration_sec(self) -> float:
        """From the first onset to the end of the last sounding note."""
        return max(self.t_end - self.t_start, 0.0)

    @property
    def aligned(self) -> bool:
        """Whether a score alignment with at least two matched notes is available."""
        return self.alignment is not None and self.alignment.n_matched >= 2

    @property
    def beat_period_sec(self) -> float:
        """Median beat period in performance seconds (0 with fewer than two beats)."""
        if len(self.beats_sec) < 2:
            return 0.0
        return float(np.median(np.diff(self.beats_sec)))

    def cluster_onsets(self) -> Float64Array:
        """First onset of every cluster."""
        if self.n_notes == 0:
            return np.zeros(0)
        first = np.full(int(self.cluster[-1]) + 1, np.inf)
        np.minimum.at(first, self.cluster, self.onset)
        return first

    def window(self, t0: float, t1: float) -> FeatureContext:
        """Return the part of the performance whose notes start in ``[t0, t1)``.

        Pedal events keep the state at ``t0``; matched notes keep their score partners;
        the beat grid and bar lines are cut to the window.
        """
        keep = (self.onset >= t0) & (self.onset < t1)
        idx = np.flatnonzero(keep)

        def cut(times: Float64Array, values: Float64Array) -> tuple[Float64Array, Float64Array]:
            before = step_value_at(times, values, np.array([t0]))
            inside = (times > t0) & (times < t1)
            return (
                np.concatenate([[t0], times[inside]]),
                np.concatenate([before, values[inside]]),
            )

        sus_t, sus_v = cut(self.sustain_t, self.sustain_v)
        soft_t, soft_v = cut(self.soft_t, self.soft_v)
        sos_t, sos_v = cut(self.sostenuto_t, self.sostenuto_v)
        alignment = self.alignment.window(t0, t1) if self.alignment is not None else None
        t_end = float(np.max(self.sounding_offset[idx])) if len(idx) else t0
        beats = self.beats_sec[(self.beats_sec >= t0) & (self.beats_sec <= max(t1, t_end))]
        downbeats = self.downbeats_sec[(self.downbeats_sec >= t0) & (self.downbeats_sec < t1)]
        return FeatureContext(
            onset=self.onset[idx],
            offset=self.offset[idx],
            pitch=self.pitch[idx],
            velocity=self.velocity[idx],
            sounding_offset=self.sounding_offset[idx],
            sustain_t=sus_t,
            sustain_v=sus_v,
            soft_t=soft_t,
            soft_v=soft_v,
            sostenuto_t=sos_t,
            sostenuto_v=sos_v,
            t_start=float(self.onset[idx[0]]) if len(idx) else t0,
            t_end=t_end,
            beats_sec=beats,
            downbeats_sec=downbeats,
            beats_per_bar=self.beats_per_bar,
            score=self.score,
            alignment=alignment,
        )


def estimate_beat_period(onsets: Float64Array) -> float:
    """Estimate a beat period from the onsets alone.

    The median inter-chord interval, folded into :data:`BEAT_RANGE_SEC` by doubling or
    halving (0.5 s when there is nothing to go on).
    """
    clusters = cluster_onsets(onsets, CHORD_WINDOW_SEC)
    if len(onsets) < 3:
        return 0.5
    first = np.full(int(clusters[-1]) + 1, np.inf)
    np.minimum.at(first, clusters, onsets)
    iois = np.diff(first)
    iois = iois[iois > 0]
    if len(iois) == 0:
        return 0.5
    period = float(np.median(iois))
    lo, hi = BEAT_RANGE_SEC
    while period < lo:
        period *= 2.0
    while period > hi:
        period /= 2.0
    return period


def _as_performance(x: PerformanceMidi | PathLike) -> PerformanceMidi:
    if isinstance(x, PerformanceMidi):
        return x
    return load_midi(x)


def _read_score_grid(path: str) -> tuple[Float64Array, Float64Array] | None:
    """Beats and downbeats from a score MIDI's tempo map and time signatures."""
    if not path or not Path(path).is_file():
        return None
    try:
        import pretty_midi

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pm = pretty_midi.PrettyMIDI(path)
            beats = np.asarray(pm.get_beats(), dtype=np.float64)
            downbeats = np.asarray(pm.get_downbeats(), dtype=np.float64)
    except Exception:  # a score we can read notes from but not a grid: estimate instead
        return None
    if len(beats) < 2:
        return None
    return beats, downbeats


def score_notes(score: PerformanceMidi | PathLike) -> ScoreNotes:
    """Read a score MIDI into :class:`ScoreNotes` (grid from the file when it has one)."""
    s = _as_performance(score)
    notes = s.notes
    onset = np.asarray(notes["onset_sec"], dtype=np.float64)
    grid = _read_score_grid(s.path)
    if grid is None:
        period = estimate_beat_period(onset)
        end = float(s.end_sec) + period
        beats = np.arange(0.0, end, period)
        downbeats = beats[::DEFAULT_BEATS_PER_BAR]
    else:
        beats, downbeats = grid
        # the grid runs to the file's end; keep one beat past the last onset
        last = float(np.max(notes["offset_sec"])) if len(notes) else 0.0
        beats = beats[beats <= last + 1e-6] if np.any(beats <= last) else beats[:2]
    if len(downbeats) >= 2 and len(beats) >= 2:
        bpb = float(np.median(np.diff(downbeats)) / np.median(np.diff(beats)))
    else:
        bpb = float(DEFAULT_BEATS_PER_BAR)
    return ScoreNotes(
        onset=onset,
        offset=np.asarray(notes["offset_sec"], dtype=np.float64),
        pitch=np.asarray(notes["pitch"], dtype=np.float64),
        velocity=np.asarray(notes["velocity"], dtype=np.float64),
        beats_sec=beats,
        downbeats_sec=downbeats[downbeats <= (beats[-1] if len(beats) else 0.0)],
        beats_per_bar=round(bpb, 3),
        path=s.path,
    )


def _align_to_score(perf: PerformanceMidi, sn: ScoreNotes) -> Alignment | None:
    """Align a performance to a score with ``chord_dtw`` (None when nothing matches)."""
    notes = np.zeros(sn.n_notes, dtype=NOTE_DTYPE)
    notes["onset_sec"], notes["offset_sec"] = sn.onset, sn.offset
    notes["pitch"], notes["velocity"] = sn.pitch, sn.velocity
    notated = score_from_notes(notes, path=sn.path or None)
    try:
        return align(perf, notated, backend="chord_dtw")
    except AlignmentError:  # no note matches: the score-relative columns stay neutral
        return None


def make_context(
    perf: PerformanceMidi | PathLike,
    *,
    score: PerformanceMidi | PathLike | ScoreNotes | None = None,
) -> FeatureContext:
    """Build the :class:`FeatureContext` of a performance (aligned to ``score`` if given).

    Parameters
    ----------
    perf : PerformanceMidi or path-like
    score : PerformanceMidi, path-like, ScoreNotes or None
        The score (a score MIDI, or a score rendition of the passage). A path lets the
        beat grid come from the file's tempo map and time signatures.

    Returns
    -------
    FeatureContext
    """
    p = _as_performance(perf)
    notes = p.notes
    onset = np.asarray(notes["onset_sec"], dtype=np.float64)
    sustain_t = np.asarray(p.sustain["time_sec"], dtype=np.float64)
    sustain_v = np.asarray(p.sustain["value"], dtype=np.float64)
    sounding = sounding_offsets(notes, p.sustain)
    t_start = float(onset[0]) if len(onset) else 0.0
    t_end = float(max(p.end_sec, t_start))
    sn: ScoreNotes | None = None
    alignment: Alignment | None = None
    if score is not None:
        sn = score if isinstance(score, ScoreNotes) else score_notes(score)
        if sn.n_notes and len(onset):
            alignment = _align_to_score(p, sn)
    if alignment is not None and alignment.n_matched >= 2 and sn is not None:
        beats = alignment.score_to_perf(sn.beats_sec)
        downbeats = alignment.score_to_perf(sn.downbeats_sec)
        bpb = sn.beats_per_bar
    else:
        period = estimate_beat_period(onset)
        beats = np.arange(t_start, max(t_end, t_start + period) + 1e-9, period)
        downbeats = np.zeros(0)
        bpb = float(DEFAULT_BEATS_PER_BAR)
    return FeatureContext(
        onset=onset,
        offset=np.asarray(notes["offset_sec"], dtype=np.float64),
        pitch=np.asarray(notes["pitch"], dtype=np.float64),
        velocity=np.asarray(notes["velocity"], dtype=np.float64),
        sounding_offset=np.asarray(sounding, dtype=np.float64),
        sustain_t=sustain_t,
        sustain_v=sustain_v,
        soft_t=np.asarray(p.soft["time_sec"], dtype=np.float64),
        soft_v=np.asarray(p.soft["value"], dtype=np.float64),
        sostenuto_t=np.asarray(p.sostenuto["time_sec"], dtype=np.float64),
        sostenuto_v=np.asarray(p.sostenuto["value"], dtype=np.float64),
        t_start=t_start,
        t_end=t_end,
        beats_sec=np.asarray(beats, dtype=np.float64),
        downbeats_sec=np.asarray(downbeats, dtype=np.float64),
        beats_per_bar=bpb,
        score=sn,
        alignment=alignment,
    )


FamilyFunction = Callable[[FeatureContext], Mapping[str, float]]


@dataclass(frozen=True)
class FeatureFamily:
    """A named group of performance features.

    Attributes
    ----------
    name : str
        Prefix of every column (``timing`` → ``timing.ioi_median_sec``).
    columns : tuple of str
        The unprefixed column names the function returns, always all of them.
    function : callable
        ``function(ctx: FeatureContext) -> Mapping[str, float]``.
    description : str
    score_columns : tuple of str
        The unprefixed columns that need a score (neutral values without one); the others
        are computed from the performance alone.
    version : int
        Bump when the family's output changes (feature caches key on it).
    """

    name: str
    columns: tuple[str, ...]
    function: FamilyFunction
    description: str = ""
    score_columns: tuple[str, ...] = ()
    version: int = 1

    def __post_init__(self) -> None:
        unknown = [c for c in self.score_columns if c not in self.columns]
        if unknown:
            raise ParameterError(
                f"feature family {self.name!r}: score_columns {unknown} undeclared"
            )

    @property
    def uses_score(self) -> bool:
        """Whether some columns need a score."""
        return bool(self.score_columns)

    @property
    def prefixed_columns(self) -> list[str]:
        """The columns as they appear in feature tables: ``"<name>.<column>"``."""
        return [f"{self.name}.{c}" for c in self.columns]

    @property
    def performance_columns(self) -> list[str]:
        """Prefixed columns computed from the performance alone."""
        return [f"{self.name}.{c}" for c in self.columns if c not in self.score_columns]

    def compute(self, ctx: FeatureContext) -> dict[str, float]:
        """Run the family on ``ctx`` and return its validated, prefixed output."""
        out = self.function(ctx)
        return validate_family_output(self, out)


def validate_family_output(family: FeatureFamily, out: Mapping[str, float]) -> dict[str, float]:
    """Check a family's raw output and return it prefixed.

    Raises
    ------
    SchemaError
        If a declared column is missing, an undeclared one appears, or a value is not a
        finite number.
    """
    missing = [c for c in family.columns if c not in out]
    extra = [c for c in out if c not in family.columns]
    if missing or extra:
        raise SchemaError(
            f"feature family {family.name!r} returned the wrong columns "
            f"(missing: {missing or 'none'}, undeclared: {extra or 'none'})"
        )
    result: dict[str, float] = {}
    for c in family.columns:
        try:
            v = float(out[c])
        except (TypeError, ValueError):
            raise SchemaError(f"feature {family.name}.{c} is not a number: {out[c]!r}") from None
        if not math.isfinite(v):
            raise SchemaError(f"feature {family.name}.{c} is not finite ({v})")
        result[f"{family.name}.{c}"] = v
    return result


def validate_feature_names(names: Sequence[str]) -> None:
    """Check that feature column names are ``family.column`` and unique."""
    bad = [n for n in names if n.count(".") != 1 or n.startswith(".") or n.endswith(".")]
    if bad:
        raise ParameterError(f"feature names must be 'family.column': {bad[:5]}")
    if len(set(names)) != len(names):
        raise ParameterError("feature names are not unique")


def beat_log_tempo_ratio(ctx: FeatureContext) -> tuple[Float64Array, Float64Array]:
    """Return the local tempo curve against the score, beat by beat.

    For the score beats between the first and last matched score onsets, the log of
    (performed beat duration / notated beat duration): 0 at the notated tempo, positive
    where the performance is slower. Durations come from the alignment's time map.

    Returns
    -------
    position : np.ndarray, shape=(n_beats,)
        Where each beat lies in the aligned span, 0 (start) to 1 (end).
    log_ratio : np.ndarray, shape=(n_beats,)
        Empty without an alignment.
    """
    empty = (np.zeros(0), np.zeros(0))
    if not ctx.aligned or ctx.score is None or ctx.alignment is None:
        return empty
    s_on = ctx.score.onset[ctx.alignment.score_index]
    lo, hi = float(s_on.min()), float(s_on.max())
    beats = ctx.score.beats_sec
    beats = beats[(beats >= lo - 1e-6) & (beats <= hi + 1e-6)]
    # a span shorter than two beats still gets one ratio from its two ends
    if len(beats) < 2:
        if hi - lo <= 0:
            return empty
        beats = np.array([lo, hi])
    perf = ctx.alignment.score_to_perf(beats)
    ratio = np.diff(perf) / np.diff(beats)
    log_ratio = np.log(np.clip(ratio, 0.05, 20.0))
    mid = 0.5 * (beats[1:] + beats[:-1])
    span = beats[-1] - beats[0]
    return (mid - beats[0]) / span if span > 0 else np.zeros(len(mid)), log_ratio


def beat_index(ctx: FeatureContext, times: Float64Array) -> IntArray:
    """Index of the beat (of ``ctx.beats_sec``) each time falls in (0 before the first)."""
    if len(ctx.beats_sec) == 0:
        return np.zeros(len(times), dtype=np.int64)
    return np.clip(np.searchsorted(ctx.beats_sec, times, side="right") - 1, 0, None)


def next_cluster_onset(ctx: FeatureContext) -> Float64Array:
    """For every note, the onset of the next cluster (NaN for notes of the last one)."""
    first = ctx.cluster_onsets()
    nxt = np.append(first[1:], np.nan)
    return nxt[ctx.cluster] if ctx.n_notes else np.zeros(0)
