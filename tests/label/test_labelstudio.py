"""Label Studio: tasks and config out, annotations back into the store or a manifest."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pianoeval.errors import ParameterError, SchemaError
from pianoeval.label import AnswerStore
from pianoeval.label.export import export_manifest
from pianoeval.label.labelstudio import (
    annotations_to_rows,
    import_into_store,
    import_to_manifest,
    labeling_config,
    load_ls_export,
    queue_to_tasks,
    write_ls_project,
)
from pianoeval.manifest import Segment

LO = 1 / 7


def _lab(v: float) -> float:
    """A slider position as a percepiano19 label (the store and manifests hold labels)."""
    return LO + v * (1 - LO)


def _queue(tone_wav: Path) -> list[Segment]:
    return [
        Segment(segment_id=f"q{i}", dataset="user", audio_uri=tone_wav.name, t0=0.25 * i,
                t1=1.0 + 0.25 * i, taxonomy="percepiano19", dims=["timing", "pace"],
                provenance={"license": "CC-BY-4.0"},
                active={"rater": "midi-v3",
                        "predicted": {"percepiano19.timing": 4 / 7, "percepiano19.pace": 1.0}})
        for i in range(3)
    ]  # fmt: skip


def test_labeling_config_uses_documented_tags() -> None:
    root = ET.fromstring(labeling_config(["timing", "pace"]))
    assert root.tag == "View"
    audio = root.find("Audio")
    assert audio is not None
    assert audio.attrib == {"name": "audio", "value": "$audio"}
    numbers = root.findall(".//Number")
    assert [n.get("name") for n in numbers] == ["timing", "pace"]
    for n in numbers:
        assert n.attrib["toName"] == "audio"
        assert (n.get("min"), n.get("max"), n.get("slider")) == ("0", "1", "true")
    headers = [h.get("value") for h in root.iter("Header")]
    assert "timing: stable (low) - unstable (high)" in headers
    unsure = root.find("Choices")
    assert unsure is not None
    assert [c.get("value") for c in unsure] == ["timing", "pace"]
    rating = ET.fromstring(labeling_config(["timing"], widget="rating"))
    assert [r.get("maxRating") for r in rating.iter("Rating")] == ["7"]
    with pytest.raises(ParameterError, match="widget"):
        labeling_config(["timing"], widget="knob")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="no_such"):
        labeling_config(["no_such"])


def test_tasks_carry_media_span_and_predictions(tone_wav: Path) -> None:
    tasks = queue_to_tasks(_queue(tone_wav), base_dir=tone_wav.parent)
    assert len(tasks) == 3
    t = tasks[1]
    assert t["data"]["audio"] == str(tone_wav.resolve())
    assert (t["data"]["t0"], t["data"]["t1"]) == (0.25, 1.25)
    assert t["data"]["segment_id"] == "q1"
    assert t["data"]["license"] == "CC-BY-4.0"
    (pred,) = t["predictions"]
    assert pred["model_version"] == "midi-v3"
    values = {r["from_name"]: r["value"]["number"] for r in pred["result"]}
    assert values == {"timing": pytest.approx(0.5), "pace": pytest.approx(1.0)}
    prefixed = queue_to_tasks(
        _queue(tone_wav), base_dir=tone_wav.parent, url_prefix="/data/local-files/?d="
    )
    assert prefixed[0]["data"]["audio"] == f"/data/local-files/?d={tone_wav.name}"
    rated = queue_to_tasks(_queue(tone_wav), base_dir=tone_wav.parent, widget="rating")
    assert {r["value"]["rating"] for r in rated[0]["predictions"][0]["result"]} == {4, 7}
    midi_only = Segment(segment_id="m", dataset="user", midi_uri="x.mid", t0=0, t1=1,
                        provenance={"license": "MIT"})  # fmt: skip
    with pytest.raises(ParameterError, match="media_dir"):
        queue_to_tasks([midi_only], base_dir=tone_wav.parent)


def _annotate(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What Label Studio exports after two raters: one confirms a prediction, one cancels."""
    out = []
    for i, task in enumerate(tasks):
        anns = [
            {"id": 10 * i + 1, "completed_by": 7, "parent_prediction": 99,
             "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:00:05Z",
             "result": [
                 {"from_name": "timing", "to_name": "audio", "type": "number",
                  "value": {"number": 0.5}},  # the prediction, unchanged
                 {"from_name": "pace", "to_name": "audio", "type": "number",
                  "value": {"number": 0.2 + 0.1 * i}},
                 {"from_name": "unsure", "to_name": "audio", "type": "choices",
                  "value": {"choices": ["pace"]}},
                 {"from_name": "note", "to_name": "audio", "type": "textarea",
                  "value": {"text": [f"note {i}"]}},
             ]},
            {"id": 10 * i + 2, "completed_by": {"id": 8, "email": "bo@example.org"},
             "created_at": "2026-12-01T11:00:00Z",
             "result": [
                 {"from_name": "timing", "to_name": "audio", "type": "number",
                  "value": {"number": 0.9}},
             ]},
            {"id": 10 * i + 3, "completed_by": 9, "was_cancelled": True, "result": [
                {"from_name": "timing", "to_name": "audio", "type": "number",
                 "value": {"number": 0.0}}]},
        ]  # fmt: skip
        out.append({"id": i + 1, **task, "annotations": anns})
    return out


