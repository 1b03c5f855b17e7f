from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from pianoeval.cli import app
from pianoeval.examples import example_metadata
from pianoeval.manifest import read_manifest

runner = CliRunner()


def test_example_is_the_whole_front_end(tmp_path: Path) -> None:
    r = runner.invoke(app, ["example", "--out", str(tmp_path), "--format", "json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    segments = read_manifest(tmp_path / "manifest.jsonl")  # media checked too
    n_bars = example_metadata()["n_bars"]
    bar_segs = [s for s in segments if s.bars is not None]
    assert [s.bars for s in bar_segs] == [(b, b + 7) for b in range(1, n_bars + 1, 8)]
    assert all(s.license == "MIT" for s in segments)
    mels = np.load(tmp_path / "mels.npy")
    assert mels.shape == (len(segments), 1, 128, 128)
    assert mels.dtype == np.float32
    assert mels.min() >= 0.0
    assert mels.max() <= 1.0
    assert (tmp_path / "mels.png").stat().st_size > 10_000
    assert summary["mels_shape"] == list(mels.shape)
    # loudness is kept: the loudest window is the loudest mel
    rms = [s["rms_dbfs"] for s in summary["segments"]]
    assert -40 < min(rms) <= max(rms) < -3


def test_audio_commands(tmp_path: Path) -> None:
    sr = 44100
    y = 0.3 * np.sin(2 * np.pi * 440 * np.arange(50 * sr) / sr)
    path = tmp_path / "long.flac"
    sf.write(path, np.stack([y, y], axis=1), sr)
    r = runner.invoke(app, ["audio", "info", str(path), "--format", "json"])
    assert r.exit_code == 0
    info = json.loads(r.stdout)[str(path)]
    assert (info["sr"], info["channels"]) == (sr, 2)
    r = runner.invoke(app, ["audio", "windows", str(path), "--format", "json"])
    wins = json.loads(r.stdout)
    assert [(w["t0"], w["t1"]) for w in wins] == [(0.0, 20.0), (15.0, 35.0), (30.0, 50.0)]
    out = tmp_path / "mel.npy"
    r = runner.invoke(app, ["audio", "mel", str(path), "--out", str(out)])
    assert r.exit_code == 0
    assert np.load(out).shape == (3, 1, 128, 128)


def test_audio_error_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00not really audio")
    r = runner.invoke(app, ["audio", "info", str(bad)])
    assert r.exit_code == 1
    assert f"error: {bad}" in r.stderr
