"""Batch records as JSON Lines: one line per input, written as each one is ready.

A line is one record of :func:`pianoeval.batch.run_batch` (``schema_version``, ``task``,
``index``, ``path``, ``ok``, then ``result`` or ``error``). Lines are flushed one by one,
so an interrupted batch leaves every finished input's line, and ``tail -f`` follows it.
The path ``-`` writes to standard output.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from pianoeval._typing import PathLike

__all__ = ["JsonlWriter", "read_jsonl", "write_jsonl"]


class JsonlWriter:
    """Write records to a JSONL file (or stdout for ``-``), one flushed line each.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
    >>> with JsonlWriter(out) as w:
    ...     w.write({"path": "a.mid", "ok": True})
    >>> read_jsonl(out)
    [{'path': 'a.mid', 'ok': True}]
    """

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)
        self._fh: IO[str] | None = None
        self.n_written = 0

    def __enter__(self) -> JsonlWriter:
        if self.path == "-":
            self._fh = sys.stdout
        else:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "w", encoding="utf-8")
        return self

    def write(self, record: dict[str, Any]) -> None:
        """Write one record as one line and flush it."""
        if self._fh is None:
            raise RuntimeError("JsonlWriter.write outside its with block")
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        self.n_written += 1

    def __call__(self, record: dict[str, Any]) -> None:
        """Write one record (so a writer can be ``on_result``)."""
        self.write(record)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fh is not None and self._fh is not sys.stdout:
            self._fh.close()
        self._fh = None


def write_jsonl(path: PathLike, records: Iterable[dict[str, Any]]) -> int:
    """Write ``records`` to ``path`` (``-``: stdout); return how many were written."""
    with JsonlWriter(path) as w:
        for record in records:
            w.write(record)
        return w.n_written


def read_jsonl(path: PathLike) -> list[dict[str, Any]]:
    """Read the records of a JSONL file (blank lines skipped)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
