"""Scaling of proxies into pseudo-labels, and the committed calibration that holds it.

Scaling
    A proxy becomes a pseudo-label by robust min-max scaling (:func:`robust_scale`): its
    5th percentile maps to 0, its 95th to 1, and values outside are clipped. The
    percentiles (:func:`fit_robust_scaler`, optionally weighted so that several reference
    pools count equally) are fitted on a reference pool and committed, with the chosen proxy
    of each dimension, in ``pseudo_calibration.json`` (:data:`CALIBRATION_PATH`).

Applying the calibration
    :func:`pseudo_labels_for` turns one segment's proxies into ``(pseudo_labels,
    pseudo_conf)``; :func:`calibrate_to_human` maps pseudo-labels of a dimension to the
    human scale of its ``percepiano19`` match, with the affine or isotonic map stored in the
    calibration (:func:`apply_human_map`). How the calibration is fitted and validated
    against people is :mod:`pianoeval.data.pseudo_fit`.

Confidence
    ``pseudo_conf[dim]`` is the chosen proxy's confidence from the calibration; for
    ``alignment.*`` proxies it is multiplied by the alignment's quality
    (:func:`~pianoeval.symbolic.pseudo.proxies.alignment_quality`). Where a row has no
    alignment, the dimension's ``midi.*`` fallback is used with its own confidence, or the
    dimension is left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pianoeval._typing import Float64Array, PathLike
from pianoeval.constants import LABEL_RANGE
from pianoeval.errors import ParameterError, SchemaError
from pianoeval.symbolic.pseudo.proxies import alignment_quality

__all__ = [
    "CALIBRATION_PATH",
    "PERCENTILES",
    "PseudoCalibration",
    "apply_human_map",
    "calibrate_to_human",
    "fit_robust_scaler",
    "load_calibration",
    "pseudo_labels_for",
    "robust_scale",
]

#: The committed calibration: scalers, chosen proxies, validation and pseudo->human maps.
CALIBRATION_PATH = Path(__file__).resolve().with_name("pseudo_calibration.json")
#: Percentiles mapped to 0 and 1 by the robust scaling.
PERCENTILES = (5.0, 95.0)


def fit_robust_scaler(
    values: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    percentiles: tuple[float, float] = PERCENTILES,
) -> tuple[float, float]:
    """Return the (weighted) percentiles that :func:`robust_scale` maps to 0 and 1.

    NaNs are ignored. Weighted percentiles interpolate the weighted empirical CDF at the
    mid-points of each value's weight (equal weights give numpy's "hazen" percentiles).

    Raises
    ------
    ParameterError
        If there are fewer than two finite values or they are all equal.

    Examples
    --------
    >>> fit_robust_scaler(range(101))
    (5.0, 95.0)
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    ok = np.isfinite(x) & (w > 0)
    x, w = x[ok], w[ok]
    if x.size < 2:
        raise ParameterError(f"need at least two finite values to fit a scaler, got {x.size}")
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    if weights is None:
        lo, hi = np.percentile(x, percentiles)
    else:
        cdf = (np.cumsum(w) - w / 2) / w.sum()
        lo, hi = np.interp(np.array(percentiles) / 100.0, cdf, x)
    if not hi > lo:
        raise ParameterError(f"percentiles {percentiles} are equal ({lo}): a constant proxy")
    return float(lo), float(hi)


def robust_scale(values: npt.ArrayLike, lo: float, hi: float) -> Float64Array:
    """Map ``lo`` to 0 and ``hi`` to 1, clipping outside (NaN stays NaN).

    Examples
    --------
    >>> robust_scale([0.0, 5.0, 10.0, 20.0], 5.0, 15.0).tolist()
    [0.0, 0.0, 0.5, 1.0]
    """
    x = np.asarray(values, dtype=np.float64)
    return np.asarray(np.clip((x - lo) / (hi - lo), 0.0, 1.0), dtype=np.float64)


