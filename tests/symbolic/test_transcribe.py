"""Audio to MIDI: the torchaudio stand-in, the backend contract, install hints, the cache."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pianoeval.errors import BackendUnavailableError, ParameterError, SchemaError
from pianoeval.symbolic.midi import NOTE_DTYPE, PEDAL_DTYPE
from pianoeval.symbolic.transcribe import (
    BACKENDS,
    Transcription,
    available_backends,
    get_backend,
    transcribe,
)
from pianoeval.symbolic.transcribe.base import (
    BackendOutput,
    clip_to_duration,
    empty_output,
    validate_output,
)

# (pitch, velocity, onset_sec, offset_sec): a few notes, a chord and a repeated key.
CLIP_NOTES = [
    (60, 80, 0.50, 0.95),
    (64, 80, 1.00, 1.45),
    (67, 90, 1.50, 1.95),
    (48, 70, 2.00, 3.00),
    (55, 70, 2.00, 3.00),
    (72, 100, 2.00, 2.60),
    (72, 100, 2.75, 3.20),
]
#: Onset F1 (50 ms) a backend must reach on the clip; transkun is the accurate one.
MIN_ONSET_F1 = {"transkun": 0.8, "basic_pitch": 0.5}


# --- the torchaudio stand-in ----------------------------------------------------------


def _htk_fbanks(n_freqs: int, f_min: float, f_max: float, n_mels: int, sr: int) -> np.ndarray:
    """The HTK triangular filter bank without normalisation, written out in float64."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    freqs = np.linspace(0.0, sr // 2, n_freqs)
    edges = hz(np.linspace(mel(f_min), mel(f_max), n_mels + 2))
    fb = np.zeros((n_freqs, n_mels))
    for m in range(n_mels):
        lo, top, hi = edges[m], edges[m + 1], edges[m + 2]
        rising = (freqs - lo) / (top - lo)
        falling = (hi - freqs) / (hi - top)
        fb[:, m] = np.maximum(0.0, np.minimum(rising, falling))
    return fb


@pytest.mark.parametrize(
    ("n_freqs", "f_min", "f_max", "n_mels", "sr"),
    [
        (2049, 30.0, 8000.0, 229, 44100),  # transkun's bank
        (201, 0.0, 8000.0, 40, 16000),
        (513, 20.0, 11025.0, 128, 22050),
    ],
)
def test_melscale_fbanks_equals_the_htk_formula(
    n_freqs: int, f_min: float, f_max: float, n_mels: int, sr: int
) -> None:
    pytest.importorskip("torch")
    from pianoeval.symbolic.transcribe._torchaudio_compat import melscale_fbanks

    fb = melscale_fbanks(n_freqs, f_min, f_max, n_mels, sr)
    assert tuple(fb.shape) == (n_freqs, n_mels)
    assert str(fb.dtype) == "torch.float32"
    # float32 (as torchaudio computes it) against float64: the band edges differ by float32
    # round-off, a few 1e-5 on weights in [0, 1].
    expected = _htk_fbanks(n_freqs, f_min, f_max, n_mels, sr)
    np.testing.assert_allclose(fb.numpy(), expected, atol=1e-4)


def test_melscale_fbanks_equals_librosa_htk_without_norm() -> None:
    pytest.importorskip("torch")
    import librosa

    from pianoeval.symbolic.transcribe._torchaudio_compat import melscale_fbanks

    fb = melscale_fbanks(2049, 30.0, 8000.0, 229, 44100).numpy()
    ref = librosa.filters.mel(
        sr=44100, n_fft=4096, n_mels=229, fmin=30.0, fmax=8000.0, htk=True, norm=None
    )
    np.testing.assert_allclose(fb, ref.T, atol=1e-4)


