"""Anchors: percentile picks among high-agreement segments, pseudo fallback, picks, file format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pianoeval.errors import ParameterError, PianoEvalWarning, SchemaError
from pianoeval.label.anchors import (
    LEVELS,
    build_anchors,
    parse_pick,
    read_anchors,
    write_anchors,
)
from pianoeval.manifest import Segment, uri_to_path


def _rows(tone_wav: Path, n: int = 40) -> list[Segment]:
    """n audio rows: timing = i/n spread over the scale, every other row with a large std."""
    rows = []
    for i in range(n):
        rows.append(
            Segment(
                segment_id=f"seg{i:02d}", dataset="user", audio_uri=tone_wav.name, t0=0.0,
                t1=1.5 + 0.01 * i, taxonomy="percepiano19", dims=["timing"],
                labels={"timing": 0.15 + 0.8 * i / (n - 1)}, label_mask={"timing": 1},
                label_std={"timing": 0.05 if i % 2 == 0 else 0.3}, n_raters=5,
                groups={"excerpt": f"exc{i // 2}"},
                provenance={"license": "CC-BY-4.0" if i % 3 else "MIT"},
            )
        )  # fmt: skip
    return rows


def test_picks_nearest_percentiles_among_high_agreement(tone_wav: Path) -> None:
    rows = _rows(tone_wav)
    anchors = build_anchors(rows, dims=["timing"], base_dir=tone_wav.parent)
    assert list(anchors) == ["timing"]
    agreed = [r for r in rows if r.label_std and r.label_std["timing"] <= 0.05]
    values = np.array([r.labels["timing"] for r in agreed])
    by_id = {r.segment_id: r for r in rows}
    for level, pct in zip(LEVELS, (10, 50, 90), strict=True):
        a = anchors["timing"][level]
        target = np.percentile(values, pct)
        nearest = agreed[int(np.argmin(np.abs(values - target)))]
        assert a["segment_id"] == nearest.segment_id
        seg = by_id[a["segment_id"]]
        assert a["value"] == pytest.approx(seg.labels["timing"])
        assert a["license"] == seg.license
        assert a["source"] == "human"
        # audio rows point at the source with the segment's span
        assert uri_to_path(a["clip_uri"]) == tone_wav.resolve()
        assert (a["t0"], a["t1"]) == (seg.t0, seg.t1)
    low, mid, high = (anchors["timing"][lv] for lv in LEVELS)
    assert low["value"] < mid["value"] < high["value"]
    assert "stable" in low["desc"]
    assert "unstable" in high["desc"]
    assert f"label {high['value']:.2f}" in high["desc"]


def test_distinct_excerpts_and_agreement_threshold(tone_wav: Path) -> None:
    # every excerpt holds two performances with the same label: the picks still differ
    rows = _rows(tone_wav, n=6)
    rows = [r.model_copy(update={"groups": {"excerpt": "one"}}) for r in rows[:3]] + rows[3:]
    anchors = build_anchors(rows, dims=["timing"], agreement=1.0, base_dir=tone_wav.parent)
    picked = [anchors["timing"][lv]["segment_id"] for lv in LEVELS]
    excerpts = {r.segment_id: r.groups["excerpt"] for r in rows}
    assert len({excerpts[s] for s in picked}) == 3
    # a strict threshold leaves only rows with std 0.05
    strict = build_anchors(rows, dims=["timing"], agreement=0.1, base_dir=tone_wav.parent)
    stds = {r.segment_id: (r.label_std or {})["timing"] for r in rows}
    assert all(stds[strict["timing"][lv]["segment_id"]] == 0.05 for lv in LEVELS)


def test_pseudo_labels_where_no_human_labels(tone_wav: Path) -> None:
    rows = [
        Segment(segment_id=f"p{i}", dataset="user", audio_uri=tone_wav.name, t0=0, t1=2,
                pseudo_calibrated={"percepiano19.pace": 0.2 + 0.05 * i},
                provenance={"license": "MIT"})
        for i in range(10)
    ]  # fmt: skip
    anchors = build_anchors(rows, dims=["pace"], base_dir=tone_wav.parent)
    assert {a["source"] for a in anchors["pace"].values()} == {"pseudo"}
    assert anchors["pace"]["low"]["segment_id"] == "p1"  # nearest the 10th percentile
    assert anchors["pace"]["high"]["segment_id"] == "p8"
    with pytest.raises(ParameterError, match="no dimension"), pytest.warns(PianoEvalWarning):
        build_anchors(rows, dims=["pace"], source="human", base_dir=tone_wav.parent)


def test_hand_picks_override(tone_wav: Path) -> None:
    rows = _rows(tone_wav, n=10)
    anchors = build_anchors(
        rows, dims=["timing"], picks={("timing", "mid"): "seg07"}, base_dir=tone_wav.parent
    )
    mid = anchors["timing"]["mid"]
    assert mid["segment_id"] == "seg07"
    assert mid["source"] == "picked"
    assert parse_pick(" timing:high = seg 3 ") == ("timing", "high", "seg 3")
    with pytest.raises(ParameterError, match="dim:level=segment_id"):
        parse_pick("timing=seg1")
    with pytest.raises(ParameterError, match="no segment"):
        build_anchors(rows, picks={("timing", "low"): "nope"})
    with pytest.raises(ParameterError, match="no dimension"):
        build_anchors(rows, picks={("loudness", "low"): "seg01"})


def test_write_and_read_round_trip_and_bad_files(tone_wav: Path, tmp_path: Path) -> None:
    anchors = build_anchors(_rows(tone_wav), dims=["timing"], base_dir=tone_wav.parent)
    path = write_anchors(anchors, tmp_path / "anchors.json")
    back = read_anchors(path)
    # clips inside the anchors' folder are written relative to it (the folder can move)
    assert tone_wav.parent == tmp_path
    assert {a["clip_uri"] for a in back["timing"].values()} == {"tone.wav"}
    for level in LEVELS:
        assert {**back["timing"][level], "clip_uri": None} == {
            **json.loads(json.dumps(anchors["timing"][level])),
            "clip_uri": None,
        }
    # the labeling app reads the file and finds the clip
    from pianoeval.label.queue import load_anchors

    app_view = load_anchors(path)
    low = app_view["timing"]["low"]
    assert (low.clip_uri, low.base_dir, low.t0) == ("tone.wav", tmp_path, 0.0)
    kept = read_anchors(write_anchors(anchors, tmp_path / "abs.json", relative=False))
    assert kept == json.loads(json.dumps(anchors))
    # descriptions are editable by hand
    back["timing"]["low"]["desc"] = "Steady as a metronome."
    path.write_text(json.dumps(back), encoding="utf-8")
    assert read_anchors(path)["timing"]["low"]["desc"] == "Steady as a metronome."

    bad = tmp_path / "bad.json"
    cases = {
        "[]": "expected a JSON object",
        '{"timing": {"extreme": {}}}': "timing.extreme: level must be",
        '{"timing": {"low": {"clip_uri": "a.wav", "t0": 0, "desc": ""}}}': "missing t1",
        '{"timing": {"low": {"clip_uri": "a.wav", "t0": 2, "t1": 1, "desc": ""}}}': "t0 < t1",
        '{"timing": {"low": {"clip_uri": "a.wav", "t0": "0", "t1": 1, "desc": ""}}}': "t0",
        "{": "not JSON",
    }
    for text, message in cases.items():
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(SchemaError, match=message) as info:
            read_anchors(bad)
        assert str(bad) in str(info.value)
    with pytest.raises(SchemaError, match="does not exist"):
        read_anchors(tmp_path / "missing.json")


@pytest.mark.backend
def test_midi_only_rows_are_rendered(tmp_path: Path) -> None:
    pytest.importorskip("fluidsynth")
    import pretty_midi
    import soundfile as sf

    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    for k in range(8):
        piano.notes.append(pretty_midi.Note(velocity=80, pitch=60 + k, start=0.25 * k,
                                            end=0.25 * k + 0.2))  # fmt: skip
    pm.instruments.append(piano)
    pm.write(str(tmp_path / "scale.mid"))
    rows = [
        Segment(segment_id=f"m{i}", dataset="user", midi_uri="scale.mid", t0=0.5, t1=1.5,
                taxonomy="percepiano19", dims=["timing"], labels={"timing": 0.2 + 0.1 * i},
                label_mask={"timing": 1}, provenance={"license": "CC0-1.0"})
        for i in range(3)
    ]  # fmt: skip
    media = tmp_path / "media"
    anchors = build_anchors(rows, dims=["timing"], media_dir=media, base_dir=tmp_path)
    for level in LEVELS:
        a = anchors["timing"][level]
        wav = uri_to_path(a["clip_uri"])
        assert wav.parent == media.resolve()
        assert (a["t0"], a["t1"]) == (0.0, 1.0)
        y, sr = sf.read(wav)
        assert len(y) == sr  # exactly t1 - t0
        assert np.sqrt(np.mean(y**2)) > 1e-3  # notes were rendered
        assert a["license"] == "CC0-1.0"
    # one clip per segment span, reused when built again
    wavs = sorted(media.glob("*.wav"))
    assert len(wavs) == 3
    mtimes = [p.stat().st_mtime_ns for p in wavs]
    build_anchors(rows, dims=["timing"], media_dir=media, base_dir=tmp_path)
    assert [p.stat().st_mtime_ns for p in sorted(media.glob("*.wav"))] == mtimes
    # without rendering, MIDI rows point at the MIDI
    raw = build_anchors(rows, dims=["timing"], render=False, base_dir=tmp_path)
    assert uri_to_path(raw["timing"]["low"]["clip_uri"]).name == "scale.mid"


@pytest.fixture(scope="module")
def percepiano_rows(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Segment]:
    from pianoeval.data.percepiano import build_percepiano_manifest
    from pianoeval.manifest import read_manifest

    out = tmp_path_factory.mktemp("percepiano") / "percepiano.jsonl"
    build_percepiano_manifest(data_root, out, progress=False)
    return read_manifest(out, check_media=False)


@pytest.mark.data
def test_anchors_on_percepiano_come_from_high_agreement_segments(
    percepiano_rows: list[Segment],
) -> None:
    dims = ["timing", "pedal_amount", "dynamic_range"]
    anchors = build_anchors(percepiano_rows, dims=dims, render=False)
    by_id = {r.segment_id: r for r in percepiano_rows}
    for dim in dims:
        stds = [(r.label_std or {})[dim] for r in percepiano_rows if dim in (r.label_std or {})]
        limit = float(np.median(stds))
        picked = [by_id[anchors[dim][lv]["segment_id"]] for lv in LEVELS]
        assert all((s.label_std or {})[dim] <= limit for s in picked)
        values = [s.labels[dim] for s in picked]
        assert values == sorted(values)
        assert values[0] < values[2]
        assert len({s.groups["excerpt"] for s in picked}) == 3
        assert all(anchors[dim][lv]["license"] == "MIT" for lv in LEVELS)
        assert [anchors[dim][lv]["percentile"] for lv in LEVELS] == pytest.approx(
            [10, 50, 90], abs=3
        )


def test_cli_anchors_build(tone_wav: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pianoeval.cli import app
    from pianoeval.manifest import write_manifest

    runner = CliRunner()
    manifest = tone_wav.parent / "labelled.jsonl"
    write_manifest(manifest, _rows(tone_wav, n=10))
    out = tmp_path / "anchors.json"
    args = ["anchors", "build", "--manifest", str(manifest), "--out", str(out), "--dim", "timing"]
    r = runner.invoke(app, [*args, "--pick", "timing:low=seg03"])
    assert r.exit_code == 0, r.output
    anchors = read_anchors(out)
    assert anchors["timing"]["low"]["segment_id"] == "seg03"
    assert anchors["timing"]["high"]["source"] == "human"
    assert runner.invoke(app, [*args, "--pick", "timing=seg03"]).exit_code == 2
    assert runner.invoke(app, [*args, "--pick", "timing:low=nope"]).exit_code == 2
    assert runner.invoke(app, [*args, "--source", "model"]).exit_code == 2
    missing = ["anchors", "build", "--manifest", str(tmp_path / "no.jsonl"), "--out", str(out)]
    assert runner.invoke(app, missing).exit_code == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"segment_id": 1}\n', encoding="utf-8")
    r = runner.invoke(app, ["anchors", "build", "--manifest", str(bad), "--out", str(out)])
    assert r.exit_code == 1
    assert "bad.jsonl" in r.output


def test_execution16_anchors_from_pseudo_labels(tone_wav: Path) -> None:
    rows = [
        Segment(segment_id=f"e{i}", dataset="user", audio_uri=tone_wav.name, t0=0, t1=2,
                pseudo_labels={"timing_stability": i / 10}, provenance={"license": "MIT"})
        for i in range(11)
    ]  # fmt: skip
    anchors = build_anchors(
        rows, taxonomy="execution16", dims=["timing_stability"], base_dir=tone_wav.parent
    )
    picked = {lv: a["segment_id"] for lv, a in anchors["timing_stability"].items()}
    assert picked == {"low": "e1", "mid": "e5", "high": "e9"}
    assert {a["source"] for a in anchors["timing_stability"].values()} == {"pseudo"}
