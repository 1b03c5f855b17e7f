"""Pseudo-labelled manifests: proxies over manifest rows (cached), the fit against human labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from pianoeval.data.pseudo_fit import fit_pseudo_calibration
from pianoeval.data.pseudo_labels import compute_proxies, write_pseudo_labels
from pianoeval.errors import ParameterError
from pianoeval.manifest import Provenance, Segment, read_manifest, write_manifest
from pianoeval.symbolic.pseudo import (
    CANDIDATES,
    TIMBRE_DIMS,
    PseudoCalibration,
    calibrate_to_human,
    load_calibration,
    pseudo_labels_for,
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
    report = write_pseudo_labels(manifest, out, jobs=1, progress=False, cache=tmp_path / "cache")
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
    assert got["p0"].pseudo_meta.status == "aligned"
    assert got["p0_w"].pseudo_meta.status == "aligned"
    assert got["p1_noscore"].pseudo_meta.status == "no score"
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
        app, ["data", "pseudo-labels", str(manifest), "--jobs", "1", "--no-progress", "--no-cache"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 1 rows (1 with pseudo-labels; aligned 1)" in result.output
    (got,) = read_manifest(manifest)
    assert got.pseudo_labels
    assert got.pseudo_taxonomy == "execution16"
    assert got.pseudo_meta.status == "aligned"

    missing = CliRunner().invoke(app, ["data", "pseudo-labels", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 1
    assert "nope.jsonl:0: -: manifest file does not exist" in missing.stderr
    # a cache folder that cannot be one is named before any work
    (tmp_path / "a_file").write_text("x")
    bad_cache = CliRunner().invoke(
        app, ["data", "pseudo-labels", str(manifest), "--cache-dir", str(tmp_path / "a_file" / "c")]
    )
    assert bad_cache.exit_code == 1
    assert "a_file" in bad_cache.stderr
    assert "not a folder" in bad_cache.stderr
    # the cache goes where it is told
    cached = CliRunner().invoke(
        app,
        ["data", "pseudo-labels", str(manifest), "--jobs", "1", "--no-progress",
         "--cache-dir", str(tmp_path / "c")],
    )  # fmt: skip
    assert cached.exit_code == 0, cached.output
    assert len(list((tmp_path / "c").glob("*/*.json"))) == 1


def test_compute_proxies_reads_its_content_addressed_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pianoeval.data.pseudo_labels as pl

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
    cache = tmp_path / "cache"
    first = compute_proxies(segs, base_dir=tmp_path, jobs=1, progress=False, cache=cache)
    assert first.n_cached == 0
    assert len(list(cache.glob("*/*.json"))) == 2  # one entry per performance
    real_run_task = pl._run_task
    computed: list[str] = []

    def counting(task: object) -> object:
        computed.append(Path(task.midi_path).name)  # type: ignore[attr-defined]
        return real_run_task(task)  # type: ignore[arg-type]

    monkeypatch.setattr(pl, "_run_task", counting)
    # a moved (renamed) file still hits: the key is the content, not the path
    (tmp_path / "p1.mid").rename(tmp_path / "moved.mid")
    segs[1] = segs[1].model_copy(update={"midi_uri": "moved.mid"})
    again = compute_proxies(segs, base_dir=tmp_path, jobs=1, progress=False, cache=cache)
    assert computed == []
    assert again.n_cached == 2
    assert again.status == first.status == {"p0": "aligned", "p1": "aligned"}
    for sid, vals in first.values.items():
        assert again.values[sid] == pytest.approx(vals, nan_ok=True)
    # an edited file misses and is computed again; so is another window of the same file
    _midi(tmp_path / "p0.mid", [(i * 0.5, i * 0.5 + 0.3, 60 + i % 5, 100) for i in range(16)])
    segs.append(segs[1].model_copy(update={"segment_id": "p1_w", "t0": 2.0, "t1": 6.0}))
    third = compute_proxies(segs, base_dir=tmp_path, jobs=1, progress=False, cache=cache)
    assert sorted(computed) == ["moved.mid", "p0.mid"]
    assert third.values["p0"]["midi.velocity_mean"] == pytest.approx(100.0)
    assert third.values["p1"] == pytest.approx(first.values["p1"], nan_ok=True)
    # without a cache nothing is read or written
    n_entries = len(list(cache.glob("*/*.json")))
    compute_proxies(segs, base_dir=tmp_path, jobs=1, progress=False, cache=False)
    assert len(computed) == 4
    assert len(list(cache.glob("*/*.json"))) == n_entries


def test_compute_proxies_reports_unreadable_rows_and_bad_jobs(tmp_path: Path) -> None:
    (tmp_path / "bad.mid").write_bytes(b"not a midi file")
    seg = Segment(
        segment_id="bad",
        dataset="user",
        midi_uri="bad.mid",
        t0=0.0,
        t1=10.0,
        provenance=Provenance(license="MIT"),
    )
    res = compute_proxies([seg], base_dir=tmp_path, jobs=1, progress=False, cache=False)
    assert res.values == {}
    assert res.status["bad"].startswith("midi: ")
    with pytest.raises(ParameterError, match="jobs must be an integer"):
        compute_proxies([seg], base_dir=tmp_path, jobs=0, progress=False, cache=False)


def test_compute_proxies_in_worker_processes(tmp_path: Path) -> None:
    """Two scores, two workers (forkserver): the same values as in this process."""
    segs = []
    for k in range(2):
        score = _midi(
            tmp_path / f"s{k}.mid",
            [(i * 0.5, i * 0.5 + 0.5, 60 + (i + k) % 5, 64) for i in range(16)],
        )
        notes = [(i * 0.52, i * 0.52 + 0.3, 60 + (i + k) % 5, 70) for i in range(16)]
        _midi(tmp_path / f"p{k}.mid", notes, [(0.0, 100), (4.0, 0)])
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
    one = compute_proxies(segs, base_dir=tmp_path, jobs=1, progress=False, cache=False)
    two = compute_proxies(segs, base_dir=tmp_path, jobs=2, progress=False, cache=tmp_path / "c")
    assert two.status == one.status == {"p0": "aligned", "p1": "aligned"}
    for sid, vals in one.values.items():
        assert two.values[sid] == pytest.approx(vals, nan_ok=True)
    assert len(list((tmp_path / "c").glob("*/*.json"))) == 2  # written by the workers


@pytest.mark.data
def test_percepiano_excerpt_gets_aligned_pseudo_labels(data_root: Path, tmp_path: Path) -> None:
    from pianoeval.data.percepiano import build_percepiano_manifest, parse_name

    manifest = tmp_path / "percepiano.jsonl"
    build_percepiano_manifest(data_root, manifest, progress=False)
    # an excerpt whose segment token has a leading zero: its rows had no score before
    wanted = {"Beethoven_WoO80_var27_8bars_15", "Schubert_D960_mv2_16bars_3"}
    segs = [s for s in read_manifest(manifest) if parse_name(s.segment_id).excerpt in wanted]
    assert any(parse_name(s.segment_id).segment_token == "03" for s in segs)
    assert len(segs) >= 16
    # an old manifest without score_uri finds the same canonical score
    old = [
        s.model_copy(update={"score_uri": None, "segment_id": f"{s.segment_id}_old"})
        for s in segs[:3]
    ]
    result = compute_proxies(
        segs + old, base_dir=manifest.parent, jobs=1, progress=False, cache=False
    )
    assert set(result.status.values()) == {"aligned"}
    cal = load_calibration()
    for sid, values in result.values.items():
        assert values["alignment.f_measure"] > 0.85, sid
        labels, _ = pseudo_labels_for(values, cal)
        assert set(labels) == set(cal.usable()), sid
    for s in segs[:3]:
        assert result.values[s.segment_id + "_old"] == pytest.approx(
            result.values[s.segment_id], nan_ok=True
        )
