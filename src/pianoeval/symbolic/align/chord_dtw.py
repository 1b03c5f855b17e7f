"""The ``chord_dtw`` aligner backend: chord DTW, greedy pitch matching, isotonic time map.

A small score-to-performance note alignment that needs nothing beyond numpy. It assumes
the performance plays the passage of the score from start to end (as PercePiano's
segments and a recital played from its score do). Three steps:

1. **Chord DTW.** Score and performance notes are grouped into onset clusters; each
   cluster is a pitch set. Dynamic time warping over the two cluster sequences (steps
   (1, 1), (1, 0), (0, 1); cost 1 - a blend of the cosine similarity of the exact pitch
   sets and of the pitch-class sets) gives a coarse score-time → performance-time map.
2. **Greedy note matching.** Every (score note, performance note) pair of the same pitch
   whose performance onset lies within a tolerance of the mapped score onset is a
   candidate; candidates are accepted closest first, each note used once.
3. **Refinement.** The matched pairs give per-cluster anchors; a monotone (isotonic)
   fit of them is the final time map, and the matching is run once more with a tighter
   tolerance around it.

Time and memory grow linearly with the length. Up to :data:`FULL_DTW_CELLS` cells
(score clusters x performance clusters: about a minute of music) the DTW runs over the
whole matrix. Longer pairs are aligned coarse to fine (as FastDTW does, Salvador & Chan
2007): blocks of :data:`COARSEN_FACTOR` consecutive clusters (summed pitch sets) are
aligned first, recursively, and the full-resolution DTW then runs only in a band of
:data:`BAND_BLOCKS` blocks either side of the coarse path. Candidate pairs of the
matching come from sorted onsets (a window per score note), never from a
score-by-performance distance matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from pianoeval._typing import Float64Array
from pianoeval.constants import CHORD_WINDOW_SEC, SCORE_CHORD_WINDOW_SEC
from pianoeval.errors import ParameterError
from pianoeval.symbolic.align.alignment import BackendMatch

__all__ = [
    "BAND_BLOCKS",
    "COARSEN_FACTOR",
    "FIRST_TOL_SEC",
    "FULL_DTW_CELLS",
    "METHOD",
    "PITCH_WEIGHT",
    "REFINED_TOL_SEC",
    "align_onsets",
    "cluster_onsets",
    "dtw_path",
    "isotonic",
    "match_chord_dtw",
]

IntArray = npt.NDArray[np.int64]

#: The ``method`` this backend writes into its alignments.
METHOD = "chord_dtw"
#: Tolerances (seconds) of the first and the refined matching pass.
FIRST_TOL_SEC = 0.6
REFINED_TOL_SEC = 0.25
#: Weight of the exact-pitch similarity against the pitch-class similarity in the DTW cost.
PITCH_WEIGHT = 0.7
#: Largest DTW (score clusters x performance clusters) run over the whole matrix: about
#: a minute of music (PercePiano's largest pair has 67 000 cells).
FULL_DTW_CELLS = 250_000
#: Longer pairs are first aligned as blocks of this many consecutive clusters ...
COARSEN_FACTOR = 4
#: ... and then at full resolution within this many blocks either side of that path.
BAND_BLOCKS = 2


def cluster_onsets(onsets: Float64Array, window_sec: float) -> IntArray:
    """Group sorted onsets into clusters (chords).

    A note joins the open cluster when it starts within ``window_sec`` of that cluster's
    first onset.

    Parameters
    ----------
    onsets : np.ndarray, shape=(n,), seconds, sorted
    window_sec : float

    Returns
    -------
    np.ndarray [int64], shape=(n,)
        Cluster index of each note (0, 1, ... in time order).

    Examples
    --------
    >>> cluster_onsets(np.array([0.0, 0.01, 0.5, 0.52, 1.0]), 0.05).tolist()
    [0, 0, 1, 1, 2]
    """
    ids = np.zeros(len(onsets), dtype=np.int64)
    if len(onsets) == 0:
        return ids
    k, first = 0, float(onsets[0])
    for i, t in enumerate(np.asarray(onsets, dtype=np.float64).tolist()):
        if i and t - first > window_sec:
            k += 1
            first = t
        ids[i] = k
    return ids


def _pitch_sets(
    pitch: Float64Array, cluster: IntArray, n: int
) -> tuple[Float64Array, Float64Array]:
    exact = np.zeros((n, 128))
    exact[cluster, pitch.astype(np.int64)] = 1.0
    chroma = np.zeros((n, 12))
    chroma[cluster, pitch.astype(np.int64) % 12] = 1.0
    return exact, chroma


def _cosine(a: Float64Array, b: Float64Array) -> Float64Array:
    na = np.linalg.norm(a, axis=1, keepdims=True)
    nb = np.linalg.norm(b, axis=1, keepdims=True)
    result: Float64Array = (a @ b.T) / np.maximum(na * nb.T, 1e-12)
    return result


def _similarity(
    s_sets: tuple[Float64Array, Float64Array], p_sets: tuple[Float64Array, Float64Array]
) -> Float64Array:
    sim: Float64Array = PITCH_WEIGHT * _cosine(s_sets[0], p_sets[0]) + (1 - PITCH_WEIGHT) * _cosine(
        s_sets[1], p_sets[1]
    )
    return sim


def dtw_path(cost: Float64Array) -> list[tuple[int, int]]:
    """Optimal DTW path through a cost matrix (steps (1,1), (1,0), (0,1)), start to end.

    Examples
    --------
    >>> dtw_path(np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]))
    [(0, 0), (1, 1), (1, 2)]
    """
    n, m = cost.shape
    lo = np.zeros(n, dtype=np.int64)
    hi = np.full(n, m, dtype=np.int64)
    return _banded_dtw_path(n, m, lo, hi, lambda i: cost[i])


def _banded_dtw_path(
    n: int,
    m: int,
    lo: IntArray,
    hi: IntArray,
    row_cost: Callable[[int], Float64Array],
) -> list[tuple[int, int]]:
    """DTW restricted to columns ``[lo[i], hi[i])`` of each row ``i``.

    ``row_cost(i)`` gives the costs of those columns. Cells outside the band cost
    infinity; with the whole matrix as the band this is the plain DTW, number for number.
    """
    rows: list[npt.NDArray[np.float64]] = []
    for i in range(n):
        a, b = int(lo[i]), int(hi[i])
        # previous accumulated row over accumulator columns a .. b (columns shifted by one)
        prev = np.full(b - a + 1, np.inf)
        if i == 0:
            if a == 0:
                prev[0] = 0.0
        else:
            pa, pb = int(lo[i - 1]), int(hi[i - 1])
            src_lo, src_hi = max(a, pa + 1), min(b, pb)  # accumulator columns pa+1 .. pb
            if src_hi >= src_lo:
                prev[src_lo - a : src_hi - a + 1] = rows[i - 1][src_lo - pa - 1 : src_hi - pa]
        costs_arr = row_cost(i)
        best = (np.minimum(prev[:-1], prev[1:]) + costs_arr).tolist()
        costs = costs_arr.tolist()
        row = [0.0] * (b - a)
        c = math.inf
        for j in range(b - a):
            c = min(best[j], c + costs[j])
            row[j] = c
        rows.append(np.asarray(row))

    def acc(i: int, j: int) -> float:
        """Accumulated cost at accumulator cell (i, j) (row 0 / column 0: the border)."""
        if i == 0:
            return 0.0 if j == 0 else math.inf
        a = int(lo[i - 1])
        if j - 1 < a or j - 1 >= int(hi[i - 1]):
            return math.inf
        return float(rows[i - 1][j - 1 - a])

    path: list[tuple[int, int]] = []
    i, j = n, m
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        moves = (acc(i - 1, j - 1), acc(i - 1, j), acc(i, j - 1))
        k = int(np.argmin(moves))
        if k == 0:
            i, j = i - 1, j - 1
        elif k == 1:
            i -= 1
        else:
            j -= 1
    path.reverse()
    return path


def _coarsen(sets: tuple[Float64Array, Float64Array]) -> tuple[Float64Array, Float64Array]:
    """Sum the pitch sets of every :data:`COARSEN_FACTOR` consecutive clusters."""
    starts = np.arange(0, len(sets[0]), COARSEN_FACTOR)
    return np.add.reduceat(sets[0], starts), np.add.reduceat(sets[1], starts)


def _band(path: list[tuple[int, int]], n_s: int, n_p: int) -> tuple[IntArray, IntArray]:
    """Project a coarse path to full resolution and widen it by :data:`BAND_BLOCKS`."""
    f = COARSEN_FACTOR
    n_blocks = -(-n_s // f)
    first = np.full(n_blocks, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.zeros(n_blocks, dtype=np.int64)
    for bi, bj in path:
        first[bi] = min(first[bi], bj)
        last[bi] = max(last[bi], bj)
    block_of_row = np.arange(n_s) // f
    lo = np.clip((first[block_of_row] - BAND_BLOCKS) * f, 0, n_p)
    hi = np.clip((last[block_of_row] + BAND_BLOCKS + 1) * f, 0, n_p)
    lo[0], hi[-1] = 0, n_p
    return lo.astype(np.int64), hi.astype(np.int64)


def _chord_path(
    s_sets: tuple[Float64Array, Float64Array],
    p_sets: tuple[Float64Array, Float64Array],
) -> list[tuple[int, int]]:
    """Return the chord DTW path: the whole matrix when small, else coarse to fine.

    A long pair is aligned as blocks of :data:`COARSEN_FACTOR` clusters (recursively, until
    the blocks fit :data:`FULL_DTW_CELLS`); the full-resolution DTW then runs in a band of
    :data:`BAND_BLOCKS` blocks either side of that path, so every level costs time and
    memory linear in the length.
    """
    n_s, n_p = len(s_sets[0]), len(p_sets[0])
    if n_s * n_p <= FULL_DTW_CELLS:
        return dtw_path(1.0 - _similarity(s_sets, p_sets))
    lo, hi = _band(_chord_path(_coarsen(s_sets), _coarsen(p_sets)), n_s, n_p)
    s_ex, s_ch = s_sets
    p_ex, p_ch = p_sets
    s_ex_n, s_ch_n = np.linalg.norm(s_ex, axis=1), np.linalg.norm(s_ch, axis=1)
    p_ex_n, p_ch_n = np.linalg.norm(p_ex, axis=1), np.linalg.norm(p_ch, axis=1)

    def row_cost(i: int) -> Float64Array:
        a, b = int(lo[i]), int(hi[i])
        ex = (p_ex[a:b] @ s_ex[i]) / np.maximum(s_ex_n[i] * p_ex_n[a:b], 1e-12)
        ch = (p_ch[a:b] @ s_ch[i]) / np.maximum(s_ch_n[i] * p_ch_n[a:b], 1e-12)
        cost: Float64Array = 1.0 - (PITCH_WEIGHT * ex + (1 - PITCH_WEIGHT) * ch)
        return cost

    return _banded_dtw_path(n_s, n_p, lo, hi, row_cost)


def isotonic(y: Float64Array, w: Float64Array | None = None) -> Float64Array:
    """Non-decreasing least-squares fit of ``y`` (pool-adjacent-violators).

    Examples
    --------
    >>> isotonic(np.array([1.0, 3.0, 2.0, 4.0])).tolist()
    [1.0, 2.5, 2.5, 4.0]
    """
    n = len(y)
    weights = np.ones(n) if w is None else np.asarray(w, dtype=np.float64)
    vals: list[float] = []
    wts: list[float] = []
    counts: list[int] = []
    for i in range(n):
        vals.append(float(y[i]))
        wts.append(float(weights[i]))
        counts.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            w2 = wts[-2] + wts[-1]
            v = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / w2
            c = counts[-2] + counts[-1]
            vals[-2:] = [v]
            wts[-2:] = [w2]
            counts[-2:] = [c]
    return np.repeat(np.asarray(vals), counts)


def _greedy_match(
    perf_onset: Float64Array,
    perf_pitch: Float64Array,
    score_pitch: Float64Array,
    expected: Float64Array,
    tol: float,
) -> tuple[IntArray, IntArray]:
    """Match same-pitch pairs closest first within ``tol`` of the expected onset.

    Candidates of one pitch come from a window of the performance onsets (sorted) around
    each expected onset, listed score note by score note and performance note by
    performance note, so ties between equal distances break as a full distance matrix
    would break them.
    """
    pairs_s: list[IntArray] = []
    pairs_p: list[IntArray] = []
    dists: list[Float64Array] = []
    for pitch in np.unique(score_pitch):
        s_idx = np.flatnonzero(score_pitch == pitch)
        p_idx = np.flatnonzero(perf_pitch == pitch)
        if len(p_idx) == 0:
            continue
        order = np.argsort(perf_onset[p_idx], kind="stable")
        p_sorted = perf_onset[p_idx][order]
        e = expected[s_idx]
        margin = tol + 1e-9 * (1.0 + np.abs(e))  # a little wide: the exact test follows
        start = np.searchsorted(p_sorted, e - margin, side="left")
        stop = np.searchsorted(p_sorted, e + margin, side="right")
        n_cand = stop - start
        total = int(n_cand.sum())
        if total == 0:
            continue
        row = np.repeat(np.arange(len(s_idx)), n_cand)
        offset = np.arange(total) - np.repeat(np.cumsum(n_cand) - n_cand, n_cand)
        col = order[np.repeat(start, n_cand) + offset]  # positions in p_idx
        d = np.abs(e[row] - perf_onset[p_idx][col])
        ok = d <= tol
        row, col, d = row[ok], col[ok], d[ok]
        keep = np.lexsort((col, row))  # row-major, as np.nonzero of a distance matrix
        pairs_s.append(s_idx[row[keep]])
        pairs_p.append(p_idx[col[keep]])
        dists.append(d[keep])
    if not dists:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    s_all = np.concatenate(pairs_s)
    p_all = np.concatenate(pairs_p)
    order_d = np.argsort(np.concatenate(dists), kind="stable")
    used_s: set[int] = set()
    used_p: set[int] = set()
    out_s: list[int] = []
    out_p: list[int] = []
    for s, p in zip(s_all[order_d].tolist(), p_all[order_d].tolist(), strict=True):
        if s in used_s or p in used_p:
            continue
        used_s.add(s)
        used_p.add(p)
        out_s.append(s)
        out_p.append(p)
    s_arr = np.asarray(out_s, dtype=np.int64)
    p_arr = np.asarray(out_p, dtype=np.int64)
    order2 = np.lexsort((p_arr, s_arr))
    return p_arr[order2], s_arr[order2]


def _group_medians(keys: IntArray, values: Float64Array) -> tuple[IntArray, Float64Array]:
    """Return the unique keys and the median of each key's values (one sort, no scans)."""
    order = np.argsort(keys, kind="stable")
    k, v = keys[order], values[order]
    uniq, starts = np.unique(k, return_index=True)
    bounds = np.append(starts, len(k))
    med = np.array([np.median(v[bounds[g] : bounds[g + 1]]) for g in range(len(uniq))])
    return uniq, med


