"""Pseudo-label proxies on synthetic MIDI, robust scaling, and the committed calibration."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from pianoeval.errors import ParameterError, SchemaError
from pianoeval.symbolic.midi import load_midi
from pianoeval.symbolic.pseudo import (
    CANDIDATES,
    HUMAN_MATCH,
    PseudoCalibration,
    alignment_quality,
    apply_human_map,
    calibrate_to_human,
    cut_performance,
    fit_robust_scaler,
    load_calibration,
    midi_proxies,
    pseudo_labels_for,
    robust_scale,
)


def _midi(
    path: Path,
    notes: list[tuple[float, float, int, int]],
    pedal: list[tuple[float, int]] = (),  # type: ignore[assignment]
) -> Path:
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(v, p, s, e) for s, e, p, v in notes]
    inst.control_changes = [pretty_midi.ControlChange(64, v, t) for t, v in pedal]
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


# --------------------------------------------------------------------------- scaling


def test_percentile_scaling_maps_5th_and_95th_to_0_and_1_and_clips() -> None:
    x = np.arange(101.0)
    lo, hi = fit_robust_scaler(x)
    assert (lo, hi) == (5.0, 95.0)
    assert robust_scale([5.0, 95.0, 50.0], lo, hi).tolist() == [0.0, 1.0, 0.5]
    assert robust_scale([-100.0, 1000.0], lo, hi).tolist() == [0.0, 1.0]
    assert math.isnan(float(robust_scale([math.nan], lo, hi)[0]))
    # two pools weighted equally: the big one does not swamp the small one
    big, small = np.zeros(1000), np.ones(10)
    w = np.concatenate([np.full(1000, 1 / 1000), np.full(10, 1 / 10)])
    lo_w, hi_w = fit_robust_scaler(np.concatenate([big, small]), weights=w)
    assert (lo_w, hi_w) == (0.0, 1.0)
    with pytest.raises(ParameterError, match="constant"):
        fit_robust_scaler(np.ones(10))
    with pytest.raises(ParameterError, match="at least two"):
        fit_robust_scaler([1.0, math.nan])


# --------------------------------------------------------------------------- proxies


def test_midi_proxies_on_known_performances(tmp_path: Path) -> None:
    chords = [
        (i * 0.5, i * 0.5 + 0.45, p, 90 if p == 72 else 50) for i in range(8) for p in (60, 64, 72)
    ]
    pedal = [(0.0, 127), (2.0, 0)]  # down for the first 2 s of 3.95 s
    p = load_midi(_midi(tmp_path / "a.mid", chords, pedal))
    px = midi_proxies(p)
    assert all(k.startswith("midi.") for k in px)
    assert px["midi.melody_lead"] == pytest.approx(40.0)
    assert px["midi.skyline_lead"] == pytest.approx(40.0)
    assert px["midi.articulation_ratio"] == pytest.approx(0.9)
    assert px["midi.pedal_down_share"] == pytest.approx(2.0 / 3.95, abs=0.02)
    assert px["midi.silence_share"] < 0.06  # 50 ms gaps once the pedal is up
    assert px["midi.ioi_unevenness"] == pytest.approx(0.0)
    assert px["midi.note_rate"] == pytest.approx(23 / 3.5)
    # detached notes, no pedal: a staccato, gappy performance
    stacc = [(i * 0.5, i * 0.5 + 0.1, 60, 64) for i in range(8)]
    qx = midi_proxies(load_midi(_midi(tmp_path / "b.mid", stacc)))
    assert qx["midi.articulation_ratio"] == pytest.approx(0.2)
    assert qx["midi.pedal_down_share"] == 0.0
    assert qx["midi.pedal_extension_share"] == 0.0
    assert qx["midi.silence_share"] == pytest.approx(0.8 * 7 / 7.1, abs=0.03)


def test_pedal_clash_needs_the_pedal(tmp_path: Path) -> None:
    notes = [(0.0, 0.4, 60, 64), (0.5, 0.9, 61, 64), (1.0, 1.4, 62, 64), (1.5, 1.9, 63, 64)]
    dry = midi_proxies(load_midi(_midi(tmp_path / "dry.mid", notes)))
    wet = midi_proxies(load_midi(_midi(tmp_path / "wet.mid", notes, [(0.0, 127), (2.5, 0)])))
    assert dry["midi.pedal_clash_share"] == 0.0
    assert wet["midi.pedal_clash_share"] > 0.5
    assert wet["midi.pedal_extension_share"] > 0.5


def test_cut_performance_keeps_the_pedal_state(tmp_path: Path) -> None:
    notes = [(i * 0.5, i * 0.5 + 0.4, 60 + i, 64) for i in range(8)]
    p = load_midi(_midi(tmp_path / "p.mid", notes, [(0.2, 127), (3.0, 0)]))
    cut = cut_performance(p, 1.0, 2.0)
    assert cut.notes["pitch"].tolist() == [62, 63]
    assert (cut.sustain["time_sec"][0], cut.sustain["value"][0]) == (1.0, 127)
    assert cut.end_sec == pytest.approx(3.0)


def test_cut_performance_while_the_pedal_stays_down(tmp_path: Path) -> None:
    # the pedal goes down and never comes up (it used to fail with an IndexError): a pedal
    # still down at the end holds notes to the last pedal event or their key release
    notes = [(i * 0.5, i * 0.5 + 0.2, 60 + i, 64) for i in range(8)]
    p = load_midi(_midi(tmp_path / "p.mid", notes, [(0.1, 127), (1.6, 127)]))
    assert p.end_sec == pytest.approx(3.7)
    cut = cut_performance(p, 1.0, 2.0)
    assert cut.notes["pitch"].tolist() == [62, 63]
    assert cut.sustain["time_sec"].tolist() == [1.0, pytest.approx(1.6)]
    assert cut.end_sec == pytest.approx(1.7)  # the last key release, after the last event
    px = midi_proxies(cut)
    assert px["midi.pedal_down_share"] == pytest.approx(1.0)
    assert px["midi.pedal_extension_share"] == pytest.approx(1 - 0.4 / (0.6 + 0.2))


def _hand_calibration() -> PseudoCalibration:
    """A calibration written by hand: one alignment proxy with a MIDI fallback, one MIDI."""
    return PseudoCalibration(
        {
            "schema_version": 1,
            "version": "test",
            "dims": {
                "timing_stability": {
                    "status": "passed",
                    "human": "percepiano19.timing",
                    "proxy": "alignment.tempo_jitter",
                    "sign": -1,
                    "p_lo": -0.4,
                    "p_hi": 0.0,
                    "conf": 0.5,
                    "fallback": {
                        "proxy": "midi.ioi_unevenness", "sign": -1, "p_lo": -0.2, "p_hi": 0.0,
                        "conf": 0.4,
                    },
                    "calibration": {"kind": "affine", "slope": -0.4, "intercept": 0.7},
                },
                "pedal_density": {
                    "status": "passed",
                    "human": "percepiano19.pedal_amount",
                    "proxy": "midi.pedal_down_share",
                    "sign": 1,
                    "p_lo": 0.0,
                    "p_hi": 0.8,
                    "conf": 0.6,
                    "calibration": {"kind": "isotonic", "x": [0.0, 1.0], "y": [0.3, 0.8]},
                },
                "dynamic_control": {"status": "failed", "proxy": "midi.velocity_roughness",
                                    "sign": -1, "p_lo": -10.0, "p_hi": -1.0, "conf": 0.0},
                "timbre_brightness": {"status": "no_proxy"},
            },
        }
    )  # fmt: skip


def test_pseudo_labels_use_the_alignment_else_the_fallback() -> None:
    cal = _hand_calibration()
    assert sorted(cal.usable()) == ["pedal_density", "timing_stability"]
    aligned = {
        "alignment.tempo_jitter": 0.1,
        "alignment.f_measure": 0.7,  # quality (0.7 - 0.5) / 0.4 = 0.5
        "midi.ioi_unevenness": 0.05,
        "midi.pedal_down_share": 0.4,
        "midi.velocity_roughness": 3.0,
    }
    assert alignment_quality(aligned) == pytest.approx(0.5)
    labels, conf = pseudo_labels_for(aligned, cal)
    assert labels == {"timing_stability": 0.75, "pedal_density": 0.5}  # failed dims left out
    assert conf == {"timing_stability": 0.25, "pedal_density": 0.6}
    midi_only = {k: v for k, v in aligned.items() if k.startswith("midi.")}
    labels, conf = pseudo_labels_for(midi_only, cal)
    assert labels["timing_stability"] == pytest.approx(0.75)  # -0.05 on [-0.2, 0]
    assert conf["timing_stability"] == pytest.approx(0.4)
    assert pseudo_labels_for({"midi.pedal_down_share": math.nan}, cal) == ({}, {})
    # human scale: affine then clipped to [1/7, 1]; isotonic interpolates
    np.testing.assert_allclose(calibrate_to_human("timing_stability", [0.0, 1.0], cal), [0.7, 0.3])
    np.testing.assert_allclose(calibrate_to_human("pedal_density", [0.5], cal), [0.55])
    np.testing.assert_allclose(
        apply_human_map({"kind": "affine", "slope": 2.0, "intercept": -1.0}, [0.0, 1.5]),
        [1 / 7, 1.0],
    )
    with pytest.raises(ParameterError, match="no pseudo->human calibration"):
        calibrate_to_human("dynamic_control", [0.5], cal)


def test_calibration_files_round_trip_and_bad_files(tmp_path: Path) -> None:
    cal = _hand_calibration()
    cal.data["dims"]["pedal_density"]["rho_test"] = math.nan  # written as null
    path = tmp_path / "cal.json"
    cal.save(path)
    again = load_calibration(path)
    assert again.data["dims"]["pedal_density"]["rho_test"] is None
    assert again.data["dims"]["timing_stability"] == cal.data["dims"]["timing_stability"]
    with pytest.raises(SchemaError, match="no pseudo-label calibration"):
        load_calibration(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SchemaError, match="bad JSON"):
        load_calibration(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"schema_version": 2}')
    with pytest.raises(SchemaError, match="not a pseudo-label calibration"):
        load_calibration(tmp_path / "other.json")


def test_committed_calibration_is_sane() -> None:
    cal = load_calibration()
    dims = cal.data["dims"]
    assert set(dims) == set(CANDIDATES)
    for dim, e in dims.items():
        assert e["status"] in ("passed", "failed", "unvalidated", "no_proxy"), dim
        if e["status"] == "passed":
            assert e["rho_train"] >= cal.data["threshold"]["min_rho"]
            assert e["human"] == f"percepiano19.{HUMAN_MATCH[dim][0]}"
            assert 0 < e["conf"] <= 1
            assert "calibration" in e
        if e["status"] == "unvalidated":
            assert dim not in HUMAN_MATCH
        if "proxy" in e:
            assert e["p_hi"] > e["p_lo"]


def test_symbolic_pseudo_imports_no_dataset_code() -> None:
    """``symbolic`` knows no dataset: importing the proxies pulls in nothing from ``data``."""
    import subprocess
    import sys

    code = (
        "import sys, pianoeval.symbolic.pseudo as p; "
        "p.midi_proxies, p.load_calibration(); "
        "print(sorted(m for m in sys.modules if m.startswith('pianoeval.data')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
