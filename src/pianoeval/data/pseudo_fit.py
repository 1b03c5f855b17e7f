"""Fitting the pseudo-label calibration against PercePiano's human labels.

Validation
    PercePiano has several performers of each passage (an *excerpt*). Per excerpt with at
    least :data:`MIN_PERFORMERS` performers, the Spearman correlation between a proxy and
    the matching human label (:data:`~pianoeval.symbolic.pseudo.HUMAN_MATCH`; sign applied,
    so agreement is positive) is taken across its performers, which removes the piece: a
    proxy cannot pass by recognising the composition
    (:func:`pianoeval.metrics.within_group_spearman`, weighted by performers). For each
    dimension the candidate with the highest mean on the excerpt split's training side
    (everything but the held-out test excerpts) is chosen; it **passes** when that mean is
    at least :data:`PASS_RHO` (0.2). The test excerpts give an unbiased figure for the
    chosen proxy. Only passing proxies become pseudo-labels. Dimensions without a human
    counterpart (tempo_control, rhythmic_accuracy, phrasing_continuity) cannot be
    validated: their proxies are direct measurements of the quality (tempo variability,
    onset error, silences), kept as ``unvalidated`` with the low confidence
    :data:`UNVALIDATED_CONF`.

Scaling
    The 5th/95th percentiles of every candidate are fitted on a reference pool (the
    benchmark uses PercePiano's 1189 labelled segments plus every ASAP window, each dataset
    weighted equally) with :func:`~pianoeval.symbolic.pseudo.fit_robust_scaler`.

Calibration
    Where a human dimension matches, the pseudo-label is mapped to the human scale (the
    released percepiano19 mean rating / 7) by an affine or an isotonic fit, chosen by the
    mean R2 over the excerpt split's four validation folds, refitted on its training side
    and evaluated on its test excerpts (R2, Spearman, within-excerpt Spearman).

Confidence
    ``conf`` is the chosen proxy's within-excerpt Spearman on all labelled excerpts
    (clipped to [0, 1]); :func:`~pianoeval.symbolic.pseudo.pseudo_labels_for` multiplies
    it by the alignment's quality for ``alignment.*`` proxies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from pianoeval._typing import Float64Array
from pianoeval.errors import ParameterError
from pianoeval.metrics import r2_per_dim, spearman_per_dim, within_group_spearman
from pianoeval.symbolic.pseudo import (
    CANDIDATES,
    HUMAN_MATCH,
    PERCENTILES,
    TAXONOMY,
    TIMBRE_DIMS,
    apply_human_map,
    fit_robust_scaler,
    robust_scale,
)

__all__ = ["MIN_PERFORMERS", "PASS_RHO", "UNVALIDATED_CONF", "fit_pseudo_calibration"]

#: A proxy passes when its mean within-excerpt Spearman (sign applied) reaches this.
PASS_RHO = 0.2
#: Excerpts with fewer performers than this are left out of within-excerpt correlations.
MIN_PERFORMERS = 4
#: Confidence of the proxies of dimensions without a human counterpart.
UNVALIDATED_CONF = 0.2


def _r2(y: Float64Array, pred: Float64Array) -> float:
    return float(r2_per_dim(y, pred)[0])


def _spearman(a: Float64Array, b: Float64Array) -> float:
    return float(spearman_per_dim(a, b)[0])


def _fit_map(kind: str, x: Float64Array, y: Float64Array, sign: int) -> dict[str, Any]:
    if kind == "affine":
        slope, intercept = np.polyfit(x, y, 1)
        return {"kind": "affine", "slope": float(slope), "intercept": float(intercept)}
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(increasing=sign > 0, out_of_bounds="clip")
    iso.fit(x, y)
    return {
        "kind": "isotonic",
        "x": [float(v) for v in iso.X_thresholds_],
        "y": [float(v) for v in iso.y_thresholds_],
    }


def _pool_columns(
    pool: Sequence[Mapping[str, Mapping[str, float]]], column: str
) -> tuple[Float64Array, Float64Array]:
    xs, ws = [], []
    for table in pool:
        vals = np.array([row.get(column, math.nan) for row in table.values()], dtype=np.float64)
        finite = np.isfinite(vals)
        if finite.any():
            xs.append(vals[finite])
            ws.append(np.full(int(finite.sum()), 1.0 / finite.sum()))
    if not xs:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ws)


def fit_pseudo_calibration(
    proxies: Mapping[str, Mapping[str, float]],
    labels: Mapping[str, Mapping[str, float | None]],
    excerpts: Mapping[str, str],
    *,
    test_ids: Iterable[str],
    folds: Sequence[Sequence[str]],
    pool: Sequence[Mapping[str, Mapping[str, float]]] | None = None,
    pool_description: str = "",
    pass_rho: float = PASS_RHO,
    min_performers: int = MIN_PERFORMERS,
) -> dict[str, Any]:
    """Choose, validate, scale and calibrate a proxy per ``execution16`` dimension.

    Parameters
    ----------
    proxies : mapping
        ``{segment_id: {column: value}}`` of the labelled segments (PercePiano).
    labels : mapping
        ``{segment_id: {percepiano19 dim: value}}`` (released mean ratings / 7).
    excerpts : mapping
        ``{segment_id: excerpt}``.
    test_ids : iterable of str
        Held-out segments (the excerpt split's test): never used to choose or fit.
    folds : sequence of sequences of str
        Validation folds of the training side, to choose affine or isotonic calibration.
    pool : sequence of mappings, optional
        Proxy tables the scalers are fitted on, each weighted equally (default: ``proxies``).
    pool_description : str
        Recorded in the result.
    pass_rho : float
        The threshold on the mean within-excerpt Spearman (training side).
    min_performers : int
        Smallest excerpt entering a within-excerpt correlation.

    Returns
    -------
    dict
        The JSON-ready calibration (see ``pseudo_calibration.json`` and
        :class:`PseudoCalibration`).
    """
    ids = sorted(i for i in proxies if i in labels and i in excerpts)
    test = set(test_ids) & set(ids)
    train = [i for i in ids if i not in test]
    test_l = sorted(test)
    pool_tables = list(pool) if pool is not None else [proxies]
    fold_sets = [set(f) & set(train) for f in folds]

    def column(sids: Sequence[str], col: str) -> Float64Array:
        return np.array([proxies[i].get(col, math.nan) for i in sids], dtype=np.float64)

    def human(sids: Sequence[str], dim: str) -> Float64Array:
        return np.array(
            [v if (v := labels[i].get(dim)) is not None else math.nan for i in sids],
            dtype=np.float64,
        )

    def exc(sids: Sequence[str]) -> list[str]:
        return [excerpts[i] for i in sids]

    dims: dict[str, Any] = {}
    for dim, cands in CANDIDATES.items():
        match = HUMAN_MATCH.get(dim)
        entry: dict[str, Any] = {"human": None, "human_sign": None, "candidates": []}
        scored = []
        for col, sign in cands:
            try:
                lo, hi = fit_robust_scaler(
                    sign * _pool_columns(pool_tables, col)[0],
                    weights=_pool_columns(pool_tables, col)[1],
                )
            except ParameterError:
                continue
            cand: dict[str, Any] = {"proxy": col, "sign": sign, "p_lo": lo, "p_hi": hi}
            if match is not None:
                hdim, hsign = match
                h_tr = hsign * human(train, hdim)
                h_te = hsign * human(test_l, hdim)
                h_all = hsign * human(ids, hdim)
                w_tr = within_group_spearman(
                    h_tr, sign * column(train, col), exc(train), min_group_size=min_performers
                )
                w_te = within_group_spearman(
                    h_te, sign * column(test_l, col), exc(test_l), min_group_size=min_performers
                )
                w_all = within_group_spearman(
                    h_all, sign * column(ids, col), exc(ids), min_group_size=min_performers
                )
                cand.update(
                    rho_train=w_tr.rho,
                    rho_train_ci95=list(w_tr.ci95),
                    n_excerpts_train=w_tr.n_groups,
                    rho_test=w_te.rho,
                    n_excerpts_test=w_te.n_groups,
                    rho_all=w_all.rho,
                    rho_all_ci95=list(w_all.ci95),
                    n_excerpts_all=w_all.n_groups,
                )
            scored.append(cand)
        entry["candidates"] = scored
        if not scored:
            entry["status"] = "no_proxy"
            dims[dim] = entry
            continue
        if match is None:
            chosen = scored[0]
            entry.update(
                status="unvalidated",
                proxy=chosen["proxy"],
                sign=chosen["sign"],
                p_lo=chosen["p_lo"],
                p_hi=chosen["p_hi"],
                conf=UNVALIDATED_CONF,
            )
            dims[dim] = entry
            continue
        hdim, hsign = match
        entry["human"], entry["human_sign"] = f"percepiano19.{hdim}", hsign

        def key(c: Mapping[str, Any]) -> float:
            r = c.get("rho_train", math.nan)
            return r if math.isfinite(r) else -math.inf

        chosen = max(scored, key=key)
        passed = key(chosen) >= pass_rho
        entry.update(
            status="passed" if passed else "failed",
            proxy=chosen["proxy"],
            sign=chosen["sign"],
            p_lo=chosen["p_lo"],
            p_hi=chosen["p_hi"],
            rho_train=chosen["rho_train"],
            rho_test=chosen["rho_test"],
            rho_all=chosen["rho_all"],
            conf=float(np.clip(chosen["rho_all"], 0.0, 1.0)) if passed else 0.0,
        )
        # a MIDI-only stand-in for rows without an alignment
        if passed and chosen["proxy"].startswith("alignment."):
            midi_c = [c for c in scored if c["proxy"].startswith("midi.") and key(c) >= pass_rho]
            if midi_c:
                fb = max(midi_c, key=key)
                entry["fallback"] = {
                    k: fb[k] for k in ("proxy", "sign", "p_lo", "p_hi", "rho_train", "rho_test",
                                       "rho_all")
                }  # fmt: skip
                entry["fallback"]["conf"] = float(np.clip(fb["rho_all"], 0.0, 1.0))
        if passed:
            entry["calibration"] = _fit_calibration(
                entry, column, human, exc, train, test_l, fold_sets, hdim, hsign, min_performers
            )
        dims[dim] = entry

    return {
        "schema_version": 1,
        "taxonomy": TAXONOMY,
        "threshold": {
            "statistic": "mean within-excerpt Spearman (weighted by performers), sign applied, "
            "on the excerpt split's training side",
            "min_rho": pass_rho,
            "min_performers": min_performers,
        },
        "scaling": {
            "percentiles": list(PERCENTILES),
            "pool": pool_description or "the labelled segments",
            "n_pool": [len(t) for t in pool_tables],
        },
        "confidence": "rho_all clipped to [0, 1]; alignment.* proxies times "
        "clip((f_measure - 0.5) / 0.4, 0, 1); unvalidated dims "
        f"{UNVALIDATED_CONF}",
        "n_train": len(train),
        "n_test": len(test_l),
        "no_proxy": list(TIMBRE_DIMS),
        "dims": dims,
    }


def _fit_calibration(
    entry: Mapping[str, Any],
    column: Any,
    human: Any,
    exc: Any,
    train: Sequence[str],
    test: Sequence[str],
    fold_sets: Sequence[set[str]],
    hdim: str,
    hsign: int,
    min_performers: int,
) -> dict[str, Any]:
    def pseudo(sids: Sequence[str]) -> Float64Array:
        return robust_scale(
            entry["sign"] * column(sids, entry["proxy"]), entry["p_lo"], entry["p_hi"]
        )

    def finite(sids: Sequence[str]) -> tuple[list[str], Float64Array, Float64Array]:
        x, y = pseudo(sids), human(sids, hdim)
        ok = np.isfinite(x) & np.isfinite(y)
        return [s for s, k in zip(sids, ok, strict=True) if k], x[ok], y[ok]

    cv: dict[str, float] = {}
    for kind in ("affine", "isotonic"):
        scores = []
        for val in fold_sets:
            tr = [i for i in train if i not in val]
            _, x_tr, y_tr = finite(tr)
            _, x_va, y_va = finite(sorted(val))
            if x_tr.size < 10 or x_va.size < 3:
                continue
            scores.append(_r2(y_va, apply_human_map(_fit_map(kind, x_tr, y_tr, hsign), x_va)))
        cv[kind] = float(np.mean(scores)) if scores else math.nan
    kind = "isotonic" if cv.get("isotonic", -math.inf) > cv.get("affine", -math.inf) else "affine"
    _, x_tr, y_tr = finite(train)
    cal = _fit_map(kind, x_tr, y_tr, hsign)
    test_ids, x_te, y_te = finite(test)
    result: dict[str, Any] = {**cal, "cv_r2": cv, "n_train": int(x_tr.size)}
    if x_te.size >= 3:
        pred = apply_human_map(cal, x_te)
        w = within_group_spearman(
            hsign * y_te, hsign * pred, exc(test_ids), min_group_size=min_performers, n_boot=0
        )
        result["test"] = {
            "n": int(x_te.size),
            "r2": _r2(y_te, pred),
            "spearman": hsign * _spearman(y_te, pred) if np.ptp(pred) > 0 else math.nan,
            "within_excerpt_spearman": w.rho,
        }
    return result
