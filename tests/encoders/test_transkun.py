"""transkun as an encoder: one forward pass gives the transcription and the pooled context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from pianoeval.encoders.transkun import (
    ENCODER,
    POOLINGS,
    ContextPooler,
    TranskunEncoder,
    transcribe_and_embed,
    transcribe_and_embed_file,
    transcribe_with_embedding,
)
from pianoeval.errors import ParameterError
from pianoeval.examples import example_audio_path
from pianoeval.symbolic.transcribe.transkun import BACKEND, CONTEXT_DIM, CONTEXT_SYMBOLS

pytestmark = pytest.mark.backend

#: The clip the tests hear: 6 s of the bundled example recording (one 16 s segment).
CLIP_SEC = (2.0, 8.0)


def _needs_transkun() -> None:
    if not BACKEND.is_available():
        pytest.skip(f"transkun not installed: {BACKEND.install_command}")


def _frames_in_audio(n_samples_44k: int, pad_begin_sec: float = 1.0, hop: int = 1024) -> int:
    """Frames centred inside the audio: those transkun_chunks passes to on_context."""
    n_begin = int(np.ceil(pad_begin_sec * 44100))
    return -(-(n_begin + n_samples_44k) // hop) - -(-n_begin // hop)


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, int]:
    """6 s of the example recording, mono float32 at its own rate (22050 Hz)."""
    from pianoeval.audio import load_audio

    _needs_transkun()
    y, sr = load_audio(example_audio_path(), sr=None, t0=CLIP_SEC[0], t1=CLIP_SEC[1])
    return y.astype(np.float32), sr


@pytest.fixture(scope="module")
def one_pass(clip: tuple[np.ndarray, int]) -> dict[str, Any]:
    """One transcription pass with the context recorded block by block and pooled."""
    y, sr = clip
    blocks: list[Any] = []
    pooler = ContextPooler("mean_std")

    def sink(block: Any) -> None:
        blocks.append(block.clone())
        pooler(block)

    output = BACKEND.transcribe_array_with_context(y, sr, sink)
    return {"output": output, "blocks": blocks, "embedding": pooler.result()}


def test_the_embedding_is_the_pooled_context_of_every_audio_frame_once(
    clip: tuple[np.ndarray, int], one_pass: dict[str, Any]
) -> None:
    import torch

    y, sr = clip
    blocks = one_pass["blocks"]
    context = torch.cat(blocks, dim=1)  # [symbols, frames, D]
    n_44k = round(len(y) * 44100 / sr)
    assert context.shape == (len(CONTEXT_SYMBOLS), _frames_in_audio(n_44k), CONTEXT_DIM)
    assert context.dtype == torch.float32

    emb = one_pass["embedding"]
    assert emb.shape == (ENCODER.dim,) == (512,)
    assert emb.dtype == np.float32
    assert np.isfinite(emb).all()
    flat = context.double().reshape(-1, CONTEXT_DIM).numpy()  # time x symbol pooled together
    np.testing.assert_allclose(emb[:CONTEXT_DIM], flat.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(emb[CONTEXT_DIM:], flat.std(axis=0), rtol=1e-4, atol=1e-5)
    assert emb[CONTEXT_DIM:].min() > 0  # the context varies over time and pitch

    per_pitch = ContextPooler("pitch_mean")
    for block in blocks:
        per_pitch(block)
    pm = per_pitch.result()
    assert pm.shape == (POOLINGS["pitch_mean"],) == (len(CONTEXT_SYMBOLS) * CONTEXT_DIM,)
    expected = context.double().mean(dim=1).reshape(-1).numpy()
    np.testing.assert_allclose(pm, expected, rtol=1e-5, atol=1e-6)


def test_one_pass_gives_the_notes_of_transcribe(
    clip: tuple[np.ndarray, int],
    one_pass: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pianoeval.symbolic.transcribe import transcribe

    y, sr = clip
    path = tmp_path / "clip.wav"
    sf.write(path, y, sr, subtype="FLOAT")  # the same samples back
    reference, cached_emb = transcribe_with_embedding(
        path, cache_dir=tmp_path / "midi", embedding_cache=tmp_path / "emb"
    )
    assert not reference.cached
    output, emb = transcribe_and_embed_file(path)

    ref = reference.notes
    assert len(ref) > 10
    np.testing.assert_array_equal(output.notes["pitch"], ref["pitch"])
    np.testing.assert_array_equal(output.notes["velocity"], ref["velocity"])
    # the MIDI file stores times in ticks: within a millisecond
    np.testing.assert_allclose(output.notes["onset_sec"], ref["onset_sec"], atol=2e-3)
    np.testing.assert_allclose(output.notes["offset_sec"], ref["offset_sec"], atol=2e-3)
    # and the array path: exactly the backend's transcription, the same embedding
    for field in ("notes", "sustain", "soft"):
        np.testing.assert_array_equal(getattr(output, field), getattr(one_pass["output"], field))
    np.testing.assert_array_equal(emb, one_pass["embedding"])
    # the encoder's embed_file (what embed_segments caches) reads the file the same way
    np.testing.assert_array_equal(ENCODER.embed_file(path), emb)
    np.testing.assert_array_equal(cached_emb, emb)

    # both are cached now: no model runs, the same transcription and vector come back
    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model ran although both caches hold the file")

    monkeypatch.setattr(type(BACKEND), "_run", boom)
    again, again_emb = transcribe_with_embedding(
        path, cache_dir=tmp_path / "midi", embedding_cache=tmp_path / "emb"
    )
    assert again.cached
    np.testing.assert_array_equal(again.notes, reference.notes)
    np.testing.assert_array_equal(again_emb, emb)
    assert transcribe(path, backend="transkun", cache_dir=tmp_path / "midi").cached


def test_embed_is_deterministic_and_gain_invariant_and_tells_clips_apart(
    clip: tuple[np.ndarray, int], one_pass: dict[str, Any]
) -> None:
    from pianoeval.audio import load_audio

    y, sr = clip
    ref = one_pass["embedding"]
    again = ENCODER.embed(y, sr)  # mono, resampled to 44.1 kHz inside
    np.testing.assert_allclose(again, ref, rtol=1e-6, atol=1e-6)

    quiet = ENCODER.embed(y * np.float32(10 ** (-12 / 20)), sr)
    gain_change = np.linalg.norm(quiet - ref) / np.linalg.norm(ref)
    assert gain_change < 1e-3, f"-12 dB moved the embedding by {gain_change:.2e} (relative)"

    other, _ = load_audio(example_audio_path(), sr=None, t0=20.0, t1=26.0)
    different = np.linalg.norm(ENCODER.embed(other, sr) - ref) / np.linalg.norm(ref)
    assert different > 0.02
    assert different > 100 * gain_change


def test_frames_are_counted_once_across_segments(
    clip: tuple[np.ndarray, int], one_pass: dict[str, Any]
) -> None:
    import torch

    y, sr = clip
    shapes: list[tuple[int, ...]] = []
    first: list[Any] = []

    def sink(block: Any) -> None:
        shapes.append(tuple(block.shape))
        if not first:
            first.append(block.clone())

    # 4 s hops over the 6 s clip: two 16 s segments overlapping by 12 s
    BACKEND.transcribe_array_with_context(y, sr, sink, hop_sec=4.0, segments="audio")
    n_44k = round(len(y) * 44100 / sr)
    assert len(shapes) == 2
    assert sum(s[1] for s in shapes) == _frames_in_audio(n_44k)
    # the first segment gives the frames before the second one starts (4 s = 173 frames,
    # less the 44 frames centred in the 1 s of leading zeros); the same input as the
    # single-segment run, so the same context
    assert shapes[0][1] == 173 - 44
    single = torch.cat(one_pass["blocks"], dim=1)
    torch.testing.assert_close(first[0], single[:, : shapes[0][1]])


def test_encoder_contract_and_settings() -> None:
    assert ENCODER.name == "transkun"
    assert ENCODER.sr == BACKEND.sr == 44100
    assert ENCODER.dim == 512
    assert "pool=mean_std" in ENCODER.version
    assert "transkun" in ENCODER.version
    assert ENCODER.settings()["precision"] == "bf16"
    per_pitch = TranskunEncoder(pooling="pitch_mean", precision="fp32")
    assert per_pitch.dim == 90 * 256
    assert per_pitch.version != ENCODER.version
    assert per_pitch.settings()["precision"] == "fp32"
    with pytest.raises(ParameterError, match="pooling"):
        TranskunEncoder(pooling="max")
    with pytest.raises(ParameterError, match="precision"):
        TranskunEncoder(precision="fp8")
    with pytest.raises(ParameterError, match="pooling"):
        transcribe_and_embed(np.zeros(100, dtype=np.float32), 44100, pooling="max")


def test_audio_shorter_than_a_frame_gives_zeros_not_nan() -> None:
    _needs_transkun()
    pooler = ContextPooler()
    assert pooler.n_frames == 0
    np.testing.assert_array_equal(pooler.result(), np.zeros(512, dtype=np.float32))
