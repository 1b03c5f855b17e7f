"""MertEncoder against tiny randomly initialised HubertModels saved in the test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.encoders._signals import piano_like

from pianoeval.encoders import get_encoder
from pianoeval.encoders.mert import MertEncoder
from pianoeval.errors import FileProblemError, ParameterError

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

SR = 16000  # a small rate keeps the test fast; the folder's preprocessor config says it
N_LAYERS = 4
HIDDEN = 32


def tiny_config(**overrides: object) -> object:
    kwargs = {
        "hidden_size": HIDDEN,
        "num_hidden_layers": N_LAYERS,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "conv_dim": (16, 16, 16),
        "conv_stride": (5, 4, 4),
        "conv_kernel": (10, 8, 4),
        "num_conv_pos_embeddings": 16,
        "num_conv_pos_embedding_groups": 2,
        **overrides,
    }
    return transformers.HubertConfig(**kwargs)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_mert")
    torch.manual_seed(0)
    transformers.HubertModel(tiny_config()).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(
        json.dumps({"sampling_rate": SR, "do_normalize": True}), encoding="utf-8"
    )
    return folder


def reference_frames(
    folder: Path, y: np.ndarray, layers: tuple[int, ...], *, normalize: bool = True
) -> np.ndarray:
    """What MERT's own recipe gives: normalise, one forward pass, average the layers."""
    model = transformers.HubertModel.from_pretrained(folder).eval()
    x = (y - y.mean()) / np.sqrt(y.var() + 1e-7) if normalize else y
    with torch.inference_mode():
        hs = model(torch.from_numpy(x.astype(np.float32))[None], output_hidden_states=True)
    return torch.stack([hs.hidden_states[i][0] for i in layers]).mean(0).numpy()