def test_round_trip_through_the_store(tone_wav: Path, tmp_path: Path) -> None:
    queue = _queue(tone_wav)
    export = _annotate(queue_to_tasks(queue, base_dir=tone_wav.parent))
    ls_path = tmp_path / "ls_export.json"
    ls_path.write_text(json.dumps(export), encoding="utf-8")
    tasks = load_ls_export(ls_path)

    store = AnswerStore(tmp_path / "answers.sqlite")
    admin = store.require_rater(store.add_rater("lab", admin=True)[1])
    counts = import_into_store(store, admin, tasks)
    assert counts == {"answers": 9, "raters": 2, "new_raters": 2, "notes": 3}
    rows = store.export_rows(admin)
    by_key = {(r["rater_name"], r["segment_id"], r["dim"]): r for r in rows}
    assert len(by_key) == 9
    a = by_key[("ls:user7", "q1", "timing")]
    assert a["value"] == pytest.approx(4 / 7)  # slider 0.5 = the prediction 4/7
    assert a["source"] == "prefill_confirmed"
    assert a["model_verified"] is True
    p = by_key[("ls:user7", "q1", "pace")]
    assert p["value"] == pytest.approx(_lab(0.3))
    assert p["unsure"] is True
    assert p["source"] == "rater"
    assert p["note"] == "note 1"
    b = by_key[("ls:bo@example.org", "q2", "timing")]
    assert b["value"] == pytest.approx(_lab(0.9))
    assert b["model_verified"] is False
    assert not any(r["rater_name"] == "ls:user9" for r in rows)  # cancelled

    # only an admin imports
    from pianoeval.label import LabelPermissionError

    ana = store.require_rater(store.add_rater("ana")[1])
    with pytest.raises(LabelPermissionError, match="admin"):
        import_into_store(store, ana, tasks)

    # importing again replaces, never duplicates raters
    assert import_into_store(store, admin, tasks)["new_raters"] == 0
    assert len(store.export_rows(admin)) == 9

    # straight to a manifest gives what the store's export gives
    direct = import_to_manifest(tasks, queue)
    via_store = export_manifest(store.export_rows(admin), queue)
    store.close()
    assert [s.labels for s in direct] == [s.labels for s in via_store]
    assert [s.label_source for s in direct] == [s.label_source for s in via_store]
    q0 = direct[0]
    assert q0.labels["timing"] == pytest.approx(_lab(0.7))  # median of sliders 0.5, 0.9
    assert q0.label_source == {"timing": "human", "pace": "human"}
    assert q0.n_raters == 2


def test_rating_widget_and_confirmed_predictions(tone_wav: Path) -> None:
    queue = _queue(tone_wav)[:1]
    tasks = queue_to_tasks(queue, base_dir=tone_wav.parent, widget="rating")
    tasks[0]["annotations"] = [
        {"completed_by": 3, "parent_prediction": 1, "result": [
            {"from_name": "timing", "to_name": "audio", "type": "rating",
             "value": {"rating": 4}},
            {"from_name": "pace", "to_name": "audio", "type": "rating",
             "value": {"rating": 7}},
        ]}
    ]  # fmt: skip
    rows = annotations_to_rows(tasks)
    assert {r["dim"]: r["value"] for r in rows} == {"timing": pytest.approx(4 / 7), "pace": 1.0}
    assert all(r["source"] == "prefill_confirmed" for r in rows)
    (seg,) = import_to_manifest(tasks, queue)
    assert seg.label_source == {"timing": "model_verified", "pace": "model_verified"}
    assert seg.labels["timing"] == pytest.approx(4 / 7)  # rating r -> r / 7, as PercePiano


def test_bad_exports(tmp_path: Path) -> None:
    path = tmp_path / "ls.json"
    for text, message in (
        ("{", "not JSON"),
        ('{"tasks": []}', "JSON list of tasks"),
    ):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(SchemaError, match=message) as info:
            load_ls_export(path)
        assert str(path) in str(info.value)
    with pytest.raises(SchemaError, match="does not exist"):
        load_ls_export(tmp_path / "none.json")
    no_id = [{"data": {"audio": "a.wav"}, "annotations": []}]
    with pytest.raises(SchemaError, match="segment_id"):
        annotations_to_rows(no_id, source="ls.json")
    out_of_range = [{"data": {"segment_id": "s"}, "annotations": [{"completed_by": 1, "result": [
        {"from_name": "timing", "type": "number", "value": {"number": 3}}]}]}]  # fmt: skip
    with pytest.raises(SchemaError, match=r"outside the slider's \[0, 1\]"):
        annotations_to_rows(out_of_range)


