"""ASAP: bar-aligned windows of 1067 unlabelled performances (Foscarin et al., ISMIR 2020).

ASAP (CC BY-NC-SA 4.0, non-commercial) pairs performance MIDIs with quantised score MIDIs,
both annotated with beats, downbeats, time signatures and key signatures. It has no
perceptual labels: it is the unlabelled pool for pseudo-labels and active learning, cut
into windows of whole bars so that a rating or a tutor's remark can name bar numbers.

Conventions
-----------
Annotation files
    ``*_annotations.txt``: one line per beat, ``time<TAB>time<TAB>label``, label ``b``
    (beat), ``db`` (downbeat) or ``bR`` (a beat in a bar whose notes do not fill a regular
    bar), optionally followed by ``,time signature,key`` (``db,3/4,-2``, ``b,,0``). Every
    line is a beat; downbeats are the ``db`` lines (:func:`read_annotations`).
Bars
    Bars are counted from the annotated downbeats, never from the score's printed measure
    numbers: bar ``i`` (1-based) starts at the ``i``-th downbeat and ends at the next one;
    the last bar ends when the last note stops sounding (:func:`load_midi` ``end_sec``,
    sustain pedal included). Beats before the first downbeat are a **pickup**
    (anacrusis): they belong to no bar and no window, so the first window starts on the
    first downbeat. A repeat that is played is counted again (bars keep increasing), so
    ``bars`` are positions in the performance, not in the score.
Skipped bars
    Where a performer leaves out a repeat that the score writes out, ASAP keeps the score's
    bar count by squeezing the unplayed bars into a few milliseconds (runs of bars of about
    0.01 s). Bars shorter than :data:`MIN_BAR_SEC` (0.2 s; the last bar excepted, which a
    performance cut right after its final chord can make shorter) are taken as skipped:
    no window contains them, and the passages on either side are windowed separately.
Window rule (:func:`asap_windows`)
    One bar count per performance, ``n_bars`` in 8..16, chosen so that the most windows
    last 10-20 s: the count with the largest share of windows within ``[10, 20]`` s wins;
    ties go to the smaller mean distance outside the range, then to the median window
    closest to 15 s, then to fewer bars. Windows start every ``hop_bars = ceil(n_bars / 2)``
    bars (50 % overlap, so every bar boundary but the first and last is inside some
    window); a last window over the final ``n_bars`` bars is aligned to the end
    (:func:`pianoeval.audio.bar_windows`). Bars force a window outside 10-20 s when
    8 bars already last more than 20 s (slow movements) or 16 bars less than 10 s (fast
    pieces in short bars), and where the tempo changes within a performance; such windows
    are kept, and the report counts them. A performance with fewer than 8 bars gets one
    window over all its bars, flagged ``short_performance``; a passage between skipped
    bars shorter than the window gets one window over it, flagged ``short_passage``.
Score
    ``score_uri`` is the folder's ``midi_score.mid``. When the performance and the score have
    the same number of downbeats, bar ``i`` of one is bar ``i`` of the other: the row gets
    ``score_bars`` (the same numbers) and ``score_t0``/``score_t1`` from
    ``midi_score_annotations.txt``. Otherwise (repeats played differently from the score,
    27 performances) there is no reliable bar map without a note alignment, so the row
    has no ``score_bars`` and is flagged ``score_mismatch``.
Rows
    ``segment_id`` ``asap/{composer}/{title}/{performer}/bars_{a}_{b}``; the performer is the
    performance file's stem. When one (composer, title, performer) appears in two folders
    (the same performance annotated against two versions of the score), the folder name
    is added: ``{performer}@{folder}``. ``alignment`` holds the performance's beat and
    downbeat times within ``[t0, t1)`` (seconds from the start of the MIDI file) and the
    time signature and key in force at ``t0``. ``groups`` holds ``work``
    (``composer/title``: split by it, not by folder), ``performer`` and ``composer``.
    No labels.
"""

from __future__ import annotations

import csv
import math
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from pianoeval._parallel import pool_context, resolve_jobs
from pianoeval._typing import Float64Array, PathLike
from pianoeval.audio.windows import Window, bar_windows
from pianoeval.data.report import ImportReport
from pianoeval.data.root import find_data_root
from pianoeval.errors import MidiError, ParameterError, SchemaError
from pianoeval.licences import get_licence
from pianoeval.manifest import Segment, path_to_uri, write_manifest

__all__ = [
    "DATASET",
    "HOP_RATIO",
    "LICENSE",
    "MAX_BARS",
    "MIN_BARS",
    "MIN_BAR_SEC",
    "TARGET_SEC",
    "AnnotationError",
    "Annotations",
    "AsapPerformance",
    "BarWindowPlan",
    "asap_windows",
    "build_asap_manifest",
    "load_asap_metadata",
    "read_annotations",
]

