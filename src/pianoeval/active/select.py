"""Choosing the next batch to label from acquisition scores.

:func:`select_batch` takes a score matrix (:mod:`pianoeval.active.scoring`) and picks
``k`` items greedily:

- **datasets** take turns (round-robin in name order), so a large dataset cannot fill the
  queue; a dataset with no candidates left drops out of the turn;
- **dimensions**: each item is credited to the dimension of its largest ``credit`` entry
  (by default the scores themselves; the CLI credits the dimension the rater is most
  uncertain on), and an item's value is its best score divided by ``1 + picks already
  credited to that dimension``, so a second pick for the same dimension must be clearly
  better than a first pick for another;
- **near-duplicates** are skipped: an item whose key (excerpt and performer, see
  :func:`near_duplicate_key`) is that of an already labelled item or of an earlier pick
  is never picked.

Ties go to the lower index, so the result is deterministic for fixed scores.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pianoeval.errors import ParameterError

__all__ = ["QueueItem", "near_duplicate_key", "select_batch"]


@dataclass(frozen=True)
class QueueItem:
    """One pick of :func:`select_batch`.

    Attributes
    ----------
    index : int
        Row of the score matrix.
    rank : int
        1 for the first pick.
    dataset : str
    score : float
        The item's best acquisition score (before the dimension discount).
    dimension : str
        The dimension the pick is credited to.
    reason : str
        A one-line explanation (strategy-agnostic: dimension, score, turn).
    """

    index: int
    rank: int
    dataset: str
    score: float
    dimension: str
    reason: str


def near_duplicate_key(groups: Mapping[str, str] | None, segment_id: str = "") -> str | None:
    """Return ``"excerpt|performer"`` from a row's ``groups`` (None when either is missing).

    Two rows with the same key are the same player's take of the same passage: labelling
    both teaches little more than labelling one.

    Examples
    --------
    >>> near_duplicate_key({"excerpt": "WoO80_1", "performer": "WoO80/11"})
    'WoO80_1|WoO80/11'
    >>> near_duplicate_key({"work": "WoO80"}) is None
    True
    """
    if not groups:
        return None
    ex, pf = groups.get("excerpt"), groups.get("performer")
    if not ex or not pf:
        return None
    return f"{ex}|{pf}"


def select_batch(
    scores: npt.ArrayLike,
    *,
    k: int,
    dims: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    keys: Sequence[str | None] | None = None,
    labelled_keys: Collection[str] = (),
    credit: npt.ArrayLike | None = None,
) -> list[QueueItem]:
    """Pick up to ``k`` items, balanced across datasets and dimensions, without near-duplicates.

    Parameters
    ----------
    scores : array-like, shape=(n_items, n_dims)
        Acquisition scores (higher first; NaN: no score for that dimension).
    k : int
        Batch size (>= 1). Fewer come back when the pool runs out.
    dims : sequence of str, optional
        Dimension names (default ``"0"``, ``"1"``, ...).
    datasets : sequence of str, optional
        Each item's dataset (default: one dataset).
    keys : sequence of str or None, optional
        Each item's near-duplicate key (None: no duplicate of anything).
    labelled_keys : collection of str
        Keys of items already labelled.
    credit : array-like, shape=(n_items, n_dims), optional
        What decides the dimension an item is credited to (default ``scores``).

    Returns
    -------
    list of QueueItem
        In pick order.

    Raises
    ------
    ParameterError
        For ``k < 1`` or inputs of mismatched length.

    Examples
    --------
    >>> picks = select_batch([[0.9, 0.1], [0.8, 0.2], [0.1, 0.7]], k=2, dims=["a", "b"])
    >>> [(p.index, p.dimension) for p in picks]
    [(0, 'a'), (2, 'b')]
    """
    if k < 1:
        raise ParameterError(f"k must be >= 1, not {k}")
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ParameterError(f"scores must have shape (n_items, n_dims), got {s.shape}")
    n, d = s.shape
    names = [str(j) for j in range(d)] if dims is None else list(dims)
    ds = ["all"] * n if datasets is None else list(datasets)
    ks: list[str | None] = [None] * n if keys is None else list(keys)
    c = s if credit is None else np.asarray(credit, dtype=np.float64)
    if len(names) != d or len(ds) != n or len(ks) != n or c.shape != s.shape:
        raise ParameterError(
            f"scores {s.shape}: need {d} dims, {n} datasets/keys and credit of that shape"
        )
    finite = np.isfinite(s)
    best = np.where(finite.any(axis=1), np.max(np.where(finite, s, -np.inf), axis=1), 0.0)
    cf = np.isfinite(c)
    credited = np.where(cf.any(axis=1), np.argmax(np.where(cf, c, -np.inf), axis=1), 0)
    used = set(labelled_keys)
    available = np.array([ks[i] is None or ks[i] not in used for i in range(n)], dtype=bool)
    ds_arr = np.array(ds, dtype=object)
    per_dim = np.zeros(d, dtype=np.int64)
    order = sorted(set(ds))
    picks: list[QueueItem] = []
    turn = 0
    while len(picks) < k and available.any() and order:
        name = order[turn % len(order)]
        cand = np.flatnonzero(available & (ds_arr == name))
        if cand.size == 0:
            order.remove(name)
            continue
        value = best[cand] / (1.0 + per_dim[credited[cand]])
        i = int(cand[int(np.argmax(value))])  # argmax: first of ties, the lower index
        dim = int(credited[i])
        per_dim[dim] += 1
        available[i] = False
        key = ks[i]
        if key is not None:
            used.add(key)
            available &= np.array([kk is None or kk != key for kk in ks], dtype=bool)
        picks.append(
            QueueItem(
                index=i,
                rank=len(picks) + 1,
                dataset=name,
                score=float(best[i]),
                dimension=names[dim],
                reason=f"{names[dim]} (score {best[i]:.3f}, pick {per_dim[dim]} for it, "
                f"{name}'s turn)",
            )
        )
        turn += 1
    return picks
