"""HTTP errors of the service, and the handlers that turn every error into JSON.

Library errors become HTTP statuses here, at the edge (STYLE §4), never inside the
library: a bad input (:class:`~pianoeval.errors.FileProblemError`: unreadable, empty,
corrupt, too little music) is 422 with the library's message; a bad argument
(:class:`~pianoeval.errors.ParameterError`) is 422 too; a missing backend is 503.
Anything else is a bug: 500 with a fixed message, the traceback only in the server's log.
Every error body is ``{"error": <kind>, "detail": <message>}``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pianoeval.errors import (
    BackendUnavailableError,
    FileProblemError,
    ParameterError,
    PianoEvalError,
)

__all__ = ["ApiError", "error_status", "install_handlers"]

log = logging.getLogger("pianoeval.serve")

#: The message of a 500: never the exception's text, which may hold paths or internals.
INTERNAL_ERROR = "internal error: the server failed on this request; it has been logged"


class ApiError(Exception):
    """An error answered with ``status`` and a message meant for the user.

    Parameters
    ----------
    status : int
        HTTP status code.
    kind : str
        A short machine-readable name (``"too_large"``, ``"unsupported_type"``, ...).
    detail : str
        What went wrong and what to do, for a person.
    """

    def __init__(self, status: int, kind: str, detail: str) -> None:
        self.status = status
        self.kind = kind
        self.detail = detail
        super().__init__(detail)

    def body(self) -> dict[str, str]:
        """Return the JSON body of the response."""
        return {"error": self.kind, "detail": self.detail}


def error_status(exc: BaseException) -> ApiError | None:
    """Map a library error to the :class:`ApiError` it is answered with (None: a bug)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, FileProblemError):
        return ApiError(422, "bad_input", str(exc))
    if isinstance(exc, ParameterError):
        return ApiError(422, "bad_parameter", str(exc))
    if isinstance(exc, BackendUnavailableError):
        return ApiError(503, "backend_unavailable", str(exc))
    if isinstance(exc, PianoEvalError):
        return ApiError(422, "bad_input", str(exc))
    return None


def _json(err: ApiError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status)


def install_handlers(app: FastAPI) -> None:
    """Register the handlers: every response, even for a bug, is a JSON error body."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        mapped = error_status(exc)
        assert mapped is not None
        return _json(mapped)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        kind = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        return _json(ApiError(exc.status_code, kind, str(exc.detail)))

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{loc}: {e.get('msg', 'invalid')}" if loc else str(e.get("msg")))
        return _json(ApiError(422, "invalid_request", "; ".join(parts) or "invalid request"))

    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _json(ApiError(500, "internal", INTERNAL_ERROR))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(PianoEvalError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, bug)