def _cluster_first(onset: Float64Array, cluster: IntArray, n: int) -> Float64Array:
    first = np.full(n, np.inf)
    np.minimum.at(first, cluster, onset)
    return first


def _anchors(
    perf_onset: Float64Array,
    score_onset: Float64Array,
    score_cluster: IntArray,
    perf_idx: IntArray,
    score_idx: IntArray,
) -> tuple[Float64Array, Float64Array]:
    """Return time-map anchors, made monotone.

    Per score cluster: its onset and the median onset of its matched performance notes.
    """
    if len(perf_idx) == 0:
        return np.zeros(0), np.zeros(0)
    clusters = score_cluster[score_idx]
    uniq, ys = _group_medians(clusters, perf_onset[perf_idx])
    first = _cluster_first(score_onset, score_cluster, int(score_cluster.max()) + 1)
    xs = first[uniq]
    w = np.bincount(clusters)[uniq].astype(np.float64)
    ys = isotonic(ys, w)
    # equal performance times for consecutive clusters make a zero-duration step: keep it,
    # np.interp handles flat segments, and the tempo features clip zero durations
    return xs, ys


def _time_map(xs: Float64Array, ys: Float64Array) -> Callable[[Float64Array], Float64Array]:
    """Score seconds → performance seconds through anchors (as Alignment.score_to_perf)."""

    def f(t: Float64Array) -> Float64Array:
        ratio = (ys[-1] - ys[0]) / (xs[-1] - xs[0]) if xs[-1] > xs[0] else 1.0
        out = np.interp(t, xs, ys)
        out = np.where(t < xs[0], ys[0] + (t - xs[0]) * ratio, out)
        mapped: Float64Array = np.where(t > xs[-1], ys[-1] + (t - xs[-1]) * ratio, out)
        return mapped

    return f


