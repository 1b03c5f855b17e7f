from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

from pianoeval.audio import load_audio
from pianoeval.encoders import get_encoder
from pianoeval.encoders.symbolic import SymbolicEncoder, symbolic_columns
from pianoeval.errors import NotRatableError, ParameterError
from pianoeval.examples import example_audio_path, example_midi_path
from pianoeval.symbolic.midi import load_midi
from pianoeval.symbolic.rater_inputs import rater_features
from pianoeval.symbolic.transcribe import get_backend, output_to_midi_bytes


def test_midi_features_in_a_fixed_order() -> None:
    enc = get_encoder("symbolic")
    assert enc.columns == symbolic_columns()
    assert not any(c.startswith(("score.", "delta.")) for c in enc.columns)
    feats = rater_features(example_midi_path())
    x = enc.embed_midi(load_midi(example_midi_path()))
    np.testing.assert_allclose(x, [feats[c] for c in enc.columns], rtol=1e-6)
    assert enc.settings()["columns"] == enc.columns
    assert "pianoeval-features" in enc.version


def test_unknown_backend() -> None:
    with pytest.raises(ParameterError, match="transcription backend"):
        SymbolicEncoder(backend="nope")


@pytest.mark.backend
def test_audio_goes_through_transcription_only() -> None:
    backend = get_backend("basic_pitch")
    if not backend.is_available():
        pytest.skip("basic_pitch is not installed")
    enc = SymbolicEncoder(backend="basic_pitch")
    y, sr = load_audio(example_audio_path(), sr=None, t0=0.0, t1=6.0)
    x = enc.embed(y, sr)
    # the same vector as the features of that backend's transcription of the same audio
    output = backend.transcribe_array(y, sr)
    fd, tmp = tempfile.mkstemp(suffix=".mid")
    with os.fdopen(fd, "wb") as fh:
        fh.write(output_to_midi_bytes(output))
    try:
        np.testing.assert_allclose(x, enc.embed_midi(tmp), rtol=1e-6)
    finally:
        os.unlink(tmp)
    # and not the true MIDI's
    assert not np.allclose(x, enc.embed_midi(example_midi_path()), rtol=1e-3)
    with pytest.raises(NotRatableError, match="no notes"):
        enc.embed(np.zeros(sr * 2, dtype=np.float32), sr)
