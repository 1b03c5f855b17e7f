"""The answer store of the labeling app: one SQLite file, every answer saved when it is given.

Conventions
-----------
- One row per rater x segment x dimension (``answers``, primary key
  ``(rater_id, segment_id, dim)``). Saving again replaces the value and moves ``updated``;
  ``created`` keeps the time of the first answer.
- ``value`` is a float on the store's scale, ``[0, 1]`` unless the store is opened with another
  ``scale``; it must be finite and inside the scale (ends included).
- ``unsure`` marks an answer the rater is not confident about; it is still an answer.
- ``source`` is ``'rater'`` when the rater set or moved the value, ``'prefill_confirmed'`` when a
  pre-filled suggestion was confirmed unchanged (the ``model_verified`` case of issue 20).
- ``notes`` hold one free-text note per rater x segment; ``events`` log every write
  (``answer``, ``note``) with its time, for QC of rating speed and order.
- Tokens are never stored: the ``raters`` table holds the SHA-256 of each token.
- ``rerate_answers`` (same columns as ``answers``) hold the second answer of a segment that
  came back to the same rater for re-rating, so QC can compare the two; the labeling app
  also logs its own events (``assign``, ``assign_rerate``, ``media``, ``heard``, ``skip``,
  ``done``) in ``events``, from which a restarted server rebuilds every rater's queue.
- Additive changes keep the version: a table added later (``rerate_answers``) is created in
  place when an older file is opened, and a reader of the same version that does not know it
  simply ignores it. The version moves only for a change an older reader would misread.

Guarantees
----------
- Every write is its own committed transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``): when
  :meth:`AnswerStore.save_answer` returns, the answer is in the database file (the WAL), and a
  server killed at that moment loses nothing.
- ``journal_mode=WAL`` lets readers and one writer work at the same time; ``busy_timeout``
  makes a writer wait for another (thread or process) instead of failing.
- ``synchronous=FULL``: each commit is fsynced. ``NORMAL`` already survives a killed process,
  but in WAL mode may lose the last commits on a power cut or OS crash; answers come at human
  speed (a few a second at most), so the fsync costs nothing noticeable and buys that too.
- One connection per thread (``threading.local``), so one store object can be shared by the
  threads of a web server; several processes may open the same file.
- A rater reads only their own rows; :meth:`AnswerStore.all_answers` and
  :meth:`AnswerStore.export_rows` need an admin, checked against the database (not only the
  :class:`Rater` object passed in).
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pianoeval.errors import ParameterError, PianoEvalError

__all__ = [
    "SCHEMA_VERSION",
    "Answer",
    "AnswerStore",
    "Event",
    "LabelPermissionError",
    "LabelStoreError",
    "Rater",
    "UnknownTokenError",
]

#: Version of the database layout; a file with another version is refused, not migrated.
SCHEMA_VERSION = 1

#: Milliseconds a writer waits for the lock held by another connection before failing.
BUSY_TIMEOUT_MS = 30_000

Source = Literal["rater", "prefill_confirmed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS raters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    is_admin INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    segment_id TEXT NOT NULL,
    dim TEXT NOT NULL,
    value REAL NOT NULL,
    unsure INTEGER NOT NULL DEFAULT 0 CHECK (unsure IN (0, 1)),
    source TEXT NOT NULL CHECK (source IN ('rater', 'prefill_confirmed')),
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (rater_id, segment_id, dim)
);
CREATE TABLE IF NOT EXISTS notes (
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    segment_id TEXT NOT NULL,
    text TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (rater_id, segment_id)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    segment_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at TEXT NOT NULL
);
"""

#: Tables added after version 1 was first released: created in place in older files.
_ADDED_TABLES = """
CREATE TABLE IF NOT EXISTS rerate_answers (
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    segment_id TEXT NOT NULL,
    dim TEXT NOT NULL,
    value REAL NOT NULL,
    unsure INTEGER NOT NULL DEFAULT 0 CHECK (unsure IN (0, 1)),
    source TEXT NOT NULL CHECK (source IN ('rater', 'prefill_confirmed')),
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (rater_id, segment_id, dim)
);
CREATE INDEX IF NOT EXISTS events_by_rater ON events (rater_id, id);
"""

_EXPECTED_TABLES = {"schema_version", "raters", "answers", "notes", "events"}


class LabelStoreError(PianoEvalError):
    """The answer store cannot be used: not an SQLite file, another schema version, ..."""


class UnknownTokenError(LabelStoreError):
    """A token that belongs to no rater."""


