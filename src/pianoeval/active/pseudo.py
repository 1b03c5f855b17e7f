"""Pseudo-labels refitted on the labels bought so far, for the ``disagreement`` score.

Task
    While labels are being bought (active learning), the only human labels one may look at
    are those already bought. The committed pseudo-label calibration
    (:func:`pianoeval.symbolic.pseudo.load_calibration`) chose each dimension's proxy with
    *all* of PercePiano's labels, so a simulation that uses it has seen the pool's hidden
    labels. :func:`fit_proxy_choices` redoes the choice from the bought rows alone, and
    :func:`apply_proxy_choices` turns the chosen proxies into calibrated pseudo-labels on
    the human scale.

What is fixed a priori (no labels)
    The ``execution16`` -> ``percepiano19`` mapping and its signs
    (:data:`~pianoeval.symbolic.pseudo.HUMAN_MATCH`, DIMENSIONS.md) and each dimension's
    candidate proxies (:data:`~pianoeval.symbolic.pseudo.CANDIDATES`); only ``midi.*``
    candidates by default, since ``alignment.*`` ones need a score alignment of every row.

What is fitted, and on what
    - **Choice and sign** (bought rows): per dimension, the candidate with the largest
      ``|Spearman|`` with the bought human labels; its sign is the sign of that
      correlation (recorded against the a-priori sign, ``flipped``).
    - **Acceptance** (bought rows): the chosen proxy is accepted when the 95 % Fisher-z
      interval of its Spearman correlation excludes 0 (standard error
      ``sqrt(1.06 / (n - 3))``, Fieller, Hartley & Pearson 1957). Picking the best of two
      to four candidates before testing makes the test somewhat liberal.
    - **Robust scaling** (unlabelled rows, e.g. the whole pool but never a test set): the
      5th/95th percentiles of the signed proxy
      (:func:`~pianoeval.symbolic.pseudo.fit_robust_scaler`); proxies are inputs, not
      labels, so every unlabelled row may be used.
    - **Map to the human scale** (bought rows): affine, least squares of the human label
      on the scaled proxy, clipped to the label range
      (:func:`~pianoeval.symbolic.pseudo.apply_human_map`).

    A dimension without an accepted proxy gets no pseudo-label (no disagreement term).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pianoeval._typing import Float64Array
from pianoeval.errors import ParameterError
from pianoeval.symbolic.pseudo import (
    CANDIDATES,
    HUMAN_MATCH,
    apply_human_map,
    fit_robust_scaler,
    robust_scale,
)

__all__ = [
    "MIN_ROWS",
    "ProxyChoice",
    "apply_proxy_choices",
    "fit_proxy_choices",
    "spearman_fisher_ci",
]

#: Fewest bought rows (finite proxy and label) on which a proxy may be chosen and mapped.
MIN_ROWS = 10


@dataclass(frozen=True)
class ProxyChoice:
    """The proxy chosen for one ``execution16`` dimension on the bought rows.

    Attributes
    ----------
    dimension : str
        The ``execution16`` dimension.
    human : str
        Its ``percepiano19`` counterpart (bare name, e.g. ``"timing"``).
    proxy : str
        The chosen candidate column (``"midi.ioi_unevenness"``).
    sign : int
        Sign applied to the proxy, chosen on the data: ``sign * proxy`` rises with the
        execution16 quality as the bought human labels see it.
    prior_sign : int
        The candidate's a-priori sign (:data:`~pianoeval.symbolic.pseudo.CANDIDATES`).
    rho : float
        Spearman correlation of the proxy (unsigned) with the human label on the bought rows.
    ci95 : tuple of float
        Its 95 % Fisher-z interval.
    n : int
        Bought rows with a finite proxy and label.
    accepted : bool
        Whether ``ci95`` excludes 0 (only accepted choices give pseudo-labels).
    p_lo, p_hi : float
        Robust-scaling percentiles of ``sign * proxy`` on the unlabelled rows.
    slope, intercept : float
        Affine map of the scaled proxy to the human label (bought rows).
    """

    dimension: str
    human: str
    proxy: str
    sign: int
    prior_sign: int
    rho: float
    ci95: tuple[float, float]
    n: int
    accepted: bool
    p_lo: float
    p_hi: float
    slope: float
    intercept: float

    @property
    def flipped(self) -> bool:
        """Whether the data chose the opposite of the a-priori sign."""
        return self.sign != self.prior_sign

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (non-finite floats as None)."""
        out: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            if isinstance(v, tuple):
                v = [_finite_or_none(x) for x in v]
            elif isinstance(v, float):
                v = _finite_or_none(v)
            out[k] = v
        out["flipped"] = self.flipped
        return out


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def spearman_fisher_ci(
    x: npt.ArrayLike, y: npt.ArrayLike, *, level: float = 0.95
) -> tuple[float, tuple[float, float], int]:
    """Return Spearman's rho of the finite pairs, its Fisher-z interval and the pair count.

    The interval uses the standard error ``sqrt(1.06 / (n - 3))`` of ``atanh(rho)``
    (Fieller, Hartley & Pearson 1957). With fewer than 4 pairs, or a constant input, rho
    and the interval are NaN.

    Examples
    --------
    >>> rho, (lo, hi), n = spearman_fisher_ci(range(20), [v**2 for v in range(20)])
    >>> rho, n, lo > 0.9
    (1.0, 20, True)
    """
    from scipy.stats import norm, spearmanr

    if not 0.0 < level < 1.0:
        raise ParameterError(f"level must be in (0, 1), not {level}")
    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ParameterError(f"x {a.shape} and y {b.shape} differ in shape")
    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    if n < 4 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return math.nan, (math.nan, math.nan), n
    rho = float(spearmanr(a[ok], b[ok]).statistic)
    z = math.atanh(min(max(rho, -0.999999), 0.999999))
    half = float(norm.ppf(0.5 + level / 2)) * math.sqrt(1.06 / (n - 3))
    return rho, (math.tanh(z - half), math.tanh(z + half)), n