def test_shapes_rate_and_single_pass_equals_the_reference(checkpoint: Path) -> None:
    enc = MertEncoder(checkpoint, layers=(1, 2, 3))
    assert (enc.sr, enc.dim, enc.hidden_size) == (SR, 2 * HIDDEN, HIDDEN)
    y = piano_like(SR, 1.5)
    x = enc.embed(y, SR)
    assert x.shape == (2 * HIDDEN,)
    assert x.dtype == np.float32
    ref = reference_frames(checkpoint, y, (1, 2, 3))
    np.testing.assert_allclose(x[:HIDDEN], ref.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(x[HIDDEN:], ref.std(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(x, enc.embed(y, SR))  # deterministic
    mean_only = MertEncoder(checkpoint, layers=(1, 2, 3), pooling="mean")
    assert mean_only.dim == HIDDEN
    np.testing.assert_allclose(mean_only.embed(y, SR), x[:HIDDEN], rtol=1e-5, atol=1e-6)


def test_layer_selection_changes_the_output(checkpoint: Path) -> None:
    y = piano_like(SR, 1.0)
    a = MertEncoder(checkpoint, layers=(1,)).embed(y, SR)
    b = MertEncoder(checkpoint, layers=(4,)).embed(y, SR)
    assert not np.allclose(a, b, atol=1e-3)


def test_chunking(checkpoint: Path) -> None:
    y = piano_like(SR, 2.5)
    whole = MertEncoder(checkpoint, layers=(2, 3), chunk_sec=10.0)
    assert whole.chunks(y.size) == [(0, y.size)]
    chunked = MertEncoder(checkpoint, layers=(2, 3), chunk_sec=1.0)
    spans = chunked.chunks(y.size)
    assert spans == [(0, SR), (SR, 2 * SR), (2 * SR, y.size)]
    # chunked frames are the frames of each chunk run on its own, joined
    frames = chunked.frames(y)
    parts = [reference_frames(chunked.path, y[a:b], (2, 3)) for a, b in spans]
    np.testing.assert_allclose(frames, np.concatenate(parts), rtol=1e-4, atol=1e-5)
    # a clip shorter than a chunk: the chunked encoder is the single pass
    short = y[: SR // 2]
    np.testing.assert_array_equal(chunked.embed(short, SR), whole.embed(short, SR))
    # and on a longer clip the pooled vectors stay close (same music, context cut)
    a, b = whole.embed(y, SR), chunked.embed(y, SR)
    assert np.corrcoef(a, b)[0, 1] > 0.9
    # a tail shorter than the receptive field joins the chunk before it
    assert chunked.chunks(SR + 100) == [(0, SR + 100)]


def test_resampling_and_normalisation(checkpoint: Path) -> None:
    enc = MertEncoder(checkpoint, layers=(2,))
    y = piano_like(SR, 1.0)
    # the checkpoint standardises its input: gain does not change the embedding
    np.testing.assert_allclose(enc.embed(2 * y, SR), enc.embed(y, SR), rtol=1e-4, atol=1e-5)
    raw = MertEncoder(checkpoint, layers=(2,), normalize=False)
    ref = reference_frames(checkpoint, 3 * y + 0.1, (2,), normalize=False)
    np.testing.assert_allclose(raw.frames(3 * y + 0.1), ref, rtol=1e-4, atol=1e-5)
    assert not np.allclose(raw.frames(3 * y + 0.1), enc.frames(3 * y + 0.1), atol=1e-4)
    y48 = piano_like(48000, 1.0)
    from pianoeval.audio import resample

    np.testing.assert_array_equal(enc.embed(y48, 48000), enc.embed(resample(y48, 48000, SR), SR))


def test_mert_model_config_loads_as_hubert(checkpoint: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mert_layout"
    shutil.copytree(checkpoint, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(
        model_type="mert_model",
        architectures=["MERTModel"],
        auto_map={"AutoModel": "modeling_MERT.MERTModel"},
        feature_extractor_cqt=False,
        deepnorm=False,
        attention_relax=-1.0,
        conv_pos_batch_norm=False,
    )
    (folder / "config.json").write_text(json.dumps(config))
    y = piano_like(SR, 1.0)
    a = MertEncoder(folder, layers=(1, 2)).embed(y, SR)
    np.testing.assert_allclose(a, MertEncoder(checkpoint, layers=(1, 2)).embed(y, SR), atol=1e-6)
    config["deepnorm"] = True
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(FileProblemError, match="deepnorm"):
        MertEncoder(folder, layers=(1,))


def test_bad_folders_and_options(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(FileProblemError, match="no such checkpoint folder"):
        MertEncoder(tmp_path / "absent")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileProblemError, match=r"no config\.json"):
        MertEncoder(empty)
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    shutil.copy(checkpoint / "config.json", no_weights)
    (no_weights / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(FileProblemError, match=r"no \.safetensors.*pytorch_model\.bin"):
        MertEncoder(no_weights, layers=(1,))
    wrong_type = tmp_path / "wrong_type"
    shutil.copytree(checkpoint, wrong_type)
    cfg = json.loads((wrong_type / "config.json").read_text())
    (wrong_type / "config.json").write_text(json.dumps({**cfg, "model_type": "bert"}))
    with pytest.raises(FileProblemError, match="model_type 'bert'"):
        MertEncoder(wrong_type, layers=(1,))
    deeper = tmp_path / "deeper"  # the config promises more layers than the weights hold
    shutil.copytree(checkpoint, deeper)
    (deeper / "config.json").write_text(json.dumps({**cfg, "num_hidden_layers": N_LAYERS + 1}))
    with pytest.raises(FileProblemError, match="missing"):
        MertEncoder(deeper, layers=(1,))
    with pytest.raises(ParameterError, match=r"layer 7 is out of range.*0\.\.4"):
        MertEncoder(checkpoint)  # MERT's default 7-12 on a 4-layer model
    with pytest.raises(ParameterError, match="pooling"):
        MertEncoder(checkpoint, layers=(1,), pooling="attention")
    with pytest.raises(ParameterError, match="chunk_sec"):
        MertEncoder(checkpoint, layers=(1,), chunk_sec=0)


def test_through_the_registry(checkpoint: Path) -> None:
    enc = get_encoder("mert", path=checkpoint, layers=[1, 2])
    assert isinstance(enc, MertEncoder)
    settings = enc.settings()
    assert settings["layers"] == [1, 2]
    assert len(settings["weights_sha256"]) == 64
