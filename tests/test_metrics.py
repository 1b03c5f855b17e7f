"""Agreement metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from pianoeval.errors import ParameterError
from pianoeval.metrics import (
    mae_per_dim,
    mean_r2,
    pairwise_accuracy,
    pearson_per_dim,
    r2_per_dim,
    regression_report,
    spearman_per_dim,
    within_group_spearman,
)


def test_r2_hand_computed() -> None:
    ref = np.array([1.0, 2.0, 3.0, 4.0])
    est = np.array([1.5, 2.0, 2.5, 4.0])
    # SS_res = 0.25 + 0 + 0.25 + 0 = 0.5; SS_tot = 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert r2_per_dim(ref, est)[0] == pytest.approx(0.9)
    assert r2_per_dim(ref, ref)[0] == 1.0
    assert r2_per_dim(ref, np.full(4, ref.mean()))[0] == pytest.approx(0.0)
    assert r2_per_dim(ref, ref[::-1])[0] == pytest.approx(1 - 20 / 5)


def test_mean_r2_is_the_mean_over_dimensions_of_pooled_r2() -> None:
    ref = np.array([[1.0, 0.0], [2.0, 2.0], [3.0, 4.0], [4.0, 6.0]])
    est = np.array([[1.5, 0.0], [2.0, 2.0], [2.5, 4.0], [4.0, 3.0]])
    # dim 0: 0.9; dim 1: SS_res = 9, SS_tot = 20 -> 0.55
    np.testing.assert_allclose(r2_per_dim(ref, est), [0.9, 0.55])
    assert mean_r2(ref, est) == pytest.approx(0.725)


def test_constant_labels_give_nan_and_are_skipped_in_the_mean() -> None:
    ref = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    est = np.array([[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]])
    r2 = r2_per_dim(ref, est)
    assert r2[0] == 1.0
    assert np.isnan(r2[1])
    assert mean_r2(ref, est) == 1.0


def test_mae_pearson_spearman() -> None:
    ref = np.array([1.0, 2.0, 3.0, 4.0])
    est = np.array([2.0, 4.0, 6.0, 100.0])
    assert mae_per_dim(ref, est)[0] == pytest.approx((1 + 2 + 3 + 96) / 4)
    assert spearman_per_dim(ref, est)[0] == pytest.approx(1.0)
    assert pearson_per_dim(ref, est)[0] < 1.0
    assert pearson_per_dim(ref, 2 * ref + 1)[0] == pytest.approx(1.0)


def test_pairwise_within_groups_min_diff_and_ties() -> None:
    ref = np.array([0.10, 0.50, 0.90, 0.52, 0.20, 0.80])
    est = np.array([0.20, 0.10, 0.90, 0.30, 0.50, 0.50])
    groups = ["a", "a", "a", "a", "b", "b"]
    # group a pairs with |diff| > 0.05: (0,1) wrong, (0,2) right, (0,3) right, (1,2) right,
    # (2,3) right; (1,3) differs by 0.02 and is skipped. group b: (4,5) tie -> 0.5.
    res = pairwise_accuracy(ref, est, groups, min_diff=0.05)
    assert res.n_pairs[0] == 6
    assert res.accuracy == pytest.approx((4 + 0.5) / 6)
    # across-group pairs are never compared: a piece-level offset cannot help
    shifted = est + np.array([0, 0, 0, 0, 5, 5])
    assert pairwise_accuracy(ref, shifted, groups).accuracy == pytest.approx(res.accuracy)
    # with min_diff 0 the close pair counts too (and is ordered right)
    assert pairwise_accuracy(ref, est, groups, min_diff=0.0).n_pairs[0] == 7


def test_pairwise_averages_dimensions_and_skips_those_without_pairs() -> None:
    ref = np.array([[0.1, 0.5], [0.9, 0.5]])
    est = np.array([[0.2, 0.1], [0.8, 0.9]])
    res = pairwise_accuracy(ref, est, ["x", "x"])
    assert res.per_dim[0] == 1.0
    assert np.isnan(res.per_dim[1])
    assert res.accuracy == 1.0
    assert list(res.n_pairs) == [1, 0]


def test_validation_errors() -> None:
    with pytest.raises(ParameterError, match="shape"):
        r2_per_dim(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ParameterError, match="at least 2"):
        r2_per_dim([1.0], [1.0])
    with pytest.raises(ParameterError, match="NaN"):
        mean_r2([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(ParameterError, match="groups"):
        pairwise_accuracy([1.0, 2.0], [1.0, 2.0], ["a"])
    with pytest.raises(ParameterError, match="min_diff"):
        pairwise_accuracy([1.0, 2.0], [1.0, 2.0], ["a", "a"], min_diff=-1)


def test_report_is_json_ready() -> None:
    import json

    ref = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.5]])
    est = np.array([[1.0, 0.2], [2.5, 0.9], [3.0, 0.4]])
    rep = regression_report(ref, est, dims=["a", "b"], groups=["g", "g", "g"])
    json.dumps(rep)
    assert set(rep["per_dim"]) == {"a", "b"}  # type: ignore[call-overload]
    assert rep["pairwise_accuracy"] == 1.0


def test_within_group_spearman_weights_groups_and_drops_nan_pairs() -> None:
    # group a: perfect order (rho 1, 4 pairs); group b: reversed (rho -1, 5 pairs);
    # group c: only 3 finite pairs after the NaN: left out; group d: constant scores: left out
    ref = [1, 2, 3, 4, 1, 2, 3, 4, 5, 1, 2, 3, np.nan, 1, 2, 3, 4]
    est = [1, 2, 3, 4, 5, 4, 3, 2, 1, 3, 2, 1, 0.5, 7, 7, 7, 7]
    groups = ["a"] * 4 + ["b"] * 5 + ["c"] * 4 + ["d"] * 4
    r = within_group_spearman(ref, est, groups, n_boot=0)
    assert (r.n_groups, r.n_items) == (2, 9)
    assert r.rho == pytest.approx((4 * 1.0 + 5 * -1.0) / 9)
    assert np.isnan(r.ci95[0])
    # a piece-level offset between groups changes nothing (it is removed by design)
    shifted = np.asarray(est, dtype=float) + np.repeat([0.0, 10.0, 20.0, 30.0], [4, 5, 4, 4])
    assert within_group_spearman(ref, shifted, groups, n_boot=0).rho == pytest.approx(r.rho)
    # a smaller minimum lets group c in: 3 pairs, ranks (1, 2, 3) vs (3, 2, 1) -> -1
    r3 = within_group_spearman(ref, est, groups, min_group_size=3, n_boot=0)
    assert r3.n_groups == 3
    assert r3.rho == pytest.approx((4 - 5 - 3) / 12)


def test_within_group_spearman_bootstrap_and_errors(rng: np.random.Generator) -> None:
    n_groups, size = 30, 6
    ref = rng.normal(size=n_groups * size)
    est = ref + rng.normal(scale=1.0, size=ref.size)
    groups = np.repeat(np.arange(n_groups), size)
    r = within_group_spearman(ref, est, groups, n_boot=500, seed=1)
    assert r.n_groups == n_groups
    assert r.ci95[0] < r.rho < r.ci95[1]
    assert 0.4 < r.rho < 0.9  # noise as large as the signal: r about 0.7 on ranks
    assert within_group_spearman(ref, est, groups, n_boot=500, seed=1) == r  # seeded
    assert np.isnan(within_group_spearman([1.0, 2.0], [1.0, 2.0], ["a", "a"]).rho)
    with pytest.raises(ParameterError, match="one entry per item"):
        within_group_spearman([1.0, 2.0], [1.0, 2.0], ["a"])
    with pytest.raises(ParameterError, match="min_group_size"):
        within_group_spearman([1.0, 2.0], [1.0, 2.0], ["a", "a"], min_group_size=1)


def test_within_group_spearman_removes_the_piece(rng: np.random.Generator) -> None:
    excerpts = np.repeat([f"e{i}" for i in range(60)], 8)
    piece = np.repeat(rng.normal(0, 10, 60), 8)
    human = piece + rng.normal(0, 0.1, excerpts.size)
    proxy = piece + rng.normal(0, 0.1, excerpts.size)  # knows the piece, not the performers
    from scipy.stats import spearmanr

    assert spearmanr(proxy, human)[0] > 0.8
    assert abs(within_group_spearman(human, proxy, excerpts.tolist()).rho) < 0.15
    within = within_group_spearman(human, human + rng.normal(0, 0.01, human.size), excerpts)
    assert within.rho > 0.9
    assert (within.n_groups, within.n_items) == (60, 480)
    assert within.ci95[0] <= within.rho <= within.ci95[1]
    # excerpts with fewer performers than min_group_size are left out
    assert within_group_spearman(human[:3], proxy[:3], excerpts[:3]).n_groups == 0
