"""Fitting, applying and storing a Calibration on synthetic heteroscedastic ratings."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from tests.calibration._synthetic import Ratings, halves

from pianoeval.calibration import (
    MIN_ROWS,
    Calibration,
    calibration_report,
    fit_isotonic,
    interval_coverage,
    load_calibration,
)
from pianoeval.calibration.core import SCORE_DIGITS, _folds, compact_scores
from pianoeval.calibration.point import apply_point
from pianoeval.errors import ParameterError, PianoEvalWarning, SchemaError


def _fit_half(r: Ratings, **kwargs: object) -> tuple[Calibration, slice]:
    cal_rows, test_rows = halves(r)
    cal = Calibration.fit(
        r.est[cal_rows], r.ref[cal_rows], r.sigma[cal_rows], groups=r.groups[cal_rows], **kwargs
    )
    return cal, test_rows


def test_80_percent_intervals_cover_75_to_85_percent_on_the_other_half(ratings: Ratings) -> None:
    cal, test = _fit_half(ratings)
    rep = calibration_report(ratings.ref[test], ratings.est[test], ratings.sigma[test],
                             calibration=cal)  # fmt: skip
    assert 0.75 <= rep["coverage"]["0.8"]["pooled"] <= 0.85
    assert 0.44 <= rep["coverage"]["0.5"]["pooled"] <= 0.56
    assert 0.92 <= rep["coverage"]["0.95"]["pooled"] <= 0.98
    assert rep["coverage_error"] < 0.035  # the target is 0.03; 1800 test cells are noisy
    assert rep["coverage_error_per_dim"]["mean"] < 0.05


def test_normalised_intervals_are_wider_where_sigma_is_larger(ratings: Ratings) -> None:
    cal, test = _fit_half(ratings)
    low, high = cal.interval(ratings.est[test], ratings.sigma[test], level=0.8)
    width, sigma = high - low, ratings.sigma[test]
    for j in range(width.shape[1]):
        order = np.argsort(sigma[:, j])
        assert np.all(np.diff(width[order, j]) >= -1e-12)  # width increases with sigma
        assert width[order[-50:], j].mean() > 2 * width[order[:50], j].mean()


def test_normalised_intervals_cover_hard_items_unnormalised_ones_do_not(ratings: Ratings) -> None:
    cal_rows, test = halves(ratings)
    norm = Calibration.fit(ratings.est[cal_rows], ratings.ref[cal_rows], ratings.sigma[cal_rows])
    flat = Calibration.fit(ratings.est[cal_rows], ratings.ref[cal_rows])
    ref, est, sig = ratings.ref[test], ratings.est[test], ratings.sigma[test]
    hard = sig > np.quantile(sig, 0.75, axis=0)  # the noisiest quarter of each dimension
    cov_norm = np.mean((ref >= (b := norm.interval(est, sig, level=0.8))[0]) & (ref <= b[1]),
                       where=hard)  # fmt: skip
    cov_flat = np.mean((ref >= (c := flat.interval(est, level=0.8))[0]) & (ref <= c[1]),
                       where=hard)  # fmt: skip
    assert cov_norm > 0.72
    assert cov_flat < 0.7  # one width for all: the hard items are under-covered


def test_affine_fixes_a_shrunk_predictor(ratings: Ratings) -> None:
    cal, test = _fit_half(ratings, method="affine")
    rep = calibration_report(ratings.ref[test], ratings.est[test], ratings.sigma[test],
                             calibration=cal)  # fmt: skip
    assert rep["before"]["dispersion_ratio"] < 0.6
    assert 0.8 <= rep["after"]["dispersion_ratio"] <= 1.1
    assert rep["after"]["mae"] < 0.8 * rep["before"]["mae"]
    assert all(p.method == "affine" and 1.6 < p.params["slope"] < 2.4 for p in cal.parts)


def test_isotonic_fixes_a_monotone_distortion(ratings: Ratings) -> None:
    est = ratings.truth**4  # increasing, strongly convex: no line fits it
    cal_rows, test = halves(ratings)
    iso = Calibration.fit(est[cal_rows], ratings.ref[cal_rows], method="isotonic")
    aff = Calibration.fit(est[cal_rows], ratings.ref[cal_rows], method="affine")
    mae = {
        "raw": np.abs(ratings.ref[test] - est[test]).mean(),
        "iso": np.abs(ratings.ref[test] - iso.apply(est[test])).mean(),
        "aff": np.abs(ratings.ref[test] - aff.apply(est[test])).mean(),
    }
    assert mae["iso"] < 0.5 * mae["raw"]
    assert mae["iso"] < 0.95 * mae["aff"]


def test_none_leaves_predictions_unchanged(ratings: Ratings) -> None:
    cal, test = _fit_half(ratings, method="none")
    est = ratings.est[test]
    np.testing.assert_array_equal(cal.apply(est), est)
    low, high = cal.interval(est, ratings.sigma[test], level=0.5)
    np.testing.assert_allclose((low + high) / 2, est, atol=1e-12)


def test_auto_keeps_none_for_a_calibrated_rater_and_calibrates_a_shrunk_one(
    ratings: Ratings,
) -> None:
    rows, _ = halves(ratings)
    good = Calibration.fit(ratings.truth[rows], ratings.ref[rows], groups=ratings.groups[rows])
    assert [p.method for p in good.parts] == ["none"] * 3
    shrunk = Calibration.fit(ratings.est[rows], ratings.ref[rows], groups=ratings.groups[rows])
    for p in shrunk.parts:
        assert p.method in {"affine", "isotonic"}
        assert p.cv_mae[p.method] < 0.8 * p.cv_mae["none"]


def test_method_per_dimension(ratings: Ratings) -> None:
    cal, _ = _fit_half(ratings, method=["none", "affine", "isotonic"], dims=["a", "b", "c"])
    assert [p.method for p in cal.parts] == ["none", "affine", "isotonic"]
    assert cal.dims == ("a", "b", "c")


def test_spread_scale_makes_sigma_a_standard_deviation(ratings: Ratings) -> None:
    # sigma is the true noise SD up to a log-normal jitter, so the fitted scale is near 1
    cal, test = _fit_half(ratings, method="affine")
    assert all(0.8 < p.scale < 1.3 for p in cal.parts)
    z = (ratings.ref[test] - cal.apply(ratings.est[test])) / cal.spread(
        ratings.sigma[test], len(ratings.ref[test])
    )
    assert 0.8 < np.median(np.abs(z)) / 0.6745 < 1.25


def test_quantile_is_the_finite_sample_corrected_order_statistic() -> None:
    rec = _record(scores=[float(v) for v in range(1, 21)])  # n = 20 scores 1..20
    cal = Calibration.from_dict(rec)
    # ceil((n + 1) c)-th smallest: c=0.8 -> 17, c=0.5 -> 11, c=0.1 -> 3
    np.testing.assert_array_equal(cal.quantile(0.8), [17.0])
    np.testing.assert_array_equal(cal.quantile(0.5), [11.0])
    np.testing.assert_array_equal(cal.quantile(0.1), [3.0])
    low, high = cal.interval([[0.5], [0.6]], level=0.8)
    np.testing.assert_allclose(high - low, [[2 * 17 * 0.1], [2 * 17 * 0.1]])


def test_a_level_needing_more_rows_gives_an_infinite_interval_and_warns() -> None:
    cal = Calibration.from_dict(_record(scores=[1.0] * 20))
    with pytest.warns(PianoEvalWarning, match=r"needs at least 99 calibration rows, there are 20"):
        low, high = cal.interval([[0.5]], level=0.99)
    assert math.isinf(low[0, 0])
    assert math.isinf(high[0, 0])


def test_json_roundtrip_gives_identical_outputs(ratings: Ratings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cal, test = _fit_half(ratings, method=["auto", "affine", "isotonic"])
    path = cal.save(tmp_path)
    assert path.name == "calibration.json"
    text = path.read_text()
    json.loads(text)  # plain JSON, no NaN
    back = load_calibration(path)
    est, sig = ratings.est[test], ratings.sigma[test]
    np.testing.assert_array_equal(back.apply(est), cal.apply(est))
    for level in (0.1, 0.5, 0.8, 0.95):
        for a, b in zip(back.interval(est, sig, level=level), cal.interval(est, sig, level=level),
                        strict=True):  # fmt: skip
            np.testing.assert_array_equal(a, b)
    assert back.to_dict() == cal.to_dict()
    assert Calibration.load(tmp_path).dims == cal.dims


def test_stored_isotonic_predicts_like_scikit_learn(rng: np.random.Generator) -> None:
    from sklearn.isotonic import IsotonicRegression

    x = rng.uniform(0.2, 0.8, 300)
    y = x**2 + 0.05 * rng.normal(size=300)
    new = np.concatenate([rng.uniform(0.0, 1.0, 200), [x.min(), x.max(), -5.0, 5.0]])
    ours = apply_point("isotonic", fit_isotonic(x, y), new)
    theirs = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(x, y).predict(new)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_inner_folds_keep_groups_together(ratings: Ratings) -> None:
    groups = ratings.groups // 7  # groups of 14 rows
    folds = _folds(len(groups), groups, 0)
    assert len(folds) == 5
    owner = {}
    for k, test in enumerate(folds):
        for gr in np.unique(groups[test]):
            assert owner.setdefault(gr, k) == k
    assert sorted(np.concatenate(folds)) == list(range(len(groups)))


def test_interval_coverage_agrees_with_a_direct_count(ratings: Ratings) -> None:
    cal, test = _fit_half(ratings)
    low, high = cal.interval(ratings.est[test], ratings.sigma[test], level=0.8)
    ref = ratings.ref[test]
    manual = [np.sum((ref[:, j] >= low[:, j]) & (ref[:, j] <= high[:, j])) / len(ref)
              for j in range(3)]  # fmt: skip
    np.testing.assert_allclose(interval_coverage(ref, low, high), manual)


# ---------------------------------------------------------------------------- bad input


def _record(scores: list[float]) -> dict[str, object]:
    return {
        "schema_version": 1,
        "kind": "pianoeval.calibration",
        "dims": ["x"],
        "uses_sigma": False,
        "n_rows": len(scores),
        "n_groups": None,
        "per_dim": {
            "x": {
                "method": "none",
                "params": {},
                "scale": 0.1,
                "sigma_floor": 0.0,
                "cv_mae": {},
                "scores": scores,
            }
        },
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"est": np.zeros((40, 2))}, r"same \(n_items, n_dims\) shape"),
        ({"sigma": np.ones((40, 2))}, r"sigma has 2 dimensions"),
        ({"sigma": np.ones((39, 3))}, r"sigma must have the shape"),
        ({"sigma": -np.ones((40, 3))}, r"sigma must be >= 0"),
        ({"est": np.full((40, 3), np.nan)}, r"est contains NaN .* row 0, column 0"),
        ({"ref": np.zeros((10, 3)), "est": np.zeros((10, 3))}, r"at least 20 rows, got 10"),
        ({"method": "platt"}, r"unknown calibration method 'platt'"),
        ({"method": ["none"]}, r"1 methods for 3 dimensions"),
        ({"groups": np.zeros(40)}, r"at least 2 distinct groups"),
        ({"groups": np.arange(39)}, r"groups must have one entry per row \(40\)"),
        ({"dims": ["a", "a", "b"]}, r"3 distinct dimension names"),
    ],
)
def test_fit_rejects_bad_input(change: dict[str, object], message: str) -> None:
    rng = np.random.default_rng(0)
    args: dict[str, object] = {"est": rng.uniform(size=(40, 3)), "ref": rng.uniform(size=(40, 3)),
                               "sigma": None}  # fmt: skip
    args.update(change)
    est, ref, sigma = args.pop("est"), args.pop("ref"), args.pop("sigma")
    with pytest.raises(ParameterError, match=message):
        Calibration.fit(est, ref, sigma, **args)  # type: ignore[arg-type]
    assert MIN_ROWS == 20


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1, float("nan")])
def test_level_outside_0_1_is_refused(ratings: Ratings, level: float) -> None:
    cal, test = _fit_half(ratings, method="none")
    with pytest.raises(ParameterError, match=r"level must be in \(0, 1\)"):
        cal.interval(ratings.est[test], ratings.sigma[test], level=level)


def test_sigma_must_match_how_the_calibration_was_fitted(ratings: Ratings) -> None:
    cal, test = _fit_half(ratings, method="none")
    with pytest.raises(ParameterError, match="fitted with sigma"):
        cal.interval(ratings.est[test])
    flat = Calibration.fit(ratings.est[:100], ratings.ref[:100])
    with pytest.raises(ParameterError, match="fitted without sigma"):
        flat.interval(ratings.est[test], ratings.sigma[test])
    with pytest.raises(ParameterError, match="est has 2 dimensions, the calibration 3"):
        flat.apply(ratings.est[:5, :2])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"not a readable JSON calibration"),
        ('{"kind": "pianoeval.rater"}', r"not a calibration record \(kind='pianoeval.rater'\)"),
        ("[1, 2]", r"must be an object"),
    ],
)
def test_corrupt_file_raises_schema_error_naming_it(tmp_path, content: str, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "calibration.json"
    path.write_text(content)
    with pytest.raises(SchemaError, match=message) as info:
        load_calibration(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.update(schema_version=99), r"unsupported calibration schema_version 99"),
        (lambda r: r["per_dim"]["x"].pop("scores"), r"malformed calibration record: KeyError"),
        (lambda r: r["per_dim"]["x"].update(scores=[]), r"x: scores must be a non-empty list"),
        (lambda r: r["per_dim"]["x"].update(method="cubic"), r"x: unknown calibration method"),
        (lambda r: r["per_dim"]["x"].update(method="affine"), r"x: affine params need"),
        (lambda r: r["per_dim"]["x"].update(scale=0.0), r"x: scale must be > 0"),
        (lambda r: r.update(dims=["y"]), r"malformed calibration record: KeyError: 'y'"),
    ],
)
def test_bad_records_raise_schema_error(tmp_path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    rec = _record(scores=[1.0] * 20)
    edit(rec)
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(rec))
    with pytest.raises(SchemaError, match=message):
        load_calibration(path)


def test_missing_file_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SchemaError, match=r"no calibration file there"):
        load_calibration(tmp_path)


def test_stored_scores_are_compact_and_never_narrow_an_interval(ratings: Ratings) -> None:
    raw = np.random.default_rng(3).gamma(1.0, 1.0, 2000)
    small = compact_scores(raw)
    assert np.all(small >= np.sort(raw))  # rounded up: intervals only widen
    assert np.max(small / np.sort(raw) - 1) < 1e-4
    np.testing.assert_array_equal(small, [float(f"{v:.{SCORE_DIGITS}g}") for v in small])
    cal, _ = _fit_half(ratings, method="auto")
    for part in cal.parts:  # what a fit stores is already compact
        np.testing.assert_array_equal(part.scores, compact_scores(part.scores))
