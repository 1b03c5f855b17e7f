"""Fixtures of the calibration tests (the data is made in :mod:`tests.calibration._synthetic`)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.calibration._synthetic import Ratings, make_ratings


@pytest.fixture
def ratings() -> Ratings:
    return make_ratings(np.random.default_rng(20261203), 1200)
