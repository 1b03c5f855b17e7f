"""Symbolic performance features: named, prefixed, validated feature families.

A performance MIDI (optionally with its score) becomes a flat dictionary of finite numbers
named ``family.column``. Each family is an entry of :data:`FEATURE_FAMILIES` (a
:class:`~pianoeval._registry.Registry` of :class:`FeatureFamily`, imported on first use)
and follows one contract, checked at the registry boundary: it returns exactly its
declared columns, all finite, for every input (a one-note MIDI, a missing score, one bar).

Families shipped:

========================  ==========================================================
``timing``                inter-onset statistics, tempo curve and its variability,
                          drift, chord asynchrony, onset deviation from the score grid
``articulation``          duration ratio to the notated value, key-overlap ratio,
                          legato and staccato fractions
``dynamics``              velocity distribution and range, smoothness across beats,
                          crescendo slopes, agreement with notated dynamics
``voicing``               melody (top voice) against accompaniment, top-voice lead
``pedal``                 CC64 on-fraction, changes per beat and bar, pedal held across
                          harmony changes, half pedal, soft and sostenuto pedals
``pace``                  tempo against the score, rubato at bar and segment ends,
                          silences
``texture``               register, density, chord sizes: what is played
``score``                 score context and alignment quality (0 without a score)
========================  ==========================================================

Score-relative columns need a score: a score MIDI or a score rendition of the same passage
(PercePiano's ``*_Score_*`` files). The performance is aligned to it note by note
(:func:`pianoeval.symbolic.align.align`, backend ``chord_dtw``: a chord DTW plus greedy
pitch matching, linear in the length). Every feature is computed from the one performance
and its score only; nothing is normalised across other performances, so features of a test
performance never depend on other data. Time and memory grow linearly with the number of
notes (no note-by-note matrices), so a whole recital rates as a segment does.

Examples
--------
>>> from pianoeval.examples import example_midi_path, example_score_path
>>> feats = extract_features(example_midi_path(), score=example_score_path())
>>> feats["score.available"], 0.0 < feats["pedal.on_frac"] < 1.0
(1.0, True)
>>> all(name.split(".")[0] in FEATURE_FAMILIES for name in feats)
True
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from pianoeval._parallel import pool_context, resolve_jobs
from pianoeval._registry import Registry
from pianoeval._typing import PathLike
from pianoeval.errors import ParameterError
from pianoeval.symbolic.features.base import (
    FeatureContext,
    FeatureFamily,
    ScoreNotes,
    make_context,
    score_notes,
    validate_family_output,
)
from pianoeval.symbolic.features.cache import (
    FEATURE_VERSION,
    FeatureCache,
    content_sha256,
    default_cache_dir,
    feature_key,
)
from pianoeval.symbolic.midi import PerformanceMidi

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FEATURE_FAMILIES",
    "FEATURE_VERSION",
    "FeatureCache",
    "FeatureContext",
    "FeatureFamily",
    "ScoreNotes",
    "default_cache_dir",
    "extract_bar_features",
    "extract_features",
    "feature_columns",
    "features_table",
    "get_feature_family",
    "list_feature_families",
    "make_context",
    "register_feature_family",
    "score_notes",
    "validate_family_output",
]

FEATURE_FAMILIES: Registry[FeatureFamily] = Registry("feature family")
for _name in ("timing", "articulation", "dynamics", "voicing", "pedal", "pace", "texture", "score"):
    FEATURE_FAMILIES.register(_name, f"pianoeval.symbolic.features.{_name}:FAMILY")

Performance = PerformanceMidi | PathLike
ScoreLike = PerformanceMidi | PathLike | ScoreNotes


def register_feature_family(family: FeatureFamily, *, overwrite: bool = False) -> None:
    """Add a feature family (its name becomes the prefix of its columns)."""
    if "." in family.name or not family.name:
        raise ParameterError(f"feature family name {family.name!r} must be non-empty, no '.'")
    FEATURE_FAMILIES.register(family.name, family, overwrite=overwrite)


def get_feature_family(name: str) -> FeatureFamily:
    """Return the feature family called ``name``."""
    family = FEATURE_FAMILIES.get(name)
    if family.name != name:
        raise ParameterError(f"feature family registered as {name!r} calls itself {family.name!r}")
    return family


def list_feature_families() -> list[str]:
    """Names of the registered feature families, in registration order."""
    return FEATURE_FAMILIES.names()


def _families(families: Iterable[str] | None) -> list[FeatureFamily]:
    names = list(FEATURE_FAMILIES.names() if families is None else families)
    if not names:
        raise ParameterError("families is empty: ask for at least one feature family")
    return [get_feature_family(n) for n in names]


def feature_columns(families: Iterable[str] | None = None) -> list[str]:
    """Return the columns :func:`extract_features` returns, in order.

    Examples
    --------
    >>> feature_columns(["pedal"])[:2]
    ['pedal.on_frac', 'pedal.depth_mean']
    """
    return [c for f in _families(families) for c in f.prefixed_columns]


def features_from_context(
    ctx: FeatureContext, families: Iterable[str] | None = None
) -> dict[str, float]:
    """Run the families on a prepared context (see :func:`extract_features`)."""
    out: dict[str, float] = {}
    for family in _families(families):
        out.update(family.compute(ctx))
    return out


def extract_features(
    perf: Performance,
    *,
    score: ScoreLike | None = None,
    families: Iterable[str] | None = None,
) -> dict[str, float]:
    """Compute the features of one performance.

    Parameters
    ----------
    perf : PerformanceMidi or path-like
        The performance MIDI (read with :func:`pianoeval.symbolic.load_midi`).
    score : PerformanceMidi, path-like, ScoreNotes or None
        Its score (a score MIDI or score rendition of the same passage). Without it the
        score-relative columns hold neutral values and ``score.available`` is 0.
    families : iterable of str, optional
        Which families (default: all registered, in registration order).

    Returns
    -------
    dict of str to float
        ``{"family.column": value}``, every value finite, the same keys for any input.

    Raises
    ------
    MidiError
        If a MIDI file cannot be read or has no notes.
    ParameterError
        If a family is unknown.
    SchemaError
        If a family breaks its contract (wrong columns, non-finite value).
    """
    fams = _families(families)
    ctx = make_context(perf, score=score)
    return features_from_context(ctx, [f.name for f in fams])


def extract_bar_features(
    perf: Performance,
    downbeats_sec: Sequence[float] | np.ndarray,
    *,
    score: ScoreLike | None = None,
    families: Iterable[str] | None = None,
) -> list[dict[str, float]]:
    """Compute the features of every bar of a performance.

    Bar ``k`` holds the notes starting in ``[downbeats_sec[k], downbeats_sec[k + 1])``;
    the last bar runs to the end of the performance. The alignment to the score (if any)
    is made once for the whole performance and then cut to each bar, so score-relative
    features of a bar use its own matched notes. Notes before the first downbeat (a
    pickup) belong to no bar.

    Parameters
    ----------
    perf : PerformanceMidi or path-like
    downbeats_sec : sequence of float
        Bar lines in performance seconds, increasing.
    score : PerformanceMidi, path-like, ScoreNotes or None
    families : iterable of str, optional

    Returns
    -------
    list of dict
        One feature dictionary per bar, with the columns of :func:`extract_features`.

    Raises
    ------
    ParameterError
        If ``downbeats_sec`` is empty, not increasing or not finite.

    Examples
    --------
    >>> from pianoeval.examples import example_metadata, example_midi_path
    >>> bars = extract_bar_features(example_midi_path(), example_metadata()["downbeats_sec"])
    >>> len(bars) == len(example_metadata()["downbeats_sec"]), "pedal.on_frac" in bars[0]
    (True, True)
    """
    db = np.asarray(downbeats_sec, dtype=np.float64)
    if db.ndim != 1 or len(db) == 0:
        raise ParameterError("downbeats_sec must be a non-empty 1-d sequence of seconds")
    if not np.all(np.isfinite(db)) or np.any(np.diff(db) <= 0):
        raise ParameterError("downbeats_sec must be finite and strictly increasing")
    names = [f.name for f in _families(families)]
    ctx = make_context(perf, score=score)
    ends = np.append(db[1:], max(ctx.t_end, db[-1]) + 1e-9)
    out = []
    for t0, t1 in zip(db, ends, strict=True):
        sub = ctx.window(float(t0), float(t1))
        out.append(features_from_context(sub, names))
    return out


# --------------------------------------------------------------------------- tables


def _compute_task(args: tuple[Any, Any, list[str]]) -> dict[str, float]:
    perf, score, names = args
    return extract_features(perf, score=score, families=names)


def features_table(
    perfs: Sequence[Performance],
    *,
    scores: Sequence[ScoreLike | None] | None = None,
    ids: Sequence[str] | None = None,
    families: Iterable[str] | None = None,
    jobs: int | None = 2,
    cache: bool | PathLike | FeatureCache = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Compute (or read from the cache) the features of many performances.

    Parameters
    ----------
    perfs : sequence of PerformanceMidi or path-like
    scores : sequence, optional
        The score of each performance (None where there is none).
    ids : sequence of str, optional
        Row labels (default: file stems, or ``perf<i>`` for loaded performances).
    families : iterable of str, optional
    jobs : int or None
        Worker processes for the cache misses (1: compute in this process; None: one per
        CPU, see :func:`pianoeval._parallel.resolve_jobs`).
    cache : bool, path-like or FeatureCache
        True: :func:`~.cache.default_cache_dir`; a folder or a cache; False: no cache.
        Keys are content hashes, so renamed files still hit.
    progress : bool
        Show a tqdm progress bar over the misses.

    Returns
    -------
    pandas.DataFrame, shape=(n_perfs, n_features)
        Indexed by ``ids``, columns as :func:`feature_columns`.

    Examples
    --------
    >>> from pianoeval.examples import example_midi_path
    >>> df = features_table([example_midi_path()], families=["pedal"], cache=False,
    ...                     progress=False, jobs=1)
    >>> df.shape == (1, len(feature_columns(["pedal"])))
    True
    """
    import pandas as pd

    names = [f.name for f in _families(families)]
    versions = [(f.name, f.version) for f in _families(names)]
    score_list: list[ScoreLike | None] = list(scores) if scores is not None else [None] * len(perfs)
    if len(score_list) != len(perfs):
        raise ParameterError(f"{len(perfs)} performances but {len(score_list)} scores")
    if ids is None:
        ids = [
            f"perf{i}" if isinstance(p, PerformanceMidi) else os.path.basename(os.fspath(p))
            for i, p in enumerate(perfs)
        ]
        ids = [i.rsplit(".", 1)[0] if i.lower().endswith((".mid", ".midi")) else i for i in ids]
    if len(ids) != len(perfs):
        raise ParameterError(f"{len(perfs)} performances but {len(ids)} ids")
    n_jobs = resolve_jobs(jobs)
    store: FeatureCache | None
    if cache is True:
        store = FeatureCache(default_cache_dir())
    elif cache is False:
        store = None
    elif isinstance(cache, FeatureCache):
        store = cache
    else:
        store = FeatureCache(cache)

    rows: list[dict[str, float] | None] = [None] * len(perfs)
    keys: list[str | None] = [None] * len(perfs)
    if store is not None:
        for i, (p, s) in enumerate(zip(perfs, score_list, strict=True)):
            s_hash = content_sha256(s) if s is not None else None
            keys[i] = feature_key(content_sha256(p), s_hash, versions)
            rows[i] = store.get(keys[i] or "")
    todo = [i for i, r in enumerate(rows) if r is None]
    tasks = [(perfs[i], score_list[i], names) for i in todo]
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="features", unit="file")
    try:
        if n_jobs == 1 or len(todo) <= 1:
            results: Iterable[dict[str, float]] = map(_compute_task, tasks)
            for i, res in zip(todo, results, strict=True):
                rows[i] = res
                if bar is not None:
                    bar.update()
        else:
            with ProcessPoolExecutor(max_workers=n_jobs, mp_context=pool_context()) as pool:
                for i, res in zip(todo, pool.map(_compute_task, tasks, chunksize=4), strict=True):
                    rows[i] = res
                    if bar is not None:
                        bar.update()
    finally:
        if bar is not None:
            bar.close()
    if store is not None:
        for i in todo:
            store.put(keys[i] or "", rows[i] or {})
    columns = feature_columns(names)
    return pd.DataFrame([r or {} for r in rows], index=pd.Index(list(ids), name="id"))[columns]
