"""The ``parangonar`` aligner backend: parangonar's dual onset DTW and pitch matching.

parangonar's ``DualDTWNoteMatcher`` (Peter, 2023): a DTW over score onsets (the set of
pitches at each onset) against performed pitches, run forwards and backwards, gives a
score-to-performance time map; each pitch's score and performed notes are then matched
along it. parangonar's onset DTW is a pure-Python double loop (about 15 s for a 3500-note
performance), so this backend passes it an equivalent DTW (:class:`OnsetDTW`: same costs,
same tie-breaking, same path, checked in the tests) computed one vectorised row at a time.
Its per-pitch matching stage still grows quadratically, so long performances are aligned
in pieces between anchors (:func:`~pianoeval.symbolic.align.anchors_from_downbeats`); a
PercePiano segment aligns in about 0.06 s.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt

from pianoeval._typing import Float64Array
from pianoeval.errors import AlignmentError, ParameterError
from pianoeval.symbolic.align.alignment import BackendMatch

__all__ = ["MAX_DTW_CELLS", "METHOD", "OnsetDTW", "match_parangonar"]

#: The ``method`` this backend writes into its alignments.
METHOD = "parangonar.DualDTWNoteMatcher"
#: Largest onset-DTW matrix (performed notes x score onsets) aligned in one piece; longer
#: pairs need anchors. 30 M float32 cells is 120 MB.
MAX_DTW_CELLS = 30_000_000


class OnsetDTW:
    """parangonar's ``OnsetMatcherDTW`` with the DTW vectorised row by row.

    The cost of performed note ``i`` against score onset ``j`` is 0 when its pitch is among
    the onset's pitches, else 1 (parangonar's ``element_of_set_metric``). Each row of the
    accumulated cost obeys ``row[j] = c[j] + min(a[j], row[j-1])`` with
    ``a[j] = min(prev[j], prev[j-1])``, a min-plus scan: with prefix sums ``S`` of ``c``,
    ``row[j] = S[j] + min_{k<=j}(a[k] - S[k-1])``, one ``np.minimum.accumulate`` per row.
    Costs are small integers, exact in float32, so ties break as in parangonar.
    """

    def __call__(
        self,
        score_note_array_no_grace: npt.NDArray[np.void],
        performance_note_array: npt.NDArray[np.void],
        flip: bool = False,
    ) -> tuple[npt.NDArray[np.intp], Float64Array]:
        """Return the DTW path (performed note, score onset) and the score onsets."""
        onsets, inv = np.unique(score_note_array_no_grace["onset_beat"], return_inverse=True)
        member = np.zeros((len(onsets), 128), dtype=bool)
        member[inv, score_note_array_no_grace["pitch"]] = True
        pitches = np.asarray(performance_note_array["pitch"], dtype=np.intp)
        if flip:
            member, pitches = member[::-1], pitches[::-1]
        miss = ~member.T  # (128, n_onsets): cost of each pitch at each onset
        n_rows, n_cols = len(pitches), len(onsets)
        acc = np.empty((n_rows, n_cols), dtype=np.float32)
        prev: npt.NDArray[np.float32] | None = None
        a = np.empty(n_cols, dtype=np.float32)
        for i in range(n_rows):
            s = np.cumsum(miss[pitches[i]], dtype=np.float32)
            if prev is None:
                acc[i] = s
            else:
                a[0] = prev[0]
                np.minimum(prev[1:], prev[:-1], out=a[1:])
                s_before = np.empty_like(s)
                s_before[0] = 0.0
                s_before[1:] = s[:-1]
                acc[i] = s + np.minimum.accumulate(a - s_before)
            prev = acc[i]
        return _dtw_backtrack(acc), onsets


def _dtw_backtrack(acc: npt.NDArray[np.float32]) -> npt.NDArray[np.intp]:
    """Backtrack like parangonar's ``dtw_backtracking`` (ties: diagonal, up, left)."""
    n, m = acc.shape[0] - 1, acc.shape[1] - 1
    path = [(n, m)]
    while n > 0 or m > 0:
        if n == 0:
            m -= 1
        elif m == 0:
            n -= 1
        else:
            d, u, left = acc[n - 1, m - 1], acc[n - 1, m], acc[n, m - 1]
            if d <= u and d <= left:
                n, m = n - 1, m - 1
            elif u <= left:
                n -= 1
            else:
                m -= 1
        path.append((n, m))
    return np.array(path[::-1], dtype=np.intp)


def _perf_array(notes: npt.NDArray[np.void], idx: npt.NDArray[np.intp]) -> npt.NDArray[np.void]:
    arr = np.zeros(
        idx.size,
        dtype=[("onset_sec", "f8"), ("duration_sec", "f8"), ("pitch", "i4"),
               ("velocity", "i4"), ("id", "U12")],
    )  # fmt: skip
    sub = notes[idx]
    arr["onset_sec"] = sub["onset_sec"]
    arr["duration_sec"] = sub["offset_sec"] - sub["onset_sec"]
    arr["pitch"], arr["velocity"] = sub["pitch"], sub["velocity"]
    arr["id"] = [f"p{i}" for i in idx]
    return arr


