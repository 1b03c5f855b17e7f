"""Calibration metrics against hand-computed answers, and the report's shape."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pianoeval.calibration import (
    COVERAGE_ERROR_LEVELS,
    calibration_report,
    coverage_curve,
    coverage_error,
    dispersion_ratio,
    interval_coverage,
    interval_width,
    sigma_error_spearman,
)
from pianoeval.errors import ParameterError


def test_coverage_error_is_the_mean_absolute_gap_over_the_nine_levels() -> None:
    observed = np.array(COVERAGE_ERROR_LEVELS) + np.array([0.1, -0.1] + [0.0] * 7)
    np.testing.assert_allclose(coverage_error(observed), [0.2 / 9])
    two = np.column_stack([COVERAGE_ERROR_LEVELS, np.zeros(9)])
    np.testing.assert_allclose(coverage_error(two), [0.0, 0.5])


def test_exact_gaussian_intervals_have_small_coverage_error(rng: np.random.Generator) -> None:
    from scipy.stats import norm

    n = 20000
    sd = rng.uniform(0.05, 0.2, size=(n, 2))
    ref = sd * rng.normal(size=(n, 2))
    curve = coverage_curve(ref, lambda c: (-norm.ppf(0.5 + c / 2) * sd, norm.ppf(0.5 + c / 2) * sd))
    assert coverage_error(curve.mean(axis=1))[0] < 0.01
    too_narrow = coverage_curve(ref, lambda c: (-0.5 * norm.ppf(0.5 + c / 2) * sd,
                                                0.5 * norm.ppf(0.5 + c / 2) * sd))  # fmt: skip
    assert coverage_error(too_narrow.mean(axis=1))[0] > 0.1


def test_dispersion_width_and_spread_spearman() -> None:
    np.testing.assert_allclose(dispersion_ratio([[1.0], [3.0]], [[1.5], [2.5]]), [0.5])
    np.testing.assert_allclose(interval_width([[0.0, 0.0]], [[1.0, 3.0]]), [1.0, 3.0])
    ref = np.zeros((4, 1))
    est = np.array([[0.1], [0.4], [-0.2], [0.3]])
    np.testing.assert_allclose(sigma_error_spearman(ref, est, [[1], [4], [2], [3]]), [1.0])
    np.testing.assert_allclose(sigma_error_spearman(ref, est, [[4], [1], [3], [2]]), [-1.0])
    assert np.isnan(sigma_error_spearman(ref, est, np.ones((4, 1)))[0])


def test_interval_checks() -> None:
    with pytest.raises(ParameterError, match="low <= high"):
        interval_coverage([1.0, 2.0], [1.0, 3.0], [0.0, 4.0])
    with pytest.raises(ParameterError, match="labels' shape"):
        interval_coverage([1.0, 2.0], [0.0, 0.0, 0.0], [3.0, 3.0, 3.0])
    with pytest.raises(ParameterError, match="2 observed coverages for 9 levels"):
        coverage_error([0.1, 0.2])


def test_report_with_an_interval_function_only_is_json_ready(rng: np.random.Generator) -> None:
    ref = rng.normal(size=(200, 2))
    est = ref + 0.5 * rng.normal(size=(200, 2))
    rep = calibration_report(ref, est, interval_fn=lambda c: (est - 10 * c, est + 10 * c),
                             dims=["a", "b"])  # fmt: skip
    json.dumps(rep, allow_nan=False)
    assert "after" not in rep
    assert rep["coverage"]["0.8"]["per_dim"]["a"] == pytest.approx(1.0)
    assert rep["width"]["0.5"]["mean"] == pytest.approx(10.0)
    assert rep["width"]["0.5"]["per_dim"]["b"]["width_over_sd"] == pytest.approx(
        10.0 / ref[:, 1].std()
    )
    assert len(rep["reliability"]["observed"]) == 9
    no_intervals = calibration_report(ref, est)
    assert set(no_intervals) == {"n_items", "before"}


def test_reliability_plot_writes_a_png(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("matplotlib")
    from pianoeval.calibration.plot import plot_reliability

    obs = np.column_stack([COVERAGE_ERROR_LEVELS, np.array(COVERAGE_ERROR_LEVELS) ** 1.5])
    out = plot_reliability(COVERAGE_ERROR_LEVELS, obs, tmp_path / "rel.png", dims=["a", "b"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ParameterError, match="observed coverages"):
        plot_reliability([0.5], obs, tmp_path / "x.png")
