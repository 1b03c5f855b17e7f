"""Pairwise mode: pairs within a passage, questions, the comparison store, Bradley-Terry, routes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import choix
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from scipy.stats import spearmanr

from pianoeval.dims import get_taxonomy, list_taxonomies
from pianoeval.errors import ParameterError, PianoEvalWarning
from pianoeval.label.pairwise import (
    Comparison,
    NotHeardError,
    Pair,
    PairStore,
    bradley_terry,
    make_pairs,
    pair_question,
    pairwise_scores,
    passage_of,
    scores_document,
)
from pianoeval.label.pairwise_api import pairwise_router
from pianoeval.label.store import AnswerStore, LabelPermissionError, Rater

DRAMA = "percepiano19.drama"
LEGATO = "execution16.articulation_length"


def _rows(passages: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {"segment_id": f"{p}-take{i:02d}", "groups": {"excerpt": p, "performer": f"pf{i}"}}
        for p, n in passages.items()
        for i in range(n)
    ]


def _degrees(pairs: list[Pair]) -> Counter[str]:
    return Counter(s for p in pairs for s in (p.left_id, p.right_id))


# -- pairs ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("n_takes", "per_item"), [(2, 4), (5, 2), (7, 3), (10, 4), (12, 5)])
def test_make_pairs_is_balanced_within_the_passage(n_takes: int, per_item: int) -> None:
    pairs = make_pairs(_rows({"x": n_takes}), per_item=per_item, seed=3)
    degree = _degrees(pairs)
    k = min(per_item, n_takes - 1)
    assert set(degree) == {f"x-take{i:02d}" for i in range(n_takes)}
    assert k <= min(degree.values()) <= max(degree.values()) <= k + 1
    unordered = [frozenset((p.left_id, p.right_id)) for p in pairs]
    assert len(set(unordered)) == len(unordered)  # no pair twice, in either order
    assert all(len(u) == 2 for u in unordered)


def test_make_pairs_never_crosses_passages_and_connects_each() -> None:
    rows = _rows({"a": 6, "b": 4, "c": 1})
    pairs = make_pairs(rows, per_item=2, seed=0)
    for p in pairs:
        assert p.left_id.split("-")[0] == p.right_id.split("-")[0] == p.passage
    assert "c" not in {p.passage for p in pairs}  # one take: nothing to compare
    comps = [Comparison(1, p.left_id, p.right_id, DRAMA, "left", "", "") for p in pairs]
    rows_out = pairwise_scores(comps)  # passages from connected groups
    assert {r.passage for r in rows_out} == {"group:a-take00", "group:b-take00"}
    assert all(r.connected for r in rows_out)


def test_make_pairs_is_deterministic_and_randomises_sides() -> None:
    rows = _rows({"a": 8, "b": 8})
    first = make_pairs(rows, per_item=3, seed=11)
    assert make_pairs(list(reversed(rows)), per_item=3, seed=11) == first
    assert make_pairs(rows, per_item=3, seed=12) != first
    lefts = Counter(p.left_id for p in first)
    assert len(lefts) > 4  # not always the same take on the left
    # sides are random: the left take is not simply the smaller id
    assert 0 < sum(p.left_id < p.right_id for p in first) < len(first)


def test_make_pairs_passage_fallbacks_and_errors() -> None:
    rows = [
        {"segment_id": "s1", "score_uri": "op.musicxml", "bars": [1, 8]},
        {"segment_id": "s2", "score_uri": "op.musicxml", "bars": [1, 8]},
        {"segment_id": "s3", "score_uri": "op.musicxml", "bars": [9, 16]},
        {"segment_id": "lost"},
    ]
    with pytest.warns(PianoEvalWarning, match="lost"):
        pairs = make_pairs(rows, per_item=2)
    assert [(frozenset((p.left_id, p.right_id)), p.passage) for p in pairs] == [
        (frozenset({"s1", "s2"}), "score:op.musicxml#bars=1-8")
    ]
    assert passage_of({"segment_id": "x", "groups": {"work": "w"}}, group_key="work") == "w"
    with pytest.raises(ParameterError, match="twice"):
        make_pairs([{"segment_id": "a"}, {"segment_id": "a"}])
    with pytest.raises(ParameterError, match="per_item"):
        make_pairs(_rows({"x": 3}), per_item=0)


def test_percepiano_rows_fall_back_to_the_excerpt_their_id_parses_to() -> None:
    from pianoeval.data.percepiano import parse_name

    ids = ["Beethoven_WoO80_var1_8bars_1_15", "Beethoven_WoO80_var1_8bars_2_15"]
    rows = [{"segment_id": i, "dataset": "percepiano"} for i in ids]
    (pair,) = make_pairs(rows)
    assert pair.passage == parse_name(ids[0]).excerpt == parse_name(ids[1]).excerpt


# -- questions -----------------------------------------------------------------------------
def test_questions_ask_about_the_high_end_even_when_the_name_says_the_opposite() -> None:
    # percepiano19 runs bright -> dark, execution16 dark -> bright
    assert "darker" in pair_question("percepiano19.timbre_brightness").text
    assert "brighter" in pair_question("execution16.timbre_brightness").text
    # percepiano19 runs clean -> blurred, execution16 blurred -> clear
    assert "blurred" in pair_question("percepiano19.pedal_clarity").text
    assert "clearer" in pair_question("execution16.pedal_clarity").text
    assert "unstable" in pair_question("percepiano19.timing").text
    assert "steadier" in pair_question("execution16.timing_stability").text
    assert "legato" in pair_question(LEGATO).text
    q = pair_question("technical12.tone_quality")
    assert (q.dim, q.high, q.low) == ("technical12.tone_quality", "beautiful tone", q.low)
    assert "beautiful tone" in q.text
    with pytest.raises(ParameterError):
        pair_question("pedal_clarity")  # ambiguous across taxonomies


def test_every_shipped_dimension_has_a_question_naming_its_own_dimension() -> None:
    for tax in list_taxonomies():
        for d in get_taxonomy(tax):
            q = pair_question(d)
            assert q.dim == d.qualified_name
            assert q.text.startswith(("Which take", "In which take")), q.text
            assert q.text.endswith("?")


# -- store ---------------------------------------------------------------------------------
@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "labels" / "answers.sqlite"


def test_store_shares_the_answer_store_file_without_touching_its_tables(db: Path) -> None:
    with AnswerStore(db) as answers:
        _, token = answers.add_rater("ana")
        answers.save_answer(answers.require_rater(token), "s1", "dynamics", 0.4)
    with PairStore(db) as store:
        ana = store.authenticate(token)
        assert ana is not None
        store.mark_heard(ana, "s1")
        store.mark_heard(ana, "s2")
        store.save_comparison(ana, "s1", "s2", DRAMA, "right")
        assert store.answers.journal_mode() == "wal"
    con = sqlite3.connect(db)
    assert con.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    assert con.execute("SELECT value FROM answers").fetchall() == [(0.4,)]
    assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    cols = [r[1] for r in con.execute("PRAGMA table_info(comparisons)")]
    assert cols == ["rater_id", "left_id", "right_id", "dim", "choice", "created", "updated"]
    con.close()
    with AnswerStore(db) as answers:  # the answer store still opens it
        assert [a.segment_id for a in answers.answers_of(answers.require_rater(token))] == ["s1"]


def test_choices_need_both_takes_heard_and_replace_keeps_created(db: Path) -> None:
    with PairStore(db) as store:
        _, token = store.answers.add_rater("ana")
        ana = store.authenticate(token)
        assert ana is not None
        store.mark_heard(ana, "s1")
        with pytest.raises(NotHeardError, match="s2") as info:
            store.save_comparison(ana, "s1", "s2", DRAMA, "left")
        assert info.value.missing == ["s2"]
        assert store.comparisons_of(ana) == []
        store.mark_heard(ana, "s2")
        store.mark_heard(ana, "s2")  # twice is fine
        first = store.save_comparison(ana, "s1", "s2", DRAMA, "left")
        again = store.save_comparison(ana, "s1", "s2", DRAMA, "same")
        assert (again.choice, again.created) == ("same", first.created)
        assert again.updated >= first.updated
        assert len(store.comparisons_of(ana)) == 1
        with pytest.raises(ParameterError, match="choice"):
            store.save_comparison(ana, "s1", "s2", DRAMA, "both")
        with pytest.raises(ParameterError, match="itself"):
            store.save_comparison(ana, "s1", "s1", DRAMA, "left")


def test_raters_see_only_their_own_comparisons_admin_sees_all(db: Path) -> None:
    with PairStore(db) as store:
        ids = {}
        for name, admin in (("ana", False), ("ben", False), ("boss", True)):
            rid, _ = store.answers.add_rater(name, admin=admin)
            ids[name] = Rater(rid, name, admin)
        for name, choice in (("ana", "left"), ("ben", "right")):
            for s in ("s1", "s2"):
                store.mark_heard(ids[name], s)
            store.save_comparison(ids[name], "s1", "s2", DRAMA, choice)
        assert [c.choice for c in store.comparisons_of(ids["ana"])] == ["left"]
        assert [c.choice for c in store.comparisons_of(ids["ben"])] == ["right"]
        assert store.heard_by(ids["boss"]) == set()
        with pytest.raises(LabelPermissionError):
            store.comparisons_of(ids["ana"], rater_id=ids["ben"].id)
        with pytest.raises(LabelPermissionError):
            store.all_comparisons(ids["ana"])
        with pytest.raises(PermissionError):  # a forged admin Rater is checked in the database
            store.all_comparisons(Rater(ids["ana"].id, "ana", True))
        assert sorted(c.choice for c in store.all_comparisons(ids["boss"])) == ["left", "right"]
        assert [c.choice for c in store.comparisons_of(ids["boss"], rater_id=ids["ben"].id)] == [
            "right"
        ]


def test_comparison_survives_sigkill_right_after_save(db: Path) -> None:
    with AnswerStore(db) as answers:
        _, token = answers.add_rater("ana")
    code = textwrap.dedent(
        """
        import sys, time
        from pianoeval.label.pairwise import PairStore
        store = PairStore(sys.argv[1])
        rater = store.answers.require_rater(sys.argv[2])
        store.mark_heard(rater, "a"); store.mark_heard(rater, "b")
        store.save_comparison(rater, "a", "b", "percepiano19.drama", "right")
        print("saved", flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(db), token],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    os.kill(child.pid, signal.SIGKILL)  # no close(), no checkpoint: the WAL must hold it
    child.wait(timeout=10)
    assert line.strip() == "saved", child.stderr.read() if child.stderr else ""
    assert child.returncode == -signal.SIGKILL
    with PairStore(db) as store:
        rater = store.answers.require_rater(token)
        (c,) = store.comparisons_of(rater)
        assert (c.left_id, c.right_id, c.dim, c.choice) == ("a", "b", DRAMA, "right")
        assert store.heard_by(rater) == {"a", "b"}


