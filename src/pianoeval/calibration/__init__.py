"""Calibration of a rater's scores: point calibrators, spread scaling, conformal intervals.

Fitted per dimension on out-of-fold predictions (:class:`Calibration`, stored as
``calibration.json``), and judged on held-out items by :func:`calibration_report`
(coverage, coverage error, interval width, spread-error correlation, dispersion, MAE and R2
before and after). :mod:`pianoeval.calibration.core` explains the fitting,
:mod:`pianoeval.calibration.conformal` the intervals (and why ``crepes``), and
:mod:`pianoeval.calibration.metrics` the metrics. The reliability plot lives in
:mod:`pianoeval.calibration.plot` so that this package never imports matplotlib.
"""

from __future__ import annotations

from pianoeval.calibration.core import (
    CALIBRATION_FILE,
    METHODS,
    MIN_ROWS,
    SCHEMA_VERSION,
    Calibration,
    DimCalibration,
    fit_calibration,
    load_calibration,
)
from pianoeval.calibration.metrics import (
    COVERAGE_ERROR_LEVELS,
    REPORT_LEVELS,
    calibration_report,
    coverage_curve,
    coverage_error,
    dispersion_ratio,
    interval_coverage,
    interval_width,
    sigma_error_spearman,
)
from pianoeval.calibration.ood import (
    OOD_FILE,
    OOD_MAX_WIDEN,
    OOD_MIN_WIDEN,
    OOD_THRESHOLD,
    OODModel,
    load_ood,
    ood_widen_factor,
)
from pianoeval.calibration.point import apply_point, fit_affine, fit_isotonic

__all__ = [
    "CALIBRATION_FILE",
    "COVERAGE_ERROR_LEVELS",
    "METHODS",
    "MIN_ROWS",
    "OOD_FILE",
    "OOD_MAX_WIDEN",
    "OOD_MIN_WIDEN",
    "OOD_THRESHOLD",
    "REPORT_LEVELS",
    "SCHEMA_VERSION",
    "Calibration",
    "DimCalibration",
    "OODModel",
    "apply_point",
    "calibration_report",
    "coverage_curve",
    "coverage_error",
    "dispersion_ratio",
    "fit_affine",
    "fit_calibration",
    "fit_isotonic",
    "interval_coverage",
    "interval_width",
    "load_calibration",
    "load_ood",
    "ood_widen_factor",
    "sigma_error_spearman",
]
