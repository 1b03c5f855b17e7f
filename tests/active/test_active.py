"""Acquisition scores and batch selection on small synthetic tables."""

from __future__ import annotations

import numpy as np
import pytest

from pianoeval.active import (
    STRATEGIES,
    acquisition_scores,
    disagreement_scores,
    near_duplicate_key,
    pseudo_matrix,
    rank_normalise,
    select_batch,
    uncertainty_scores,
)
from pianoeval.errors import ParameterError


def test_rank_normalise_per_dimension_keeps_nan() -> None:
    out = rank_normalise([[1.0, 10.0], [2.0, np.nan], [3.0, 30.0]])
    assert out[:, 0].tolist() == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert np.isnan(out[1, 1])
    assert out[2, 1] == 1.0
    assert out[0, 1] == 0.5


def test_scale_free_uncertainty() -> None:
    sigma = np.array([[0.1, 100.0], [0.2, 300.0], [0.3, 200.0]])
    u = uncertainty_scores(sigma)
    assert u.max(axis=0).tolist() == [1.0, 1.0]
    assert np.argmax(u[:, 1]) == 1


def test_disagreement_only_where_pseudo_labels_exist() -> None:
    pred = np.full((3, 2), 0.5)
    pseudo = np.array([[0.1, np.nan], [0.5, np.nan], [0.6, np.nan]])
    d = disagreement_scores(pred, pseudo)
    assert np.argmax(d[:, 0]) == 0
    assert np.isnan(d[:, 1]).all()
    with pytest.raises(ParameterError):
        disagreement_scores(pred, pseudo[:2])


def test_mixed_falls_back_to_uncertainty_without_pseudo() -> None:
    sigma = np.array([[0.1, 0.1], [0.3, 0.2]])
    pred = np.full((2, 2), 0.5)
    pseudo = np.array([[0.0, np.nan], [0.5, np.nan]])
    mixed = acquisition_scores("mixed", sigma=sigma, predictions=pred, pseudo=pseudo)
    u = uncertainty_scores(sigma)
    d = disagreement_scores(pred, pseudo)
    assert mixed[:, 1].tolist() == u[:, 1].tolist()
    assert mixed[:, 0] == pytest.approx(0.5 * u[:, 0] + 0.5 * d[:, 0])
    # without pseudo-labels at all mixed is uncertainty
    assert acquisition_scores("mixed", sigma=sigma).tolist() == u.tolist()


def test_strategy_names_and_errors() -> None:
    assert set(STRATEGIES) == {"mixed", "uncertainty", "disagreement", "random"}
    sigma = np.ones((4, 2))
    with pytest.raises(ParameterError, match="unknown strategy"):
        acquisition_scores("entropy", sigma=sigma)
    with pytest.raises(ParameterError, match="needs predictions"):
        acquisition_scores("disagreement", sigma=sigma)
    with pytest.raises(ParameterError, match="weight"):
        acquisition_scores("mixed", sigma=sigma, weight=1.5)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_gives_finite_scores_of_the_right_shape(name: str) -> None:
    rng = np.random.default_rng(0)
    sigma = rng.random((6, 3))
    pred = rng.random((6, 3))
    pseudo = rng.random((6, 3))
    s = acquisition_scores(name, sigma=sigma, predictions=pred, pseudo=pseudo, seed=1)
    assert s.shape == (6, 3)
    assert np.isfinite(s).all()
    assert select_batch(s, k=3)  # every strategy feeds the selector


def test_random_is_deterministic_with_a_seed() -> None:
    sigma = np.ones((20, 2))
    a = acquisition_scores("random", sigma=sigma, seed=3)
    b = acquisition_scores("random", sigma=sigma, seed=3)
    c = acquisition_scores("random", sigma=sigma, seed=4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    pa = [p.index for p in select_batch(a, k=5)]
    assert pa == [p.index for p in select_batch(b, k=5)]


def test_balance_across_datasets() -> None:
    # dataset "big" has all the high scores; round-robin still gives "small" half
    scores = np.array([[0.9], [0.95], [0.99], [0.97], [0.1], [0.2]])
    datasets = ["big", "big", "big", "big", "small", "small"]
    picks = select_batch(scores, k=4, datasets=datasets)
    assert [p.dataset for p in picks] == ["big", "small", "big", "small"]
    assert [p.index for p in picks] == [2, 5, 3, 4]
    # a dataset that runs out drops out of the turn
    more = select_batch(scores, k=6, datasets=datasets)
    assert len(more) == 6
    assert [p.dataset for p in more][-2:] == ["big", "big"]


def test_balance_across_dimensions() -> None:
    # every item is best on dimension a; the discount makes room for b
    scores = np.array([[0.9, 0.1], [0.85, 0.2], [0.8, 0.3], [0.1, 0.7]])
    picks = select_batch(scores, k=2, dims=["a", "b"])
    assert [p.dimension for p in picks] == ["a", "b"]
    assert [p.index for p in picks] == [0, 3]


def test_credit_decides_the_dimension() -> None:
    scores = np.array([[0.9, 0.1]])
    credit = np.array([[0.1, 0.9]])
    (pick,) = select_batch(scores, k=1, dims=["a", "b"], credit=credit)
    assert pick.dimension == "b"
    assert pick.score == pytest.approx(0.9)
    assert "b" in pick.reason


def test_near_duplicates_are_skipped() -> None:
    scores = np.array([[0.9], [0.8], [0.7], [0.6]])
    keys = ["e1|p1", "e1|p1", "e2|p1", None]
    picks = select_batch(scores, k=4, keys=keys, labelled_keys={"e2|p1"})
    assert [p.index for p in picks] == [0, 3]


def test_k_larger_than_the_pool_and_bad_k() -> None:
    assert len(select_batch(np.ones((3, 2)), k=10)) == 3
    assert [p.rank for p in select_batch(np.ones((3, 2)), k=10)] == [1, 2, 3]
    with pytest.raises(ParameterError, match="k must be"):
        select_batch(np.ones((3, 2)), k=0)
    with pytest.raises(ParameterError):
        select_batch(np.ones((3, 2)), k=1, datasets=["a"])


def test_rows_without_any_score_come_last() -> None:
    scores = np.array([[np.nan, np.nan], [0.2, np.nan]])
    assert [p.index for p in select_batch(scores, k=2)] == [1, 0]


def test_near_duplicate_key_and_pseudo_matrix() -> None:
    assert near_duplicate_key({"excerpt": "x", "performer": "p"}) == "x|p"
    assert near_duplicate_key({"excerpt": "x"}) is None
    assert near_duplicate_key(None) is None
    m = pseudo_matrix(
        [{"percepiano19.timing": 0.4, "pace": 0.3}, {}], ["timing", "pace"], taxonomy="percepiano19"
    )
    assert m[0].tolist() == [0.4, 0.3]
    assert np.isnan(m[1]).all()