def _score_array(notes: npt.NDArray[np.void], idx: npt.NDArray[np.intp]) -> npt.NDArray[np.void]:
    # parangonar reads onset_beat as a score position: quarters serve (monotone, any metre)
    arr = np.zeros(
        idx.size,
        dtype=[("onset_beat", "f8"), ("duration_beat", "f8"), ("pitch", "i4"),
               ("id", "U12"), ("is_grace", "?")],
    )  # fmt: skip
    sub = notes[idx]
    arr["onset_beat"], arr["duration_beat"] = sub["onset_quarter"], sub["duration_quarter"]
    arr["pitch"], arr["is_grace"] = sub["pitch"], sub["is_grace"]
    arr["id"] = [f"s{i}" for i in idx]
    return arr


def _match(
    perf_notes: npt.NDArray[np.void],
    score_notes: npt.NDArray[np.void],
    perf_idx: npt.NDArray[np.intp],
    score_idx: npt.NDArray[np.intp],
) -> list[tuple[int, int]]:
    """Run parangonar on subsets; return matched (perf, score) global index pairs."""
    if perf_idx.size == 0 or score_idx.size == 0:
        return []
    sna = _score_array(score_notes, score_idx)
    n_onsets = np.unique(sna["onset_beat"][~sna["is_grace"]]).size
    if perf_idx.size * max(n_onsets, 1) > MAX_DTW_CELLS:
        raise AlignmentError(
            f"{perf_idx.size} performed notes x {n_onsets} score onsets is too long to align "
            f"in one piece (limit {MAX_DTW_CELLS:,} DTW cells): pass anchors "
            "(anchors_from_downbeats) to align it bar by bar"
        )
    if n_onsets == 0:  # grace notes only: nothing for the onset DTW to hold on to
        return []
    from parangonar import DualDTWNoteMatcher  # type: ignore[import-untyped]

    pna = _perf_array(perf_notes, perf_idx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = DualDTWNoteMatcher(onset_matcher=OnsetDTW())(sna, pna)
    pairs = []
    for a in result:
        if a.get("label") == "match":
            pairs.append((int(str(a["performance_id"])[1:]), int(str(a["score_id"])[1:])))
    return pairs


def _match_in_pieces(
    pn: npt.NDArray[np.void],
    sn: npt.NDArray[np.void],
    anchors: Float64Array,
    margin_sec: float,
) -> list[tuple[int, int]]:
    if anchors.ndim != 2 or anchors.shape[1] != 2:
        raise ParameterError(f"anchors must have shape (n, 2), not {anchors.shape}")
    anchors = anchors[np.argsort(anchors[:, 0], kind="stable")]
    if np.any(np.diff(anchors[:, 1]) <= 0) or np.any(np.diff(anchors[:, 0]) <= 0):
        raise ParameterError("anchors must increase in both performance and score time")
    p_on, s_on = pn["onset_sec"], sn["onset_sec"]
    p_bounds = np.concatenate([[-np.inf], anchors[:, 0], [np.inf]])
    s_bounds = np.concatenate([[-np.inf], anchors[:, 1], [np.inf]])
    if anchors.shape[0] >= 2:
        ratio = float(np.median(np.diff(anchors[:, 1]) / np.diff(anchors[:, 0])))
    else:
        ratio = 1.0
    used: dict[int, int] = {}
    pairs: list[tuple[int, int]] = []
    for k in range(len(p_bounds) - 1):
        s_core = (s_on >= s_bounds[k]) & (s_on < s_bounds[k + 1])
        if not s_core.any():
            continue
        s_margin = margin_sec * ratio
        s_idx = np.flatnonzero(
            (s_on >= s_bounds[k] - s_margin) & (s_on < s_bounds[k + 1] + s_margin)
        )
        p_idx = np.flatnonzero(
            (p_on >= p_bounds[k] - margin_sec) & (p_on < p_bounds[k + 1] + margin_sec)
        )
        for p, s in _match(pn, sn, p_idx, s_idx):
            if s_core[s] and p not in used:  # a performed note plays one score note only
                used[p] = s
                pairs.append((p, s))
    return pairs


def match_parangonar(
    perf_notes: npt.NDArray[np.void],
    score_notes: npt.NDArray[np.void],
    *,
    anchors: Float64Array | None = None,
    margin_sec: float = 1.0,
) -> BackendMatch:
    """Match performed notes to score notes with parangonar (the ``parangonar`` backend).

    Parameters
    ----------
    perf_notes : np.ndarray, dtype=NOTE_DTYPE
    score_notes : np.ndarray, dtype=SCORE_NOTE_DTYPE
    anchors : np.ndarray, shape=(n, 2), optional
        ``(perf_sec, score_sec)`` pairs: align piece by piece between them, each piece with
        ``margin_sec`` of context either side.
    margin_sec : float

    Returns
    -------
    BackendMatch
        Pairs only: :func:`~pianoeval.symbolic.align.align` derives the time map.

    Raises
    ------
    AlignmentError
        If the pair is too long to align in one piece (more than :data:`MAX_DTW_CELLS`).
    """
    all_p = np.arange(len(perf_notes), dtype=np.intp)
    all_s = np.arange(len(score_notes), dtype=np.intp)
    if anchors is None:
        pairs = _match(perf_notes, score_notes, all_p, all_s)
    else:
        pairs = _match_in_pieces(perf_notes, score_notes, anchors, margin_sec)
    return BackendMatch(
        perf_index=np.array([p for p, _ in pairs], dtype=np.intp),
        score_index=np.array([s for _, s in pairs], dtype=np.intp),
        method=METHOD,
    )
