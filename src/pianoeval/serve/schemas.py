"""Response bodies of the service (they document the API in its OpenAPI schema).

A rating is :class:`pianoeval.rater.result.Rating` as JSON, unchanged: the API adds no
second result type. The page reads ``scores`` (with ``interval_low``/``interval_high``)
and, when present, ``windows`` and ``bars`` (see docs/serve.md).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "SERVE_SCHEMA_VERSION",
    "DimensionInfo",
    "ErrorBody",
    "Features",
    "Health",
    "JobView",
    "Limits",
    "RaterInfo",
]

#: Version of the service's own records (health, rater info, job views).
SERVE_SCHEMA_VERSION = 1


class ErrorBody(BaseModel):
    """Every error: a short kind and a message for a person (never a traceback)."""

    error: str = Field(examples=["unsupported_type"])
    detail: str = Field(examples=["take.txt: '.txt' is not accepted; send one of .mid, .wav"])


class Health(BaseModel):
    """``GET /healthz``."""

    schema_version: int = SERVE_SCHEMA_VERSION
    status: Literal["ok"] = "ok"
    pianoeval_version: str
    midi_rater: str
    audio_rater: str | None


class DimensionInfo(BaseModel):
    """One rated dimension: the descriptors of the two ends of its scale and its meaning."""

    name: str
    group: str | None = None
    low: str
    high: str
    meaning: str | None = None


class Limits(BaseModel):
    """What this server accepts."""

    max_upload_bytes: int
    max_duration_sec: float
    allowed_suffixes: list[str]
    workers: int


class Features(BaseModel):
    """Optional abilities; the page offers what is true here."""

    jobs: bool = True
    html_report: bool = False


class RaterInfo(BaseModel):
    """``GET /v1/rater``: the raters, their model cards, dimensions and the limits."""

    schema_version: int = SERVE_SCHEMA_VERSION
    pianoeval_version: str
    taxonomy: str
    taxonomy_version: str
    scale: str
    model_ids: dict[str, str | None]
    dimensions: list[DimensionInfo]
    model_cards: dict[str, dict[str, Any] | None]
    limits: Limits
    features: Features


class JobView(BaseModel):
    """A job: its state, progress in [0, 1] (an estimate while rating), then its rating."""

    id: str
    filename: str
    status: Literal["queued", "running", "done", "error"]
    progress: float = Field(ge=0.0, le=1.0)
    stage: str
    result: dict[str, Any] | None = Field(
        default=None, description="The rating (as POST /v1/evaluate returns it) when done."
    )
    error: dict[str, Any] | None = Field(
        default=None, description="{status, error, detail} when the job failed."
    )
    created: float = Field(description="Unix time the job was created.")
    finished: float | None = Field(default=None, description="Unix time it ended.")
