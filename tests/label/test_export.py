"""Export: consensus, spread, model_verified, unsure answers, honeypots; the manifest validates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pianoeval.errors import ParameterError, PianoEvalWarning, SchemaError
from pianoeval.label import AnswerStore
from pianoeval.label.export import export_manifest
from pianoeval.manifest import Segment, read_manifest, write_manifest

LO = 1 / 7  # percepiano19's value_range starts at 1/7; answers are stored as labels


def _queue() -> list[Segment]:
    common: dict[str, Any] = {"dataset": "user", "t0": 0.0, "t1": 4.0, "taxonomy": "percepiano19"}
    return [
        Segment(segment_id="s1", midi_uri="s1.mid", provenance={"license": "CC-BY-4.0"},
                active={"rank": 1, "predicted": {"percepiano19.timing": 0.4}}, **common),
        Segment(segment_id="s2", audio_uri="s2.wav", provenance={"license": "MIT"},
                dims=["timing", "pace", "balance"], groups={"performer": "p1"}, **common),
        # a honeypot: already labelled by people
        Segment(segment_id="hp", midi_uri="hp.mid", provenance={"license": "MIT"},
                dims=["timing"], labels={"timing": 0.5}, label_mask={"timing": 1}, **common),
        Segment(segment_id="s3", midi_uri="s3.mid", provenance={"license": "MIT"}, **common),
    ]  # fmt: skip


@pytest.fixture
def rows(tmp_path: Path) -> list[dict[str, Any]]:
    store = AnswerStore(tmp_path / "answers.sqlite")
    admin = store.require_rater(store.add_rater("lab", admin=True)[1])
    ana, ben, cy = (store.require_rater(store.add_rater(n)[1]) for n in ("ana", "ben", "cy"))
    for rater, v in ((ana, 0.2), (ben, 0.4), (cy, 0.9)):
        store.save_answer(rater, "s1", "timing", v)
    # pace: every rater confirmed the suggestion unchanged -> model_verified
    for rater in (ana, ben, cy):
        store.save_answer(rater, "s1", "pace", 0.6, confirmed_prefill=True)
    # s2 timing: one sure answer and one unsure one: only the sure one counts
    store.save_answer(ana, "s2", "timing", 0.3)
    store.save_answer(ben, "s2", "timing", 0.9, unsure=True)
    # s2 pace: all unsure -> all count; one confirmed pre-fill and one moved -> human
    store.save_answer(ana, "s2", "pace", 0.5, unsure=True, confirmed_prefill=True)
    store.save_answer(cy, "s2", "pace", 0.7, unsure=True)
    store.save_answer(ana, "hp", "timing", 0.1)
    out = store.export_rows(admin)
    store.close()
    return out


def test_consensus_spread_and_sources(rows: list[dict[str, Any]], tmp_path: Path) -> None:
    segs = export_manifest(rows, _queue())
    assert [s.segment_id for s in segs] == ["s1", "s2"]  # honeypot and unrated s3 left out
    s1, s2 = segs
    assert s1.taxonomy == "percepiano19"
    assert s1.dims == ["timing", "pace"]
    assert s1.labels["timing"] == pytest.approx(0.4)  # the median
    assert s1.label_std is not None
    assert s1.label_std["timing"] == pytest.approx(float(np.std([0.2, 0.4, 0.9], ddof=1)))
    assert s1.label_std["pace"] == pytest.approx(0.0)
    assert s1.label_source == {"timing": "human", "pace": "model_verified"}
    assert s1.label_mask == {"timing": 1, "pace": 1}
    assert s1.n_raters == 3
    assert s1.rater_id is not None
    assert len(s1.rater_id.split(",")) == 3
    assert s1.source == "human"
    assert s1.license == "CC-BY-4.0"
    assert "active" not in s1.to_json_dict()  # the selector's field is not a label

    assert s2.labels["timing"] == pytest.approx(0.3)  # the unsure 0.9 left out
    assert s2.label_std is not None
    assert "timing" not in s2.label_std
    assert s2.labels["pace"] == pytest.approx(0.6)  # all unsure: both count
    assert s2.label_source == {"timing": "human", "pace": "human"}
    # the queue's dims stay listed; the unrated one has mask 0
    assert s2.dims == ["balance", "timing", "pace"]
    assert s2.label_mask == {"balance": 0, "timing": 1, "pace": 1}
    assert s2.labels.get("balance") is None
    assert s2.groups == {"performer": "p1"}
    assert s2.n_raters == 2

    out = tmp_path / "labels.jsonl"
    write_manifest(out, segs)
    back = read_manifest(out, check_media=False)
    assert [s.labels for s in back] == [s.labels for s in segs]


def test_mean_min_raters_and_rerates(rows: list[dict[str, Any]]) -> None:
    s1 = export_manifest(rows, _queue(), consensus="mean")[0]
    assert s1.labels["timing"] == pytest.approx(0.5)
    strict = export_manifest(rows, _queue(), min_raters=2)
    s2 = strict[1]
    assert s2.label_mask["timing"] == 0
    assert s2.labels.get("timing") is None
    assert s2.label_mask["pace"] == 1
    # a re-rate row: the rater's answers are averaged before the consensus
    rerate = {**next(r for r in rows if r["segment_id"] == "s2" and r["dim"] == "timing"
                     and not r["unsure"]), "value": 0.5, "attempt": 2}  # fmt: skip
    s2 = export_manifest([*rows, rerate], _queue())[1]
    assert s2.labels["timing"] == pytest.approx(0.4)


def test_honeypots_and_unknown_segments(rows: list[dict[str, Any]]) -> None:
    segs = export_manifest(rows, _queue(), honeypots={"s2"})
    assert [s.segment_id for s in segs] == ["s1"]
    stray = {**rows[0], "segment_id": "nowhere"}  # rows[0] is the honeypot's answer
    with pytest.warns(PianoEvalWarning, match="nowhere"):
        assert len(export_manifest([*rows, stray], _queue())) == 2


def test_bad_input(rows: list[dict[str, Any]]) -> None:
    assert export_manifest([], _queue()) == []  # nothing answered yet: nothing to export
    with pytest.raises(ParameterError, match="consensus"):
        export_manifest(rows, _queue(), consensus="mode")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="min_raters"):
        export_manifest(rows, _queue(), min_raters=0)
    with pytest.raises(ParameterError, match="twice"):
        export_manifest(rows, [*_queue(), _queue()[0]])
    s1_row = next(r for r in rows if r["segment_id"] == "s1")
    with pytest.raises(SchemaError, match="no_such_dim"):
        export_manifest([{**s1_row, "dim": "no_such_dim"}], _queue())
    with pytest.raises(SchemaError, match="value"):
        export_manifest([{"rater_id": 1, "segment_id": "s1", "dim": "timing"}], _queue())
    # an answer below percepiano19's 1/7 was saved on another scale
    with pytest.raises(SchemaError, match=r"outside its label range \[0.1429, 1\]"):
        export_manifest([{**s1_row, "value": 0.05}], _queue())


def test_qualified_dims_of_two_taxonomies(rows: list[dict[str, Any]]) -> None:
    q = [Segment(segment_id="s1", dataset="user", midi_uri="a.mid", t0=0, t1=2,
                 provenance={"license": "MIT"})]  # fmt: skip
    mixed = [
        {"rater_id": 1, "segment_id": "s1", "dim": "percepiano19.timing", "value": LO},
        {"rater_id": 1, "segment_id": "s1", "dim": "execution16.timing_stability", "value": 1.0},
    ]
    seg = export_manifest(mixed, q)[0]
    assert seg.taxonomy is None
    assert seg.labels == {
        "execution16.timing_stability": pytest.approx(1.0),
        "percepiano19.timing": pytest.approx(LO),
    }


def test_cli_export(tmp_path: Path, tone_wav: Path) -> None:
    from typer.testing import CliRunner

    from pianoeval.cli import app

    runner = CliRunner()
    db = tmp_path / "answers.sqlite"
    store = AnswerStore(db)
    _, admin = store.add_rater("lab", admin=True)
    for name, v in (("ana", 0.25), ("ben", 0.75)):
        store.save_answer(store.require_rater(store.add_rater(name)[1]), "s1", "timing", v)
    store.close()
    queue = tone_wav.parent / "queue.jsonl"
    write_manifest(queue, [Segment(segment_id="s1", dataset="user", audio_uri=tone_wav.name,
                                   t0=0, t1=2, taxonomy="percepiano19",
                                   provenance={"license": "MIT"})])  # fmt: skip
    out = tmp_path / "out" / "labels.jsonl"
    args = ["label", "export", "--db", str(db), "--queue", str(queue), "--out", str(out)]
    r = runner.invoke(app, [*args, "--admin-token", admin, "--consensus", "mean"])
    assert r.exit_code == 0, r.output
    (seg,) = read_manifest(out)  # media paths rewritten relative to the new folder
    assert seg.labels["timing"] == pytest.approx(0.5)
    assert seg.n_raters == 2
    assert r.exit_code == 0
    # answers to the app's honeypots (not in the queue) are left out without a warning
    hp = tmp_path / "honeypots.jsonl"
    write_manifest(hp, [Segment(segment_id="hp1", dataset="user", audio_uri=str(tone_wav),
                                t0=0, t1=2, taxonomy="percepiano19", dims=["timing"],
                                labels={"timing": 0.5}, label_mask={"timing": 1},
                                provenance={"license": "MIT"})])  # fmt: skip
    with AnswerStore(db) as store:
        store.save_answer(store.require_rater(store.add_rater("cy")[1]), "hp1", "timing", 0.9)
    r = runner.invoke(app, [*args, "--admin-token", admin, "--honeypots", str(hp)])
    assert r.exit_code == 0, r.output
    assert "not in the queue" not in r.output
    assert [s.segment_id for s in read_manifest(out)] == ["s1"]
    assert runner.invoke(app, [*args]).exit_code == 2  # no admin token
    assert runner.invoke(app, [*args, "--admin-token", admin, "--consensus", "mode"]).exit_code == 2
    bad_queue = tmp_path / "bad.jsonl"
    bad_queue.write_text('{"segment_id": "s1"}\n', encoding="utf-8")
    bad = ["label", "export", "--db", str(db), "--queue", str(bad_queue), "--out", str(out)]
    r = runner.invoke(app, [*bad, "--admin-token", admin])
    assert r.exit_code == 1
    assert "bad.jsonl" in r.output
