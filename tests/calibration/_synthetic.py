"""Synthetic heteroscedastic ratings: a shrunk rater and a spread that tracks the noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Ratings:
    truth: np.ndarray  # f(x): what a perfect rater would say
    noise_sd: np.ndarray  # g(x): true label noise per item
    ref: np.ndarray  # labels
    est: np.ndarray  # the rater's (shrunk) out-of-fold predictions
    sigma: np.ndarray  # the rater's spread, correlated with noise_sd
    groups: np.ndarray


def make_ratings(rng: np.random.Generator, n: int, n_dims: int = 3) -> Ratings:
    x = rng.uniform(0.0, 1.0, size=(n, n_dims))
    truth = 0.3 + 0.5 * x
    noise_sd = 0.02 + 0.1 * x
    ref = truth + noise_sd * rng.normal(size=(n, n_dims))
    # shrunk towards 0.55 by half, as regressors' out-of-fold predictions are
    est = 0.55 + 0.5 * (truth - 0.55) + 0.01 * rng.normal(size=(n, n_dims))
    sigma = noise_sd * np.exp(0.2 * rng.normal(size=(n, n_dims)))
    groups = np.repeat(np.arange(n // 2), 2)  # pairs of items share a group
    return Ratings(truth, noise_sd, ref, est, sigma, groups)


def halves(r: Ratings) -> tuple[slice, slice]:
    n = len(r.ref) // 2
    return slice(0, n), slice(n, None)
