"""The app factory: :func:`create_app` builds the FastAPI app for one set of settings.

The raters are loaded once, when the app starts (``lifespan``), and shared by every
request and job; the job pool is stopped when the app stops. A request body larger than
the settings allow is refused with 413 while it is being read (:class:`BodyLimit`),
before it reaches the form parser; each file is limited again when it is saved.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from pianoeval._version import __version__
from pianoeval.serve import service
from pianoeval.serve.config import ServeSettings
from pianoeval.serve.exceptions import install_handlers
from pianoeval.serve.jobs import JobStore
from pianoeval.serve.router import STATIC_DIR, router

__all__ = ["BodyLimit", "create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: refuse (413) a request body larger than ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before anything is read; a
    body that grows past it (chunked, or a lying header) is cut off while it is read.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return (
            f"the request body is larger than the {self.max_bytes:,} bytes this server "
            "accepts (see GET /v1/rater, limits)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, with its body counted (or answer 413 at once)."""
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = JSONResponse(
                {"error": "too_large", "detail": self._message()},
                status_code=413,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited, send)


def create_app(
    settings: ServeSettings | None = None, *, raters: service.Raters | None = None
) -> FastAPI:
    """Build the service.

    Parameters
    ----------
    settings : ServeSettings, optional
        Limits and resources (default: :meth:`ServeSettings.from_env`).
    raters : Raters, optional
        Raters already loaded (tests share one set); loaded at start-up when None.

    Returns
    -------
    FastAPI
        Serve it with uvicorn (``pianoeval serve``), or test it with a ``TestClient``.

    Examples
    --------
    >>> from pianoeval.serve import ServeSettings, create_app
    >>> app = create_app(ServeSettings(max_upload_bytes=1_000_000))
    >>> for path in sorted(p for p in app.openapi()["paths"] if p.startswith("/v1")):
    ...     print(path)
    /v1/evaluate
    /v1/jobs
    /v1/jobs/{job_id}
    /v1/jobs/{job_id}/report
    /v1/rater
    /v1/report
    """
    settings = settings if settings is not None else ServeSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with app.state.raters_lock:
            loaded = app.state.raters
        if loaded is None:
            loaded = await run_in_threadpool(service.load_raters, settings)
            with app.state.raters_lock:
                app.state.raters = loaded
        try:
            yield
        finally:
            app.state.jobs.shutdown()

    app = FastAPI(
        title="pianoeval",
        version=__version__,
        summary="Rate piano performances (MIDI or recordings) on 19 PercePiano dimensions.",
        description=(
            "Upload a performance to `POST /v1/evaluate` (waits for the rating) or "
            "`POST /v1/jobs` (returns at once; poll `GET /v1/jobs/{id}`). Errors are "
            '`{"error": kind, "detail": message}` with a 4xx status. The web page is at `/`.'
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.raters = raters
    app.state.raters_lock = threading.Lock()
    app.state.gate = threading.BoundedSemaphore(settings.workers)
    app.state.jobs = JobStore(
        workers=settings.workers, ttl_sec=settings.job_ttl_sec, max_jobs=settings.max_jobs
    )
    install_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
