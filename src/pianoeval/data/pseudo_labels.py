"""Pseudo-labelled manifests: the proxies of every manifest row, and the rows that carry them.

:func:`compute_proxies` measures the :mod:`pianoeval.symbolic.pseudo` proxies of manifest
rows; :func:`write_pseudo_labels` turns them into ``pseudo_labels``/``pseudo_conf``
(``execution16``), ``pseudo_calibrated`` and ``pseudo_meta`` with the committed
calibration (:func:`pianoeval.symbolic.pseudo.load_calibration`; how it is fitted:
:mod:`pianoeval.data.pseudo_fit`).

Scores
    A row is aligned to its ``score_uri``. PercePiano rows without one (manifests written
    before the importer found every score) get their excerpt's canonical score from
    :func:`pianoeval.data.percepiano.percepiano_score_paths`, the data root being the
    folder above ``percepiano/midi/``. When an ASAP-style ``<score stem>_annotations.txt``
    lies beside the score, its downbeats number the bars.
Alignment
    Rows of one performance and one score share one alignment. Long performances (more
    than :data:`FULL_ALIGN_MAX_NOTES` notes) are aligned piece by piece between the
    (``t0``, ``score_t0``) and (``t1``, ``score_t1``) anchors of their rows; each row then
    takes its window of that alignment.
Work and cache
    Performances are grouped by score, so that a worker reads each score once (partitura
    takes seconds on long score MIDIs), and spread over ``jobs`` processes
    (:mod:`pianoeval._parallel`: forkserver workers, as parangonar imports torch). Each
    performance's proxies are stored in the content-addressed store
    (:mod:`pianoeval._cache`, kind ``pseudo``) under the SHA-256 of the MIDI, score and
    annotation bytes, the row windows, :data:`~pianoeval.symbolic.pseudo.PROXY_VERSION`
    and the alignment record version, as soon as they are computed: a moved file still
    hits, an edited one misses, and an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pianoeval._cache import ContentStore, cache_dir, content_key, file_sha256
from pianoeval._parallel import pool_context, resolve_jobs
from pianoeval._typing import Float64Array, PathLike
from pianoeval.errors import AlignmentError, MidiError, PianoEvalError
from pianoeval.symbolic.midi import load_midi
from pianoeval.symbolic.pseudo import (
    PROXY_VERSION,
    TAXONOMY,
    PseudoCalibration,
    apply_human_map,
    cut_performance,
    load_calibration,
    pseudo_labels_for,
    segment_proxies,
)

if TYPE_CHECKING:
    from pianoeval.manifest import Segment

__all__ = [
    "CACHE_KIND",
    "FULL_ALIGN_MAX_NOTES",
    "ProxyResult",
    "PseudoReport",
    "compute_proxies",
    "write_pseudo_labels",
]

#: Performances with more notes are aligned between anchors (or not at all without them).
FULL_ALIGN_MAX_NOTES = 4000
#: The cache kind (folder under the cache root) of the proxies.
CACHE_KIND = "pseudo"
_CACHE_SCHEMA = 1


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
    key: str | None = None  # content key of the cache entry; None: not cached


_RowValues = list[tuple[str, dict[str, float]]]

_SCORES: OrderedDict[str, Any] = OrderedDict()
_SCORE_CACHE_SIZE = 4


def _score_downbeats(score_path: Path) -> Float64Array | None:
    """Downbeats from an ASAP-style ``<stem>_annotations.txt`` beside the score, if any."""
    ann = _annotations_path(score_path)
    if not ann.is_file():
        return None
    from pianoeval.data.asap import AnnotationError, read_annotations

    try:
        return read_annotations(ann).downbeats_sec
    except AnnotationError:
        return None


def _annotations_path(score_path: Path) -> Path:
    return score_path.with_name(f"{score_path.stem}_annotations.txt")


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


def _run_task(task: _Task) -> tuple[_RowValues, dict[str, str]]:
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
    out: _RowValues = []
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
            else "no matched notes in the window"
        )
    return out, status


def _run_batch(tasks: Sequence[_Task], store_root: str | None) -> tuple[_RowValues, dict[str, str]]:
    """Run the tasks of one score in turn (the score is read once), storing each result."""
    store = ContentStore(store_root) if store_root is not None else None
    rows: _RowValues = []
    status: dict[str, str] = {}
    try:
        for task in tasks:
            r, st = _run_task(task)
            rows += r
            status.update(st)
            if store is not None and task.key is not None:
                values = dict(r)
                store.write_json(
                    task.key,
                    {
                        "schema_version": _CACHE_SCHEMA,
                        "rows": [
                            {"status": st.get(w.segment_id, "unknown"),
                             "values": values.get(w.segment_id)}
                            for w in task.rows
                        ],
                    },
                )  # fmt: skip
    finally:
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


def _percepiano_fallback(midi: Path, lookups: dict[Path, dict[str, Path]]) -> Path | None:
    """Return the canonical score of a PercePiano row's excerpt (data root above its MIDI)."""
    from pianoeval.data.percepiano import DATASET, parse_name, percepiano_score_paths

    root = midi.parent.parent.parent
    if midi.parent.name != "midi" or midi.parent.parent.name != DATASET:
        return None
    if root not in lookups:
        try:
            lookups[root] = percepiano_score_paths(root)
        except PianoEvalError:
            lookups[root] = {}
    try:
        return lookups[root].get(parse_name(midi.name).excerpt)
    except PianoEvalError:
        return None