def test_melscale_fbanks_refuses_what_it_does_not_provide() -> None:
    pytest.importorskip("torch")
    from pianoeval.symbolic.transcribe._torchaudio_compat import melscale_fbanks

    with pytest.raises(NotImplementedError, match="norm"):
        melscale_fbanks(201, 0.0, 8000.0, 40, 16000, norm="slaney")
    with pytest.raises(NotImplementedError, match="mel_scale"):
        melscale_fbanks(201, 0.0, 8000.0, 40, 16000, mel_scale="slaney")


def test_shim_stands_in_only_while_torchaudio_cannot_be_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pianoeval.symbolic.transcribe import _torchaudio_compat as compat

    monkeypatch.setitem(sys.modules, "torchaudio", None)  # makes `import torchaudio` fail
    with compat.torchaudio_shim() as installed:
        assert installed
        torchaudio: Any = importlib.import_module("torchaudio")
        assert torchaudio.__pianoeval_compat__
        assert torchaudio.functional.melscale_fbanks is compat.melscale_fbanks
        assert not hasattr(torchaudio, "__version__")
    assert "torchaudio.functional" not in sys.modules
    assert "torchaudio" not in sys.modules  # removed again, not left for other libraries


def test_shim_leaves_a_working_torchaudio_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from pianoeval.symbolic.transcribe import _torchaudio_compat as compat

    real = types.ModuleType("torchaudio")  # stands for an importable torchaudio
    monkeypatch.setitem(sys.modules, "torchaudio", real)
    with compat.torchaudio_shim() as installed:
        assert not installed
        assert sys.modules["torchaudio"] is real


# --- the backend contract ---------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 3.7 s piano clip (3.2 s of notes, 0.5 s of release) rendered from MIDI made here."""
    pytest.importorskip("fluidsynth")
    import pretty_midi
    import soundfile as sf

    from pianoeval.render import render_midi

    folder = tmp_path_factory.mktemp("clip")
    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    for pitch, velocity, onset, offset in CLIP_NOTES:
        piano.notes.append(pretty_midi.Note(velocity, pitch, onset, offset))
    pm.instruments.append(piano)
    midi = folder / "clip.mid"
    pm.write(str(midi))
    y, sr = render_midi(midi, tail_sec=0.5)
    audio = folder / "clip.flac"
    sf.write(audio, y, sr)
    return midi, audio


