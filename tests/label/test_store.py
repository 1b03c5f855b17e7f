"""The answer store: WAL, durability across a SIGKILL, isolation between raters, concurrency."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from pianoeval.errors import ParameterError, PianoEvalError
from pianoeval.label import (
    AnswerStore,
    LabelPermissionError,
    LabelStoreError,
    Rater,
    UnknownTokenError,
)

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "label" / "answers.sqlite"


def _rater(store: AnswerStore, name: str, *, admin: bool = False) -> tuple[Rater, str]:
    _, token = store.add_rater(name, admin=admin)
    rater = store.authenticate(token)
    assert rater is not None
    return rater, token


def _child(script: str, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_wal_mode_and_schema_version(db: Path) -> None:
    with AnswerStore(db) as store:
        assert store.journal_mode() == "wal"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    conn.close()


def test_answers_persist_across_reopening(db: Path) -> None:
    with AnswerStore(db) as store:
        ana, token = _rater(store, "ana")
        store.save_answer(ana, "seg-1", "dynamics", 0.25, unsure=True)
        store.save_note(ana, "seg-1", "pedal blurs the left hand")
    with AnswerStore(db) as store:
        ana2 = store.require_rater(token)
        assert ana2 == ana
        (answer,) = store.answers_of(ana2)
        assert (answer.segment_id, answer.dim, answer.value, answer.unsure, answer.source) == (
            "seg-1",
            "dynamics",
            0.25,
            True,
            "rater",
        )
        assert store.note_of(ana2, "seg-1") == "pedal blurs the left hand"
        assert store.segments_rated_by(ana2) == ["seg-1"]


def test_answer_survives_sigkill_right_after_save(db: Path) -> None:
    with AnswerStore(db) as store:
        _, token = store.add_rater("ana")
    child = _child(
        """
        import sys, time
        from pianoeval.label.store import AnswerStore
        store = AnswerStore(sys.argv[1])
        rater = store.require_rater(sys.argv[2])
        store.save_answer(rater, "seg-9", "tempo", 0.5, confirmed_prefill=True)
        print("saved", flush=True)
        time.sleep(60)
        """,
        str(db),
        token,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    os.kill(child.pid, signal.SIGKILL)  # no close(), no checkpoint: the WAL must hold it
    child.wait(timeout=10)
    assert line.strip() == "saved", child.stderr.read() if child.stderr else ""
    assert child.returncode == -signal.SIGKILL
    with AnswerStore(db) as store:
        rater = store.require_rater(token)
        (answer,) = store.answers_of(rater, "seg-9")
        assert (answer.dim, answer.value, answer.source) == ("tempo", 0.5, "prefill_confirmed")


def test_raters_cannot_read_each_other_admin_can(db: Path) -> None:
    with AnswerStore(db) as store:
        ana, _ = _rater(store, "ana")
        ben, _ = _rater(store, "ben")
        boss, _ = _rater(store, "boss", admin=True)
        store.save_answer(ana, "s1", "dynamics", 0.1)
        store.save_answer(ben, "s1", "dynamics", 0.9)
        assert [a.value for a in store.answers_of(ana)] == [0.1]
        assert [a.value for a in store.answers_of(ben, "s1")] == [0.9]
        with pytest.raises(LabelPermissionError, match="may not read"):
            store.answers_of(ana, rater_id=ben.id)
        with pytest.raises(LabelPermissionError, match="admin"):
            store.all_answers(ana)
        with pytest.raises(LabelPermissionError):
            store.export_rows(ben)
        # a forged Rater claiming admin is checked against the database
        with pytest.raises(PermissionError):
            store.all_answers(Rater(id=ana.id, name="ana", is_admin=True))
        assert {(a.rater_id, a.value) for a in store.all_answers(boss)} == {
            (ana.id, 0.1),
            (ben.id, 0.9),
        }
        assert [a.value for a in store.answers_of(boss, rater_id=ben.id)] == [0.9]
        rows = store.export_rows(boss)
        assert {r["rater_name"] for r in rows} == {"ana", "ben"}
        assert all(r["schema_version"] == 1 and r["model_verified"] is False for r in rows)


def test_upsert_keeps_one_row_and_moves_updated(db: Path) -> None:
    with AnswerStore(db) as store:
        ana, _ = _rater(store, "ana")
        first = store.save_answer(ana, "s1", "tempo", 0.3, confirmed_prefill=True)
        time.sleep(0.002)
        second = store.save_answer(ana, "s1", "tempo", 0.6)
        (row,) = store.answers_of(ana)
        assert row == second
        assert second.value == 0.6
        assert second.source == "rater"
        assert second.created == first.created
        assert second.updated > first.updated
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'answer'").fetchone()[0] == 2
    conn.close()


def test_tokens_are_stored_hashed(db: Path) -> None:
    import hashlib

    with AnswerStore(db) as store:
        _, token = store.add_rater("ana")
        assert store.authenticate("not-a-token") is None
        assert store.authenticate("") is None
        with pytest.raises(UnknownTokenError):
            store.require_rater("not-a-token")
    wal = db.with_name(db.name + "-wal")
    raw = db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    conn = sqlite3.connect(db)
    (stored,) = conn.execute("SELECT token_sha256 FROM raters").fetchone()
    conn.close()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert token.encode() not in raw


def test_value_checks(db: Path) -> None:
    with AnswerStore(db) as store:
        ana, _ = _rater(store, "ana")
        for bad in (math.nan, math.inf, -0.01, 1.01):
            with pytest.raises(ParameterError, match="finite number in"):
                store.save_answer(ana, "s1", "tempo", bad)
        with pytest.raises(ParameterError):
            store.save_answer(ana, "", "tempo", 0.5)
        assert store.answers_of(ana) == []
    with AnswerStore(db, scale=(1.0, 7.0)) as store:
        assert store.save_answer(ana, "s1", "tempo", 7.0).value == 7.0
        with pytest.raises(ParameterError, match=r"\[1.0, 7.0\]"):
            store.save_answer(ana, "s1", "tempo", 0.5)
    with pytest.raises(ParameterError, match="scale"):
        AnswerStore(db, scale=(1.0, 1.0))


def test_corrupt_or_foreign_file_error_names_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(LabelStoreError, match=r"junk\.sqlite") as info:
        AnswerStore(junk)
    assert isinstance(info.value, PianoEvalError)

    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE songs (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(LabelStoreError, match=r"other\.sqlite.*not a pianoeval answer store"):
        AnswerStore(other)

    newer = tmp_path / "newer.sqlite"
    AnswerStore(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(LabelStoreError, match=r"newer\.sqlite.*version \[99\]"):
        AnswerStore(newer)


def test_concurrent_threads_and_processes_lose_nothing(db: Path) -> None:
    n = 40
    with AnswerStore(db) as store:
        threaded = [_rater(store, f"t{i}") for i in range(2)]
        _, ptoken = store.add_rater("p0")
        child = _child(
            """
            import sys
            from pianoeval.label.store import AnswerStore
            store = AnswerStore(sys.argv[1])
            rater = store.require_rater(sys.argv[2])
            for i in range(int(sys.argv[3])):
                store.save_answer(rater, f"seg-{i}", "tempo", i / 100)
            print("done", flush=True)
            """,
            str(db),
            ptoken,
            str(n),
        )

        def work(rater: Rater) -> None:
            for i in range(n):
                store.save_answer(rater, f"seg-{i}", "tempo", i / 100)
                store.save_answer(rater, f"seg-{i}", "dynamics", 0.5)

        threads = [threading.Thread(target=work, args=(r,)) for r, _ in threaded]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out, err = child.communicate(timeout=60)
        assert out.strip() == "done", err
    with AnswerStore(db) as store:
        for r, _ in threaded:
            assert len(store.answers_of(r)) == 2 * n
        p0 = store.require_rater(ptoken)
        got = {a.segment_id: a.value for a in store.answers_of(p0)}
        assert got == {f"seg-{i}": i / 100 for i in range(n)}