def test_two_threads_saving_at_once_lose_nothing(db: Path) -> None:
    import threading

    with PairStore(db) as store:
        raters = [Rater(store.answers.add_rater(n)[0], n, False) for n in ("ana", "ben")]
        takes = [f"t{i}" for i in range(6)]

        def work(rater: Rater) -> None:
            for s in takes:
                store.mark_heard(rater, s)
            for i, a in enumerate(takes):
                for b in takes[i + 1 :]:
                    store.save_comparison(rater, a, b, DRAMA, "left")

        threads = [threading.Thread(target=work, args=(r,)) for r in raters]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [len(store.comparisons_of(r)) for r in raters] == [15, 15]


# -- Bradley-Terry -------------------------------------------------------------------------
def _simulate(strengths: np.ndarray, n: int, seed: int) -> list[tuple[str, str, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a, b = rng.choice(len(strengths), size=2, replace=False)
        p_left = 1.0 / (1.0 + np.exp(-(strengths[a] - strengths[b])))
        out.append((f"t{a}", f"t{b}", "left" if rng.random() < p_left else "right"))
    return out


def test_bradley_terry_recovers_the_true_order_of_simulated_takes() -> None:
    true = np.array([0.9, -1.2, 0.1, 1.8, -0.4, -1.6])
    items = [f"t{i}" for i in range(6)]
    scores = bradley_terry(_simulate(true, 300, seed=5), items)
    est = np.array([scores[i].score for i in items])
    assert spearmanr(true, est).statistic > 0.9
    assert all(0.0 < s < 1.0 for s in est)
    strengths = np.array([scores[i].strength for i in items])
    assert abs(strengths.mean()) < 1e-9
    np.testing.assert_allclose(est, 1 / (1 + np.exp(-strengths)))
    assert sum(s.n_comparisons for s in scores.values()) == 600
    assert all(s.n_comparisons == s.wins + s.losses + s.ties for s in scores.values())


def test_bradley_terry_agrees_with_choix_called_directly() -> None:
    comps = _simulate(np.array([0.5, -0.5, 1.0, 0.0]), 80, seed=2)
    items = ["t0", "t1", "t2", "t3"]
    ours = bradley_terry(comps, items, alpha=0.1, ties="drop")
    index = {s: i for i, s in enumerate(items)}
    data = [(index[a], index[b]) if c == "left" else (index[b], index[a]) for a, b, c in comps]
    direct = choix.opt_pairwise(4, data, alpha=0.1)
    direct = direct - direct.mean()
    np.testing.assert_allclose([ours[s].strength for s in items], direct, atol=1e-4)
    # without ties, counting ties as halves changes nothing (alpha stays per comparison)
    half = bradley_terry(comps, items, alpha=0.1, ties="half")
    np.testing.assert_allclose(
        [half[s].strength for s in items], [ours[s].strength for s in items], atol=1e-3
    )


def test_ties_count_as_half_a_win_each_way_or_are_dropped() -> None:
    # a beats b twice; b and c always sound the same
    comps = [("a", "b", "left"), ("a", "b", "left"), ("b", "c", "same"), ("b", "c", "same")]
    half = bradley_terry(comps, ["a", "b", "c"], ties="half")
    assert half["a"].score > half["b"].score
    assert half["b"].strength == pytest.approx(half["c"].strength, abs=0.3)
    assert (half["c"].ties, half["c"].wins, half["c"].n_comparisons) == (2, 0, 2)
    # an all-tie passage: everyone in the middle
    flat = bradley_terry([("a", "b", "same")] * 3, ["a", "b"])
    assert flat["a"].score == pytest.approx(0.5) == flat["b"].score
    # dropped: c only ever tied, so nothing places it apart from the penalty (strength ~ 0)
    dropped = bradley_terry(comps, ["a", "b", "c"], ties="drop")
    assert dropped["a"].score > dropped["c"].score > dropped["b"].score
    assert half["c"].score < dropped["c"].score  # tied with the loser pulls c down


def test_bradley_terry_leaves_out_uncompared_takes_and_checks_inputs() -> None:
    s = bradley_terry([("a", "b", "left")] * 5, ["a", "b", "never"])
    assert set(s) == {"a", "b"}
    assert s["a"].score > 0.5 > s["b"].score
    assert np.isfinite(s["a"].strength)  # a take that always wins stays finite
    assert bradley_terry([], ["a", "b"]) == {}
    with pytest.raises(ParameterError, match="not among items"):
        bradley_terry([("a", "z", "left")], ["a", "b"])
    with pytest.raises(ParameterError, match="alpha"):
        bradley_terry([("a", "b", "left")], ["a", "b"], alpha=0)
    with pytest.raises(ParameterError, match="choice"):
        bradley_terry([("a", "b", "up")], ["a", "b"])


def test_pairwise_scores_are_per_dimension_and_passage() -> None:
    comps = [
        Comparison(1, "x1", "x2", DRAMA, "left", "", ""),
        Comparison(2, "x1", "x2", DRAMA, "left", "", ""),
        Comparison(1, "x2", "x3", DRAMA, "left", "", ""),
        Comparison(1, "x1", "x2", LEGATO, "right", "", ""),
        Comparison(1, "y1", "y2", DRAMA, "right", "", ""),
    ]
    passages = {"x1": "X", "x2": "X", "x3": "X", "y1": "Y", "y2": "Y"}
    rows = pairwise_scores(comps, passages)
    got = {(r.dim, r.passage, r.segment_id): r for r in rows}
    assert set(got) == {
        (DRAMA, "X", "x1"),
        (DRAMA, "X", "x2"),
        (DRAMA, "X", "x3"),
        (DRAMA, "Y", "y1"),
        (DRAMA, "Y", "y2"),
        (LEGATO, "X", "x1"),
        (LEGATO, "X", "x2"),
    }
    assert got[(DRAMA, "X", "x1")].score > got[(DRAMA, "X", "x2")].score
    assert got[(DRAMA, "X", "x2")].score > got[(DRAMA, "X", "x3")].score
    assert got[(DRAMA, "X", "x1")].n_comparisons == 2  # two raters pooled
    assert got[(LEGATO, "X", "x2")].score > got[(LEGATO, "X", "x1")].score
    assert got[(DRAMA, "Y", "y2")].score > got[(DRAMA, "Y", "y1")].score
    # a comparison across passages is an error, not a silent fit
    with pytest.raises(ParameterError, match="different passages"):
        pairwise_scores([Comparison(1, "x1", "y1", DRAMA, "left", "", "")], passages)
    doc = scores_document(rows)
    assert doc["schema_version"] == 1
    assert len(doc["rows"]) == len(rows)
    json.dumps(doc)


# -- routes --------------------------------------------------------------------------------
@pytest.fixture
def api(db: Path) -> tuple[TestClient, dict[str, str], list[Pair]]:
    with AnswerStore(db) as answers:
        tokens = {
            "ana": answers.add_rater("ana")[1],
            "ben": answers.add_rater("ben")[1],
            "boss": answers.add_rater("boss", admin=True)[1],
        }
    pairs = make_pairs(_rows({"x": 3, "y": 2}), per_item=2, seed=1)
    app = FastAPI()
    app.include_router(pairwise_router(db, pairs, [DRAMA, LEGATO], lambda s: f"/media/{s}.wav"))
    return TestClient(app), tokens, pairs


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_routes_refuse_unknown_tokens(api: tuple[TestClient, dict[str, str], list[Pair]]) -> None:
    client, _, _ = api
    for method, path in (("get", "next"), ("get", "mine"), ("get", "scores")):
        assert getattr(client, method)(f"/pairwise/{path}").status_code == 401
        r = getattr(client, method)(f"/pairwise/{path}", headers=_auth("nope"))
        assert r.status_code == 401
    r = client.post("/pairwise/heard", json={"segment_id": "x-take00"}, headers=_auth("nope"))
    assert r.status_code == 401


def test_a_rater_goes_through_every_pair_and_dimension(
    api: tuple[TestClient, dict[str, str], list[Pair]],
) -> None:
    client, tokens, pairs = api
    h = _auth(tokens["ana"])
    seen = []
    while True:
        item = client.get("/pairwise/next", headers=h).json()
        if item["done"]:
            break
        left, right = item["left"]["segment_id"], item["right"]["segment_id"]
        assert item["left"]["media_url"] == f"/media/{left}.wav"
        body = {"left_id": left, "right_id": right, "dim": item["dim"], "choice": "left"}
        if not (item["left"]["heard"] and item["right"]["heard"]):
            r = client.post("/pairwise/choice", json=body, headers=h)
            assert r.status_code == 409, r.text
            for s in (left, right):
                heard = client.post("/pairwise/heard", json={"segment_id": s}, headers=h)
                assert heard.status_code == 204
        r = client.post("/pairwise/choice", json=body, headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["choice"] == "left"
        seen.append((left, right, item["dim"]))
        assert item["question"] == pair_question(item["dim"]).text
    assert item["answered"] == item["total"] == 2 * len(pairs)
    assert sorted(seen) == sorted(
        (p.left_id, p.right_id, d) for p in pairs for d in (DRAMA, LEGATO)
    )
    mine = client.get("/pairwise/mine", headers=h).json()
    assert len(mine) == len(seen)
    assert client.get("/pairwise/mine", headers=_auth(tokens["ben"])).json() == []


def test_choice_route_refuses_foreign_pairs_and_dimensions(
    api: tuple[TestClient, dict[str, str], list[Pair]],
) -> None:
    client, tokens, pairs = api
    h = _auth(tokens["ben"])
    p = pairs[0]
    for s in (p.left_id, p.right_id):
        client.post("/pairwise/heard", json={"segment_id": s}, headers=h)
    ok = {"left_id": p.left_id, "right_id": p.right_id, "dim": DRAMA, "choice": "same"}
    bad_pair = {**ok, "left_id": p.right_id, "right_id": p.left_id}
    bad_dim = {**ok, "dim": "percepiano19.timing"}
    assert client.post("/pairwise/choice", json=bad_pair, headers=h).status_code == 404
    assert client.post("/pairwise/choice", json=bad_dim, headers=h).status_code == 404
    assert client.post("/pairwise/choice", json={**ok, "choice": "x"}, headers=h).status_code == 422
    r = client.post("/pairwise/heard", json={"segment_id": "elsewhere"}, headers=h)
    assert r.status_code == 404
    assert client.post("/pairwise/choice", json=ok, headers=h).status_code == 200


def test_scores_route_is_admin_only_and_scores_the_choices(
    api: tuple[TestClient, dict[str, str], list[Pair]],
) -> None:
    client, tokens, pairs = api
    # both raters always prefer the take with the smaller number for drama
    for name in ("ana", "ben"):
        h = _auth(tokens[name])
        for p in pairs:
            for s in (p.left_id, p.right_id):
                client.post("/pairwise/heard", json={"segment_id": s}, headers=h)
            choice = "left" if p.left_id < p.right_id else "right"
            body = {"left_id": p.left_id, "right_id": p.right_id, "dim": DRAMA, "choice": choice}
            assert client.post("/pairwise/choice", json=body, headers=h).status_code == 200
    assert client.get("/pairwise/scores", headers=_auth(tokens["ana"])).status_code == 403
    r = client.get("/pairwise/scores", headers=_auth(tokens["boss"]))
    assert r.status_code == 200
    doc = r.json()
    assert doc["schema_version"] == 1
    rows = [row for row in doc["rows"] if row["passage"] == "x"]
    assert [row["segment_id"] for row in rows] == ["x-take00", "x-take01", "x-take02"]
    assert rows[0]["score"] > rows[1]["score"] > rows[2]["score"]
    assert {row["dim"] for row in doc["rows"]} == {DRAMA}  # nothing said about legato yet


def test_page_and_script_are_served(api: tuple[TestClient, dict[str, str], list[Pair]]) -> None:
    client, _, _ = api
    page = client.get("/pairwise/")
    assert page.status_code == 200
    assert 'src="pairwise.js"' in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from a CDN
    js = client.get("/pairwise/pairwise.js")
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]


def test_router_checks_its_arguments(db: Path) -> None:
    pairs = [Pair("a", "b", "x")]
    with pytest.raises(ParameterError, match="at least one"):
        pairwise_router(db, pairs, [], str)
    with pytest.raises(ParameterError):
        pairwise_router(db, pairs, ["no_such_dim"], str)
    with pytest.raises(ParameterError, match="twice"):
        pairwise_router(db, [*pairs, Pair("b", "a", "x")], [DRAMA], str)


# -- CLI -----------------------------------------------------------------------------------
def _cli_db(db: Path) -> tuple[str, str]:
    """A store with one rater's drama comparisons of passage x (take00 > take01 > take02)."""
    with PairStore(db) as store:
        _, token = store.answers.add_rater("ana")
        _, admin = store.answers.add_rater("boss", admin=True)
        ana = store.authenticate(token)
        assert ana is not None
        for s in ("x-take00", "x-take01", "x-take02"):
            store.mark_heard(ana, s)
        for left, right, choice in (
            ("x-take01", "x-take00", "right"),
            ("x-take01", "x-take02", "left"),
            ("x-take00", "x-take02", "left"),
        ):
            store.save_comparison(ana, left, right, DRAMA, choice)
    return token, admin


def test_cli_pairwise_scores_writes_the_json(db: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import pianoeval.cli.label_pairwise  # noqa: F401 - registers the command
    from pianoeval.cli.label import app

    _, admin = _cli_db(db)
    runner = CliRunner()
    out = tmp_path / "scores.json"
    r = runner.invoke(
        app, ["pairwise-scores", "--db", str(db), "--admin-token", admin, "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["n_comparisons"] == 3
    assert [row["segment_id"] for row in doc["rows"]] == ["x-take00", "x-take01", "x-take02"]
    assert {row["passage"] for row in doc["rows"]} == {"group:x-take00"}
    # with the manifest, passages get their names; printed when there is no --out
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "".join(
            json.dumps(
                {
                    "segment_id": f"x-take0{i}",
                    "dataset": "user",
                    "midi_uri": f"x{i}.mid",
                    "t0": 0.0,
                    "t1": 5.0,
                    "provenance": {"license": "MIT"},
                    "groups": {"excerpt": "excerpt-x"},
                }
            )
            + "\n"
            for i in range(3)
        )
    )
    r = runner.invoke(
        app,
        ["pairwise-scores", "--db", str(db), "--admin-token", admin, "--manifest", str(manifest)],
    )
    assert r.exit_code == 0, r.output
    assert {row["passage"] for row in json.loads(r.stdout)["rows"]} == {"excerpt-x"}


def test_cli_pairwise_scores_errors(db: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import pianoeval.cli.label_pairwise  # noqa: F401 - registers the command
    from pianoeval.cli.label import app

    token, admin = _cli_db(db)
    runner = CliRunner()
    base = ["pairwise-scores", "--db", str(db)]
    r = runner.invoke(app, [*base, "--admin-token", token])
    assert r.exit_code == 1
    assert "admin" in r.output
    r = runner.invoke(app, [*base, "--admin-token", "nope"])
    assert r.exit_code == 1
    assert "no rater" in r.output
    r = runner.invoke(app, [*base, "--admin-token", admin, "--ties", "maybe"])
    assert r.exit_code == 2
    missing = tmp_path / "none.sqlite"
    r = runner.invoke(app, ["pairwise-scores", "--db", str(missing), "--admin-token", admin])
    assert r.exit_code == 1
    assert "none.sqlite" in r.output
    assert not missing.exists()  # not created by asking
