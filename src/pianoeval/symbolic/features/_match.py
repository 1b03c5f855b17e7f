"""A small score-to-performance note alignment for the score-relative features.

Not a general aligner (that is :mod:`pianoeval.symbolic.align`): it assumes the
performance plays the passage of the score from start to end, as PercePiano's segments do,
and needs nothing beyond numpy. Three steps:

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

Unmatched notes are extra (performance) or missing (score) notes; the ratio of matched
notes is reported by the ``score`` feature family as an alignment-quality signal.
"""

from __future__ import annotations

import numpy as np

from pianoeval._typing import Float64Array
from pianoeval.constants import CHORD_WINDOW_SEC, SCORE_CHORD_WINDOW_SEC
from pianoeval.symbolic.features.base import (
    Alignment,
    IntArray,
    cluster_onsets,
)

#: Tolerances (seconds) of the first and the refined matching pass.
FIRST_TOL_SEC = 0.6
REFINED_TOL_SEC = 0.25
#: Weight of the exact-pitch similarity against the pitch-class similarity in the DTW cost.
PITCH_WEIGHT = 0.7


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


def dtw_path(cost: Float64Array) -> list[tuple[int, int]]:
    """Optimal DTW path through a cost matrix (steps (1,1), (1,0), (0,1)), start to end."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        row_cost = cost[i - 1]
        prev = acc[i - 1]
        cur = acc[i]
        # diagonal and vertical moves are vectorised; the horizontal one runs along the row
        best = (np.minimum(prev[:-1], prev[1:]) + row_cost).tolist()
        costs = row_cost.tolist()
        row = [0.0] * m
        c = np.inf
        for j in range(m):
            c = min(best[j], c + costs[j])
            row[j] = c
        cur[1:] = row
    path: list[tuple[int, int]] = []
    i, j = n, m
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        moves = (acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
        k = int(np.argmin(moves))
        if k == 0:
            i, j = i - 1, j - 1
        elif k == 1:
            i -= 1
        else:
            j -= 1
    path.reverse()
    return path


def isotonic(y: Float64Array, w: Float64Array | None = None) -> Float64Array:
    """Non-decreasing least-squares fit of ``y`` (pool-adjacent-violators)."""
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
    """Match same-pitch pairs closest first within ``tol`` of the expected onset."""
    pairs_s: list[IntArray] = []
    pairs_p: list[IntArray] = []
    dists: list[Float64Array] = []
    for pitch in np.unique(score_pitch):
        s_idx = np.flatnonzero(score_pitch == pitch)
        p_idx = np.flatnonzero(perf_pitch == pitch)
        if len(p_idx) == 0:
            continue
        d = np.abs(expected[s_idx][:, None] - perf_onset[p_idx][None, :])
        si, pj = np.nonzero(d <= tol)
        pairs_s.append(s_idx[si])
        pairs_p.append(p_idx[pj])
        dists.append(d[si, pj])
    if not dists:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    s_all = np.concatenate(pairs_s)
    p_all = np.concatenate(pairs_p)
    order = np.argsort(np.concatenate(dists), kind="stable")
    used_s: set[int] = set()
    used_p: set[int] = set()
    out_s: list[int] = []
    out_p: list[int] = []
    for k in order:
        s, p = int(s_all[k]), int(p_all[k])
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
    uniq = np.unique(clusters)
    xs = np.array([score_onset[score_cluster == c].min() for c in uniq])
    ys = np.array([np.median(perf_onset[perf_idx[clusters == c]]) for c in uniq])
    w = np.array([np.sum(clusters == c) for c in uniq], dtype=np.float64)
    ys = isotonic(ys, w)
    # equal performance times for consecutive clusters make a zero-duration step: keep it,
    # np.interp handles flat segments, and the tempo features clip zero durations
    return xs, ys


def align_to_score(
    perf_onset: Float64Array,
    perf_pitch: Float64Array,
    score_onset: Float64Array,
    score_pitch: Float64Array,
) -> Alignment:
    """Align performance notes to score notes (see the module docstring).

    Parameters
    ----------
    perf_onset, perf_pitch : np.ndarray, shape=(n_perf,)
        Performance notes in onset order.
    score_onset, score_pitch : np.ndarray, shape=(n_score,)
        Score notes in onset order (score seconds).

    Returns
    -------
    Alignment

    Examples
    --------
    >>> import numpy as np
    >>> s_on = np.arange(8) * 0.5
    >>> pitch = np.array([60, 62, 64, 65, 67, 69, 71, 72], dtype=float)
    >>> a = align_to_score(s_on * 1.2 + 0.1, pitch, s_on, pitch)
    >>> a.n_matches, float(a.score_to_perf(np.array([1.0]))[0])
    (8, 1.3)
    """
    if len(perf_onset) == 0 or len(score_onset) == 0:
        empty_i = np.zeros(0, dtype=np.int64)
        return Alignment(empty_i, empty_i.copy(), np.zeros(0), np.zeros(0))
    s_cl = cluster_onsets(score_onset, SCORE_CHORD_WINDOW_SEC)
    p_cl = cluster_onsets(perf_onset, CHORD_WINDOW_SEC)
    n_s, n_p = int(s_cl[-1]) + 1, int(p_cl[-1]) + 1
    s_exact, s_chroma = _pitch_sets(score_pitch, s_cl, n_s)
    p_exact, p_chroma = _pitch_sets(perf_pitch, p_cl, n_p)
    sim = PITCH_WEIGHT * _cosine(s_exact, p_exact) + (1 - PITCH_WEIGHT) * _cosine(
        s_chroma, p_chroma
    )
    path = dtw_path(1.0 - sim)
    s_first = np.array([score_onset[s_cl == c].min() for c in range(n_s)])
    p_first = np.array([perf_onset[p_cl == c].min() for c in range(n_p)])
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
        refined = Alignment(p_idx, s_idx, xs, ys)
        expected = refined.score_to_perf(score_onset)
        p_idx, s_idx = _greedy_match(perf_onset, perf_pitch, score_pitch, expected, REFINED_TOL_SEC)
        xs, ys = _anchors(perf_onset, score_onset, s_cl, p_idx, s_idx)
    if len(xs) == 0:
        xs, ys = s_first, mapped
    return Alignment(p_idx, s_idx, xs, ys)
