"""audio_table: features of the corpus transcriptions (raw or velocity-standardised) + vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pianoeval.data.audio_corpus import load_condition
from pianoeval.data.audio_table import audio_table
from pianoeval.errors import ParameterError


def test_velocity_modes_change_only_velocity_features(tmp_path: Path) -> None:
    corpus = load_condition("fluidr3_gm").subset(load_condition("fluidr3_gm").ids[:6])
    kw = {"midi_dir": tmp_path / "midi", "cache": tmp_path / "cache", "jobs": 1}
    raw = audio_table(tmp_path, corpus, **kw)  # type: ignore[arg-type]
    z = audio_table(tmp_path, corpus, encoders=(), velocity="z", **kw)  # type: ignore[arg-type]
    assert list(raw.index) == list(z.index) == corpus.ids
    assert [c for c in raw.columns if c.startswith("emb.transkun.")][:1] == ["emb.transkun.000"]
    assert not any(c.startswith("emb.") for c in z.columns)
    np.testing.assert_allclose(z["dynamics.vel_mean"], 64, atol=0.6)
    np.testing.assert_allclose(z["dynamics.vel_std"], 18, atol=0.6)
    assert raw["dynamics.vel_mean"].std() > 1  # the raw levels differ between performances
    for col in ("timing.ioi_median_sec", "pedal.on_frac", "texture.n_notes_log"):
        np.testing.assert_array_equal(z[col], raw[col])
    with pytest.raises(ParameterError, match="velocity must be one of"):
        audio_table(tmp_path, corpus, velocity="loud", **kw)  # type: ignore[arg-type]
