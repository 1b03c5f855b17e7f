"""train_audio_rater on the committed audio corpus: rows per renderer, holdout, model card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pianoeval.data.audio_corpus import CORPUS_DIR, load_condition
from pianoeval.data.splits import load_split
from pianoeval.errors import ParameterError
from pianoeval.model.audio import AudioRater
from pianoeval.train.audio import holdout_ids, train_audio_rater


def test_holdout_ids() -> None:
    assert holdout_ids(None) == []
    assert holdout_ids("performer") == sorted(load_split("performer").test)
    with pytest.raises(ParameterError, match="holdout must be"):
        holdout_ids("work")


def test_train_audio_rater_holdout(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pack = CORPUS_DIR / "fluidr3_gm.npz"
    assert pack.is_file(), f"{pack} is committed with the project"
    seen: list[list[str]] = []
    fit = AudioRater.fit

    def spy(self: AudioRater, x, y, **kw):  # type: ignore[no-untyped-def]
        seen.append(list(x.index))
        if kw.get("x_no_score") is not None:
            seen.append(list(kw["x_no_score"].index))
        return fit(self, x, y, **kw)

    monkeypatch.setattr(AudioRater, "fit", spy)
    held = set(load_split("performer").test)
    # a subset keeps the test quick: 40 held-out segments that must be dropped, 80 others
    ids = sorted(held)[:40] + [i for i in load_condition("fluidr3_gm").ids if i not in held][:80]
    rater = train_audio_rater(
        data_root,
        tmp_path / "audio",
        conditions=["fluidr3_gm"],
        holdout="performer",
        ids=ids,
        progress=False,
        projections={"transkun": 4, "mel_stats": 2},
        n_rounds=5,
        extra_trees_rounds=0,
    )
    assert len(seen) == 2
    for rows in seen:
        assert not held & set(rows)
        assert len(rows) == 80
    record = json.loads((tmp_path / "audio" / "audio_rater.json").read_text())
    assert record["model_id"] == "pianoeval-audio-v1-holdout-performer"
    assert record["training_data"]["holdout"]["n_segments"] == 193
    assert record["training_data"]["conditions"] == ["fluidr3_gm"]
    assert record["velocity"] == record["training_data"]["velocity"] == "z"
    assert record["licences"]["commercial_use"] is True
    back = AudioRater.load(tmp_path / "audio")
    assert back.dims == rater.dims
    assert len(back.dims) == 19
