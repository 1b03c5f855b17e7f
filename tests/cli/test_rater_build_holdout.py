"""``pianoeval rater build --holdout``: bad splits refused; never written over the shipped
rater."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.cli._util import flat, snapshot
from typer.testing import CliRunner

from pianoeval.cli import app
from pianoeval.cli.rater import holdout_out_dir
from pianoeval.rater import DEFAULT_DIR

runner = CliRunner()


def test_unknown_holdout_split_exits_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["rater", "build", "--holdout", "composer", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "composer" in flat(res.output)
    assert not any(tmp_path.iterdir())


def test_holdout_build_refuses_the_shipped_folder() -> None:
    before = snapshot(DEFAULT_DIR)
    res = runner.invoke(
        app, ["rater", "build", "--holdout", "performer", "--out", str(DEFAULT_DIR)]
    )
    assert res.exit_code == 2
    assert "must not replace the shipped rater" in flat(res.output)
    assert snapshot(DEFAULT_DIR) == before


def test_default_folders() -> None:
    assert holdout_out_dir(None, None) == DEFAULT_DIR
    assert holdout_out_dir(None, "performer") == Path("rater-holdout-performer")
    assert holdout_out_dir(Path("elsewhere"), "excerpt") == Path("elsewhere")


@pytest.mark.data
def test_holdout_build_without_out_goes_to_its_own_folder(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI passes the split and a non-shipped folder to train_default_rater (whose real
    held-out training is tested in tests/rater/test_rater_holdout.py)."""
    import pianoeval.train

    calls: list[tuple[Path, Path, Any]] = []

    class Trained:
        def __init__(self) -> None:
            self.dims = ["d"] * 19
            self.metadata = {"training_data": {"held_out": "performer split test (193 segments)"}}

    def record(root: Path, out: Path, *, holdout: str | None = None) -> Trained:
        calls.append((Path(root), Path(out), holdout))
        return Trained()

    monkeypatch.setattr(pianoeval.train, "train_default_rater", record)
    monkeypatch.chdir(tmp_path)
    before = snapshot(DEFAULT_DIR)
    res = runner.invoke(
        app, ["rater", "build", "--holdout", "performer", "--data-root", str(data_root)]
    )
    assert res.exit_code == 0, res.output
    assert [(c[1], c[2]) for c in calls] == [(Path("rater-holdout-performer"), "performer")]
    assert "held out: performer split test (193 segments)" in res.output
    assert snapshot(DEFAULT_DIR) == before
