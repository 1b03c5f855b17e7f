"""``pianoeval audio``: good files printed, each bad one named on stderr, exit codes 0/1/2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from pianoeval.cli import app

runner = CliRunner()
SR = 22050


def tone(path: Path, duration_sec: float, **kwargs: object) -> Path:
    t = np.arange(round(duration_sec * SR)) / SR
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * t), SR, **kwargs)  # type: ignore[arg-type]
    return path


def cut(path: Path, keep_frac: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_frac)])
    return path


def test_info_prints_the_good_and_names_each_bad(tmp_path: Path) -> None:
    good = tone(tmp_path / "good.wav", 2.0)
    noise = tmp_path / "noise.mp3"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 6000, dtype=np.uint8).tobytes())
    loop = tmp_path / "loop.wav"
    loop.symlink_to(loop)
    long_name = tmp_path / ("x" * 300 + ".wav")
    r = runner.invoke(
        app, ["audio", "info", str(noise), str(good), str(loop), str(long_name), "--format", "json"]
    )
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert list(out) == [str(good)]
    assert out[str(good)]["duration_sec"] == 2.0
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: {noise}: unreadable or corrupt audio: not decodable as MP3 audio",
        f"error: {loop}: a symbolic link loop (too many levels of symbolic links)",
        f"error: {long_name}: file name too long: a name in the path has 304 bytes, more than "
        "this system allows (255)",
    ]
    assert "Traceback" not in r.output


def test_info_all_good_exits_0(tmp_path: Path) -> None:
    r = runner.invoke(app, ["audio", "info", str(tone(tmp_path / "a.flac", 1.0))])
    assert r.exit_code == 0, r.output
    assert "a.flac" in r.stdout
    assert r.stderr == ""


def test_info_walks_a_folder_sorted(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    tone(tmp_path / "b" / "2.wav", 1.0)
    tone(tmp_path / "b" / "1.flac", 1.5)
    tone(tmp_path / "0.ogg", 0.5, format="OGG")
    (tmp_path / "notes.txt").write_text("not audio")
    r = runner.invoke(app, ["audio", "info", str(tmp_path), "--format", "json"])
    assert r.exit_code == 0, r.output
    assert [Path(p).relative_to(tmp_path).as_posix() for p in json.loads(r.stdout)] == [
        "0.ogg",
        "b/1.flac",
        "b/2.wav",
    ]


def test_info_on_a_folder_without_audio(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    r = runner.invoke(app, ["audio", "info", str(tmp_path)])
    assert r.exit_code == 1
    assert f"error: {tmp_path}: folder holds no file of the kinds read here" in r.stderr


def test_info_names_truncated_files(tmp_path: Path) -> None:
    wav = cut(tone(tmp_path / "cut.wav", 4.0), 0.5)
    flac = cut(tone(tmp_path / "cut.flac", 4.0), 0.5)
    r = runner.invoke(app, ["audio", "info", str(wav), str(flac), "--format", "json"])
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out[str(wav)]["truncated"] is True  # the WAV header gives it away
    assert out[str(wav)]["duration_sec"] < 2.1
    assert out[str(flac)]["truncated"] is False  # FLAC's header still says 4 s
    r = runner.invoke(app, ["audio", "info", str(flac), "--decode", "--format", "json"])
    info = json.loads(r.stdout)[str(flac)]
    assert info["truncated"] is True
    assert info["declared_n_frames"] == 4 * SR
    assert info["duration_sec"] < 2.1
    table = runner.invoke(app, ["audio", "info", str(flac), "--decode"], env={"COLUMNS": "250"})
    assert "truncated (header: 4.00 s)" in table.stdout


def test_windows_use_what_a_truncated_file_holds(tmp_path: Path) -> None:
    flac = cut(tone(tmp_path / "cut.flac", 40.0), 0.5)
    r = runner.invoke(app, ["audio", "windows", str(flac), "--format", "json"])
    assert r.exit_code == 0, r.output
    wins = json.loads(r.stdout)
    assert wins[-1]["t1"] < 21.0  # not the 40 s the header declares
    assert "truncated audio: the header declares 40.000 s" in r.stderr


def test_exit_codes_bad_options_are_2_bad_inputs_1(tmp_path: Path) -> None:
    good = tone(tmp_path / "good.wav", 3.0)
    usage = [
        ["audio", "info", str(good), "--format", "xml"],
        ["audio", "windows", str(good), "--length", "0.1"],
        ["audio", "windows", str(good), "--hop", "30"],
        ["audio", "windows", str(good), "--length", "inf"],
        ["audio", "mel", str(good), "--out", str(good / "x.npy")],
        ["audio", "mel", str(good), "--out", str(tmp_path)],
        ["audio", "mel", str(good), "--out", str(tmp_path / ("y" * 300 + ".npy"))],
        ["audio", "info"],
    ]
    for args in usage:
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
    bad_inputs = [
        ["audio", "windows", str(tmp_path / "nope.wav")],
        ["audio", "mel", str(tmp_path), "--out", str(tmp_path / "m.npy")],
        ["audio", "info", str(tmp_path / "nope.wav")],
    ]
    for args in bad_inputs:
        r = runner.invoke(app, args)
        assert r.exit_code == 1, (args, r.output)
        assert r.stderr.startswith("error: "), (args, r.stderr)
    assert not (tmp_path / "m.npy").exists()