def test_write_project(tone_wav: Path, tmp_path: Path) -> None:
    tasks_path, config_path = write_ls_project(
        _queue(tone_wav), tmp_path / "ls", base_dir=tone_wav.parent
    )
    tasks = json.loads(tasks_path.read_text(encoding="utf-8"))
    assert [t["data"]["segment_id"] for t in tasks] == ["q0", "q1", "q2"]
    # every clip cut to its span (Label Studio plays whole files), samples untouched
    import numpy as np
    import soundfile as sf

    source, sr = sf.read(tone_wav)
    for task, seg in zip(tasks, _queue(tone_wav), strict=True):
        clip = Path(task["data"]["audio"])
        assert clip.parent == (tmp_path / "ls" / "media").resolve()
        y, clip_sr = sf.read(clip)
        assert clip_sr == sr
        assert len(y) == round(seg.t1 * sr) - round(seg.t0 * sr)
        np.testing.assert_allclose(y, source[round(seg.t0 * sr) : round(seg.t1 * sr)], atol=1e-4)
        assert (task["data"]["t0"], task["data"]["t1"]) == (0.0, seg.t1 - seg.t0)
        assert (task["data"]["source_t0"], task["data"]["source_t1"]) == (seg.t0, seg.t1)
    names = [n.get("name") for n in ET.parse(config_path).getroot().iter("Number")]
    assert names == ["timing", "pace"]


def test_cli_ls_export_and_import(tone_wav: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pianoeval.cli import app
    from pianoeval.manifest import read_manifest, write_manifest

    runner = CliRunner()
    queue = tone_wav.parent / "queue.jsonl"
    write_manifest(queue, _queue(tone_wav))
    out_dir = tmp_path / "ls"
    r = runner.invoke(app, ["label", "ls-export", "--queue", str(queue), "--out-dir", str(out_dir)])
    assert r.exit_code == 0, r.output
    tasks = json.loads((out_dir / "tasks.json").read_text(encoding="utf-8"))
    assert (out_dir / "labeling_config.xml").is_file()
    ls_path = tmp_path / "export.json"
    ls_path.write_text(json.dumps(_annotate(tasks)), encoding="utf-8")

    db = tmp_path / "answers.sqlite"
    store = AnswerStore(db)
    _, admin = store.add_rater("lab", admin=True)
    store.close()
    r = runner.invoke(app, ["label", "ls-import", "--export", str(ls_path), "--db", str(db),
                            "--admin-token", admin])  # fmt: skip
    assert r.exit_code == 0, r.output
    with AnswerStore(db) as store:
        assert len(store.export_rows(store.require_rater(admin))) == 9
    out = tmp_path / "labels.jsonl"
    r = runner.invoke(app, ["label", "ls-import", "--export", str(ls_path), "--out", str(out),
                            "--queue", str(queue)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert [s.segment_id for s in read_manifest(out)] == ["q0", "q1", "q2"]

    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{", encoding="utf-8")
    for args, code in (
        (["--export", str(ls_path)], 2),  # neither --db nor --out
        (["--export", str(ls_path), "--db", str(db), "--out", str(out)], 2),
        (["--export", str(ls_path), "--out", str(out)], 2),  # --out without --queue
        (["--export", str(tmp_path / "none.json"), "--out", str(out), "--queue", str(queue)], 2),
        (["--export", str(bad_json), "--out", str(out), "--queue", str(queue)], 1),
        (["--export", str(ls_path), "--db", str(db)], 2),  # no admin token
    ):
        r = runner.invoke(app, ["label", "ls-import", *args])
        assert r.exit_code == code, (args, r.output)
    midi_queue = tmp_path / "midi.jsonl"
    write_manifest(midi_queue, [Segment(segment_id="m", dataset="user", midi_uri="nowhere.mid",
                                        t0=0, t1=1, provenance={"license": "MIT"})])  # fmt: skip
    r = runner.invoke(app, ["label", "ls-export", "--queue", str(midi_queue), "--out-dir",
                            str(out_dir)])  # fmt: skip
    assert r.exit_code == 1  # the MIDI file is missing: a bad input


@pytest.mark.backend
def test_midi_only_rows_are_rendered_for_label_studio(tmp_path: Path) -> None:
    pytest.importorskip("fluidsynth")
    import pretty_midi
    import soundfile as sf

    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes += [pretty_midi.Note(velocity=90, pitch=60 + k, start=0.3 * k, end=0.3 * k + 0.25)
                    for k in range(6)]  # fmt: skip
    pm.instruments.append(piano)
    pm.write(str(tmp_path / "m.mid"))
    seg = Segment(segment_id="m1", dataset="user", midi_uri="m.mid", t0=0.3, t1=1.5,
                  provenance={"license": "CC0-1.0"})  # fmt: skip
    (task,) = queue_to_tasks([seg], base_dir=tmp_path, media_dir=tmp_path / "media",
                             url_prefix="/data/local-files/?d=")  # fmt: skip
    assert task["data"]["audio"].startswith("/data/local-files/?d=m1_")
    clip = tmp_path / "media" / task["data"]["audio"].removeprefix("/data/local-files/?d=")
    y, sr = sf.read(clip)
    assert len(y) == round(1.2 * sr)
    assert float((y**2).mean()) > 1e-6
    assert (task["data"]["t0"], task["data"]["t1"]) == (0.0, pytest.approx(1.2))