def _tasks(segments: Sequence[Segment], base_dir: Path | None) -> list[_Task]:
    from pianoeval.manifest import uri_to_path

    groups: dict[tuple[str, str | None], list[_RowWindow]] = {}
    lookups: dict[Path, dict[str, Path]] = {}
    for seg in segments:
        if not seg.midi_uri:
            continue
        midi = uri_to_path(seg.midi_uri, base_dir)
        score: Path | None = None
        if seg.score_uri:
            score = uri_to_path(seg.score_uri, base_dir)
            if not score.is_file():
                score = None
        if score is None and seg.dataset == "percepiano":
            score = _percepiano_fallback(midi, lookups)
        row = _RowWindow(
            seg.segment_id,
            float(seg.t0),
            float(seg.t1),
            float(seg.score_t0) if seg.score_t0 is not None else None,
            float(seg.score_t1) if seg.score_t1 is not None else None,
        )
        groups.setdefault((str(midi), str(score) if score else None), []).append(row)
    return [_Task(m, s, tuple(rows)) for (m, s), rows in groups.items()]


def _task_key(task: _Task, digests: dict[str, str | None]) -> str | None:
    """Return the content key of a task's cache entry (None if its MIDI cannot be read)."""
    from pianoeval.symbolic.align.alignment import SCHEMA_VERSION as ALIGNMENT_VERSION

    def digest(path: str | None) -> str | None:
        if path is None:
            return None
        if path not in digests:
            try:
                digests[path] = file_sha256(path)
            except OSError:
                digests[path] = None
        return digests[path]

    midi = digest(task.midi_path)
    if midi is None:
        return None  # computed (and reported) every time, never cached
    score = digest(task.score_path)
    annotations = None
    if task.score_path is not None:
        ann = _annotations_path(Path(task.score_path))
        annotations = digest(str(ann)) if ann.is_file() else None
    return content_key(
        {
            "kind": CACHE_KIND,
            "proxy_version": PROXY_VERSION,
            "alignment_version": ALIGNMENT_VERSION,
            "full_align_max_notes": FULL_ALIGN_MAX_NOTES,
            "midi": midi,
            "score": score,
            "score_annotations": annotations,
            "windows": [[r.t0, r.t1, r.score_t0, r.score_t1] for r in task.rows],
        }
    )


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
    n_cached : int
        Rows read from the cache.
    """

    values: dict[str, dict[str, float]]
    status: dict[str, str]
    seconds: float = 0.0
    n_cached: int = 0


def compute_proxies(
    segments: Iterable[Segment],
    *,
    base_dir: PathLike | None = None,
    jobs: int | None = None,
    progress: bool = True,
    cache: bool | PathLike = True,
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
    cache : bool or path-like
        True (default): the ``pseudo`` store under the cache root
        (``$PIANOEVAL_CACHE/pseudo``); a path: a store in that folder; False: no cache.

    Returns
    -------
    ProxyResult

    Raises
    ------
    ParameterError
        If ``jobs`` is below 1.
    CacheDirError
        If the cache folder cannot be written.
    """
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    tasks = _tasks(list(segments), Path(base_dir) if base_dir is not None else None)
    store: ContentStore | None = None
    if cache is not False:
        store = ContentStore(cache_dir(CACHE_KIND) if cache is True else Path(cache))
    values: dict[str, dict[str, float]] = {}
    status: dict[str, str] = {}
    todo: list[_Task] = []
    n_cached = 0
    digests: dict[str, str | None] = {}
    for task in tasks:
        key = _task_key(task, digests) if store is not None else None
        hit = store.read_json(key) if store is not None and key is not None else None
        rows = hit.get("rows") if hit and hit.get("schema_version") == _CACHE_SCHEMA else None
        if isinstance(rows, list) and len(rows) == len(task.rows):
            for r, rec in zip(task.rows, rows, strict=True):
                status[r.segment_id] = rec["status"]
                if rec.get("values") is not None:
                    values[r.segment_id] = rec["values"]
            n_cached += len(task.rows)
        else:
            todo.append(_Task(task.midi_path, task.score_path, task.rows, key))
    n_rows = sum(len(t.rows) for t in todo)
    # one batch per score, the biggest first, so that the workers finish together
    batches: dict[str, list[_Task]] = {}
    for k, task in enumerate(todo):
        batches.setdefault(task.score_path or f"no score {k}", []).append(task)
    ordered = sorted(batches.values(), key=lambda b: -sum(len(t.rows) for t in b))
    n_workers = resolve_jobs(jobs, len(ordered))
    store_root = str(store.root) if store is not None else None

    with tqdm(total=n_rows, desc="proxies", unit="row", disable=not progress) as bar:
        if n_workers == 1:
            for batch in ordered:
                rows_b, st = _run_batch(batch, store_root)
                values.update(rows_b)
                status.update(st)
                bar.update(sum(len(t.rows) for t in batch))
        else:
            with ProcessPoolExecutor(max_workers=n_workers, mp_context=pool_context()) as pool:
                futures = {pool.submit(_run_batch, b, store_root): b for b in ordered}
                for fut in as_completed(futures):
                    rows_b, st = fut.result()
                    values.update(rows_b)
                    status.update(st)
                    bar.update(sum(len(t.rows) for t in futures[fut]))
    return ProxyResult(values, status, time.perf_counter() - t_start, n_cached)


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
    cache: bool | PathLike = True,
) -> PseudoReport:
    """Add ``pseudo_labels``/``pseudo_conf`` (execution16) to every row of a manifest.

    Each row also gets ``pseudo_calibrated`` (``{"percepiano19.<dim>": value}`` for the
    dimensions with a pseudo->human calibration) and ``pseudo_meta`` (the calibration
    version, alignment status and F-measure). Relative media URIs are rewritten when
    ``manifest_out`` is in another folder. Rows without notes keep no pseudo-labels.

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
    cache : bool or path-like
        The proxy cache, as in :func:`compute_proxies`.

    Returns
    -------
    PseudoReport

    Raises
    ------
    SchemaError
        If the manifest or the calibration cannot be read.
    """
    from pianoeval.manifest import Segment, path_to_uri, read_manifest, uri_to_path, write_manifest

    t_start = time.perf_counter()
    cal = (
        calibration if isinstance(calibration, PseudoCalibration) else load_calibration(calibration)
    )
    src, dst = Path(manifest_in), Path(manifest_out)
    segments = read_manifest(src, check_media=False)
    if proxies is None:
        proxies = compute_proxies(
            segments, base_dir=src.parent, jobs=jobs, progress=progress, cache=cache
        )
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
                        float(apply_human_map(entry["calibration"], np.array([v]))[0]), 4
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
