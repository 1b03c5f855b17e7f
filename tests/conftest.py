"""Shared fixtures: a seeded RNG and small manifest builders (media made in the test)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261122)


@pytest.fixture
def toy() -> tuple[Any, np.ndarray]:
    """80 rows of 4 features and 2 labels that depend on two of them (rater tests)."""
    import pandas as pd

    rng = np.random.default_rng(7)
    x = pd.DataFrame(rng.normal(size=(80, 4)), columns=["a.w", "a.x", "b.y", "b.z"])
    y = np.column_stack([0.5 + 0.1 * x["a.w"], 0.5 - 0.05 * x["b.y"] + 0.02 * rng.normal(size=80)])
    return x, np.clip(y, 0.2, 0.95)


@pytest.fixture
def tone_wav(tmp_path: Path) -> Path:
    """A 2 s, 440 Hz sine at -12 dBFS, 22050 Hz mono."""
    sr = 22050
    t = np.arange(2 * sr) / sr
    path = tmp_path / "tone.wav"
    sf.write(path, 0.25 * np.sin(2 * np.pi * 440 * t), sr)
    return path


@pytest.fixture
def make_row(tone_wav: Path) -> Callable[..., dict[str, Any]]:
    """Build a valid manifest row (as a dict) pointing at ``tone_wav``; override any field."""

    def _make(**overrides: Any) -> dict[str, Any]:
        row: dict[str, Any] = {
            "segment_id": "seg_0",
            "dataset": "user",
            "audio_uri": tone_wav.name,
            "sr": 22050,
            "t0": 0.0,
            "t1": 2.0,
            "taxonomy": "percepiano19",
            "dims": ["timing", "pace"],
            "labels": {"timing": 0.5, "pace": 0.75},
            "label_mask": {"timing": 1, "pace": 1},
            "source": "human",
            "rater_id": "panel",
            "n_raters": 3,
            "provenance": {"license": "MIT", "piece": "test tone"},
        }
        row.update(overrides)
        return row

    return _make


@pytest.fixture
def write_manifest_lines(tone_wav: Path) -> Callable[[list[Any]], Path]:
    """Write rows (dicts are JSON-encoded, strings written as they are) beside ``tone_wav``."""

    def _write(rows: list[Any], name: str = "m.jsonl") -> Path:
        path = tone_wav.parent / name
        lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return _write


def _data_root() -> Path | None:
    import os

    env = os.environ.get("PIANOEVAL_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[1].parent / "shared" / "data")
    return next((p for p in candidates if p.is_dir()), None)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real datasets (PIANOEVAL_DATA, else ../shared/data).

    Missing data skips the test on a developer machine but FAILS it in CI (CI=true): a test
    that needs the data must never pass silently there.
    """
    import os

    root = _data_root()
    if root is None:
        msg = "real data not found: set PIANOEVAL_DATA or put shared/data beside the project"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    return root
