"""Batch tasks for the tests (importable, so Dask workers can unpickle them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pianoeval.batch import BatchItem, BatchTask, item_path
from pianoeval.errors import BackendUnavailableError, MidiError


@dataclass
class SizeTask(BatchTask):
    """Return a file's size; ``tag`` makes a fresh identity (a fresh setup) per test."""

    name: ClassVar[str] = "size"

    tag: str = ""
    fail_on: str | None = None  # a file name that raises BackendUnavailableError

    def __call__(self, item: BatchItem) -> dict[str, Any]:
        path = Path(item_path(item))
        if self.fail_on is not None and path.name == self.fail_on:
            raise BackendUnavailableError("the size backend", "pip install size")
        if path.suffix == ".bad":
            raise MidiError(path, "a bad file")
        return {"name": path.name, "bytes": path.stat().st_size}
