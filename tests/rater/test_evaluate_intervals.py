"""Ratings carry a spread, and with a calibrated rater a calibrated value and an interval."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pianoeval.calibration import Calibration
from pianoeval.examples import example_midi_path, example_score_path
from pianoeval.rater import DEFAULT_DIR, Rating, SymbolicRater, evaluate


def _fake_calibration(rater: SymbolicRater, seed: int) -> Calibration:
    """A calibration of the right shape (synthetic rows: only the plumbing is tested)."""
    rng = np.random.default_rng(seed)
    d = len(rater.dims)
    ref = rng.uniform(0.3, 0.8, size=(60, d))
    sigma = rng.uniform(0.005, 0.03, size=(60, d))
    est = 0.55 + 0.6 * (ref - 0.55) + sigma * rng.normal(size=(60, d)) * 3
    return Calibration.fit(est, ref, sigma, dims=rater.dims, method="affine")


@pytest.fixture(scope="module")
def calibrated() -> SymbolicRater:
    rater = SymbolicRater.load(DEFAULT_DIR)  # a private copy: the shared default stays as is
    rater.calibration = _fake_calibration(rater, 0)
    assert rater.no_score is not None
    rater.no_score.calibration = _fake_calibration(rater.no_score, 1)
    return rater


def test_the_shipped_midi_rater_is_calibrated() -> None:
    r = evaluate(example_midi_path(), score=example_score_path())
    for s in r.scores:
        assert s.calibrated
        assert s.interval_level == pytest.approx(0.8)
        assert s.interval_low is not None
        assert s.interval_high is not None
        assert s.interval_low <= s.value <= s.interval_high
        assert s.sigma is not None
        assert s.sigma > 0


def test_uncalibrated_rating_has_a_spread_and_no_interval() -> None:
    rater = SymbolicRater.load(DEFAULT_DIR)
    for part in (rater, rater.no_score):
        assert part is not None
        part.calibration = None
        part.spread_model = None
    r = evaluate(example_midi_path(), score=example_score_path(), rater=rater)
    for s in r.scores:
        assert s.sigma is not None
        assert s.sigma >= 0
        assert s.interval_low is None
        assert s.interval_high is None
        assert s.interval_level is None
        assert not s.calibrated


@pytest.mark.parametrize("with_score", [True, False])
def test_calibrated_rating_has_intervals_around_the_value(
    calibrated: SymbolicRater, with_score: bool
) -> None:
    score = example_score_path() if with_score else None
    r = evaluate(example_midi_path(), score=score, rater=calibrated)
    part = calibrated if with_score else calibrated.no_score
    assert part is not None
    expected = part.predict_calibrated(r.features)
    for j, s in enumerate(r.scores):
        assert s.calibrated
        assert s.interval_level == 0.8
        assert s.interval_low is not None
        assert s.interval_high is not None
        assert s.interval_low <= s.value <= s.interval_high
        assert 1 / 7 - 1e-9 <= s.interval_low < s.interval_high <= 1 + 1e-9
        assert s.value == pytest.approx(float(expected.value[j]), abs=1e-4)
    again = Rating.model_validate_json(r.model_dump_json())
    assert again == r


def test_analyze_table_shows_the_interval(
    calibrated: SymbolicRater, capsys: pytest.CaptureFixture[str]
) -> None:
    from pianoeval.cli.analyze import _print_rating

    r = evaluate(example_midi_path(), score=example_score_path(), rater=calibrated)
    _print_rating(r)
    out = capsys.readouterr().out
    assert "80% interval" in out
    s = r.scores[0]
    assert f"{s.interval_low:.2f}-{s.interval_high:.2f}" in out


def test_analyze_rates_with_a_calibrated_bundle(calibrated: SymbolicRater, tmp_path: Path) -> None:
    """``analyze --rater DIR`` rates with that bundle and prints its intervals."""
    from typer.testing import CliRunner

    from pianoeval.cli import app

    bundle = tmp_path / "rater"
    shutil.copytree(DEFAULT_DIR, bundle)
    calibrated.write_calibration(bundle)
    res = CliRunner().invoke(app, ["analyze", "--example", "--rater", str(bundle)])
    assert res.exit_code == 0, res.output
    assert "interval" in res.output
    bad = CliRunner().invoke(app, ["analyze", "--example", "--rater", str(tmp_path)])
    assert bad.exit_code == 2
