"""Pseudo-labels: proxies on synthetic MIDI, scaling, within-excerpt validation, calibration."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from pianoeval.errors import ParameterError
from pianoeval.manifest import Provenance, Segment, read_manifest, write_manifest
from pianoeval.symbolic.midi import load_midi
from pianoeval.symbolic.pseudo import (
    CANDIDATES,
    HUMAN_MATCH,
    TIMBRE_DIMS,
    PseudoCalibration,
    calibrate_to_human,
    cut_performance,
    fit_pseudo_calibration,
    fit_robust_scaler,
    load_calibration,
    midi_proxies,
    percepiano_score_path,
    pseudo_labels_for,
    robust_scale,
    within_excerpt_spearman,
    write_pseudo_labels,
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


def test_within_excerpt_spearman_removes_the_piece(rng: np.random.Generator) -> None:
    excerpts = np.repeat([f"e{i}" for i in range(60)], 8)
    piece = np.repeat(rng.normal(0, 10, 60), 8)
    human = piece + rng.normal(0, 0.1, excerpts.size)
    proxy = piece + rng.normal(0, 0.1, excerpts.size)  # knows the piece, not the performers
    from scipy.stats import spearmanr

    assert spearmanr(proxy, human)[0] > 0.8
    assert abs(within_excerpt_spearman(proxy, human, excerpts.tolist()).rho) < 0.15
    within = within_excerpt_spearman(human + rng.normal(0, 0.01, human.size), human, excerpts)
    assert within.rho > 0.9
    assert (within.n_excerpts, within.n_segments) == (60, 480)
    assert within.ci95[0] <= within.rho <= within.ci95[1]
    # excerpts with fewer performers than min_performers are left out
    assert within_excerpt_spearman(proxy[:3], human[:3], excerpts[:3]).n_excerpts == 0


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


def test_percepiano_score_path_prefers_the_score_midi(tmp_path: Path) -> None:
    for folder in ("midi", "score_midi", "score_xml"):
        (tmp_path / folder).mkdir()
    perf = tmp_path / "midi" / "Schubert_D960_mv2_8bars_10_01.mid"
    perf.write_bytes(b"x")
    rendition = tmp_path / "midi" / "Schubert_D960_mv2_8bars_Score_01.mid"
    rendition.write_bytes(b"x")
    assert percepiano_score_path(perf) == rendition  # the segment token stays "01"
    score = tmp_path / "score_midi" / "Schubert_D960_mv2_8bars_Score_01.mid"
    score.write_bytes(b"x")
    assert percepiano_score_path(perf) == score


# --------------------------------------------------------------------------- calibration


def _synthetic_study(
    rng: np.random.Generator,
) -> tuple[dict, dict, dict, list[str], list[list[str]]]:
    """24 excerpts x 8 performers: pedal depth tracks pedal_amount, velocity is noise."""
    proxies, labels, excerpts = {}, {}, {}
    for e in range(24):
        piece = rng.normal()
        for k in range(8):
            sid = f"e{e}_p{k}"
            amount = float(np.clip(0.55 + 0.1 * piece + 0.1 * rng.normal(), 1 / 7, 1))
            proxies[sid] = {
                "midi.pedal_depth_mean": amount + 0.05 * rng.normal() + 0.3 * piece,
                "midi.velocity_mean": 60 + 10 * rng.normal(),
                "midi.silence_share": abs(rng.normal(0.1, 0.05)),
            }
            labels[sid] = {
                "pedal_amount": amount,
                "articulation_touch": float(rng.uniform(0.2, 0.8)),
            }
            excerpts[sid] = f"e{e}"
    test = [s for s in proxies if int(s.split("_")[0][1:]) >= 20]
    folds = [
        [s for s in proxies if int(s.split("_")[0][1:]) % 4 == f and s not in test]
        for f in range(4)
    ]
    return proxies, labels, excerpts, test, folds


def test_calibration_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    proxies, labels, excerpts, test, folds = _synthetic_study(rng)
    data = fit_pseudo_calibration(proxies, labels, excerpts, test_ids=test, folds=folds)
    dims = data["dims"]
    assert set(dims) == set(CANDIDATES)
    assert not set(TIMBRE_DIMS) & set(dims)
    assert dims["pedal_density"]["status"] == "passed"
    assert dims["pedal_density"]["proxy"] == "midi.pedal_depth_mean"
    assert dims["pedal_density"]["rho_test"] > 0.5
    assert dims["articulation_hardness"]["status"] == "failed"
    assert dims["phrasing_continuity"]["status"] == "unvalidated"
    assert dims["timing_stability"]["status"] == "no_proxy"
    assert "calibration" in dims["pedal_density"]
    assert "calibration" not in dims["articulation_hardness"]
    assert dims["pedal_density"]["calibration"]["test"]["within_excerpt_spearman"] > 0.5

    path = tmp_path / "cal.json"
    PseudoCalibration(data).save(path)
    cal = load_calibration(path)
    assert json.loads(path.read_text())["dims"]["pedal_density"]["p_lo"] == pytest.approx(
        dims["pedal_density"]["p_lo"]
    )
    assert sorted(cal.usable()) == ["pedal_density", "phrasing_continuity"]
    labels_1, conf_1 = pseudo_labels_for(proxies["e0_p0"], cal)
    assert set(labels_1) == {"pedal_density", "phrasing_continuity"}
    assert all(0.0 <= v <= 1.0 for v in labels_1.values())
    assert conf_1["phrasing_continuity"] == pytest.approx(0.2)
    assert conf_1["pedal_density"] == pytest.approx(dims["pedal_density"]["conf"], abs=1e-4)
    human = calibrate_to_human("pedal_density", [0.0, 0.5, 1.0], cal)
    assert np.all(np.diff(human) >= 0)
    assert human[-1] > human[0]
    assert np.all((human >= 1 / 7) & (human <= 1))
    with pytest.raises(ParameterError, match="no pseudo->human calibration"):
        calibrate_to_human("articulation_hardness", [0.5], cal)


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


def test_write_pseudo_labels_on_a_tiny_manifest(tmp_path: Path) -> None:
    score = _midi(
        tmp_path / "score.mid", [(i * 0.5, i * 0.5 + 0.5, 60 + i % 7, 64) for i in range(24)]
    )
    rows = []
    for k, (stretch, vel) in enumerate([(1.0, 50), (1.1, 70), (0.9, 90)]):
        notes = [(i * 0.5 * stretch, i * 0.5 * stretch + 0.4, 60 + i % 7, vel) for i in range(24)]
        midi = _midi(tmp_path / f"p{k}.mid", notes, [(0.0, 100), (3.0, 0)])
        rows.append(
            Segment(
                segment_id=f"p{k}",
                dataset="user",
                midi_uri=midi.name,
                score_uri=score.name,
                t0=0.0,
                t1=20.0,
                provenance=Provenance(license="MIT"),
            )
        )
    rows.append(  # a window of the first performance, and a row without a score
        Segment(
            segment_id="p0_w",
            dataset="user",
            midi_uri="p0.mid",
            score_uri="score.mid",
            t0=2.0,
            t1=8.0,
            provenance=Provenance(license="MIT"),
        )
    )
    rows.append(
        Segment(
            segment_id="p1_noscore",
            dataset="user",
            midi_uri="p1.mid",
            t0=0.0,
            t1=20.0,
            provenance=Provenance(license="MIT"),
        )
    )
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, rows)
    out = tmp_path / "out" / "m.jsonl"
    report = write_pseudo_labels(manifest, out, jobs=1, progress=False)
    assert (report.n_rows, report.n_labelled) == (5, 5)
    got = {s.segment_id: s for s in read_manifest(out)}  # media URIs rewritten for the new folder
    usable = set(load_calibration().usable())
    for seg in got.values():
        assert seg.pseudo_taxonomy == "execution16"
        assert seg.pseudo_labels
        assert set(seg.pseudo_labels) <= usable
        assert set(seg.pseudo_conf or {}) == set(seg.pseudo_labels)
        assert all(0 <= v <= 1 for v in seg.pseudo_labels.values())
        assert all(0 <= v <= 1 for v in (seg.pseudo_conf or {}).values())
    assert got["p0"].model_extra["pseudo_meta"]["status"] == "aligned"
    assert got["p0_w"].model_extra["pseudo_meta"]["status"] == "aligned"
    assert got["p1_noscore"].model_extra["pseudo_meta"]["status"] == "no score"
    # louder performances get harder-touch pseudo-labels
    if "articulation_hardness" in usable:
        hard = [got[f"p{k}"].pseudo_labels["articulation_hardness"] for k in range(3)]
        assert hard == sorted(hard)


def test_cli_pseudo_labels_replaces_the_manifest_in_place(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pianoeval.cli import app

    score = _midi(tmp_path / "s.mid", [(i * 0.5, i * 0.5 + 0.5, 60 + i % 5, 64) for i in range(16)])
    perf = _midi(
        tmp_path / "p.mid", [(i * 0.52, i * 0.52 + 0.3, 60 + i % 5, 80) for i in range(16)]
    )
    seg = Segment(
        segment_id="p",
        dataset="user",
        midi_uri=perf.name,
        score_uri=score.name,
        t0=0.0,
        t1=10.0,
        provenance=Provenance(license="MIT"),
    )
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [seg])
    result = CliRunner().invoke(
        app, ["data", "pseudo-labels", str(manifest), "--jobs", "1", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 1 rows (1 with pseudo-labels; aligned 1)" in result.output
    (got,) = read_manifest(manifest)
    assert got.pseudo_labels
    assert got.pseudo_taxonomy == "execution16"
    assert got.model_extra["pseudo_meta"]["status"] == "aligned"

    missing = CliRunner().invoke(app, ["data", "pseudo-labels", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 1
    assert "nope.jsonl:0: -: manifest file does not exist" in missing.stderr


def test_compute_proxies_resumes_from_its_cache(tmp_path: Path) -> None:
    from pianoeval.symbolic.pseudo import compute_proxies

    score = _midi(tmp_path / "s.mid", [(i * 0.5, i * 0.5 + 0.5, 60 + i % 5, 64) for i in range(16)])
    segs = []
    for k in range(2):
        notes = [(i * 0.55, i * 0.55 + 0.3, 60 + i % 5, 60 + 10 * k) for i in range(16)]
        _midi(tmp_path / f"p{k}.mid", notes)
        segs.append(
            Segment(
                segment_id=f"p{k}",
                dataset="user",
                midi_uri=f"p{k}.mid",
                score_uri=score.name,
                t0=0.0,
                t1=30.0,
                provenance=Provenance(license="MIT"),
            )
        )
    cache = tmp_path / "cache.jsonl"
    first = compute_proxies(segs, base_dir=tmp_path, jobs=1, progress=False, cache=cache)
    assert len(cache.read_text().splitlines()) == 2
    (tmp_path / "p0.mid").unlink()  # a second run must not read the MIDI files again
    again = compute_proxies(segs, base_dir=tmp_path, jobs=1, progress=False, cache=cache)
    assert again.status == first.status == {"p0": "aligned", "p1": "aligned"}
    for sid, vals in first.values.items():
        assert again.values[sid] == pytest.approx(vals, nan_ok=True)


@pytest.mark.data
def test_percepiano_excerpt_gets_aligned_pseudo_labels(data_root: Path, tmp_path: Path) -> None:
    from pianoeval.data.percepiano import parse_name
    from pianoeval.manifest import path_to_uri
    from pianoeval.symbolic.pseudo import compute_proxies

    midis = sorted((data_root / "percepiano" / "midi").glob("Beethoven_WoO80_var27_8bars_*_15.mid"))
    assert len(midis) >= 8
    segs = [
        Segment(
            segment_id=parse_name(m.name).name,
            dataset="percepiano",
            midi_uri=path_to_uri(m),
            t0=0.0,
            t1=60.0,
            provenance=Provenance(license="MIT"),
        )
        for m in midis
    ]
    result = compute_proxies(segs, jobs=1, progress=False)
    assert set(result.status.values()) == {"aligned"}
    cal = load_calibration()
    for sid, values in result.values.items():
        assert values["alignment.f_measure"] > 0.85, sid
        labels, _ = pseudo_labels_for(values, cal)
        assert set(labels) == set(cal.usable()), sid
