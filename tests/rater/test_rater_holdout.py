"""Held-out builds of the MIDI rater: no test segment of the split is trained on, and the
bundle says what it held out."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pianoeval.data.splits import load_split
from pianoeval.errors import ParameterError
from pianoeval.model.symbolic import MODEL_ID, SymbolicRater
from pianoeval.rater import load_rater
from pianoeval.train import train_default_rater
from pianoeval.train.symbolic import holdout_text, ids_sha256

TINY: dict[str, Any] = {"n_rounds": 5, "extra_trees_rounds": 0, "seeds": (0,)}


def _spy_fit(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record the row ids of every real SymbolicRater.fit call (the fit itself runs)."""
    seen: list[list[str]] = []
    real_fit = SymbolicRater.fit

    def fit(self: SymbolicRater, x: pd.DataFrame, y: pd.DataFrame, **kw: Any) -> SymbolicRater:
        seen.append([str(i) for i in x.index])
        assert list(x.index) == list(y.index)
        return real_fit(self, x, y, **kw)

    monkeypatch.setattr(SymbolicRater, "fit", fit)
    return seen


def test_ids_sha256_is_order_free_and_matches_the_recipe() -> None:
    ids = load_split("performer").test
    expected = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
    assert ids_sha256(ids) == ids_sha256(reversed(list(ids))) == expected
    assert holdout_text("performer", 193) == "performer split test (193 segments)"


def test_unknown_holdout_is_refused_before_any_feature_work(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="holdout"):
        train_default_rater(tmp_path / "no-data", tmp_path / "out", holdout="composer")
    assert not (tmp_path / "out").exists()


@pytest.mark.data
def test_holdout_build_never_trains_on_the_split_test(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    split = "performer"  # one real end-to-end build (the excerpt split takes the same path)
    seen = _spy_fit(monkeypatch)
    held = sorted(load_split(split).test)
    out = tmp_path / f"rater-holdout-{split}"
    rater = train_default_rater(data_root, out, holdout=split, jobs=1, progress=False, **TINY)

    assert len(seen) == 2  # the with-score model and the no-score fallback
    for ids in seen:
        assert ids, "trained on nothing"
        assert not set(ids) & set(held)
        assert len(ids) == 1189 - len(held)  # every other labelled segment

    meta = json.loads((out / "rater.json").read_text())
    assert meta["model_id"] == f"{MODEL_ID}-holdout-{split}"
    training = meta["training_data"]
    assert training["n_segments"] == len(seen[0])
    assert training["held_out"] == f"{split} split test ({len(held)} segments)"
    assert training["holdout"] == {
        "split": split,
        "n_segments": len(held),
        "ids_sha256": ids_sha256(held),
        "training_ids_sha256": ids_sha256(seen[0]),
    }
    assert training["held_out"] == "performer split test (193 segments)"

    fallback = json.loads((out / "no_score" / "rater.json").read_text())
    assert fallback["model_id"] == f"{MODEL_ID}-holdout-{split}-no-score"
    assert fallback["training_data"]["holdout"]["ids_sha256"] == ids_sha256(held)
    assert fallback["training_data"]["holdout"]["training_ids_sha256"] == ids_sha256(seen[1])
    assert fallback["training_data"]["held_out"] == training["held_out"]

    loaded = load_rater(out)
    assert isinstance(loaded, SymbolicRater)
    assert loaded.metadata["training_data"]["holdout"]["split"] == split
    assert loaded.metadata["model_id"] == f"{MODEL_ID}-holdout-{split}"  # what ratings name
    assert rater.dims == loaded.dims


@pytest.mark.data
def test_build_without_holdout_is_unchanged(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _spy_fit(monkeypatch)
    out = tmp_path / "full"
    train_default_rater(data_root, out, jobs=1, progress=False, **TINY)
    assert [len(ids) for ids in seen] == [1189, 1189]
    meta = json.loads((out / "rater.json").read_text())
    assert meta["model_id"] == MODEL_ID
    assert set(meta["training_data"]) == {"dataset", "n_segments", "labels", "scores"}
    assert meta["training_data"]["n_segments"] == 1189
    fallback = json.loads((out / "no_score" / "rater.json").read_text())
    assert fallback["model_id"] == f"{MODEL_ID}-no-score"
    assert "holdout" not in fallback["training_data"]
