from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from tests.encoders._signals import piano_like

from pianoeval.audio import resample
from pianoeval.encoders import (
    ENCODERS,
    TRAINABLE_ENCODERS,
    FrozenEncoder,
    get_encoder,
    validate_embedding,
)
from pianoeval.errors import ParameterError, SchemaError

# Encoders that build without options or an external checkpoint here.
BUILDABLE = ["mel_stats", "symbolic"]


def test_registry_names_the_contract_encoders() -> None:
    assert {"mel_cnn", "transkun", "mert", "muq", "symbolic"} <= set(ENCODERS.names())
    assert {"mel_cnn"} == TRAINABLE_ENCODERS


@pytest.mark.parametrize("name", ENCODERS.names())
def test_every_entry_follows_the_contract(name: str) -> None:
    if name in TRAINABLE_ENCODERS:
        with pytest.raises(ParameterError, match="trainable"):
            get_encoder(name)
        return
    if name in ("mert", "muq"):  # need a checkpoint folder: tests/encoders/test_mert.py, _muq
        with pytest.raises((ParameterError, SchemaError, ImportError, OSError)):
            get_encoder(name)
        return
    if name == "transkun" and importlib.util.find_spec("pianoeval.encoders.transkun") is None:
        pytest.skip("pianoeval.encoders.transkun is written in another part of issue 17")
    enc = get_encoder(name)
    assert isinstance(enc, FrozenEncoder)
    assert enc.name == name
    assert isinstance(enc.dim, int)
    assert enc.dim > 0
    assert isinstance(enc.version, str)
    assert enc.version
    assert enc.sr is None or (isinstance(enc.sr, int) and enc.sr > 0)
    json.dumps(enc.describe())  # the record an embeddings file keeps


def test_unknown_encoder_and_bad_options() -> None:
    with pytest.raises(ParameterError, match="known"):
        get_encoder("wav2vec")
    with pytest.raises(ParameterError, match="bad options"):
        get_encoder("mel_stats", layers=[1])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros(3, dtype=np.float64), "float32"),
        (np.zeros((1, 4), dtype=np.float32), "shape"),
        (np.array([0, np.nan, 1, 2], dtype=np.float32), "non-finite"),
        ([0.0] * 4, "not a numpy array"),
    ],
)
def test_validate_embedding_rejects(value: object, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        validate_embedding(value, encoder="x", dim=4 if message != "float32" else 3)


class _WrongWidth(FrozenEncoder):
    name = "wrong"
    dim = 4
    sr = None
    version = "1"

    def _embed(self, y: np.ndarray, sr: int) -> np.ndarray:
        return np.zeros(3, dtype=np.float32)


def test_a_broken_encoder_fails_at_the_boundary_naming_itself() -> None:
    with pytest.raises(SchemaError, match="'wrong' returned shape"):
        _WrongWidth().embed(np.zeros(100, dtype=np.float32), 22050)


def test_embed_checks_its_input() -> None:
    enc = get_encoder("mel_stats")
    with pytest.raises(ParameterError, match="mono"):
        enc.embed(np.zeros((2, 100), dtype=np.float32), 22050)
    with pytest.raises(ParameterError, match="sr"):
        enc.embed(np.zeros(100, dtype=np.float32), 0)
    with pytest.raises(ParameterError, match="non-finite"):
        enc.embed(np.array([0.0, np.inf], dtype=np.float32), 22050)


def test_embed_resamples_to_the_encoder_rate(tmp_path: Path) -> None:
    enc = get_encoder("mel_stats")
    y44 = piano_like(44100, 2.0)
    direct = enc.embed(y44, 44100)
    manual = enc.embed(resample(y44, 44100, 22050), 22050)
    np.testing.assert_array_equal(direct, manual)
