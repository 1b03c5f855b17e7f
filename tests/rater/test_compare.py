"""``compare_performances`` and ``pianoeval compare``: two takes side by side."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
from typer.testing import CliRunner

from pianoeval.cli import app
from pianoeval.examples import example_midi_path, example_score_path
from pianoeval.rater.compare import compare_performances
from pianoeval.symbolic.align import align
from pianoeval.symbolic.align.bars import bar_measures
from pianoeval.symbolic.midi import PerformanceMidi, load_midi


def _write(perf: PerformanceMidi, path: Path, *, stretch: float = 1.0) -> Path:
    """Write a performance as MIDI (times scaled by ``stretch``), with its sustain pedal."""
    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    for on, off, p, v in perf.notes.tolist():
        piano.notes.append(pretty_midi.Note(int(v), int(p), on * stretch, off * stretch))
    for t, v in perf.sustain.tolist():
        piano.control_changes.append(pretty_midi.ControlChange(64, int(v), t * stretch))
    pm.instruments.append(piano)
    pm.write(str(path))
    return path


@pytest.fixture(scope="module")
def takes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The example, and the same take with the pedal held from bar 5 to the end of bar 8."""
    perf = load_midi(example_midi_path())
    bars = {
        b.bar: b for b in bar_measures(align(perf, example_score_path(), backend="chord_dtw"), perf)
    }
    t0, t1 = bars[5].start_sec - 0.3, bars[8].end_sec - 0.1
    ev = perf.sustain
    keep = ev[(ev["time_sec"] < t0) | (ev["time_sec"] > t1)]
    held = np.array([(t0, 127), (t1, 0)], dtype=ev.dtype)
    merged = np.concatenate([keep, held])
    from dataclasses import replace

    blurred = replace(perf, sustain=merged[np.argsort(merged["time_sec"], kind="stable")])
    d = tmp_path_factory.mktemp("takes")
    return _write(perf, d / "a.mid"), _write(blurred, d / "b.mid")


def test_aligned_by_the_score_the_held_pedal_bars_differ(takes: tuple[Path, Path]) -> None:
    a, b = takes
    c = compare_performances(a, b, score=example_score_path())
    assert c.aligned_by == "score"
    differ = {x.bar for x in c.bars if "pedal_blur" in x.measures}
    assert {5, 6, 7}.issubset(differ)
    assert not differ & {1, 2, 3, 12, 13, 14}
    assert len(c.dimensions) == 19


def test_a_take_compared_with_itself_differs_nowhere() -> None:
    c = compare_performances(example_midi_path(), example_midi_path(), score=example_score_path())
    assert not any(d.differs for d in c.dimensions)
    assert c.bars == []
    assert c.windows == []


def test_without_a_score_a_slower_take_is_aligned_by_dtw(
    takes: tuple[Path, Path], tmp_path: Path
) -> None:
    slow = _write(load_midi(example_midi_path()), tmp_path / "slow.mid", stretch=1.4)
    c = compare_performances(takes[0], slow)
    assert c.aligned_by == "dtw"
    pace = next(d for d in c.dimensions if d.name == "pace")
    assert pace.b > pace.a  # slower playing reads as slower paced
    assert c.b.input.duration_sec > 1.3 * c.a.input.duration_sec


def test_compare_cli_json_and_errors(takes: tuple[Path, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    a, b = takes
    r = runner.invoke(app, ["compare", str(a), str(b), "--score", str(example_score_path()),
                            "--format", "json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["kind"] == "comparison"
    assert out["aligned_by"] == "score"
    assert out["a"]["kind"] == out["b"]["kind"] == "rating"
    r = runner.invoke(app, ["compare", str(a), str(b), "--score", str(example_score_path())])
    assert r.exit_code == 0
    assert "bars that differ" in r.stdout
    r = runner.invoke(app, ["compare", str(a), str(tmp_path / "none.mid")])
    assert r.exit_code == 2