def fit_proxy_choices(
    proxies: Mapping[str, npt.ArrayLike],
    labels: Mapping[str, npt.ArrayLike],
    *,
    scale_proxies: Mapping[str, npt.ArrayLike],
    prefix: str = "midi.",
    level: float = 0.95,
    min_rows: int = MIN_ROWS,
    candidates: Mapping[str, Sequence[tuple[str, int]]] | None = None,
    human_match: Mapping[str, tuple[str, int]] | None = None,
) -> list[ProxyChoice]:
    """Choose, test, scale and map a proxy per dimension from the bought rows only.

    Parameters
    ----------
    proxies : mapping of str to array-like, shape=(n_bought,)
        Proxy columns (``"midi.velocity_mean"`` ...) of the bought rows.
    labels : mapping of str to array-like, shape=(n_bought,)
        Human labels of the same rows by bare ``percepiano19`` name (NaN where missing).
    scale_proxies : mapping of str to array-like, shape=(n_unlabelled,)
        Proxy columns of the rows the robust scaling is fitted on (unlabelled inputs, e.g.
        the whole pool; never a test set).
    prefix : str
        Only candidates whose column starts with this are considered (``""``: all).
    level : float
        Confidence level of the acceptance interval.
    min_rows : int
        Fewest finite (proxy, label) pairs a candidate needs.
    candidates, human_match : mapping, optional
        Default :data:`~pianoeval.symbolic.pseudo.CANDIDATES` and
        :data:`~pianoeval.symbolic.pseudo.HUMAN_MATCH` (a-priori, label-free).

    Returns
    -------
    list of ProxyChoice
        One per dimension with a human counterpart, a label column and at least one usable
        candidate (accepted or not), in the order of ``candidates``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> v = rng.random(60)
    >>> got = fit_proxy_choices({"midi.note_rate": v}, {"mood_energy": 0.3 + 0.5 * v},
    ...                         scale_proxies={"midi.note_rate": rng.random(200)})
    >>> [(c.dimension, c.proxy, c.sign, c.accepted) for c in got]
    [('energy_level', 'midi.note_rate', 1, True)]
    """
    cands = CANDIDATES if candidates is None else candidates
    match = HUMAN_MATCH if human_match is None else human_match
    out: list[ProxyChoice] = []
    for dim, cand_list in cands.items():
        if dim not in match or match[dim][0] not in labels:
            continue
        hdim, hsign = match[dim]
        y = np.asarray(labels[hdim], dtype=np.float64)
        best: tuple[str, int, float, tuple[float, float], int] | None = None
        for col, prior in cand_list:
            if not col.startswith(prefix) or col not in proxies or col not in scale_proxies:
                continue
            rho, ci, n = spearman_fisher_ci(proxies[col], y, level=level)
            if n < min_rows or not math.isfinite(rho):
                continue
            if best is None or abs(rho) > abs(best[2]):
                best = (col, prior, rho, ci, n)
        if best is None:
            continue
        col, prior, rho, ci, n = best
        sign = (1 if rho >= 0 else -1) * hsign
        try:
            lo, hi = fit_robust_scaler(sign * np.asarray(scale_proxies[col], dtype=np.float64))
        except ParameterError:
            continue
        x = robust_scale(sign * np.asarray(proxies[col], dtype=np.float64), lo, hi)
        ok = np.isfinite(x) & np.isfinite(y)
        accepted = bool(ci[0] > 0 or ci[1] < 0)
        slope = intercept = math.nan
        if accepted and np.ptp(x[ok]) > 0:
            s, i = np.polyfit(x[ok], y[ok], 1)
            slope, intercept = float(s), float(i)
        else:
            accepted = False
        out.append(
            ProxyChoice(
                dimension=dim,
                human=hdim,
                proxy=col,
                sign=sign,
                prior_sign=prior,
                rho=rho,
                ci95=ci,
                n=n,
                accepted=accepted,
                p_lo=lo,
                p_hi=hi,
                slope=slope,
                intercept=intercept,
            )
        )
    return out


def apply_proxy_choices(
    choices: Sequence[ProxyChoice], proxies: Mapping[str, npt.ArrayLike]
) -> dict[str, Float64Array]:
    """Calibrated pseudo-labels (human scale) of the accepted choices, keyed by human dim.

    Rows whose proxy is NaN get NaN. Choices that were not accepted are left out.

    Examples
    --------
    >>> c = ProxyChoice("energy_level", "mood_energy", "midi.note_rate", 1, 1, 0.5,
    ...                 (0.3, 0.7), 50, True, 0.0, 10.0, 0.5, 0.3)
    >>> apply_proxy_choices([c], {"midi.note_rate": [0.0, 5.0, float("nan")]})["mood_energy"]
    array([0.3 , 0.55,  nan])
    """
    out: dict[str, Float64Array] = {}
    for c in choices:
        if not c.accepted:
            continue
        x = robust_scale(c.sign * np.asarray(proxies[c.proxy], dtype=np.float64), c.p_lo, c.p_hi)
        y = apply_human_map({"kind": "affine", "slope": c.slope, "intercept": c.intercept}, x)
        out[c.human] = np.where(np.isfinite(x), y, np.nan)
    return out
