"""``pianoeval embed`` and ``pianoeval render`` through the batch layer (``--jsonl``) give
what they give without it; a bad row is reported, exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from pianoeval.cli import app
from pianoeval.encoders import load_embeddings

from .conftest import write_performance

runner = CliRunner()


def write_rows(path: Path, rows: list[dict[str, object]]) -> Path:
    base = {"dataset": "user", "provenance": {"license": "MIT"}}
    path.write_text("".join(json.dumps({**base, **r}) + "\n" for r in rows))
    return path


@pytest.fixture
def audio_manifest(tmp_path: Path) -> Path:
    sr = 22050
    t = np.arange(3 * sr) / sr
    for i, f0 in enumerate((220.0, 330.0)):
        sf.write(tmp_path / f"tone{i}.wav", 0.2 * np.sin(2 * np.pi * f0 * t), sr)
    rows = [
        {"segment_id": "a", "audio_uri": "tone0.wav", "t0": 0.0, "t1": 3.0},
        {"segment_id": "b", "audio_uri": "tone1.wav", "t0": 0.5, "t1": 2.0},
        {"segment_id": "c", "audio_uri": "tone0.wav", "t0": 1.0, "t1": 2.5},
    ]
    return write_rows(tmp_path / "m.jsonl", rows)


def test_embed_through_the_batch_layer_equals_the_local_command(
    audio_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIANOEVAL_CACHE", str(tmp_path / "cache"))
    plain, batch, jsonl = tmp_path / "p.npz", tmp_path / "b.npz", tmp_path / "e.jsonl"
    base = ["embed", str(audio_manifest), "-e", "mel_stats", "--no-progress", "--no-cache"]
    r = runner.invoke(app, [*base, "--out", str(plain), "-j", "1"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, [*base, "--out", str(batch), "--jsonl", str(jsonl)])
    assert r.exit_code == 0, r.output
    ids_p, x_p, _ = load_embeddings(plain)
    ids_b, x_b, meta = load_embeddings(batch)
    assert ids_b == ids_p == ["a", "b", "c"]
    np.testing.assert_array_equal(x_b, x_p)
    assert meta["encoder"] == "mel_stats"
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert sorted(x["result"]["segment_id"] for x in lines) == ["a", "b", "c"]
    # a row whose audio is missing: reported, nothing written, exit 1
    bad = write_rows(
        tmp_path / "bad.jsonl",
        [
            {"segment_id": "a", "audio_uri": "tone0.wav", "t0": 0.0, "t1": 3.0},
            {"segment_id": "z", "audio_uri": "gone.wav", "t0": 0.0, "t1": 1.0},
        ],
    )
    (tmp_path / "gone.wav").write_bytes(b"")  # exists for the manifest, unreadable
    out = tmp_path / "bad.npz"
    r = runner.invoke(app, ["embed", str(bad), "-e", "mel_stats", "--out", str(out),
                            "--jsonl", str(tmp_path / "bad_e.jsonl"), "--no-progress"])  # fmt: skip
    assert r.exit_code == 1, r.output
    assert "gone.wav" in r.stderr
    assert "1 of 2 row(s) not embedded: nothing written" in r.stderr
    assert not out.exists()


@pytest.mark.backend
def test_render_through_the_batch_layer_writes_the_same_manifest(tmp_path: Path) -> None:
    from pianoeval.manifest import read_manifest

    for i in range(2):
        write_performance(tmp_path / f"p{i}.mid", seed=10 + i, n_notes=12)
    (tmp_path / "broken.mid").write_bytes(b"MThd nonsense")
    rows = [
        {"segment_id": f"s{i}", "midi_uri": name, "t0": 0.0, "t1": 1.0}
        for i, name in enumerate(["p0.mid", "broken.mid", "p1.mid", "p0.mid"])
    ]
    manifest = write_rows(tmp_path / "m.jsonl", rows)
    jsonl = tmp_path / "r.jsonl"
    cache = ["--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    batch = runner.invoke(app, ["render", str(manifest), "--out", str(tmp_path / "b.jsonl"),
                                *cache, "--jsonl", str(jsonl), "--jsonl-sorted"])  # fmt: skip
    assert batch.exit_code == 1, batch.output  # the broken file
    records = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert [r["ok"] for r in records] == [True, False, True]  # distinct MIDI files, in order
    assert records[0]["result"]["cached"] is False
    plain = runner.invoke(app, ["render", str(manifest), "--out", str(tmp_path / "p.jsonl"),
                                *cache, "-j", "1"])  # fmt: skip
    assert plain.exit_code == 1
    assert "2 cached" in plain.stdout  # the batch rendered them into the cache
    b = read_manifest(tmp_path / "b.jsonl")
    p = read_manifest(tmp_path / "p.jsonl")
    assert [s.model_dump() for s in b] == [s.model_dump() for s in p]
    assert [s.segment_id for s in b] == ["s0", "s2", "s3"]