class LabelPermissionError(LabelStoreError, PermissionError):
    """A rater asked for answers that are not theirs, or for an admin-only operation."""


@dataclass(frozen=True)
class Rater:
    """A rater as the store knows them (never carries the token).

    Attributes
    ----------
    id : int
        Database id.
    name : str
        Display name.
    is_admin : bool
        Whether the rater may export and read every answer.
    """

    id: int
    name: str
    is_admin: bool


@dataclass(frozen=True)
class Answer:
    """One stored answer (one rater x segment x dimension).

    Attributes
    ----------
    rater_id : int
    segment_id : str
    dim : str
    value : float
        On the store's scale.
    unsure : bool
    source : {'rater', 'prefill_confirmed'}
    created, updated : str
        ISO 8601 UTC timestamps with microseconds.
    """

    rater_id: int
    segment_id: str
    dim: str
    value: float
    unsure: bool
    source: Source
    created: str
    updated: str


@dataclass(frozen=True)
class Event:
    """One logged event (``events`` row): what a rater did on a segment, and when.

    Attributes
    ----------
    id : int
        Increasing with time: the order events were logged in.
    rater_id : int
    segment_id : str
    kind : str
    at : str
        ISO 8601 UTC timestamp with microseconds.
    """

    id: int
    rater_id: int
    segment_id: str
    kind: str
    at: str