def align_onsets(
    perf_onset: Float64Array,
    perf_pitch: Float64Array,
    score_onset: Float64Array,
    score_pitch: Float64Array,
) -> tuple[IntArray, IntArray, Float64Array, Float64Array]:
    """Align performance notes to score notes (see the module docstring).

    Parameters
    ----------
    perf_onset, perf_pitch : np.ndarray, shape=(n_perf,)
        Performance notes in onset order.
    score_onset, score_pitch : np.ndarray, shape=(n_score,)
        Score notes in onset order (score seconds).

    Returns
    -------
    perf_idx, score_idx : np.ndarray [int64], shape=(n_matches,)
        Matched pairs, in score order.
    anchor_score_sec, anchor_perf_sec : np.ndarray, shape=(n_anchors,)
        The monotone time map.

    Examples
    --------
    >>> s_on = np.arange(8) * 0.5
    >>> pitch = np.array([60, 62, 64, 65, 67, 69, 71, 72], dtype=float)
    >>> p_idx, s_idx, xs, ys = align_onsets(s_on * 1.2 + 0.1, pitch, s_on, pitch)
    >>> len(p_idx), float(np.interp(1.0, xs, ys))
    (8, 1.3)
    """
    if len(perf_onset) == 0 or len(score_onset) == 0:
        empty_i = np.zeros(0, dtype=np.int64)
        return empty_i, empty_i.copy(), np.zeros(0), np.zeros(0)
    s_cl = cluster_onsets(score_onset, SCORE_CHORD_WINDOW_SEC)
    p_cl = cluster_onsets(perf_onset, CHORD_WINDOW_SEC)
    n_s, n_p = int(s_cl[-1]) + 1, int(p_cl[-1]) + 1
    s_sets = _pitch_sets(score_pitch, s_cl, n_s)
    p_sets = _pitch_sets(perf_pitch, p_cl, n_p)
    path = _chord_path(s_sets, p_sets)
    s_first = _cluster_first(score_onset, s_cl, n_s)
    p_first = _cluster_first(perf_onset, p_cl, n_p)
    # coarse map: each score cluster -> mean onset of the performance clusters on its path
    mapped = np.zeros(n_s)
    counts = np.zeros(n_s)
    for i, j in path:
        mapped[i] += p_first[j]
        counts[i] += 1
    mapped = isotonic(mapped / np.maximum(counts, 1))
    expected = mapped[s_cl]
    p_idx, s_idx = _greedy_match(perf_onset, perf_pitch, score_pitch, expected, FIRST_TOL_SEC)
    xs, ys = _anchors(perf_onset, score_onset, s_cl, p_idx, s_idx)
    if len(xs) >= 2:
        expected = _time_map(xs, ys)(np.asarray(score_onset, dtype=np.float64))
        p_idx, s_idx = _greedy_match(perf_onset, perf_pitch, score_pitch, expected, REFINED_TOL_SEC)
        xs, ys = _anchors(perf_onset, score_onset, s_cl, p_idx, s_idx)
    if len(xs) == 0:
        xs, ys = s_first, mapped
    return p_idx, s_idx, xs, ys


