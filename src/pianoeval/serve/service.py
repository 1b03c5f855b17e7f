"""The service's work, apart from HTTP: raters, uploads, checks and the one rating call.

- :class:`Raters` holds the raters, loaded once when the app starts and shared by every
  request and job.
- :func:`save_upload` streams an upload to a private temporary folder, enforcing the size
  limit while it reads; :func:`check_input` then checks type and duration from the file's
  header (audio) or its notes (MIDI), before any costly work.
- :func:`run_evaluation` is the single place that calls the rating pipeline, the
  whole-performance evaluation :func:`pianoeval.rater.performance.evaluate_performance`
  (scores over time, per-bar feedback against a score, advice): every endpoint follows it.
- :func:`rating_report` turns a rating's JSON into the self-contained HTML page of
  :func:`pianoeval.report.rating_html`.
- :func:`scrub_paths` replaces the server's temporary paths in a result or a message by
  the names the client uploaded, so no server path leaks.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from pianoeval.constants import MIDI_SUFFIXES
from pianoeval.serve.config import ServeSettings
from pianoeval.serve.exceptions import ApiError

if TYPE_CHECKING:
    from pianoeval.model.audio import AudioRater
    from pianoeval.model.symbolic import SymbolicRater

__all__ = [
    "CHUNK_BYTES",
    "SCORE_SUFFIXES",
    "ProgressCallback",
    "Raters",
    "Upload",
    "check_input",
    "load_raters",
    "rating_report",
    "request_dir",
    "run_evaluation",
    "save_upload",
    "scrub_paths",
]

#: Bytes read from an upload at a time.
CHUNK_BYTES = 1 << 20

#: Called with (progress in [0, 1], stage in words).
ProgressCallback = Callable[[float, str], None]

#: Score files accepted: a score MIDI or MusicXML (plain or compressed).
SCORE_SUFFIXES = (".mid", ".midi", ".musicxml", ".xml", ".mxl")

#: Longest file name kept from a client (the rest is cut).
MAX_NAME_CHARS = 120


@dataclass(frozen=True)
class Raters:
    """The raters every request shares (loaded once; never modified)."""

    midi: SymbolicRater
    audio: AudioRater | None

    def cards(self) -> dict[str, Any]:
        """Model cards: each bundle's metadata (id, data, licences, benchmark figures)."""
        out: dict[str, Any] = {"midi": _card(self.midi.metadata)}
        out["audio"] = _card(self.audio.metadata) if self.audio is not None else None
        return out


def _card(metadata: Mapping[str, Any]) -> dict[str, Any]:
    import json

    # the metadata is plain JSON read from the bundle; a round trip drops anything that
    # is not (and copies it, so a client can never reach the shared rater's dict)
    return dict(json.loads(json.dumps(dict(metadata), default=str)))


def load_raters(settings: ServeSettings) -> Raters:
    """Load the raters named in ``settings`` (default: the shipped ones) and fix threads."""
    if settings.threads is not None:
        _fix_threads(settings.threads)
    from pianoeval.model.symbolic import SymbolicRater
    from pianoeval.rater.bundle import default_rater

    midi = SymbolicRater.load(settings.rater_dir) if settings.rater_dir else default_rater()
    audio: AudioRater | None = None
    if settings.use_audio_rater:
        if settings.audio_rater_dir is not None:
            from pianoeval.model.audio import AudioRater

            audio = AudioRater.load(settings.audio_rater_dir)
        else:
            from pianoeval.rater.audio import default_audio_rater

            audio = default_audio_rater()
    if settings.torch_threads is not None:
        import torch

        torch.set_num_threads(settings.torch_threads)
    return Raters(midi=midi, audio=audio)


def _fix_threads(n: int) -> None:
    """Fix this process's OpenMP/BLAS threads to ``n`` (the service owns its process).

    The variables reach libraries loaded later; threadpoolctl (installed with
    scikit-learn), when present, limits those already loaded.
    """
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:
        return
    threadpool_limits(limits=n)


@dataclass(frozen=True)
class Upload:
    """An uploaded file saved on the server: where, and the name the client gave."""

    path: Path
    name: str
    size_bytes: int


