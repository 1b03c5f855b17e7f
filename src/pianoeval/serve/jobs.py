"""Jobs: long inputs rated in the background, polled for progress.

A job owns its temporary folder: it is removed when the job ends, whatever the outcome.
Finished jobs are forgotten ``ttl_sec`` after they end (checked on every access), and at
most ``max_jobs`` may be queued or running at once.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pianoeval.serve.exceptions import ApiError, error_status

__all__ = ["Job", "JobStore"]

JobState = Literal["queued", "running", "done", "error"]


@dataclass
class Job:
    """One job's state (mutated only under the store's lock)."""

    id: str
    filename: str
    state: JobState = "queued"
    progress: float = 0.0
    stage: str = "queued"
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None

    def view(self) -> dict[str, Any]:
        """Return the job as the API shows it."""
        return {
            "id": self.id,
            "filename": self.filename,
            "status": self.state,
            "progress": round(self.progress, 3),
            "stage": self.stage,
            "result": self.result,
            "error": self.error,
            "created": self.created,
            "finished": self.finished,
        }


class JobStore:
    """Runs jobs on a thread pool and keeps their state until they expire."""

    def __init__(self, *, workers: int, ttl_sec: float, max_jobs: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pianoeval-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.ttl_sec = ttl_sec
        self.max_jobs = max_jobs

    def submit(
        self,
        filename: str,
        work: Callable[[Callable[[float, str], None]], dict[str, Any]],
        folder: Path,
    ) -> Job:
        """Queue ``work(progress_cb)``; ``folder`` is removed when it ends.

        Raises
        ------
        ApiError
            503 when ``max_jobs`` jobs are already queued or running (the folder is
            then removed at once).
        """
        with self._lock:
            self._expire()
            active = sum(j.state in ("queued", "running") for j in self._jobs.values())
            if active >= self.max_jobs:
                shutil.rmtree(folder, ignore_errors=True)
                raise ApiError(
                    503, "busy", f"{active} jobs are waiting or running; try again later"
                )
            job = Job(id=uuid.uuid4().hex, filename=filename)
            self._jobs[job.id] = job
        self._pool.submit(self._run, job, work, folder)
        return job

    def get(self, job_id: str) -> dict[str, Any] | None:
        """Return the job's view, or None when unknown or expired."""
        with self._lock:
            self._expire()
            job = self._jobs.get(job_id)
            return None if job is None else job.view()

    def shutdown(self) -> None:
        """Stop taking jobs; wait for the running ones, drop the queued ones."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _progress(self, job: Job) -> Callable[[float, str], None]:
        def update(progress: float, stage: str) -> None:
            with self._lock:
                if job.state in ("queued", "running"):
                    job.state = "running"
                    job.progress = max(job.progress, min(1.0, float(progress)))
                    job.stage = stage

        return update

    def _run(
        self,
        job: Job,
        work: Callable[[Callable[[float, str], None]], dict[str, Any]],
        folder: Path,
    ) -> None:
        import logging

        try:
            with self._lock:
                job.state, job.stage = "running", "starting"
            result = work(self._progress(job))
            with self._lock:
                job.state, job.progress, job.stage, job.result = "done", 1.0, "done", result
        except Exception as e:
            mapped = error_status(e)
            if mapped is None:
                logging.getLogger("pianoeval.serve").exception("job %s failed", job.id)
                mapped = ApiError(500, "internal", "internal error: the job failed; logged")
            with self._lock:
                job.state, job.stage = "error", "failed"
                job.error = {"status": mapped.status, **mapped.body()}
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            with self._lock:
                job.finished = time.time()

    def _expire(self) -> None:
        now = time.time()
        for key in [
            k
            for k, j in self._jobs.items()
            if j.finished is not None and now - j.finished > self.ttl_sec
        ]:
            del self._jobs[key]