def apply_human_map(cal: Mapping[str, Any], x: npt.ArrayLike) -> Float64Array:
    """Apply a stored pseudo->human map (``{"kind": "affine" | "isotonic", ...}``).

    Returns the mean rating / 7 of the matching ``percepiano19`` dimension, clipped to the
    label range [1/7, 1].

    Examples
    --------
    >>> apply_human_map({"kind": "affine", "slope": 0.5, "intercept": 0.2}, [0.0, 1.0, 3.0])
    array([0.2, 0.7, 1. ])
    """
    v = np.asarray(x, dtype=np.float64)
    if cal["kind"] == "affine":
        y = cal["intercept"] + cal["slope"] * v
    else:
        y = np.interp(v, np.asarray(cal["x"]), np.asarray(cal["y"]))
    return np.asarray(np.clip(y, *LABEL_RANGE), dtype=np.float64)


@dataclass(frozen=True)
class PseudoCalibration:
    """The fitted pseudo-label calibration (``pseudo_calibration.json``).

    Attributes
    ----------
    data : dict
        The JSON content: per dimension ``status`` (``passed``, ``failed``,
        ``unvalidated``, ``no_proxy``), ``proxy``, ``sign``, ``p_lo``/``p_hi``, ``conf``,
        validation figures, optional ``fallback`` and ``calibration``.
    path : str or None
    """

    data: dict[str, Any]
    path: str | None = None

    def usable(self) -> list[str]:
        """Dimensions that get pseudo-labels (passed or unvalidated)."""
        return [
            d for d, e in self.data["dims"].items() if e.get("status") in ("passed", "unvalidated")
        ]

    def save(self, path: PathLike) -> None:
        """Write the calibration as JSON (sorted keys, NaN as null)."""
        Path(path).write_text(json.dumps(_jsonable(self.data), indent=1) + "\n", encoding="utf-8")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    return obj


def load_calibration(path: PathLike | None = None) -> PseudoCalibration:
    """Read a pseudo-label calibration (default: the committed one).

    Raises
    ------
    SchemaError
        If the file is missing or not a calibration.
    """
    p = Path(path) if path is not None else CALIBRATION_PATH
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(
            f"{p}: no pseudo-label calibration; fit one with benchmarks/pseudo_labels.py"
        ) from None
    except json.JSONDecodeError as e:
        raise SchemaError(f"{p}: bad JSON: {e}") from None
    if not isinstance(data, dict) or data.get("schema_version") != 1 or "dims" not in data:
        raise SchemaError(f"{p}: not a pseudo-label calibration (schema_version 1 with dims)")
    return PseudoCalibration(data, str(p))


def pseudo_labels_for(
    proxies: Mapping[str, float], calibration: PseudoCalibration
) -> tuple[dict[str, float], dict[str, float]]:
    """Return ``(pseudo_labels, pseudo_conf)`` of one segment from its proxies.

    Dimensions whose proxy (and fallback) is missing for this segment are left out.
    """
    labels: dict[str, float] = {}
    conf: dict[str, float] = {}
    quality = alignment_quality(proxies)
    for dim, e in calibration.data["dims"].items():
        if e.get("status") not in ("passed", "unvalidated"):
            continue
        for spec in (e, e.get("fallback")):
            if not spec:
                continue
            v = proxies.get(spec["proxy"], math.nan)
            if v is None or not math.isfinite(v):
                continue
            c = float(spec["conf"])
            if spec["proxy"].startswith("alignment."):
                c *= quality
            labels[dim] = round(
                float(robust_scale(spec["sign"] * v, spec["p_lo"], spec["p_hi"])), 4
            )
            conf[dim] = round(c, 4)
            break
    return labels, conf


def calibrate_to_human(
    dim: str, pseudo: npt.ArrayLike, calibration: PseudoCalibration | None = None
) -> Float64Array:
    """Map execution16 pseudo-labels of ``dim`` to its human percepiano19 scale.

    Returns
    -------
    np.ndarray
        Predicted mean rating / 7 of the matching percepiano19 dimension (its own
        direction, e.g. ``timing`` runs stable → unstable), clipped to [1/7, 1].

    Raises
    ------
    ParameterError
        If ``dim`` has no calibration (no human match, or its proxy failed).
    """
    cal = calibration or load_calibration()
    entry = cal.data["dims"].get(dim, {})
    if "calibration" not in entry:
        raise ParameterError(
            f"{dim!r} has no pseudo->human calibration (status {entry.get('status', 'unknown')})"
        )
    return apply_human_map(entry["calibration"], np.asarray(pseudo, dtype=np.float64))