def match_chord_dtw(
    perf_notes: npt.NDArray[np.void],
    score_notes: npt.NDArray[np.void],
    *,
    anchors: Float64Array | None = None,
    margin_sec: float = 1.0,
) -> BackendMatch:
    """Match performed notes to score notes by chord DTW (the ``chord_dtw`` backend).

    Parameters
    ----------
    perf_notes : np.ndarray, dtype=NOTE_DTYPE
        Sorted by onset.
    score_notes : np.ndarray, dtype=SCORE_NOTE_DTYPE
        Sorted by onset; their ``onset_sec`` are used.
    anchors, margin_sec
        Not used: the backend bands its DTW itself, so long pairs need no anchors.

    Returns
    -------
    BackendMatch
        Pairs and the isotonic time map.

    Raises
    ------
    ParameterError
        If anchors are given.
    """
    if anchors is not None:
        raise ParameterError(
            "the chord_dtw backend takes no anchors (it aligns long pairs in a band itself); "
            "use backend='parangonar' to align between anchors"
        )
    p_idx, s_idx, xs, ys = align_onsets(
        np.asarray(perf_notes["onset_sec"], dtype=np.float64),
        np.asarray(perf_notes["pitch"], dtype=np.float64),
        np.asarray(score_notes["onset_sec"], dtype=np.float64),
        np.asarray(score_notes["pitch"], dtype=np.float64),
    )
    return BackendMatch(
        perf_index=p_idx.astype(np.intp),
        score_index=s_idx.astype(np.intp),
        method=METHOD,
        anchor_score_sec=xs,
        anchor_perf_sec=ys,
    )