def _onset_f1(ref: np.ndarray, est: np.ndarray) -> float:
    import mir_eval

    if len(est) == 0:
        return 0.0

    def parts(notes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        intervals = np.stack([notes["onset_sec"], notes["offset_sec"]], axis=1)
        return intervals, 440.0 * 2.0 ** ((notes["pitch"].astype(float) - 69.0) / 12.0)

    (ri, rp), (ei, ep) = parts(ref), parts(est)
    return float(
        mir_eval.transcription.precision_recall_f1_overlap(
            ri, rp, ei, ep, onset_tolerance=0.05, offset_ratio=None
        )[2]
    )


@pytest.mark.backend
@pytest.mark.parametrize("name", BACKENDS.names())
def test_every_backend_follows_the_contract(
    name: str, clip: tuple[Path, Path], tmp_path: Path
) -> None:
    from pianoeval.symbolic.midi import load_midi

    backend = get_backend(name)
    if not backend.is_available():
        pytest.skip(f"{name} not installed: {backend.install_command}")
    midi, audio = clip
    result = transcribe(audio, backend=name, cache_dir=tmp_path, out_path=tmp_path / "out.mid")

    assert isinstance(result, Transcription)
    assert result.backend == name
    assert not result.cached
    assert result.settings == backend.resolve_settings()
    assert Path(result.midi_path) == tmp_path / "out.mid"
    assert Path(result.midi_path).is_file()
    notes = result.notes
    assert notes.dtype == NOTE_DTYPE
    assert result.sustain.dtype == PEDAL_DTYPE
    assert (notes["offset_sec"] > notes["onset_sec"]).all()
    assert notes["onset_sec"].min() >= 0
    assert notes["offset_sec"].max() <= result.audio_sec + 1
    assert ((notes["velocity"] >= 1) & (notes["velocity"] <= 127)).all()
    assert np.all(np.diff(notes["onset_sec"]) >= 0)
    if not backend.gives_pedal:
        assert len(result.sustain) == 0
    assert result.elapsed_sec > 0
    assert result.audio_sec == pytest.approx(3.7, abs=0.05)
    f1 = _onset_f1(load_midi(midi).notes, notes)
    assert f1 > MIN_ONSET_F1[name], f"{name}: onset F1 {f1:.3f} on the test clip"


@pytest.mark.backend
def test_cache_hit_returns_the_stored_midi_without_running_the_model(
    clip: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = get_backend("basic_pitch")
    if not backend.is_available():
        pytest.skip(backend.install_command)
    _, audio = clip
    first = transcribe(audio, backend="basic_pitch", cache_dir=tmp_path)

    def boom(*args: Any, **kwargs: Any) -> BackendOutput:
        raise AssertionError("the model ran on a cache hit")

    monkeypatch.setattr(type(backend), "_run", boom)
    renamed = tmp_path / "renamed.flac"  # content, not name, is the key
    renamed.write_bytes(audio.read_bytes())
    second = transcribe(renamed, backend="basic_pitch", cache_dir=tmp_path)
    assert second.cached
    assert second.key == first.key
    assert second.midi_path == first.midi_path
    np.testing.assert_array_equal(second.notes, first.notes)
    assert second.elapsed_sec == first.elapsed_sec

    # another setting is another entry
    monkeypatch.undo()
    other = transcribe(audio, backend="basic_pitch", cache_dir=tmp_path, onset_threshold=0.6)
    assert not other.cached
    assert other.key != first.key


@pytest.mark.backend
def test_a_corrupt_cache_entry_is_dropped_and_rebuilt(
    clip: tuple[Path, Path], tmp_path: Path
) -> None:
    from pianoeval._cache import CorruptCacheEntryWarning

    backend = get_backend("basic_pitch")
    if not backend.is_available():
        pytest.skip(backend.install_command)
    _, audio = clip
    first = transcribe(audio, backend="basic_pitch", cache_dir=tmp_path)
    midi = Path(first.midi_path)
    whole = midi.read_bytes()
    midi.write_bytes(whole[: len(whole) // 2])  # a cut-off write, a bad disk
    with pytest.warns(CorruptCacheEntryWarning, match=r"\.mid file that fails its checksum"):
        again = transcribe(audio, backend="basic_pitch", cache_dir=tmp_path)
    assert not again.cached  # transcribed anew, not fatal
    assert again.key == first.key
    assert midi.read_bytes() == whole
    np.testing.assert_array_equal(again.notes, first.notes)
    assert transcribe(audio, backend="basic_pitch", cache_dir=tmp_path).cached


def test_a_cache_folder_that_is_a_file_is_found_before_any_work(
    tone_wav: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pianoeval._cache import CACHE_ENV_VAR
    from pianoeval.errors import CacheDirError

    a_file = tmp_path / "cache"
    a_file.write_text("x")
    monkeypatch.setenv(CACHE_ENV_VAR, str(a_file))

    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model was prepared before the cache folder was checked")

    backend = get_backend("basic_pitch")
    monkeypatch.setattr(type(backend), "prepare", boom)
    with pytest.raises(CacheDirError, match=f"{CACHE_ENV_VAR}={a_file}"):
        transcribe(tone_wav, backend="basic_pitch")


# --- missing backends and bad arguments ----------------------------------------------


@pytest.mark.parametrize("name", BACKENDS.names())
def test_missing_backend_names_the_install_command(
    name: str, tone_wav: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = get_backend(name)
    monkeypatch.setattr(type(backend), "installed_version", lambda self: None)
    assert name not in available_backends()
    with pytest.raises(BackendUnavailableError) as info:
        transcribe(tone_wav, backend=name, cache_dir=tmp_path)
    command = f"pip install 'pianoeval[transcribe]' && pip install --no-deps {backend.distribution}"
    assert command in str(info.value)
    assert info.value.install == backend.install_command


@pytest.mark.parametrize("name", BACKENDS.names())
def test_unimportable_backend_names_the_install_command(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = get_backend(name)

    def fail(self: Any) -> None:
        raise ImportError("No module named 'onnxruntime'")

    monkeypatch.setattr(type(backend), "_load_dependencies", fail)
    with pytest.raises(BackendUnavailableError, match="pip install --no-deps") as info:
        backend.check()
    assert "No module named" in str(info.value)


def test_unknown_backend_and_options_are_parameter_errors(tone_wav: Path) -> None:
    with pytest.raises(ParameterError, match=r"known: basic_pitch, transkun"):
        transcribe(tone_wav, backend="nope")
    with pytest.raises(ParameterError, match="no option 'speed'"):
        get_backend("transkun").resolve_settings(speed=3)
    with pytest.raises(ParameterError, match="precision"):
        get_backend("transkun").resolve_settings(precision="fp8")
    with pytest.raises(ParameterError, match="hop_sec"):
        get_backend("transkun").resolve_settings(hop_sec=0)
    with pytest.raises(ParameterError, match="onset_threshold"):
        get_backend("basic_pitch").resolve_settings(onset_threshold=True)


def test_validate_output_rejects_broken_backends() -> None:
    good = np.array([(0.5, 1.0, 60, 80)], dtype=NOTE_DTYPE)
    none = np.zeros(0, dtype=PEDAL_DTYPE)
    assert len(validate_output(BackendOutput(good, none, none), backend="x", duration_sec=2).notes)
    bad_cases = {
        "end before": np.array([(1.0, 0.5, 60, 80)], dtype=NOTE_DTYPE),
        "velocit": np.array([(0.5, 1.0, 60, 0)], dtype=NOTE_DTYPE),
        "must lie in": np.array([(0.5, 9.0, 60, 80)], dtype=NOTE_DTYPE),
        "non-finite": np.array([(np.nan, 1.0, 60, 80)], dtype=NOTE_DTYPE),
    }
    for message, notes in bad_cases.items():
        with pytest.raises(SchemaError, match=message):
            validate_output(BackendOutput(notes, none, none), backend="x", duration_sec=2)
    with pytest.raises(SchemaError, match="NOTE_DTYPE"):
        validate_output(BackendOutput(np.zeros(3), none, none), backend="x", duration_sec=2)
    assert len(validate_output(empty_output(), backend="x", duration_sec=0.0).notes) == 0


def test_clip_to_duration_cuts_what_runs_past_the_audio() -> None:
    # transkun hears 16 s windows padded with zeros: a note may run on past the audio's end
    notes = np.array(
        [(0.5, 1.0, 60, 80), (38.0, 39.033, 62, 70), (39.02, 39.5, 64, 70)], dtype=NOTE_DTYPE
    )
    sustain = np.array([(37.0, 127), (39.4, 0)], dtype=PEDAL_DTYPE)
    raw = BackendOutput(notes, sustain, np.zeros(0, dtype=PEDAL_DTYPE))
    with pytest.raises(SchemaError, match="must lie in"):
        validate_output(raw, backend="x", duration_sec=38.018)
    out = validate_output(clip_to_duration(raw, 38.018), backend="x", duration_sec=38.018)
    assert out.notes["pitch"].tolist() == [60, 62]
    assert out.notes["offset_sec"].tolist() == [1.0, 38.018]
    assert out.sustain["time_sec"].tolist() == [37.0, 38.018]
    assert out.sustain["value"].tolist() == [127, 0]


def test_listing_backends_does_not_import_torch() -> None:
    import subprocess

    code = (
        "import sys\n"
        "from pianoeval.symbolic.transcribe import BACKENDS, available_backends\n"
        "available_backends(); [BACKENDS.get(n).install_command for n in BACKENDS]\n"
        "assert 'torch' not in sys.modules and 'onnxruntime' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
