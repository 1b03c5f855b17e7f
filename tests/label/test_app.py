"""The labeling app through its factory and a TestClient: login, the heard-to-end rule,
pre-fill, isolation between raters, admin export, re-rating, restarts, the CLI, the queue."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the label app needs the serve extra")

import soundfile as sf
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pianoeval.cli import app as cli_app
from pianoeval.errors import ParameterError, SchemaError
from pianoeval.label import AnswerStore
from pianoeval.label.app import create_label_app
from pianoeval.label.queue import load_anchors, load_queue
from pianoeval.manifest import Segment, write_manifest

SR = 8000
DIMS = ["timing_stability", "pedal_clarity"]


def write_tone(path: Path, seconds: float = 1.0, freq: float = 440.0) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (0.2 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR, subtype="PCM_16")
    return path


def segment(seg_id: str, uri: str, **extra: Any) -> Segment:
    fields: dict[str, Any] = {
        "segment_id": seg_id,
        "dataset": "test",
        "audio_uri": uri,
        "t0": 0.2,
        "t1": 0.7,
        "taxonomy": "execution16",
        "dims": DIMS,
        "provenance": {"license": "CC0-1.0"},
    }
    fields.update(extra)
    return Segment(**fields)


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    for i in range(4):
        write_tone(root / f"clip{i}.wav", freq=300.0 + 50 * i)
    return root


@pytest.fixture
def queue(media: Path) -> Path:
    rows = [
        segment("s1", "clip0.wav", active={"predicted": {"execution16.timing_stability": 0.6}}),
        segment("s2", "clip1.wav"),
        segment("s3", "clip2.wav"),
        segment("h1", "clip3.wav", labels={"timing_stability": 0.3, "pedal_clarity": 0.8},
                label_mask={"timing_stability": 1, "pedal_clarity": 1}, source="human"),
    ]  # fmt: skip
    path = media / "queue.jsonl"
    write_manifest(path, rows)
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "labels.sqlite"


def tokens(db: Path, *names: str, admin: str | None = None) -> dict[str, str]:
    with AnswerStore(db) as store:
        out = {n: store.add_rater(n)[1] for n in names}
        if admin:
            out[admin] = store.add_rater(admin, admin=True)[1]
    return out


@pytest.fixture
def make_client(queue: Path, db: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def _make(**kw: Any) -> TestClient:
        kw.setdefault("min_listen_fraction", 0.0)
        kw.setdefault("honeypot_rate", 0.0)
        client = TestClient(create_label_app(kw.pop("queue", queue), db, **kw))
        client.__enter__()
        clients.append(client)
        return client

    yield _make
    for c in clients:
        c.__exit__(None, None, None)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def listen(client: TestClient, token: str) -> dict[str, Any]:
    """Take the next item, fetch its audio and report it heard; return the item."""
    got = client.get("/api/next", headers=auth(token)).json()
    assert got["done"] is False
    item: dict[str, Any] = got["item"]
    r = client.get(item["media_url"], headers=auth(token))
    assert r.status_code == 200, r.text
    assert client.post("/api/heard", json={"segment_id": item["segment_id"]},
                       headers=auth(token)).status_code == 200  # fmt: skip
    return item


def rate_all(client: TestClient, token: str, item: dict[str, Any], value: float = 0.5) -> None:
    for d in item["dims"]:
        body = {"segment_id": item["segment_id"], "dim": d["name"], "value": value}
        r = client.post("/api/answer", headers=auth(token), json=body)
        assert r.status_code == 200, r.text
    r = client.post("/api/done", json={"segment_id": item["segment_id"]}, headers=auth(token))
    assert r.status_code == 200, r.text


def test_login_and_unknown_token(make_client: Any, db: Path) -> None:
    tok = tokens(db, "ana")
    client = make_client()
    assert client.get("/api/health").json()["segments"] == 3
    assert client.get("/api/me", headers=auth(tok["ana"])).json()["name"] == "ana"
    for headers in ({}, auth("not-a-token"), {"Authorization": tok["ana"]}):
        r = client.get("/api/me", headers=headers)
        assert r.status_code == 401
        assert r.json()["error"] == "unauthorized"
    assert client.get("/api/next", headers=auth("nope")).status_code == 401
    page = client.get("/")
    assert page.status_code == 200
    assert "label.js" in page.text


def test_answer_before_heard_is_409_then_saved_and_done(make_client: Any, db: Path) -> None:
    tok = tokens(db, "ana")["ana"]
    client = make_client()
    item = client.get("/api/next", headers=auth(tok)).json()["item"]
    assert item["segment_id"] == "s1"
    assert [d["name"] for d in item["dims"]] == DIMS
    assert item["dims"][0]["low"] == "jittery pulse"
    assert item["dims"][0]["high"] == "steady pulse"
    assert item["heard"] is False
    body = {"segment_id": "s1", "dim": "pedal_clarity", "value": 0.25}
    r = client.post("/api/answer", json=body, headers=auth(tok))
    assert r.status_code == 409
    assert "heard" in r.json()["detail"]
    # heard before the audio was even fetched: refused too
    assert (
        client.post("/api/heard", json={"segment_id": "s1"}, headers=auth(tok)).status_code == 409
    )
    wav = client.get(item["media_url"], headers=auth(tok))
    assert wav.headers["content-type"] == "audio/wav"
    import io

    y, sr = sf.read(io.BytesIO(wav.content))
    assert sr == SR
    assert len(y) == round(0.5 * SR)  # exactly t0-t1
    assert (
        client.post("/api/heard", json={"segment_id": "s1"}, headers=auth(tok)).status_code == 200
    )
    r = client.post("/api/answer", json=body, headers=auth(tok))
    assert r.status_code == 200
    assert r.json()["source"] == "rater"
    r = client.post("/api/done", json={"segment_id": "s1"}, headers=auth(tok))
    assert r.status_code == 409
    assert "timing_stability" in r.json()["detail"]
    bad = {"segment_id": "s1", "dim": "dynamics", "value": 0.5}
    assert client.post("/api/answer", json=bad, headers=auth(tok)).status_code == 422
    out_of_range = {"segment_id": "s1", "dim": "timing_stability", "value": 1.5}
    assert client.post("/api/answer", json=out_of_range, headers=auth(tok)).status_code == 422
    rate_all(client, tok, item, value=0.75)
    mine = client.get("/api/answers", headers=auth(tok)).json()["answers"]
    assert {(a["dim"], a["value"]) for a in mine} == {("pedal_clarity", 0.75),
                                                      ("timing_stability", 0.75)}  # fmt: skip
    assert client.get("/api/next", headers=auth(tok)).json()["item"]["segment_id"] == "s2"


def test_heard_too_soon_is_refused(make_client: Any, db: Path) -> None:
    tok = tokens(db, "ana")["ana"]
    client = make_client(min_listen_fraction=0.9)
    item = client.get("/api/next", headers=auth(tok)).json()["item"]
    client.get(item["media_url"], headers=auth(tok))
    r = client.post("/api/heard", json={"segment_id": "s1"}, headers=auth(tok))
    assert r.status_code == 409
    assert "too soon" in r.json()["detail"]
    time.sleep(0.5)
    assert (
        client.post("/api/heard", json={"segment_id": "s1"}, headers=auth(tok)).status_code == 200
    )


def test_prefill_is_a_suggestion_until_confirmed(make_client: Any, db: Path) -> None:
    tok = tokens(db, "ana", admin="boss")
    client = make_client()
    item = listen(client, tok["ana"])
    prefill = {d["name"]: d["prefill"] for d in item["dims"]}
    assert prefill == {"timing_stability": 0.6, "pedal_clarity": None}
    assert item["answers"] == {}  # a suggestion is not an answer
    wrong = {"segment_id": "s1", "dim": "timing_stability", "value": 0.5, "confirmed_prefill": True}
    assert client.post("/api/answer", json=wrong, headers=auth(tok["ana"])).status_code == 422
    none = {"segment_id": "s1", "dim": "pedal_clarity", "value": 0.5, "confirmed_prefill": True}
    assert client.post("/api/answer", json=none, headers=auth(tok["ana"])).status_code == 422
    ok = {"segment_id": "s1", "dim": "timing_stability", "value": 0.6, "confirmed_prefill": True}
    r = client.post("/api/answer", json=ok, headers=auth(tok["ana"]))
    assert r.json()["source"] == "prefill_confirmed"
    again = client.get("/api/next", headers=auth(tok["ana"])).json()["item"]
    assert again["answers"]["timing_stability"]["source"] == "prefill_confirmed"
    rows = client.get("/api/admin/export", headers=auth(tok["boss"])).json()["answers"]
    assert [(r["dim"], r["model_verified"]) for r in rows] == [("timing_stability", True)]


def test_raters_are_isolated_and_only_admins_export(make_client: Any, db: Path) -> None:
    tok = tokens(db, "ana", "ben", admin="boss")
    client = make_client(n_raters=1)
    a_item = listen(client, tok["ana"])
    rate_all(client, tok["ana"], a_item, value=0.9)
    b_item = listen(client, tok["ben"])
    assert b_item["segment_id"] != a_item["segment_id"]  # n_raters=1: s1 is taken
    # ben can neither read nor write ana's segment, nor fetch its audio
    assert client.get("/api/answers", headers=auth(tok["ben"])).json()["answers"] == []
    write = {"segment_id": a_item["segment_id"], "dim": "pedal_clarity", "value": 0.1}
    assert client.post("/api/answer", json=write, headers=auth(tok["ben"])).status_code == 403
    assert client.get(a_item["media_url"], headers=auth(tok["ben"])).status_code == 403
    r = client.get("/api/admin/export", headers=auth(tok["ana"]))
    assert r.status_code == 403
    assert "admin" in r.json()["detail"]
    export = client.get("/api/admin/export", headers=auth(tok["boss"])).json()
    assert {(r["rater_name"], r["segment_id"], r["value"]) for r in export["answers"]} == {
        ("ana", "s1", 0.9)
    }
    assert export["honeypots"] == {"h1": {"timing_stability": 0.3, "pedal_clarity": 0.8}}


def test_honeypot_is_served_without_its_answers(make_client: Any, db: Path) -> None:
    tok = tokens(db, "ana")["ana"]
    client = make_client(honeypot_rate=0.5)
    seen = []
    for _ in range(4):
        got = client.get("/api/next", headers=auth(tok)).json()
        if got["done"]:
            break
        seen.append(got["item"])
        client.post("/api/skip", json={"segment_id": got["item"]["segment_id"]}, headers=auth(tok))
    ids = [i["segment_id"] for i in seen]
    assert sorted(ids) == ["h1", "s1", "s2", "s3"]
    pot = seen[ids.index("h1")]
    assert "0.3" not in json.dumps(pot)
    assert "0.8" not in json.dumps(pot)
    assert all(d["prefill"] is None for d in pot["dims"])


def test_rerate_is_stored_beside_the_first_answer(make_client: Any, db: Path) -> None:
    tok = tokens(db, "ana", admin="boss")
    client = make_client(rerate_rate=1.0, rerate_after=1)
    first = listen(client, tok["ana"])
    rate_all(client, tok["ana"], first, value=0.2)
    second = listen(client, tok["ana"])
    assert second["segment_id"] == "s2"
    rate_all(client, tok["ana"], second, value=0.4)
    again = listen(client, tok["ana"])
    assert again["segment_id"] == "s1"  # back after one other item
    assert again["answers"] == {}  # the first answers are not shown again
    rate_all(client, tok["ana"], again, value=0.3)
    export = client.get("/api/admin/export", headers=auth(tok["boss"])).json()
    first_values = {(r["segment_id"], r["dim"]): r["value"] for r in export["answers"]}
    assert first_values[("s1", "timing_stability")] == 0.2  # not overwritten
    rerates = {
        (r["segment_id"], r["dim"]): (r["value"], r["first_value"]) for r in export["rerates"]
    }
    assert rerates == {("s1", d): (0.3, 0.2) for d in DIMS}


def test_restart_keeps_assignment_heard_and_answers(queue: Path, db: Path) -> None:
    tok = tokens(db, "ana", "ben")
    kw: dict[str, Any] = {"n_raters": 1, "honeypot_rate": 0.0, "min_listen_fraction": 0.0}
    with TestClient(create_label_app(queue, db, **kw)) as client:
        item = listen(client, tok["ana"])
        body = {"segment_id": item["segment_id"], "dim": DIMS[0], "value": 0.4}
        r = client.post("/api/answer", headers=auth(tok["ana"]), json=body)
        assert r.status_code == 200
    with TestClient(create_label_app(queue, db, **kw)) as client:
        again = client.get("/api/next", headers=auth(tok["ana"])).json()["item"]
        assert again["segment_id"] == item["segment_id"]
        assert again["heard"] is True
        assert again["answers"][DIMS[0]]["value"] == 0.4
        # ana still holds s1: with one rater per segment ben gets s2
        assert (
            client.get("/api/next", headers=auth(tok["ben"])).json()["item"]["segment_id"] == "s2"
        )


def test_extra_routers_are_included(queue: Path, db: Path) -> None:
    from fastapi import APIRouter

    extra = APIRouter(prefix="/pairwise")

    @extra.get("/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    with TestClient(create_label_app(queue, db, extra_routers=[extra])) as client:
        assert client.get("/pairwise/ping").json() == {"pong": "yes"}


def test_store_file_without_rerate_table_is_upgraded_in_place(db: Path) -> None:
    tok = tokens(db, "ana")["ana"]
    with AnswerStore(db) as store:
        ana = store.authenticate(tok)
        assert ana is not None
        store.save_answer(ana, "s1", "pedal_clarity", 0.5)
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE rerate_answers")  # the layout the store was first released with
    conn.commit()
    conn.close()
    with AnswerStore(db) as store:
        ana = store.authenticate(tok)
        assert ana is not None
        assert [a.value for a in store.answers_of(ana)] == [0.5]
        store.save_answer(ana, "s1", "pedal_clarity", 0.7, rerate=True)
        assert [a.value for a in store.answers_of(ana, rerate=True)] == [0.7]
        assert [a.value for a in store.answers_of(ana)] == [0.5]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    conn.close()


def test_cli_add_rater_prints_a_working_token(db: Path) -> None:
    out = CliRunner().invoke(cli_app, ["label", "add-rater", "ana", "--db", str(db), "--admin"])
    assert out.exit_code == 0, out.output
    token = out.stdout.strip().splitlines()[-1]
    with AnswerStore(db) as store:
        rater = store.authenticate(token)
        assert rater is not None
        assert rater.name == "ana"
        assert rater.is_admin


def test_cli_serve_reports_a_bad_queue(tmp_path: Path, db: Path) -> None:
    out = CliRunner().invoke(
        cli_app, ["label", "serve", "--queue", str(tmp_path / "missing.jsonl"), "--db", str(db)]
    )
    assert out.exit_code == 1
    assert "missing.jsonl" in out.output


def test_queue_errors_name_the_file(media: Path) -> None:
    no_dims = media / "nodims.jsonl"
    write_manifest(no_dims, [segment("x", "clip0.wav", dims=[])])
    with pytest.raises(SchemaError, match=r"nodims\.jsonl.*'x' has no dims"):
        load_queue(no_dims)
    unknown = media / "unknown.jsonl"
    write_manifest(unknown, [segment("x", "clip0.wav", dims=["loudness_of_cat"])])
    with pytest.raises(SchemaError, match=r"unknown\.jsonl.*loudness_of_cat"):
        load_queue(unknown)
    bad_pred = media / "badpred.jsonl"
    write_manifest(bad_pred, [segment("x", "clip0.wav",
                                      active={"predicted": {"timing_stability": 7}})])  # fmt: skip
    with pytest.raises(SchemaError, match=r"badpred\.jsonl.*outside"):
        load_queue(bad_pred)
    ok = media / "ok.jsonl"
    write_manifest(ok, [segment("x", "clip0.wav")])
    with pytest.raises(SchemaError, match=r"ok\.jsonl.*'x'.*a honeypot needs human labels"):
        load_queue(ok, honeypots=ok)
    pots = media / "pots.jsonl"
    write_manifest(pots, [segment("x", "clip1.wav", labels={"pedal_clarity": 0.5})])
    with pytest.raises(SchemaError, match=r"'x' is given twice"):
        load_queue(ok, honeypots=pots)
    anchors = media / "anchors.json"
    anchors.write_text(json.dumps({"timing_stability": {"top": {"clip_uri": "a.wav"}}}))
    with pytest.raises(SchemaError, match=r"anchors\.json.*timing_stability\.top"):
        load_anchors(anchors)


def test_anchors_are_listed_and_playable(make_client: Any, db: Path, media: Path) -> None:
    anchors = media / "anchors.json"
    clip = {"clip_uri": "clip2.wav", "t0": 0.0, "t1": 0.25, "desc": "a steady pulse"}
    anchors.write_text(json.dumps({"execution16.timing_stability": {"high": clip}}))
    tok = tokens(db, "ana")["ana"]
    client = make_client(anchors=anchors)
    item = client.get("/api/next", headers=auth(tok)).json()["item"]
    high = item["dims"][0]["anchors"]["high"]
    assert high["desc"] == "a steady pulse"
    assert item["dims"][1]["anchors"] == {}
    r = client.get(high["url"], headers=auth(tok))
    assert r.status_code == 200
    import io

    assert len(sf.read(io.BytesIO(r.content))[0]) == round(0.25 * SR)
    assert client.get(high["url"]).status_code == 401


def test_raters_asking_at_once_never_exceed_n_raters(make_client: Any, db: Path) -> None:
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    names = [f"r{i}" for i in range(8)]
    tok = tokens(db, *names)
    client = make_client(n_raters=2)

    def first_item(name: str) -> str | None:
        got = client.get("/api/next", headers=auth(tok[name])).json()
        return None if got["done"] else str(got["item"]["segment_id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(first_item, names))
    # three segments x two raters: six raters get one, two get nothing
    assert Counter(got) == Counter({"s1": 2, "s2": 2, "s3": 2, None: 2})


def test_pairwise_mode_serves_pairs_of_one_passage_and_only_their_audio(
    media: Path, db: Path
) -> None:
    rows = [
        segment(f"p{i}", f"clip{i}.wav", groups={"excerpt": "passage-a" if i < 3 else "solo"})
        for i in range(4)
    ]
    path = media / "pairs.jsonl"
    write_manifest(path, rows)
    tok = tokens(db, "ana")
    with TestClient(create_label_app(path, db, pairwise=True, min_listen_fraction=0.0)) as client:
        r = client.get("/pairwise/next", headers=auth(tok["ana"]))
        assert r.status_code == 200, r.text
        pair = r.json()
        ids = {pair["left"]["segment_id"], pair["right"]["segment_id"]}
        assert ids <= {"p0", "p1", "p2"}  # takes of passage-a only; p3 has no partner
        for take in (pair["left"], pair["right"]):
            wav = client.get(take["media_url"], headers=auth(tok["ana"]))
            assert wav.status_code == 200
            assert wav.headers["content-type"] == "audio/wav"
        # a segment outside the pairs, or no token: refused
        out = client.get("/api/pairwise-media?segment_id=p3", headers=auth(tok["ana"]))
        assert out.status_code == 403
        assert client.get("/api/pairwise-media?segment_id=p0").status_code == 401
    write_manifest(path, [rows[0], rows[3]])  # no two takes of one passage
    with pytest.raises(ParameterError, match="no two takes"):
        create_label_app(path, db, pairwise=True)


def test_admin_quality_control_json_and_page(make_client: Any, db: Path) -> None:
    tok = tokens(db, "ana", "ben", admin="lab")
    client = make_client(n_raters=2, min_listen_fraction=0.0)
    assert client.get("/api/admin/qc", headers=auth(tok["lab"])).status_code == 409  # no answers
    for name, value in (("ana", 0.3), ("ben", 0.7)):
        for _ in range(2):
            item = listen(client, tok[name])
            rate_all(client, tok[name], item, value=value)
    assert client.get("/api/admin/qc", headers=auth(tok["ana"])).status_code == 403
    r = client.get("/api/admin/qc", headers=auth(tok["lab"]))
    assert r.status_code == 200, r.text
    report = r.json()
    assert {d["dim"] for d in report["dimensions"]} == set(DIMS)
    assert {q["rater_name"] for q in report["raters"]} == {"ana", "ben"}
    page = client.get("/api/admin/qc?format=html", headers=auth(tok["lab"]))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "ana" in page.text
    assert "<img" in page.text


def test_an_abandoned_item_stops_counting_after_its_lease(make_client: Any, db: Path) -> None:
    tok = tokens(db, "ana", "ben")
    client = make_client(n_raters=1, min_listen_fraction=0.0, lease_minutes=0.002)  # 0.12 s
    first = client.get("/api/next", headers=auth(tok["ana"])).json()["item"]["segment_id"]
    # ana holds it: with one rater per segment ben gets another one
    assert client.get("/api/next", headers=auth(tok["ben"])).json()["item"]["segment_id"] != first
    tok["cy"] = tokens(db, "cy")["cy"]
    time.sleep(0.3)  # ana and ben idle past the lease: both items are free again
    got = client.get("/api/next", headers=auth(tok["cy"])).json()["item"]["segment_id"]
    assert got == first
    # ana, back, is still on her item and may finish it
    assert client.get("/api/next", headers=auth(tok["ana"])).json()["item"]["segment_id"] == first


def test_without_a_lease_an_open_item_is_held(make_client: Any, db: Path) -> None:
    tok = tokens(db, "ana", "ben")
    client = make_client(n_raters=1, min_listen_fraction=0.0, lease_minutes=0.0)
    first = client.get("/api/next", headers=auth(tok["ana"])).json()["item"]["segment_id"]
    time.sleep(0.2)
    assert client.get("/api/next", headers=auth(tok["ben"])).json()["item"]["segment_id"] != first
