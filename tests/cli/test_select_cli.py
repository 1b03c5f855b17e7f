"""``pianoeval select`` on a tiny manifest of tiny MIDI files with a tiny rater."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import pytest
from typer.testing import CliRunner

from pianoeval.cli import app
from pianoeval.rater import SymbolicRater

runner = CliRunner()
DIMS = ["timing", "pace"]


def _write_midi(path: Path, k: int) -> Path:
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(program=0)
    step = 0.2 + 0.05 * k
    for n in range(16):
        on = n * step + (0.02 * k if n % 2 else 0.0)
        inst.notes.append(
            pretty_midi.Note(velocity=50 + 4 * k + n, pitch=60 + (n * (k + 1)) % 12,
                             start=on, end=on + step * (0.5 + 0.1 * k))
        )  # fmt: skip
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


@pytest.fixture
def pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A pool manifest (6 rows: 1 labelled, 1 audio-only, a near-duplicate pair) and a rater."""
    from pianoeval.symbolic.rater_inputs import rater_inputs

    monkeypatch.setenv("PIANOEVAL_CACHE", str(tmp_path / "cache"))
    midis = [_write_midi(tmp_path / f"p{k}.mid", k) for k in range(6)]
    (tmp_path / "a.wav").write_bytes(b"RIFF")  # audio-only row: skipped, never opened
    x = rater_inputs(midis, None, ids=[p.stem for p in midis], jobs=1, cache=False, progress=False)
    rng = np.random.default_rng(0)
    y = rng.uniform(0.3, 0.8, size=(len(x), len(DIMS)))
    rater_dir = SymbolicRater(dims=DIMS, n_rounds=5, extra_trees_rounds=5, n_threads=1).fit(x, y)
    bundle = rater_dir.save(tmp_path / "rater")

    def row(k: int, **extra: Any) -> dict[str, Any]:
        return {
            "segment_id": f"s{k}",
            "dataset": "user" if k % 2 else "other",
            "midi_uri": f"p{k}.mid",
            "t0": 0.0,
            "t1": 30.0,
            "provenance": {"license": "CC0-1.0"},
            "groups": {"excerpt": f"e{k // 2}", "performer": f"p{k}"},
            **extra,
        }

    rows = [row(k) for k in range(6)]
    rows[0].update(dims=DIMS, taxonomy="percepiano19", labels={"timing": 0.5, "pace": 0.4},
                   label_mask={"timing": 1, "pace": 1})  # fmt: skip
    rows[1]["pseudo_calibrated"] = {"percepiano19.timing": 0.9}
    rows[5]["groups"] = {"excerpt": "e1", "performer": "p3"}  # near-duplicate of s3
    rows.append(
        {"segment_id": "audio", "dataset": "user", "audio_uri": "a.wav", "t0": 0.0, "t1": 1.0,
         "provenance": {"license": "CC0-1.0"}}
    )  # fmt: skip
    manifest = tmp_path / "pool.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return manifest, bundle


def _select(pool: Path, rater: Path, out: Path, *extra: str) -> Any:
    args = ["select", "--rater", str(rater), "--pool", str(pool), "--out", str(out), *extra]
    return runner.invoke(app, args)


def test_select_writes_a_valid_queue_with_predictions(
    pool: tuple[Path, Path], tmp_path: Path
) -> None:
    manifest, rater = pool
    out = tmp_path / "queue" / "q.jsonl"
    res = _select(manifest, rater, out, "--k", "10")
    assert res.exit_code == 0, res.output
    assert "without MIDI" in res.output
    assert "only 4 of 10" in res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    ids = [r["segment_id"] for r in rows]
    # the labelled row and the audio-only row are not candidates; s3/s5 are near-duplicates
    assert "s0" not in ids
    assert "audio" not in ids
    assert len(ids) == 4
    assert not {"s3", "s5"} <= set(ids)
    assert [r["active"]["rank"] for r in rows] == [1, 2, 3, 4]
    first = rows[0]["active"]
    assert set(first["predicted"]) == {"percepiano19.timing", "percepiano19.pace"}
    assert set(first["sigma"]) == set(first["predicted"])
    assert first["strategy"] == "mixed"
    assert first["dimension"] in DIMS
    assert first["reason"]
    # the media URIs still resolve from the queue's own folder
    check = runner.invoke(app, ["manifest", "validate", str(out)])
    assert check.exit_code == 0, check.output


@pytest.mark.parametrize("strategy", ["uncertainty", "disagreement", "random"])
def test_every_strategy_and_the_seed(
    pool: tuple[Path, Path], tmp_path: Path, strategy: str
) -> None:
    manifest, rater = pool
    outs = []
    for name in ("a.jsonl", "b.jsonl"):
        out = tmp_path / name
        res = _select(manifest, rater, out, "--k", "2", "--strategy", strategy, "--seed", "3")
        assert res.exit_code == 0, res.output
        outs.append([json.loads(line)["segment_id"] for line in out.read_text().splitlines()])
    assert outs[0] == outs[1]
    assert len(outs[0]) == 2


def test_bad_inputs(pool: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, rater = pool
    out = tmp_path / "q.jsonl"
    assert _select(manifest, rater, out, "--k", "0").exit_code == 2
    assert _select(manifest, rater, out, "--k", "1", "--strategy", "entropy").exit_code == 2
    assert _select(manifest, tmp_path, out, "--k", "1").exit_code == 2  # not a bundle
    res = _select(tmp_path / "missing.jsonl", rater, out, "--k", "1")
    assert res.exit_code == 1
    assert "missing.jsonl" in res.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"segment_id": "x"}\n', encoding="utf-8")
    assert _select(bad, rater, out, "--k", "1").exit_code == 1
    labelled_only = tmp_path / "labelled.jsonl"
    labelled_only.write_text(manifest.read_text().splitlines()[0] + "\n", encoding="utf-8")
    res = _select(labelled_only, rater, out, "--k", "1")
    assert res.exit_code == 1
    assert "no unlabelled rows" in res.output
    assert not out.exists()
