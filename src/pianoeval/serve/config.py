"""Settings of the inference service (one pydantic model, read from arguments or env).

Every limit is named with its unit. :meth:`ServeSettings.from_env` reads
``PIANOEVAL_SERVE_<FIELD>`` variables (e.g. ``PIANOEVAL_SERVE_MAX_UPLOAD_BYTES``), so a
deployment can change a limit without code; ``pianoeval serve`` options override them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DEFAULT_SUFFIXES", "ENV_PREFIX", "ServeSettings"]

#: Environment variables read by :meth:`ServeSettings.from_env` start with this.
ENV_PREFIX = "PIANOEVAL_SERVE_"

#: What an upload may be: MIDI, or audio that libsndfile decodes. The page records WAV
#: itself (16-bit PCM encoded in JS), so no webm/opus decoder is needed on the server.
DEFAULT_SUFFIXES: tuple[str, ...] = (".mid", ".midi", ".wav", ".flac", ".ogg", ".mp3")

MB = 1_000_000


class ServeSettings(BaseModel):
    """Limits and resources of one service instance.

    Attributes
    ----------
    max_upload_bytes : int
        Largest accepted upload, per file (default 50 MB); enforced while the body is read.
    max_duration_sec : float
        Longest accepted input (default 15 min): the audio header's length, or the end of
        the last MIDI note.
    workers : int
        Evaluations run at the same time (synchronous requests and jobs together); the
        rest wait. One by default: the rating pipeline is not written for parallel calls
        in one process (it collects warnings through the process-wide filter list).
    allowed_suffixes : tuple of str
        Accepted file types, by name suffix (lower case, with the dot).
    rater_dir, audio_rater_dir : Path or None
        Rater bundles (default: the shipped ones).
    use_audio_rater : bool
        Rate recordings with the audio rater (False: the MIDI rater on the transcription).
    job_ttl_sec : float
        A finished job's result is kept this long, then forgotten.
    max_jobs : int
        Jobs queued or running at once; more are refused with 503.
    tmp_dir : Path or None
        Where uploads are written while they are rated (default: the system's temp dir);
        each request gets its own folder, removed when the request or job ends.
    threads : int or None
        OpenMP/BLAS threads of the process (LightGBM's predictions among them), fixed at
        start-up; None leaves the libraries' defaults. One by default: LightGBM rates one
        row at a time, and on busy cores its OpenMP threads spin waiting for each other
        (measured in ``pianoeval.batch``: 0.65 s per rating with 2 threads, 0.04 s with 1).
    torch_threads : int or None
        Threads torch may use (transcription); None leaves torch's default (all cores).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_upload_bytes: int = Field(default=50 * MB, gt=0)
    max_duration_sec: float = Field(default=15 * 60.0, gt=0)
    workers: int = Field(default=1, ge=1, le=64)
    allowed_suffixes: tuple[str, ...] = DEFAULT_SUFFIXES
    rater_dir: Path | None = None
    audio_rater_dir: Path | None = None
    use_audio_rater: bool = True
    job_ttl_sec: float = Field(default=3600.0, gt=0)
    max_jobs: int = Field(default=32, ge=1)
    tmp_dir: Path | None = None
    threads: int | None = Field(default=1, ge=1)
    torch_threads: int | None = Field(default=None, ge=1)

    @field_validator("allowed_suffixes")
    @classmethod
    def _lower_dotted(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for s in value:
            s = s.strip().lower()
            out.append(s if s.startswith(".") else f".{s}")
        if not out:
            raise ValueError("allowed_suffixes must name at least one file type")
        return tuple(out)

    @property
    def max_body_bytes(self) -> int:
        """Largest request body: the performance and its score, plus the form's framing."""
        return 2 * self.max_upload_bytes + 64 * 1024

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> ServeSettings:
        """Read settings from ``PIANOEVAL_SERVE_*`` variables, then ``overrides`` (None ignored).

        Examples
        --------
        >>> ServeSettings.from_env({"PIANOEVAL_SERVE_WORKERS": "2"}).workers
        2
        >>> ServeSettings.from_env({}, max_upload_bytes=1000).max_upload_bytes
        1000
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is not None and raw != "":
                values[name] = raw.split(",") if name == "allowed_suffixes" else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