def safe_name(filename: str | None, default: str) -> str:
    """Return the client's file name without folders, cut to a sane length (for messages)."""
    name = Path((filename or "").replace("\\", "/")).name.strip()
    return (name or default)[:MAX_NAME_CHARS]


def file_suffix(filename: str | None) -> str:
    """Return the lower-case suffix of a client's file name ('' without one)."""
    return Path(safe_name(filename, "")).suffix.lower()


def check_type(filename: str | None, allowed: tuple[str, ...], *, what: str = "file") -> str:
    """Return the suffix of ``filename``; raise 415 when it is not an allowed type."""
    suffix = file_suffix(filename)
    if suffix not in allowed:
        got = f"'{suffix}'" if suffix else "no file type (the name has no suffix)"
        raise ApiError(
            415,
            "unsupported_type",
            f"{safe_name(filename, what)}: {got} is not accepted; send one of {', '.join(allowed)}",
        )
    return suffix


@contextmanager
def request_dir(settings: ServeSettings) -> Iterator[Path]:
    """Make a private temporary folder for one request, always removed afterwards."""
    root = settings.tmp_dir
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="pianoeval-serve-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def save_upload(
    src: BinaryIO, filename: str | None, folder: Path, *, stem: str, max_bytes: int
) -> Upload:
    """Copy an upload into ``folder`` in chunks, refusing it (413) past ``max_bytes``.

    The file is saved as ``<stem><suffix>`` (never under the client's name, which may
    hold anything); an empty upload is kept, for the library to say it is empty.
    """
    dest = folder / f"{stem}{file_suffix(filename)}"
    size = 0
    with open(dest, "wb") as out:
        while chunk := src.read(CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise ApiError(
                    413,
                    "too_large",
                    f"{safe_name(filename, stem)}: the upload is larger than the "
                    f"{_fmt_bytes(max_bytes)} this server accepts",
                )
            out.write(chunk)
    return Upload(path=dest, name=safe_name(filename, stem), size_bytes=size)


def _fmt_bytes(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g} MB"
    if n >= 1000:
        return f"{n / 1000:g} kB"
    return f"{n} bytes"


def check_input(upload: Upload, settings: ServeSettings) -> float:
    """Check an input's duration from its header or notes; return it in seconds.

    Raises
    ------
    ApiError
        413 when the input is longer than ``settings.max_duration_sec``; 422 (through
        the library's :class:`~pianoeval.errors.FileProblemError`) when it is empty or
        cannot be read.
    """
    if upload.path.suffix.lower() in MIDI_SUFFIXES:
        from pianoeval.symbolic.midi import load_midi

        duration = float(load_midi(upload.path, require_notes=False).end_sec)
    else:
        from pianoeval.audio import audio_info

        info = audio_info(upload.path)
        if info.n_frames == 0:
            from pianoeval.errors import AudioError

            raise AudioError(upload.path, "holds no audio (0 frames)")
        duration = float(info.duration_sec)
    if duration > settings.max_duration_sec:
        raise ApiError(
            413,
            "too_long",
            f"{upload.name}: {duration:.1f} s is longer than the {settings.max_duration_sec:g} s "
            "this server rates",
        )
    return duration


def _expected_sec(upload: Upload, duration_sec: float) -> float:
    """Guess roughly the work's length, for the progress estimate only."""
    if upload.path.suffix.lower() in MIDI_SUFFIXES:
        return 1.0 + 0.02 * duration_sec
    # transkun on 2 busy cores: about 1-5 s per second of audio (docs/benchmarks.md)
    return 5.0 + 2.0 * duration_sec


def run_evaluation(
    path: Path,
    score_path: Path | None,
    progress_cb: ProgressCallback | None,
    *,
    raters: Raters,
    expected_sec: float = 5.0,
) -> dict[str, Any]:
    """Evaluate one saved input; return the rating as JSON (``Rating.model_dump(mode="json")``).

    The only call of the rating pipeline in the service:
    :func:`~pianoeval.rater.performance.evaluate_performance` with the shared raters and
    the score (MIDI or MusicXML) when one was sent. ``progress_cb`` gets 0 at the start,
    an estimate that grows with elapsed time against ``expected_sec`` (capped at 0.95: the
    pipeline reports no progress of its own) and 1 at the end.
    """
    from pianoeval.rater.performance import evaluate_performance

    done = threading.Event()
    if progress_cb is not None:
        progress_cb(0.0, "rating")
        ticker = threading.Thread(target=_tick, args=(progress_cb, expected_sec, done), daemon=True)
        ticker.start()
    try:
        rating = evaluate_performance(
            path,
            score=score_path,
            rater=raters.midi,
            audio_rater=raters.audio,
            use_audio_rater=raters.audio is not None,
        )
    finally:
        done.set()
    if progress_cb is not None:
        progress_cb(1.0, "done")
    return dict(rating.model_dump(mode="json"))


def _tick(cb: ProgressCallback, expected_sec: float, done: threading.Event) -> None:
    t0 = time.monotonic()
    while not done.wait(0.25):
        elapsed = time.monotonic() - t0
        # approaches 0.95 and never reaches it, however slow the machine
        cb(0.95 * (1.0 - 2.0 ** (-elapsed / max(expected_sec, 0.1))), "rating")


def evaluate_upload(
    upload: Upload,
    score: Upload | None,
    settings: ServeSettings,
    raters: Raters,
    progress_cb: ProgressCallback | None = None,
    *,
    duration_sec: float | None = None,
    gate: threading.Semaphore | None = None,
) -> dict[str, Any]:
    """Check (when not done yet) and rate a saved upload; paths in the answer are scrubbed.

    ``gate`` bounds the evaluations that run at once (:attr:`ServeSettings.workers`).
    Library errors are re-raised with the server's paths replaced by the client's names.
    """
    names = {str(upload.path): upload.name}
    if score is not None:
        names[str(score.path)] = score.name
    names[str(upload.path.parent)] = "(upload)"
    try:
        if duration_sec is None:
            duration_sec = check_input(upload, settings)
        if score is not None:
            _check_score(score)
        if gate is not None:
            if progress_cb is not None:
                progress_cb(0.0, "waiting for a free worker")
            gate.acquire()
        try:
            result = run_evaluation(
                upload.path,
                score.path if score is not None else None,
                progress_cb,
                raters=raters,
                expected_sec=_expected_sec(upload, duration_sec),
            )
        finally:
            if gate is not None:
                gate.release()
    except ApiError:
        raise
    except Exception as e:
        from pianoeval.serve.exceptions import error_status

        mapped = error_status(e)
        if mapped is None:
            raise
        raise ApiError(mapped.status, mapped.kind, scrub_paths(mapped.detail, names)) from None
    return dict(scrub_paths(result, names))


def _check_score(score: Upload) -> None:
    if score.path.suffix.lower() not in MIDI_SUFFIXES:
        # MusicXML is read (once) by the evaluation; a corrupt one fails there with an
        # AlignmentError naming the file: 422 too
        if score.size_bytes == 0:
            from pianoeval.errors import FileProblemError

            raise FileProblemError(score.path, "is empty (0 bytes)")
        return
    from pianoeval.symbolic.midi import load_midi

    load_midi(score.path, require_notes=False)  # empty or corrupt: 422 with its message


def rating_report(result: Mapping[str, Any]) -> str:
    """Return the self-contained HTML page of a rating (as :func:`run_evaluation` returns it).

    The page needs nothing but the rating: inline CSS and SVG, no script, nothing fetched.
    """
    from pianoeval.rater.result import Rating
    from pianoeval.report import rating_html

    return rating_html(Rating.model_validate(dict(result)))


def scrub_paths(obj: Any, names: Mapping[str, str]) -> Any:
    """Replace each server path (key of ``names``) in strings of ``obj`` by its name.

    Examples
    --------
    >>> scrub_paths({"a": ["/tmp/x/in.mid: empty"]}, {"/tmp/x/in.mid": "my.mid"})
    {'a': ['my.mid: empty']}
    """
    if isinstance(obj, str):
        for path, name in names.items():
            obj = obj.replace(path, name)
        return obj
    if isinstance(obj, dict):
        return {k: scrub_paths(v, names) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub_paths(v, names) for v in obj]
    return obj


def dir_is_clean(folder: Path | None) -> bool:
    """Whether ``folder`` holds no request folder (for tests and health checks)."""
    root = Path(folder) if folder is not None else Path(tempfile.gettempdir())
    return not any(p.name.startswith("pianoeval-serve-") for p in root.iterdir())