def _event(row: sqlite3.Row) -> Event:
    return Event(
        id=int(row["id"]),
        rater_id=int(row["rater_id"]),
        segment_id=str(row["segment_id"]),
        kind=str(row["kind"]),
        at=str(row["at"]),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _answer(row: sqlite3.Row) -> Answer:
    return Answer(
        rater_id=int(row["rater_id"]),
        segment_id=str(row["segment_id"]),
        dim=str(row["dim"]),
        value=float(row["value"]),
        unsure=bool(row["unsure"]),
        source=row["source"],
        created=str(row["created"]),
        updated=str(row["updated"]),
    )


class AnswerStore:
    """The SQLite answer store of the labeling app.

    Parameters
    ----------
    path : str or os.PathLike
        Database file; created (with its folder) when missing.
    scale : tuple of float, optional
        ``(low, high)`` range of every answer value, ends included; ``(0.0, 1.0)`` by default.

    Raises
    ------
    LabelStoreError
        The file is not an SQLite database, holds another schema version, or holds tables of
        something else (the message names the file).

    Examples
    --------
    >>> import tempfile, os
    >>> store = AnswerStore(os.path.join(tempfile.mkdtemp(), "answers.sqlite"))
    >>> rater_id, token = store.add_rater("ana")
    >>> ana = store.authenticate(token)
    >>> store.save_answer(ana, "seg-1", "dynamics", 0.7).value
    0.7
    >>> store.close()
    """

    def __init__(
        self, path: str | os.PathLike[str], *, scale: tuple[float, float] = (0.0, 1.0)
    ) -> None:
        low, high = (float(scale[0]), float(scale[1]))
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ParameterError(f"scale must be two finite numbers low < high, got {scale!r}")
        self.path = Path(path)
        self.scale = (low, high)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._init_schema()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise LabelStoreError(f"{self.path}: not a usable SQLite answer store ({exc})") from exc
        except LabelStoreError:
            self.close()
            raise

    # -- connections ---------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: no implicit transactions; each write opens its own below.
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                check_same_thread=False,
            )  # fmt: skip
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self._conn().execute(sql, params).fetchall()

    def _row(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn().execute(sql, params).fetchone()
        return row

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already (disk full, I/O)
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _init_schema(self) -> None:
        conn = self._conn()
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise LabelStoreError(f"{self.path}: cannot switch to WAL mode (got {mode!r})")
        with self._write() as c:
            tables = {
                r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")
            } - {"sqlite_sequence"}
            if tables and "schema_version" not in tables:
                raise LabelStoreError(
                    f"{self.path}: an SQLite file of something else (tables "
                    f"{sorted(tables)}), not a pianoeval answer store"
                )
            if not tables:
                # One statement at a time: executescript() would COMMIT the open transaction.
                for statement in (_SCHEMA + _ADDED_TABLES).split(";"):
                    if statement.strip():
                        c.execute(statement)
                c.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
                return
            rows = c.execute("SELECT version FROM schema_version").fetchall()
            versions = sorted({int(r[0]) for r in rows})
            if versions != [SCHEMA_VERSION]:
                raise LabelStoreError(
                    f"{self.path}: answer store schema version {versions or 'missing'}, "
                    f"this pianoeval reads version {SCHEMA_VERSION}"
                )
            missing = _EXPECTED_TABLES - tables
            if missing:
                raise LabelStoreError(f"{self.path}: answer store lacks tables {sorted(missing)}")
            for statement in _ADDED_TABLES.split(";"):  # an older file upgraded in place
                if statement.strip():
                    c.execute(statement)

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> AnswerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def journal_mode(self) -> str:
        """Return the journal mode of the database file (``'wal'``)."""
        return str(self._conn().execute("PRAGMA journal_mode").fetchone()[0]).lower()

    # -- raters --------------------------------------------------------------------------
    def add_rater(self, name: str, *, admin: bool = False) -> tuple[int, str]:
        """Create a rater; return ``(rater_id, token)``.

        The token (``secrets.token_urlsafe(32)``) is returned once and only its SHA-256 is
        stored: keep it, it cannot be recovered.
        """
        if not name or not name.strip():
            raise ParameterError("rater name must be a non-empty string")
        token = secrets.token_urlsafe(32)
        with self._write() as c:
            cur = c.execute(
                "INSERT INTO raters (name, token_sha256, is_admin, created) VALUES (?, ?, ?, ?)",
                (name.strip(), _hash_token(token), int(admin), _now()),
            )
            rater_id = int(cur.lastrowid or 0)
        return rater_id, token

    def authenticate(self, token: str) -> Rater | None:
        """Return the rater a token belongs to, or None for an unknown token."""
        if not token:
            return None
        row = self._row(
            "SELECT id, name, is_admin FROM raters WHERE token_sha256 = ?", (_hash_token(token),)
        )
        if row is None:
            return None
        return Rater(id=int(row["id"]), name=str(row["name"]), is_admin=bool(row["is_admin"]))

    def require_rater(self, token: str) -> Rater:
        """Like :meth:`authenticate`, but raise :class:`UnknownTokenError` for an unknown token."""
        rater = self.authenticate(token)
        if rater is None:
            raise UnknownTokenError("unknown rater token")
        return rater

    def _check_rater(self, rater: Rater) -> Rater:
        """Return the rater as the database knows them (a made-up Rater gets nothing)."""
        row = self._row("SELECT id, name, is_admin FROM raters WHERE id = ?", (int(rater.id),))
        if row is None:
            raise UnknownTokenError(f"no rater with id {rater.id} in {self.path}")
        return Rater(id=int(row["id"]), name=str(row["name"]), is_admin=bool(row["is_admin"]))

    def _require_admin(self, rater: Rater, what: str) -> None:
        if not self._check_rater(rater).is_admin:
            raise LabelPermissionError(f"{what} needs an admin token; rater {rater.id} is not one")

    # -- answers -------------------------------------------------------------------------
    def _validate_value(self, value: float) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"answer value must be a number, got {value!r}") from exc
        low, high = self.scale
        if not math.isfinite(v) or not low <= v <= high:
            raise ParameterError(
                f"answer value {value!r} is not a finite number in [{low}, {high}]"
            )
        return v

    def save_answer(
        self,
        rater: Rater,
        segment_id: str,
        dim: str,
        value: float,
        *,
        unsure: bool = False,
        confirmed_prefill: bool = False,
        rerate: bool = False,
    ) -> Answer:
        """Save (insert or replace) one answer and commit it before returning.

        Parameters
        ----------
        rater : Rater
            From :meth:`authenticate`.
        segment_id, dim : str
            Non-empty; the store does not check them against a manifest or a taxonomy (the app
            does).
        value : float
            Finite, within the store's ``scale`` (``[0, 1]`` by default).
        unsure : bool
            The rater marked the answer as unsure.
        confirmed_prefill : bool
            The rater confirmed a pre-filled suggestion unchanged (``source='prefill_confirmed'``);
            False when the rater set or moved the value (``source='rater'``).
        rerate : bool
            The answer of a segment given again for re-rating: stored in ``rerate_answers``,
            beside (never over) the first answer.

        Returns
        -------
        Answer
            The stored row.

        Raises
        ------
        ParameterError
            Empty ids or a value outside the scale.
        UnknownTokenError
            The rater is not in the store.
        """
        if not segment_id or not dim:
            raise ParameterError("segment_id and dim must be non-empty strings")
        v = self._validate_value(value)
        rater = self._check_rater(rater)
        source: Source = "prefill_confirmed" if confirmed_prefill else "rater"
        table = "rerate_answers" if rerate else "answers"
        now = _now()
        with self._write() as c:
            c.execute(
                f"INSERT INTO {table} (rater_id, segment_id, dim, value, unsure, source, created,"
                " updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (rater_id, segment_id, dim) DO UPDATE SET value = excluded.value,"
                " unsure = excluded.unsure, source = excluded.source, updated = excluded.updated",
                (rater.id, segment_id, dim, v, int(unsure), source, now, now),
            )
            c.execute(
                "INSERT INTO events (rater_id, segment_id, kind, at) VALUES (?, ?, ?, ?)",
                (rater.id, segment_id, "rerate_answer" if rerate else "answer", now),
            )
            row = c.execute(
                f"SELECT * FROM {table} WHERE rater_id = ? AND segment_id = ? AND dim = ?",
                (rater.id, segment_id, dim),
            ).fetchone()
        return _answer(row)

    def answers_of(
        self,
        rater: Rater,
        segment_id: str | None = None,
        *,
        rater_id: int | None = None,
        rerate: bool = False,
    ) -> list[Answer]:
        """Return a rater's own answers (one segment's when ``segment_id`` is given).

        ``rater_id`` may name another rater only when ``rater`` is an admin; otherwise
        :class:`LabelPermissionError` is raised. ``rerate=True`` returns the re-rating
        answers instead of the first ones.
        """
        rater = self._check_rater(rater)
        target = rater.id if rater_id is None else int(rater_id)
        if target != rater.id and not rater.is_admin:
            raise LabelPermissionError(
                f"rater {rater.id} may not read the answers of rater {target}"
            )
        sql = f"SELECT * FROM {'rerate_answers' if rerate else 'answers'} WHERE rater_id = ?"
        params: tuple[Any, ...] = (target,)
        if segment_id is not None:
            sql += " AND segment_id = ?"
            params += (segment_id,)
        rows = self._rows(sql + " ORDER BY segment_id, dim", params)
        return [_answer(r) for r in rows]

    def segments_rated_by(self, rater: Rater) -> list[str]:
        """Return the segment ids the rater has answered at least one dimension of, sorted."""
        rater = self._check_rater(rater)
        rows = self._rows(
            "SELECT DISTINCT segment_id FROM answers WHERE rater_id = ? ORDER BY segment_id",
            (rater.id,),
        )
        return [str(r[0]) for r in rows]

    def all_answers(self, admin: Rater) -> list[Answer]:
        """Return every rater's answers (admin only; :class:`LabelPermissionError` otherwise)."""
        self._require_admin(admin, "reading all answers")
        rows = self._rows("SELECT * FROM answers ORDER BY rater_id, segment_id, dim")
        return [_answer(r) for r in rows]

    # -- notes ---------------------------------------------------------------------------
    def save_note(self, rater: Rater, segment_id: str, text: str) -> None:
        """Save (replace) the rater's note on a segment, committed before returning."""
        if not segment_id:
            raise ParameterError("segment_id must be a non-empty string")
        rater = self._check_rater(rater)
        now = _now()
        with self._write() as c:
            c.execute(
                "INSERT INTO notes (rater_id, segment_id, text, updated) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (rater_id, segment_id) DO UPDATE SET text = excluded.text,"
                " updated = excluded.updated",
                (rater.id, segment_id, str(text), now),
            )
            c.execute(
                "INSERT INTO events (rater_id, segment_id, kind, at) VALUES (?, ?, 'note', ?)",
                (rater.id, segment_id, now),
            )

    def note_of(self, rater: Rater, segment_id: str) -> str | None:
        """Return the rater's own note on a segment, or None."""
        rater = self._check_rater(rater)
        row = self._row(
            "SELECT text FROM notes WHERE rater_id = ? AND segment_id = ?", (rater.id, segment_id)
        )
        return None if row is None else str(row[0])

    # -- events ------------------------------------------------------------------------
    def log_event(self, rater: Rater, segment_id: str, kind: str) -> Event:
        """Log one event of a rater on a segment (committed before returning).

        The labeling app logs ``assign``, ``assign_rerate``, ``media``, ``heard``, ``skip`` and
        ``done``; the store itself logs ``answer``, ``rerate_answer`` and ``note``.
        """
        if not segment_id or not kind:
            raise ParameterError("segment_id and kind must be non-empty strings")
        rater = self._check_rater(rater)
        now = _now()
        with self._write() as c:
            cur = c.execute(
                "INSERT INTO events (rater_id, segment_id, kind, at) VALUES (?, ?, ?, ?)",
                (rater.id, segment_id, kind, now),
            )
            event_id = int(cur.lastrowid or 0)
        return Event(event_id, rater.id, segment_id, kind, now)

    def events_of(
        self,
        rater: Rater,
        *,
        kinds: tuple[str, ...] | None = None,
        segment_id: str | None = None,
    ) -> list[Event]:
        """Return a rater's own events in the order they were logged (some kinds, one segment)."""
        rater = self._check_rater(rater)
        sql = "SELECT * FROM events WHERE rater_id = ?"
        params: tuple[Any, ...] = (rater.id,)
        if kinds is not None:
            sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
            params += tuple(kinds)
        if segment_id is not None:
            sql += " AND segment_id = ?"
            params += (segment_id,)
        return [_event(r) for r in self._rows(sql + " ORDER BY id", params)]

    def events_of_kinds(self, kinds: tuple[str, ...]) -> list[Event]:
        """Return every rater's events of some kinds, in order (the app's assignment state).

        Only segment ids, kinds and times: no answer, note or token is in an event.
        """
        if not kinds:
            return []
        rows = self._rows(
            f"SELECT * FROM events WHERE kind IN ({', '.join('?' * len(kinds))}) ORDER BY id",
            tuple(kinds),
        )
        return [_event(r) for r in rows]

    def raters(self) -> list[Rater]:
        """Return every rater (ids, names, admin flags; never tokens), by id."""
        rows = self._rows("SELECT id, name, is_admin FROM raters ORDER BY id")
        return [
            Rater(id=int(r["id"]), name=str(r["name"]), is_admin=bool(r["is_admin"])) for r in rows
        ]

    # -- export --------------------------------------------------------------------------
    def export_rows(self, admin: Rater) -> list[dict[str, Any]]:
        """Return every answer as long-format rows for export and QC (admin only).

        Each row: ``schema_version, rater_id, rater_name, segment_id, dim, value, unsure,
        source, model_verified, note, created, updated``; ``model_verified`` is True when the
        rater confirmed a pre-filled suggestion unchanged.
        """
        self._require_admin(admin, "export")
        rows = self._rows(
            "SELECT a.*, r.name AS rater_name, n.text AS note FROM answers a"
            " JOIN raters r ON r.id = a.rater_id"
            " LEFT JOIN notes n ON n.rater_id = a.rater_id AND n.segment_id = a.segment_id"
            " ORDER BY a.rater_id, a.segment_id, a.dim"
        )
        return [
            {
                "schema_version": SCHEMA_VERSION,
                "rater_id": int(r["rater_id"]),
                "rater_name": str(r["rater_name"]),
                "segment_id": str(r["segment_id"]),
                "dim": str(r["dim"]),
                "value": float(r["value"]),
                "unsure": bool(r["unsure"]),
                "source": str(r["source"]),
                "model_verified": r["source"] == "prefill_confirmed",
                "note": r["note"],
                "created": str(r["created"]),
                "updated": str(r["updated"]),
            }
            for r in rows
        ]

    def export_rerate_rows(self, admin: Rater) -> list[dict[str, Any]]:
        """Return every re-rating answer beside the first answer it repeats (admin only).

        Each row: ``schema_version, rater_id, rater_name, segment_id, dim, value, unsure,
        source, created, updated, first_value, first_unsure`` (``first_*`` None when the first
        answer of that dimension is missing).
        """
        self._require_admin(admin, "export")
        rows = self._rows(
            "SELECT b.*, r.name AS rater_name, a.value AS first_value, a.unsure AS first_unsure"
            " FROM rerate_answers b JOIN raters r ON r.id = b.rater_id"
            " LEFT JOIN answers a ON a.rater_id = b.rater_id AND a.segment_id = b.segment_id"
            " AND a.dim = b.dim ORDER BY b.rater_id, b.segment_id, b.dim"
        )
        return [
            {
                "schema_version": SCHEMA_VERSION,
                "rater_id": int(r["rater_id"]),
                "rater_name": str(r["rater_name"]),
                "segment_id": str(r["segment_id"]),
                "dim": str(r["dim"]),
                "value": float(r["value"]),
                "unsure": bool(r["unsure"]),
                "source": str(r["source"]),
                "created": str(r["created"]),
                "updated": str(r["updated"]),
                "first_value": None if r["first_value"] is None else float(r["first_value"]),
                "first_unsure": None if r["first_unsure"] is None else bool(r["first_unsure"]),
            }
            for r in rows
        ]
