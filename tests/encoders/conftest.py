"""Fixtures of the encoder tests: short synthetic recordings and a manifest over them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
from tests.encoders._signals import piano_like


@pytest.fixture
def clips(tmp_path: Path) -> list[Path]:
    """Two 3-second clips at 22050 Hz."""
    paths = []
    for i in range(2):
        p = tmp_path / f"clip{i}.wav"
        sf.write(p, piano_like(22050, 3.0, seed=i), 22050)
        paths.append(p)
    return paths


@pytest.fixture
def manifest(tmp_path: Path, clips: list[Path]) -> Path:
    """Three rows over the two clips (relative audio_uri), one a sub-span."""
    rows = [
        {"segment_id": "a", "audio_uri": clips[0].name, "t0": 0.0, "t1": 3.0},
        {"segment_id": "b", "audio_uri": clips[1].name, "t0": 0.0, "t1": 3.0},
        {"segment_id": "c", "audio_uri": clips[0].name, "t0": 0.5, "t1": 2.0},
    ]
    path = tmp_path / "m.jsonl"
    lines = [json.dumps({**r, "dataset": "user", "provenance": {"license": "MIT"}}) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