DATASET = "asap"
#: Licence identifier written to ``provenance.license`` (from :mod:`pianoeval.licences`).
LICENSE: str = get_licence(DATASET).license
#: Fewest and most bars in a window (evaluator guide, section 5: 8-16 bars, 10-20 s).
MIN_BARS, MAX_BARS = 8, 16
#: The window duration aimed at, in seconds (inclusive).
TARGET_SEC: tuple[float, float] = (10.0, 20.0)
#: Hop between windows as a fraction of the window's bars (rounded up): 50 % overlap.
HOP_RATIO = 0.5
#: Bars shorter than this were not played (see :func:`asap_windows`): a 2/4 bar at
#: 600 crotchets a minute. Annotators squeeze skipped repeats into runs of ~0.01 s bars.
MIN_BAR_SEC = 0.2

_T = TypeVar("_T")

_LABELS = frozenset({"b", "db", "bR"})
_DECIMALS = 6  # the annotation files give microseconds


class AnnotationError(SchemaError):
    """An ASAP annotation file cannot be read.

    Attributes
    ----------
    path : str
        The file.
    problem : str
        What is wrong with it (with the line number when it is one line).
    """

    def __init__(self, path: PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class Annotations:
    """The beat annotations of one ASAP performance or score.

    Attributes
    ----------
    beats_sec : np.ndarray, shape=(n_beats,), seconds
        Every annotated beat (``b``, ``db`` and ``bR``), strictly increasing.
    downbeats_sec : np.ndarray, shape=(n_bars,), seconds
        The downbeats (``db``), a subset of ``beats_sec``.
    time_signatures : tuple of (float, str)
        ``(time_sec, "3/4")`` where a time signature is given.
    keys : tuple of (float, int)
        ``(time_sec, accidentals)`` where a key signature is given (negative: flats).
    """

    beats_sec: Float64Array
    downbeats_sec: Float64Array
    time_signatures: tuple[tuple[float, str], ...] = ()
    keys: tuple[tuple[float, int], ...] = ()

    @property
    def n_bars(self) -> int:
        """Number of bars: one per annotated downbeat."""
        return int(self.downbeats_sec.size)

    @property
    def n_pickup_beats(self) -> int:
        """Beats before the first downbeat (the pickup; 0 without one)."""
        if self.downbeats_sec.size == 0:
            return int(self.beats_sec.size)
        return int(np.searchsorted(self.beats_sec, self.downbeats_sec[0], side="left"))

    def time_signature_at(self, time_sec: float) -> str | None:
        """Return the time signature in force at ``time_sec`` (None before the first one)."""
        return _in_force(self.time_signatures, time_sec)

    def key_at(self, time_sec: float) -> int | None:
        """Return the key signature (accidentals) in force at ``time_sec``, if any."""
        return _in_force(self.keys, time_sec)


def _in_force(changes: Sequence[tuple[float, _T]], time_sec: float) -> _T | None:
    value: _T | None = None
    for t, v in changes:
        if t > time_sec + 1e-9:
            break
        value = v
    return value


def read_annotations(path: PathLike) -> Annotations:
    r"""Read an ASAP annotation file (``*_annotations.txt``).

    Parameters
    ----------
    path : path-like
        A performance's or a score's annotation file.

    Returns
    -------
    Annotations
        Beats, downbeats, time signatures and key signatures.

    Raises
    ------
    AnnotationError
        If the file is missing or empty, a line is malformed (its number is given), a
        label is unknown, the times are not finite or not strictly increasing, or there is
        no downbeat.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x_annotations.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("0.5\t0.5\tb,,0\n1.0\t1.0\tdb,2/4\n1.5\t1.5\tb\n2.0\t2.0\tdb\n")
    >>> ann = read_annotations(path)
    >>> ann.downbeats_sec.tolist(), ann.n_pickup_beats, ann.time_signatures, ann.keys
    ([1.0, 2.0], 1, ((1.0, '2/4'),), ((0.5, 0),))
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AnnotationError(p, "file does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise AnnotationError(p, f"cannot be read ({e})") from None
    times: list[float] = []
    is_downbeat: list[bool] = []
    time_signatures: list[tuple[float, str]] = []
    keys: list[tuple[float, int]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cols = line.strip().split("\t")
        if len(cols) < 3:
            raise AnnotationError(p, f"line {n}: expected time<TAB>time<TAB>label, got {line!r}")
        try:
            t = float(cols[0])
        except ValueError:
            raise AnnotationError(p, f"line {n}: time {cols[0]!r} is not a number") from None
        if not math.isfinite(t):
            raise AnnotationError(p, f"line {n}: time {cols[0]!r} is not finite")
        parts = cols[2].split(",")
        label = parts[0].strip()
        if label not in _LABELS:
            raise AnnotationError(p, f"line {n}: unknown label {label!r} (b, db or bR)")
        if len(parts) > 1 and parts[1].strip():
            time_signatures.append((t, parts[1].strip()))
        if len(parts) > 2 and parts[2].strip():
            try:
                keys.append((t, int(parts[2])))
            except ValueError:
                raise AnnotationError(
                    p, f"line {n}: key {parts[2]!r} is not a number of accidentals"
                ) from None
        times.append(t)
        is_downbeat.append(label == "db")
    if not times:
        raise AnnotationError(p, "no annotations (empty file)")
    beats = np.asarray(times, dtype=np.float64)
    steps = np.diff(beats)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0))
        raise AnnotationError(
            p, f"times must increase: beat {i + 2} ({beats[i + 1]:g} s) follows {beats[i]:g} s"
        )
    downbeats = beats[np.asarray(is_downbeat, dtype=bool)]
    if downbeats.size == 0:
        raise AnnotationError(p, "no downbeat (db) annotated: bars cannot be counted")
    return Annotations(beats, downbeats, tuple(time_signatures), tuple(keys))


@dataclass(frozen=True)
class AsapPerformance:
    """One row of ASAP's ``metadata.csv``, with absolute paths.

    Attributes
    ----------
    composer : str
    title : str
        With ``composer``, identifies the work (folders may split one work).
    folder : str
        The score folder, relative to the ASAP root (``Bach/Fugue/bwv_846``).
    performer : str
        The performance file's stem (``Shi05M``).
    midi_path, annotations_path : pathlib.Path
        The performance MIDI and its annotations.
    score_midi_path, score_annotations_path : pathlib.Path
        The folder's ``midi_score.mid`` and its annotations.
    """

    composer: str
    title: str
    folder: str
    performer: str
    midi_path: Path
    annotations_path: Path
    score_midi_path: Path
    score_annotations_path: Path

    @property
    def work(self) -> str:
        """The grouping key for splits: ``composer/title``."""
        return f"{self.composer}/{self.title}"

    @property
    def name(self) -> str:
        """The performance MIDI relative to the ASAP root (how it is reported)."""
        return f"{self.folder}/{self.midi_path.name}"


_METADATA_COLUMNS = (
    "composer",
    "title",
    "folder",
    "midi_score",
    "midi_performance",
    "performance_annotations",
    "midi_score_annotations",
)


def load_asap_metadata(root: PathLike) -> list[AsapPerformance]:
    """Read ASAP's ``metadata.csv``: one entry per performance, in file order.

    Parameters
    ----------
    root : path-like
        The ASAP folder (the one holding ``metadata.csv``).

    Returns
    -------
    list of AsapPerformance
        Paths are absolute; whether the files exist is not checked here.

    Raises
    ------
    SchemaError
        If ``metadata.csv`` is missing or lacks one of the columns used.
    """
    root = Path(root).absolute()
    path = root / "metadata.csv"
    if not path.is_file():
        raise SchemaError(f"{path}: ASAP metadata file not found")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in _METADATA_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SchemaError(f"{path}: missing column(s) {', '.join(missing)}")
        rows = list(reader)
    return [
        AsapPerformance(
            composer=r["composer"],
            title=r["title"],
            folder=r["folder"].strip("/"),
            performer=Path(r["midi_performance"]).stem,
            midi_path=root / r["midi_performance"],
            annotations_path=root / r["performance_annotations"],
            score_midi_path=root / r["midi_score"],
            score_annotations_path=root / r["midi_score_annotations"],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class BarWindowPlan:
    """The windows chosen for one performance.

    Attributes
    ----------
    windows : tuple of Window
        In time order, with 1-based, inclusive ``bar_start``/``bar_end`` and ``index`` from 0.
    n_bars : int
        Bars per window (the number of bars itself for a short performance).
    hop_bars : int
        Bars between window starts within a passage (the last window of a passage is
        aligned to its end).
    short : bool
        Fewer played bars than ``min_bars``: one window over all of them.
    skipped_bars : tuple of (int, int)
        Runs of bars shorter than ``min_bar_sec`` (first and last bar, 1-based, inclusive):
        bars the performer did not play. No window contains them.
    """

    windows: tuple[Window, ...]
    n_bars: int
    hop_bars: int
    short: bool = False
    skipped_bars: tuple[tuple[int, int], ...] = ()


def _outside_sec(
    durations: npt.NDArray[np.float64], target_sec: tuple[float, float]
) -> npt.NDArray[np.float64]:
    """Return the distance of each duration from the target range (0 inside it)."""
    lo, hi = target_sec
    return np.maximum(0.0, np.maximum(lo - durations, durations - hi))


def _played_passages(
    bounds: Float64Array, min_bar_sec: float
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Split bars into played passages and skipped runs, as 0-based half-open bar ranges.

    The last bar always counts as played: it ends with the file, which may stop right after
    the final chord starts (performances cut from longer recordings).
    """
    played = np.diff(bounds) >= min_bar_sec
    played[-1] = True
    passages: list[tuple[int, int]] = []
    skipped: list[tuple[int, int]] = []
    start = 0
    for i in range(1, played.size + 1):
        if i == played.size or played[i] != played[start]:
            (passages if played[start] else skipped).append((start, i))
            start = i
    return passages, skipped


def _passage_windows(
    bounds: Float64Array, passages: Sequence[tuple[int, int]], n_bars: int, hop_bars: int
) -> list[Window]:
    """Return the bar windows of every passage, numbered over the whole performance."""
    windows: list[Window] = []
    for start, stop in passages:
        for w in bar_windows(
            bounds[start:stop], float(bounds[stop]), n_bars=n_bars, hop_bars=hop_bars
        ):
            windows.append(
                Window(
                    w.t0,
                    w.t1,
                    len(windows),
                    bar_start=int(w.bar_start or 1) + start,
                    bar_end=int(w.bar_end or 1) + start,
                )
            )
    return windows


def asap_windows(
    downbeats_sec: Sequence[float] | Float64Array,
    end_sec: float,
    *,
    min_bars: int = MIN_BARS,
    max_bars: int = MAX_BARS,
    target_sec: tuple[float, float] = TARGET_SEC,
    hop_ratio: float = HOP_RATIO,
    min_bar_sec: float = MIN_BAR_SEC,
) -> BarWindowPlan:
    """Cut a performance into windows of whole bars, 8-16 bars chosen to last 10-20 s.

    The bar count is chosen once per performance. For every ``n`` in
    ``min_bars..max_bars`` the windows of :func:`pianoeval.audio.bar_windows` (``n`` bars every
    ``ceil(n * hop_ratio)`` bars, the last one aligned to the end) are scored, and the best
    ``n`` is the one with (1) the largest share of windows within ``target_sec``, then
    (2) the smallest mean distance of the windows outside it, then (3) the median window
    closest to the middle of the range, then (4) the fewest bars.

    Bars shorter than ``min_bar_sec`` (but the last) were not played: ASAP squeezes the bars
    a performer skips (a repeat written out in the score but not taken) into a few
    milliseconds so that the performance keeps the score's bar count. They split the
    performance into passages that are windowed separately (bar numbers still count every
    annotated downbeat); a passage shorter than ``n`` bars gets one window over all of it.

    Parameters
    ----------
    downbeats_sec : sequence of float, shape=(n_bars_total,), seconds
        Downbeat times, strictly increasing; bar ``i`` starts at ``downbeats_sec[i-1]``.
    end_sec : float
        End of the last bar (the end of the performance), after the last downbeat.
    min_bars, max_bars : int
        The range of bar counts, ``1 <= min_bars <= max_bars``.
    target_sec : (float, float)
        The window durations aimed at, ``0 < lo <= hi``.
    hop_ratio : float
        Hop as a fraction of the window's bars, in ``(0, 1]``, rounded up to whole bars
        (0.5: 50 % overlap; 1: windows side by side).
    min_bar_sec : float
        Bars shorter than this, but the last, are skipped bars (``>= 0``; 0 keeps every
        bar).

    Returns
    -------
    BarWindowPlan
        The windows, the bar count and hop chosen and the skipped bars. With fewer than
        ``min_bars`` played bars, one window over each passage and ``short=True``.

    Raises
    ------
    ParameterError
        If an argument is out of range, the downbeats are not valid for
        :func:`pianoeval.audio.bar_windows`, or no bar is longer than ``min_bar_sec``.

    Examples
    --------
    40 bars of 1.5 s: 10 bars last 15 s, and every count from 8 (12 s) to 13 (19.5 s) keeps all
    windows within 10-20 s, so the one closest to 15 s wins.

    >>> plan = asap_windows([1.5 * i for i in range(40)], 60.0)
    >>> plan.n_bars, plan.hop_bars, [(w.bar_start, w.bar_end) for w in plan.windows[:2]]
    (10, 5, [(1, 10), (6, 15)])
    >>> plan.windows[-1].bar_end, plan.windows[-1].duration_sec
    (40, 15.0)
    """
    for name, value in (("min_bars", min_bars), ("max_bars", max_bars)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParameterError(f"{name} must be an integer >= 1, got {value!r}")
    if min_bars > max_bars:
        raise ParameterError(f"min_bars ({min_bars}) must not exceed max_bars ({max_bars})")
    lo, hi = (float(x) for x in target_sec)
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise ParameterError(f"target_sec must be (lo, hi) with 0 < lo <= hi, got {target_sec!r}")
    if not (isinstance(hop_ratio, int | float) and 0 < hop_ratio <= 1):
        raise ParameterError(f"hop_ratio must be in (0, 1], got {hop_ratio!r}")
    if not (isinstance(min_bar_sec, int | float) and 0 <= min_bar_sec < math.inf):
        raise ParameterError(f"min_bar_sec must be a finite number >= 0, got {min_bar_sec!r}")

    # bar_windows validates the downbeats (increasing, before end_sec); one call covers all.
    bar_windows(downbeats_sec, end_sec, n_bars=1)
    bounds = np.append(np.asarray(downbeats_sec, dtype=np.float64), float(end_sec))
    passages, skipped = _played_passages(bounds, float(min_bar_sec))
    if not passages:
        raise ParameterError(f"every bar is shorter than min_bar_sec ({min_bar_sec:g} s)")
    skipped_bars = tuple((start + 1, stop) for start, stop in skipped)
    n_played = sum(stop - start for start, stop in passages)
    longest = max(stop - start for start, stop in passages)

    if n_played < min_bars:
        windows = _passage_windows(bounds, passages, longest, longest)
        return BarWindowPlan(tuple(windows), longest, longest, True, skipped_bars)

    middle = (lo + hi) / 2
    best: tuple[tuple[float, float, float, int], BarWindowPlan] | None = None
    for n_bars in range(min_bars, max(min_bars, min(max_bars, longest)) + 1):
        hop_bars = max(1, math.ceil(n_bars * hop_ratio - 1e-9))
        windows = _passage_windows(bounds, passages, n_bars, hop_bars)
        durations = np.array([w.duration_sec for w in windows])
        outside = _outside_sec(durations, (lo, hi))
        key = (
            -float(np.mean(outside == 0)),
            float(np.mean(outside)),
            abs(float(np.median(durations)) - middle),
            n_bars,
        )
        if best is None or key < best[0]:
            best = (key, BarWindowPlan(tuple(windows), n_bars, hop_bars, False, skipped_bars))
    assert best is not None  # the range of counts is never empty
    return best[1]


# --- the import -----------------------------------------------------------------------


@dataclass
class _PerfResult:
    """What one performance gave."""

    index: int
    segments: list[Segment] = field(default_factory=list)
    skip: str | None = None
    n_bars: int = 0
    short: bool = False
    score_matched: bool = False
    pickup: bool = False
    end_estimated: bool = False
    skipped_bars: tuple[tuple[int, int], ...] = ()
    final_bar_sec: float = math.inf
    durations_sec: list[float] = field(default_factory=list)


def _end_of_last_bar(end_sec: float | None, ann: Annotations) -> tuple[float, bool]:
    """Return the end of the last bar and whether it had to be estimated.

    The end of the last sounding note when it comes after the last downbeat; else the last
    annotation, if later; else the last downbeat plus the median bar.
    """
    last_db = float(ann.downbeats_sec[-1])
    if end_sec is not None and end_sec > last_db:
        return end_sec, False
    last_beat = float(ann.beats_sec[-1])
    if last_beat > last_db:
        return last_beat, True
    bar = float(np.median(np.diff(ann.downbeats_sec))) if ann.n_bars > 1 else 2.0
    return last_db + bar, True


def _r(x: float) -> float:
    return round(float(x), _DECIMALS)


def _midi_end_sec(path: Path) -> float | str:
    """Return the end of the last sounding note of a MIDI file, or what is wrong with it."""
    from pianoeval.symbolic.midi import load_midi

    try:
        return load_midi(path).end_sec
    except MidiError as e:
        return e.problem


def _midi_ends(paths: Sequence[Path], *, jobs: int, progress: bool) -> dict[Path, float | str]:
    """Read many MIDI files with :func:`_midi_end_sec`, in worker processes if asked.

    Reading MIDI is nearly all the time an import takes (mido parses every event), so it is
    the one step spread over processes; the largest files go first to balance the workers.
    """
    from tqdm.auto import tqdm

    ordered = sorted(paths, key=lambda p: -p.stat().st_size if p.is_file() else 0)
    ends: dict[Path, float | str] = {}
    with tqdm(total=len(ordered), desc="asap", unit="midi", disable=not progress) as bar:
        if jobs <= 1 or len(ordered) <= 1:
            for path in ordered:
                ends[path] = _midi_end_sec(path)
                bar.update(1)
            return ends
        with ProcessPoolExecutor(max_workers=jobs, mp_context=pool_context()) as pool:
            chunksize = max(1, min(16, len(ordered) // (8 * jobs)))
            for path, end in zip(
                ordered, pool.map(_midi_end_sec, ordered, chunksize=chunksize), strict=True
            ):
                ends[path] = end
                bar.update(1)
    return ends


def _performance_rows(
    result: _PerfResult,
    perf: AsapPerformance,
    id_key: str,
    ann: Annotations,
    midi_end_sec: float,
    score: Annotations | str,
    score_end: tuple[float, bool] | None,
    out_dir: Path,
) -> None:
    """Fill ``result`` with the windows of one performance."""
    end_sec, result.end_estimated = _end_of_last_bar(midi_end_sec, ann)
    try:
        plan = asap_windows(ann.downbeats_sec, end_sec)
    except ParameterError as e:
        result.skip = f"{perf.annotations_path.name}: {e}"
        return
    result.n_bars, result.short, result.skipped_bars = plan.n_bars, plan.short, plan.skipped_bars
    result.final_bar_sec = end_sec - float(ann.downbeats_sec[-1])
    result.pickup = ann.n_pickup_beats > 0
    matched = score if isinstance(score, Annotations) and score.n_bars == ann.n_bars else None
    result.score_matched = matched is not None and score_end is not None

    flags = [
        name
        for name, on in (
            ("short_performance", plan.short),
            ("end_estimated", result.end_estimated),
            ("score_mismatch", not result.score_matched),
        )
        if on
    ]
    base: dict[str, Any] = {
        "dataset": DATASET,
        "midi_uri": path_to_uri(perf.midi_path, out_dir),
        "score_uri": path_to_uri(perf.score_midi_path, out_dir),
        "provenance": {
            "license": LICENSE,
            "piece": perf.title,
            "composer": perf.composer,
            "performer": perf.performer,
            "folder": perf.folder,
        },
        "groups": {"work": perf.work, "performer": perf.performer, "composer": perf.composer},
    }
    if isinstance(score, str):
        base["score_problem"] = score
    beats = ann.beats_sec
    for w in plan.windows:
        a, b = int(w.bar_start or 1), int(w.bar_end or 1)
        i0, i1 = np.searchsorted(beats, [w.t0, w.t1], side="left")
        alignment: dict[str, Any] = {
            "beats_sec": [_r(t) for t in beats[i0:i1]],
            "downbeats_sec": [_r(t) for t in ann.downbeats_sec[a - 1 : b]],
        }
        time_signature, key = ann.time_signature_at(w.t0), ann.key_at(w.t0)
        if time_signature is not None:
            alignment["time_signature"] = time_signature
        if key is not None:
            alignment["key"] = key
        row: dict[str, Any] = {
            **base,
            "segment_id": f"{DATASET}/{perf.composer}/{perf.title}/{id_key}/bars_{a}_{b}",
            "t0": _r(w.t0),
            "t1": _r(w.t1),
            "bars": [a, b],
            "alignment": alignment,
            "window": {"index": w.index, "n_bars": plan.n_bars, "hop_bars": plan.hop_bars},
        }
        row_flags = list(flags)
        if not plan.short and b - a + 1 < MIN_BARS:
            row_flags.append("short_passage")
        if matched is not None and score_end is not None:
            row["score_bars"] = [a, b]
            row["score_t0"] = _r(matched.downbeats_sec[a - 1])
            row["score_t1"] = _r(matched.downbeats_sec[b] if b < matched.n_bars else score_end[0])
            if b == matched.n_bars and score_end[1]:
                row_flags.append("score_end_estimated")
        if row_flags:
            row["flags"] = row_flags
        result.segments.append(Segment.model_validate(row))
        result.durations_sec.append(w.duration_sec)


def _asap_root(data_root: PathLike | None) -> Path:
    """Return the ASAP folder: ``data_root`` if it holds metadata.csv, else data_root/asap."""
    if data_root is not None and (Path(data_root) / "metadata.csv").is_file():
        return Path(data_root)
    return find_data_root(data_root, dataset=DATASET) / DATASET


def _id_keys(performances: Sequence[AsapPerformance]) -> list[str]:
    """Return the performer part of each segment id: the stem, plus @folder if repeated."""
    count = Counter((p.composer, p.title, p.performer) for p in performances)
    return [
        p.performer
        if count[(p.composer, p.title, p.performer)] == 1
        else f"{p.performer}@{Path(p.folder).name}"
        for p in performances
    ]


def build_asap_manifest(
    data_root: PathLike | None,
    out_path: PathLike,
    *,
    progress: bool = True,
    jobs: int | None = None,
) -> ImportReport:
    """Write the manifest of bar-aligned windows of every ASAP performance.

    The windows follow :func:`asap_windows`; see the module docstring for bars, pickups,
    repeats, skipped bars and the fields of a row. Media are referenced in place (paths
    relative to the manifest when the data lie below its folder, else ``file://`` URIs),
    never copied.

    Parameters
    ----------
    data_root : path-like or None
        The data root holding ``asap/`` (None: ``$PIANOEVAL_DATA``, else ``../shared/data``),
        or the ASAP folder itself.
    out_path : path-like
        The manifest to write (JSONL, replaced atomically).
    progress : bool
        Show a progress bar (on stderr); nothing else is printed.
    jobs : int or None
        Processes reading MIDI files (None: one per available CPU, at most 8; 1: all in
        this process).

    Returns
    -------
    ImportReport
        Rows and performances covered; every performance without rows with the reason;
        notes on the window rule, pickups, score mismatches, skipped bars and repeated
        performer ids; ``stats`` with the share of windows within 10-20 s and the counts
        outside.

    Raises
    ------
    DataRootError
        If no ASAP folder is found.
    SchemaError
        If ``metadata.csv`` is missing or malformed.
    """
    root = _asap_root(data_root)
    out = Path(out_path)
    out_dir = out.parent.absolute()
    performances = load_asap_metadata(root)
    keys = _id_keys(performances)
    results = [_PerfResult(i) for i in range(len(performances))]

    # Annotations first (fast): they say which MIDI files must be read at all.
    scores: dict[Path, Annotations | str] = {}
    annotations: dict[int, Annotations] = {}
    for perf, result in zip(performances, results, strict=True):
        if perf.score_annotations_path not in scores:
            try:
                scores[perf.score_annotations_path] = read_annotations(perf.score_annotations_path)
            except AnnotationError as e:
                scores[perf.score_annotations_path] = e.problem
        try:
            annotations[result.index] = read_annotations(perf.annotations_path)
        except AnnotationError as e:
            result.skip = f"{perf.annotations_path.name}: {e.problem}"
    needed = {performances[i].midi_path for i in annotations}
    needed |= {
        p.score_midi_path
        for i, p in enumerate(performances)
        if i in annotations
        and isinstance(score := scores[p.score_annotations_path], Annotations)
        and score.n_bars == annotations[i].n_bars
    }
    ends = _midi_ends(
        sorted(needed),
        jobs=resolve_jobs(jobs),
        progress=progress,
    )

    for i, ann in annotations.items():
        perf, result = performances[i], results[i]
        midi_end = ends[perf.midi_path]
        if isinstance(midi_end, str):
            result.skip = f"{perf.midi_path.name}: {midi_end}"
            continue
        score = scores[perf.score_annotations_path]
        score_end = None
        if isinstance(score, Annotations) and perf.score_midi_path in ends:
            score_midi_end = ends[perf.score_midi_path]
            score_end = _end_of_last_bar(
                score_midi_end if isinstance(score_midi_end, float) else None, score
            )
        _performance_rows(result, perf, keys[i], ann, midi_end, score, score_end, out_dir)

    n_rows = write_manifest(out, (seg for r in results for seg in r.segments))
    return _asap_report(out, performances, keys, results, n_rows)


def _asap_report(
    out: Path,
    performances: Sequence[AsapPerformance],
    keys: Sequence[str],
    results: Sequence[_PerfResult],
    n_rows: int,
) -> ImportReport:
    covered = [r for r in results if r.segments]
    skipped = [
        (performances[r.index].name, r.skip or "no window") for r in results if not r.segments
    ]
    durations = np.array([d for r in results for d in r.durations_sec], dtype=np.float64)
    outside = _outside_sec(durations, TARGET_SEC)
    n_in = int(np.sum(outside == 0))
    n_below = int(np.sum(durations < TARGET_SEC[0]))
    n_above = int(np.sum(durations > TARGET_SEC[1]))
    # Windows the bar range forces out: longer than hi at the fewest bars, shorter than lo
    # at the most. The others are out because the tempo varies within the performance.
    n_above_forced = sum(
        sum(d > TARGET_SEC[1] for d in r.durations_sec) for r in covered if r.n_bars == MIN_BARS
    )
    n_below_forced = sum(
        sum(d < TARGET_SEC[0] for d in r.durations_sec) for r in covered if r.n_bars == MAX_BARS
    )
    mismatch = [performances[r.index].name for r in covered if not r.score_matched]
    short = [performances[r.index].name for r in covered if r.short]
    repeated = sorted({performances[i].name for i, k in enumerate(keys) if "@" in k})
    lo, hi = TARGET_SEC
    notes = [
        f"window rule: per performance, {MIN_BARS}-{MAX_BARS} bars, the count with the most "
        f"windows within {lo:g}-{hi:g} s (ties: smaller mean distance outside, median closest "
        f"to {(lo + hi) / 2:g} s, fewer bars); hop ceil(n_bars/2) bars (50 % overlap); the last "
        "window is aligned to the end",
        f"{n_in} of {durations.size} windows ({_share(n_in, durations.size)}) last "
        f"{lo:g}-{hi:g} s; {n_below} are shorter ({n_below_forced} at {MAX_BARS} bars: fast "
        f"music in short bars) and {n_above} longer ({n_above_forced} at {MIN_BARS} bars: slow "
        "music in long bars); the rest are out because the tempo varies within the "
        "performance (fermatas, slow introductions, final chords); all are kept",
        f"bars are counted from the annotated downbeats (bar 1 = first downbeat); the pickup "
        f"before it is in no window ({sum(r.pickup for r in covered)} performances have one)",
        f"{len(mismatch)} performances have a different number of downbeats from their score "
        "(repeats taken differently): no score_bars, flagged score_mismatch"
        + (f": {', '.join(mismatch)}" if mismatch else ""),
    ]
    if short:
        notes.append(f"fewer than {MIN_BARS} bars, one window over all: {', '.join(short)}")
    if repeated:
        notes.append(
            "the same performer stem appears in two folders of one work (one performance "
            "annotated against two versions of the score); its ids add @folder: "
            + ", ".join(repeated)
        )
    with_skips = [r for r in covered if r.skipped_bars]
    n_skipped_bars = sum(b - a + 1 for r in with_skips for a, b in r.skipped_bars)
    if with_skips:
        runs = ", ".join(
            f"{performances[r.index].name} (bars "
            + ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in r.skipped_bars)
            + ")"
            for r in with_skips
        )
        notes.append(
            f"{len(with_skips)} performances have bars shorter than {MIN_BAR_SEC:g} s, "
            f"{n_skipped_bars} in all: bars the performer skipped (a repeat not taken), squeezed "
            "by the annotators to keep the score's bar count; no window contains them, the "
            f"passages around them are windowed separately: {runs}"
        )
    n_short_passage = sum(
        1 for r in covered for seg in r.segments if "short_passage" in (seg.flags or [])
    )
    if n_short_passage:
        notes.append(
            f"{n_short_passage} windows cover a passage of fewer than {MIN_BARS} bars between "
            "skipped bars (flagged short_passage)"
        )
    n_cut = sum(r.final_bar_sec < MIN_BAR_SEC for r in covered)
    if n_cut:
        notes.append(
            f"{n_cut} performance MIDIs stop less than {MIN_BAR_SEC:g} s after their last "
            "downbeat (cut right after the final chord starts): the last bar is kept as it is"
        )
    n_end = sum(r.end_estimated for r in covered)
    if n_end:
        notes.append(f"{n_end} performances end before their last downbeat: last bar estimated")
    stats: dict[str, Any] = {
        "n_performances": len(performances),
        "n_performances_covered": len(covered),
        "n_windows": int(durations.size),
        "n_windows_in_target": n_in,
        "share_in_target": round(n_in / durations.size, 4) if durations.size else 0.0,
        "n_windows_below_target": n_below,
        "n_windows_above_target": n_above,
        "n_windows_below_at_max_bars": n_below_forced,
        "n_windows_above_at_min_bars": n_above_forced,
        "target_sec": list(TARGET_SEC),
        "window_sec_quantiles": (
            {
                q: round(float(np.quantile(durations, float(q))), 3)
                for q in ("0", "0.05", "0.5", "0.95", "1")
            }
            if durations.size
            else {}
        ),
        "n_bars_chosen": {str(n): c for n, c in sorted(Counter(r.n_bars for r in covered).items())},
        "n_short_performances": len(short),
        "n_score_mismatch": len(mismatch),
        "n_with_pickup": sum(r.pickup for r in covered),
        "n_end_estimated": n_end,
        "n_final_bar_cut": n_cut,
        "n_with_skipped_bars": len(with_skips),
        "n_skipped_bars": n_skipped_bars,
        "n_short_passage_windows": n_short_passage,
    }
    return ImportReport(out, n_rows, len(covered), skipped=skipped, notes=notes, stats=stats)


def _share(n: int, total: int) -> str:
    return f"{100 * n / total:.1f} %" if total else "n/a"
