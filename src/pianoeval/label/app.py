"""The labeling app: :func:`create_label_app` builds the FastAPI app raters use.

One process serves one queue (:func:`pianoeval.label.queue.load_queue`) to many raters, each
logging in with their own token (``Authorization: Bearer <token>``; the page keeps it in
``sessionStorage``). :class:`LabelService` holds the rules, the routes only call it:

- ``GET /api/next``: the rater's current item (the same until finished or skipped), chosen by
  :mod:`pianoeval.label.assign` (N raters per segment, honeypots, re-rating) and logged, so a
  restarted server gives the same item back.
- ``GET /api/media``: exactly t0-t1 of the item's audio (MIDI rendered and cached), only
  from the media roots (:mod:`pianoeval.label.media`).
- ``POST /api/heard``: the page says the segment was heard to the end; refused (409) when it
  comes sooner than ``min_listen_fraction`` of the segment's length after the media was sent
  (the page plays at 0.5x-1x, never faster).
- ``POST /api/answer``: one answer, committed before the reply; refused (409) before the
  rater's heard event for that item. ``confirmed_prefill`` must repeat the suggestion exactly.
- ``POST /api/note``, ``POST /api/skip``, ``POST /api/done`` (every dimension answered),
  ``GET /api/answers`` (the rater's own), ``GET /api/admin/export`` (admin token only).

Errors are ``{"error": kind, "detail": message}`` (the service's handlers): 401 unknown
token, 403 not yours / not an admin / media outside the roots, 404 unknown segment or missing
file, 409 out of order, 422 bad value.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from pianoeval._typing import PathLike
from pianoeval._version import __version__
from pianoeval.errors import ParameterError, PianoEvalError
from pianoeval.label.assign import (
    DONE,
    SKIP,
    STATE_KINDS,
    Assignment,
    AssignmentPolicy,
    RaterState,
    holders,
    next_assignment,
    rater_state,
)
from pianoeval.label.media import (
    MediaAccessError,
    MediaNotFoundError,
    MediaRoots,
    crop_audio,
    render_midi_crop,
    wav_bytes,
)
from pianoeval.label.queue import ANCHOR_LEVELS, Anchor, LabelQueue, LabelTask, load_anchors
from pianoeval.label.queue import load_queue as _load_queue
from pianoeval.label.store import (
    SCHEMA_VERSION,
    AnswerStore,
    LabelPermissionError,
    Rater,
    UnknownTokenError,
)
from pianoeval.serve.app import BodyLimit
from pianoeval.serve.exceptions import ApiError, install_handlers

if TYPE_CHECKING:
    from pianoeval.label.qc import QCReport

__all__ = [
    "STATIC_DIR",
    "LabelConflictError",
    "LabelService",
    "create_label_app",
]

log = logging.getLogger("pianoeval.label")

STATIC_DIR = Path(__file__).resolve().parent / "static"

#: Heard events, media deliveries: the events the service logs beside the assignment ones.
HEARD, MEDIA = "heard", "media"
#: Every event kind a rater's activity logs (the lease on an open item counts from the last).
ACTIVITY_KINDS = (*STATE_KINDS, MEDIA, HEARD, "answer", "rerate_answer", "note")

#: Anchor clips with these suffixes are MIDI, rendered like MIDI-only rows.
MIDI_SUFFIXES = (".mid", ".midi")

#: Largest request body: answers and notes are small.
MAX_BODY_BYTES = 64 * 1024


class LabelConflictError(PianoEvalError):
    """A request out of order: an answer before the segment was heard, an item not open."""


class UnknownSegmentError(PianoEvalError):
    """A segment id that is not in the queue."""


def _parse_time(at: str) -> datetime:
    return datetime.fromisoformat(at)


class LabelService:
    """The rules of the labeling app over a queue, a store and the media roots.

    Parameters
    ----------
    queue : LabelQueue
    store : AnswerStore
    media : MediaRoots
    anchors : dict, optional
        From :func:`pianoeval.label.queue.load_anchors`.
    policy : AssignmentPolicy, optional
    soundfont : str
        SoundFont for MIDI-only rows.
    min_listen_fraction : float
        A heard event is accepted only this share of the segment's length (at 1x) after
        its media was sent; 0 turns the check off.
    lease_minutes : float
        An open item whose rater shows no activity for this long stops counting toward
        its segment's raters (0: never).
    """

    def __init__(
        self,
        queue: LabelQueue,
        store: AnswerStore,
        media: MediaRoots,
        *,
        anchors: dict[str, dict[Any, Anchor]] | None = None,
        policy: AssignmentPolicy | None = None,
        soundfont: str = "fluidr3_gm",
        min_listen_fraction: float = 0.9,
        lease_minutes: float = 30.0,
    ) -> None:
        if not 0.0 <= min_listen_fraction <= 1.0:
            raise ValueError(f"min_listen_fraction must be in [0, 1], got {min_listen_fraction}")
        if not lease_minutes >= 0.0:
            raise ValueError(f"lease_minutes must be >= 0, got {lease_minutes}")
        self.lease_minutes = lease_minutes
        self.queue = queue
        self.store = store
        self.media = media
        self.anchors = anchors or {}
        self.policy = policy or AssignmentPolicy()
        self.soundfont = soundfont
        self.min_listen_fraction = min_listen_fraction
        #: Segments of the pairwise mode's pairs (any rater may fetch their audio).
        self.pair_ids: frozenset[str] = frozenset()
        # one lock around choose-and-log, so two raters asking at once never exceed n_raters
        self._lock = threading.Lock()

    # -- state ---------------------------------------------------------------------------
    def _task(self, segment_id: str) -> LabelTask:
        task = self.queue.get(segment_id)
        if task is None:
            raise UnknownSegmentError(f"segment {segment_id!r} is not in this queue")
        return task

    def _state(self, rater: Rater) -> RaterState:
        events = self.store.events_of(rater, kinds=STATE_KINDS)
        return rater_state(((e.segment_id, e.kind) for e in events), self.queue.honeypot_ids)

    def _held(self) -> dict[str, int]:
        """Count the raters holding each segment; an item open past its lease does not count.

        A rater who opened an item and did nothing for ``lease_minutes`` (no media, heard,
        answer, note, done or skip) stops holding it for the others, so an abandoned item
        cannot keep a segment from its N raters; if they come back they may still finish it.
        """
        by_rater: dict[int, list[tuple[str, str]]] = {}
        last: dict[int, str] = {}
        for e in self.store.events_of_kinds(ACTIVITY_KINDS):
            last[e.rater_id] = e.at
            if e.kind in STATE_KINDS:
                by_rater.setdefault(e.rater_id, []).append((e.segment_id, e.kind))
        pots = self.queue.honeypot_ids
        states = {r: rater_state(ev, pots) for r, ev in by_rater.items()}
        held = holders(states.values())
        if self.lease_minutes > 0:
            now = datetime.now(UTC)
            for r, st in states.items():
                idle = (now - _parse_time(last[r])).total_seconds() / 60
                if st.open is not None and st.open.kind != "rerate" and idle > self.lease_minutes:
                    held[st.open.segment_id] -= 1
        return dict(held)

    def _attempt(self, rater: Rater, segment_id: str) -> tuple[bool, bool, float | None]:
        """Return (is_rerate, heard, seconds since media) of the rater's latest item of a segment.

        Raises LabelPermissionError when the segment was never given to this rater.
        """
        events = self.store.events_of(rater, segment_id=segment_id)
        given = [i for i, e in enumerate(events) if e.kind in ("assign", "assign_rerate")]
        if not given:
            raise LabelPermissionError(f"segment {segment_id!r} was not given to you")
        last = events[given[-1]]
        after = events[given[-1] + 1 :]
        heard = any(e.kind == HEARD for e in after)
        media = [_parse_time(e.at) for e in after if e.kind == MEDIA]
        since = (datetime.now(UTC) - media[0]).total_seconds() if media else None
        return last.kind == "assign_rerate", heard, since

    def _open(self, rater: Rater, segment_id: str) -> Assignment:
        self._task(segment_id)
        state = self._state(rater)
        if state.open is None or state.open.segment_id != segment_id:
            raise LabelConflictError(
                f"segment {segment_id!r} is not your current item (ask GET /api/next)"
            )
        return state.open

    # -- the rater's flow ----------------------------------------------------------------
    def next_item(self, rater: Rater) -> dict[str, Any] | None:
        """Return the rater's current item (choosing and logging a new one when needed)."""
        with self._lock:
            state = self._state(rater)
            item = next_assignment(
                self.policy,
                rater.id,
                state,
                segment_ids=self.queue.segment_ids,
                honeypot_ids=self.queue.honeypot_ids,
                held={} if state.open else self._held(),
            )
            if item is None:
                return None
            if item != state.open:
                self.store.log_event(rater, item.segment_id, item.event_kind)
                state = self._state(rater)
        return self.item_view(rater, item, n_finished=len(state.finished))

    def item_view(self, rater: Rater, item: Assignment, *, n_finished: int) -> dict[str, Any]:
        """Return what the page needs for one item: never its kind or known answers."""
        task = self._task(item.segment_id)
        rerate, heard, _ = self._attempt(rater, item.segment_id)
        mine = {
            a.dim: {"value": a.value, "unsure": a.unsure, "source": a.source}
            for a in self.store.answers_of(rater, item.segment_id, rerate=rerate)
        }
        seg = task.segment
        dims = []
        for d in task.dims:
            low, high = _value_range(d.taxonomy)
            anchors = self.anchors.get(d.qualified_name) or self.anchors.get(d.name) or {}
            dims.append(
                {
                    "name": d.name,
                    "qualified_name": d.qualified_name,
                    "low": d.low,
                    "high": d.high,
                    "meaning": d.meaning,
                    "min": low,
                    "max": high,
                    "prefill": task.prefill.get(d.name),
                    "anchors": {
                        level: {
                            "url": f"/api/anchor?dim={quote(a.dim)}&level={level}",
                            "desc": a.desc,
                        }
                        for level, a in anchors.items()
                    },
                }
            )
        return {
            "segment_id": seg.segment_id,
            "t0": seg.t0,
            "t1": seg.t1,
            "duration_sec": seg.duration_sec,
            "media_url": f"/api/media?segment_id={quote(seg.segment_id)}",
            "dims": dims,
            "answers": mine,
            "note": self.store.note_of(rater, seg.segment_id),
            "heard": heard,
            "n_finished": n_finished,
        }

    def segment_audio(self, rater: Rater, segment_id: str) -> bytes | Path:
        """Return the WAV of an item given to this rater (bytes, or the cached file)."""
        task = self._task(segment_id)
        self._attempt(rater, segment_id)  # raises unless the segment was given to the rater
        out = self._task_audio(task)
        self.store.log_event(rater, segment_id, MEDIA)
        return out

    def pair_audio(self, segment_id: str) -> bytes | Path:
        """Return the WAV of a take in the pairwise mode's pairs (403 for any other segment)."""
        if segment_id not in self.pair_ids:
            raise LabelPermissionError(f"segment {segment_id!r} is not in a pair")
        return self._task_audio(self._task(segment_id))

    def _task_audio(self, task: LabelTask) -> bytes | Path:
        """Exactly t0-t1 of a task's source as WAV (MIDI rendered and cached)."""
        seg = task.segment
        if seg.audio_uri:
            path = self.media.resolve(seg.audio_uri, task.base_dir)
            y, sr = crop_audio(path, seg.t0, seg.t1)
            out: bytes | Path = wav_bytes(y, sr)
        elif seg.midi_uri:
            path = self.media.resolve(seg.midi_uri, task.base_dir)
            out = render_midi_crop(
                path, seg.t0, seg.t1, soundfont=self.soundfont, cache_dir=self.media.cache_dir
            )
        else:  # the manifest schema requires a source; kept for a hand-built task
            raise MediaNotFoundError(task.segment_id, "the segment has no audio_uri or midi_uri")
        return out

    def anchor_audio(self, dim: str, level: str) -> bytes:
        """Return the WAV of one anchor clip (through the media roots)."""
        anchor = self.anchors.get(dim, {}).get(level)
        if anchor is None:
            raise UnknownSegmentError(f"no {level!r} anchor for dimension {dim!r}")
        path = self.media.resolve(anchor.clip_uri, anchor.base_dir)
        if path.suffix.lower() in MIDI_SUFFIXES:  # anchors written with render=False
            cached = render_midi_crop(
                path, anchor.t0, anchor.t1, soundfont=self.soundfont, cache_dir=self.media.cache_dir
            )
            return cached.read_bytes()
        y, sr = crop_audio(path, anchor.t0, anchor.t1)
        return wav_bytes(y, sr)

    def heard(self, rater: Rater, segment_id: str) -> dict[str, Any]:
        """Record that the rater heard the segment to the end (their latest item of it)."""
        task = self._task(segment_id)
        _, already, since = self._attempt(rater, segment_id)
        if already:
            return {"segment_id": segment_id, "heard": True}
        needed = self.min_listen_fraction * task.segment.duration_sec
        if since is None:
            raise LabelConflictError(f"segment {segment_id!r}: its audio was never fetched")
        if since < needed:
            raise LabelConflictError(
                f"segment {segment_id!r} is {task.segment.duration_sec:.1f} s long; heard after "
                f"{since:.1f} s is too soon (play it to the end at 0.5x-1x)"
            )
        self.store.log_event(rater, segment_id, HEARD)
        return {"segment_id": segment_id, "heard": True}

    def answer(
        self,
        rater: Rater,
        segment_id: str,
        dim: str,
        value: float,
        *,
        unsure: bool = False,
        confirmed_prefill: bool = False,
    ) -> dict[str, Any]:
        """Save one answer of the rater's latest item of a segment (committed on return)."""
        task = self._task(segment_id)
        d = task.dim(dim)
        rerate, heard, _ = self._attempt(rater, segment_id)
        if not heard:
            raise LabelConflictError(
                f"segment {segment_id!r} has not been heard to the end yet: an answer counts "
                "only after that"
            )
        low, high = _value_range(d.taxonomy)
        if not (math.isfinite(value) and low - 1e-9 <= value <= high + 1e-9):
            raise ApiError(422, "bad_parameter", f"{dim}: {value} is outside [{low:.4g}, {high}]")
        if confirmed_prefill:
            suggestion = task.prefill.get(dim)
            if suggestion is None or abs(suggestion - value) > 1e-9:
                raise ApiError(
                    422,
                    "bad_parameter",
                    f"{dim}: confirmed_prefill needs the suggested value "
                    f"({suggestion}), got {value}",
                )
        a = self.store.save_answer(
            rater,
            segment_id,
            dim,
            min(max(value, low), high),
            unsure=unsure,
            confirmed_prefill=confirmed_prefill,
            rerate=rerate,
        )
        return {"segment_id": a.segment_id, "dim": a.dim, "value": a.value,
                "unsure": a.unsure, "source": a.source, "updated": a.updated}  # fmt: skip

    def note(self, rater: Rater, segment_id: str, text: str) -> dict[str, Any]:
        """Save the rater's note on a segment given to them."""
        self._task(segment_id)
        self._attempt(rater, segment_id)
        self.store.save_note(rater, segment_id, text)
        return {"segment_id": segment_id, "note": text}

    def skip(self, rater: Rater, segment_id: str) -> dict[str, Any]:
        """Give the rater's current item back (it goes to another rater)."""
        with self._lock:
            self._open(rater, segment_id)
            self.store.log_event(rater, segment_id, SKIP)
        return {"segment_id": segment_id, "skipped": True}

    def done(self, rater: Rater, segment_id: str) -> dict[str, Any]:
        """Finish the current item: heard, and every dimension answered."""
        with self._lock:
            self._open(rater, segment_id)
            task = self._task(segment_id)
            rerate, heard, _ = self._attempt(rater, segment_id)
            if not heard:
                raise LabelConflictError(f"segment {segment_id!r} has not been heard to the end")
            have = {a.dim for a in self.store.answers_of(rater, segment_id, rerate=rerate)}
            missing = [d.name for d in task.dims if d.name not in have]
            if missing:
                raise LabelConflictError(
                    f"segment {segment_id!r}: rate every dimension first (missing: "
                    f"{', '.join(missing)}), or skip it"
                )
            self.store.log_event(rater, segment_id, DONE)
        return {"segment_id": segment_id, "done": True}

    def my_answers(self, rater: Rater) -> dict[str, Any]:
        """Return the rater's own answers (first ratings and re-ratings)."""

        def rows(rerate: bool) -> list[dict[str, Any]]:
            return [
                {"segment_id": a.segment_id, "dim": a.dim, "value": a.value,
                 "unsure": a.unsure, "source": a.source, "updated": a.updated}
                for a in self.store.answers_of(rater, rerate=rerate)
            ]  # fmt: skip

        return {"rater": rater.name, "answers": rows(False), "rerates": rows(True)}

    def export(self, admin: Rater) -> dict[str, Any]:
        """Return every answer, re-rating and honeypot answer (admin only)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "queue": str(self.queue.path),
            "answers": self.store.export_rows(admin),
            "rerates": self.store.export_rerate_rows(admin),
            "honeypots": self.queue.honeypot_answers(),
        }

    def qc(self, admin: Rater) -> QCReport:
        """Rater quality control over every answer so far (admin only; docs/label-data.md)."""
        from pianoeval.label.qc import honeypot_answers, qc_report, store_answer_rows

        rows = store_answer_rows(self.store, admin)
        if not rows:
            raise LabelConflictError("no answers yet: quality control needs some")
        known = honeypot_answers([t.segment for t in self.queue.honeypots])
        return qc_report(rows, honeypots=known)


def _value_range(taxonomy: str) -> tuple[float, float]:
    from pianoeval.dims import get_taxonomy

    low, high = get_taxonomy(taxonomy).value_range
    return float(low), float(high)


# -- HTTP ----------------------------------------------------------------------------------
class SegmentRef(BaseModel):
    """A request about one segment."""

    model_config = ConfigDict(extra="forbid")
    segment_id: str = Field(min_length=1, max_length=500)


class AnswerIn(SegmentRef):
    """One answer: a dimension's value, the unsure box, and whether a suggestion was confirmed."""

    dim: str = Field(min_length=1, max_length=200)
    value: float
    unsure: bool = False
    confirmed_prefill: bool = False


class NoteIn(SegmentRef):
    """The rater's note on a segment (replaces the previous one)."""

    text: str = Field(max_length=5000)


def _service(request: Request) -> LabelService:
    service: LabelService = request.app.state.label
    return service


def current_rater(request: Request, authorization: Annotated[str | None, Header()] = None) -> Rater:
    """Return the rater of the request's ``Authorization: Bearer`` token (401 otherwise)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "log in: send Authorization: Bearer <your token>")
    rater = _service(request).store.authenticate(token.strip())
    if rater is None:
        raise ApiError(401, "unauthorized", "unknown token")
    return rater


RaterDep = Annotated[Rater, Depends(current_rater)]

router = APIRouter(prefix="/api", tags=["label"])


@router.get("/health")
def health(request: Request) -> dict[str, Any]:
    """Say the app is up, with the size of its queue."""
    s = _service(request)
    return {
        "status": "ok",
        "version": __version__,
        "segments": len(s.queue.tasks),
        "honeypots": len(s.queue.honeypots),
        "schema_version": SCHEMA_VERSION,
    }


@router.get("/me")
def me(rater: RaterDep) -> dict[str, Any]:
    """Return who the token belongs to (the page's login check)."""
    return {"id": rater.id, "name": rater.name, "is_admin": rater.is_admin}


@router.get("/next")
def next_item(request: Request, rater: RaterDep) -> dict[str, Any]:
    """Return the rater's current item, or ``{"done": true}`` when nothing is left."""
    item = _service(request).next_item(rater)
    return {"done": True} if item is None else {"done": False, "item": item}


@router.get("/media")
def media(
    request: Request, rater: RaterDep, segment_id: Annotated[str, Query(min_length=1)]
) -> Response:
    """Return exactly t0-t1 of a segment given to the rater, as WAV."""
    out = _service(request).segment_audio(rater, segment_id)
    headers = {"Cache-Control": "private, no-store"}
    if isinstance(out, Path):
        return FileResponse(out, media_type="audio/wav", headers=headers)
    return Response(out, media_type="audio/wav", headers=headers)


@router.get("/pairwise-media")
def pairwise_media(
    request: Request, rater: RaterDep, segment_id: Annotated[str, Query(min_length=1)]
) -> Response:
    """Return exactly t0-t1 of a take of the pairwise mode, as WAV (any logged-in rater)."""
    out = _service(request).pair_audio(segment_id)
    headers = {"Cache-Control": "private, no-store"}
    if isinstance(out, Path):
        return FileResponse(out, media_type="audio/wav", headers=headers)
    return Response(out, media_type="audio/wav", headers=headers)


@router.get("/anchor")
def anchor(
    request: Request,
    rater: RaterDep,
    dim: Annotated[str, Query(min_length=1)],
    level: Annotated[str, Query(pattern="^(" + "|".join(ANCHOR_LEVELS) + ")$")],
) -> Response:
    """Return an anchor clip of a dimension (low, mid or high), as WAV."""
    return Response(_service(request).anchor_audio(dim, level), media_type="audio/wav")


@router.post("/heard")
def heard(request: Request, rater: RaterDep, body: SegmentRef) -> dict[str, Any]:
    """Record that the rater heard the segment to the end."""
    return _service(request).heard(rater, body.segment_id)


@router.post("/answer")
def answer(request: Request, rater: RaterDep, body: AnswerIn) -> dict[str, Any]:
    """Save one answer (committed before the reply)."""
    return _service(request).answer(
        rater,
        body.segment_id,
        body.dim,
        body.value,
        unsure=body.unsure,
        confirmed_prefill=body.confirmed_prefill,
    )


@router.post("/note")
def note(request: Request, rater: RaterDep, body: NoteIn) -> dict[str, Any]:
    """Save the rater's note on a segment."""
    return _service(request).note(rater, body.segment_id, body.text)


@router.post("/skip")
def skip(request: Request, rater: RaterDep, body: SegmentRef) -> dict[str, Any]:
    """Skip the current item."""
    return _service(request).skip(rater, body.segment_id)


@router.post("/done")
def done(request: Request, rater: RaterDep, body: SegmentRef) -> dict[str, Any]:
    """Finish the current item (heard, every dimension answered)."""
    return _service(request).done(rater, body.segment_id)


@router.get("/answers")
def my_answers(request: Request, rater: RaterDep) -> dict[str, Any]:
    """Return the rater's own answers."""
    return _service(request).my_answers(rater)


@router.get("/admin/export")
def export(request: Request, rater: RaterDep) -> dict[str, Any]:
    """Every answer, re-rating and honeypot answer (admin token only)."""
    return _service(request).export(rater)


@router.get("/admin/qc", response_model=None)
def quality_control(
    request: Request,
    rater: RaterDep,
    format: Annotated[str, Query(pattern="^(json|html)$")] = "json",
) -> dict[str, Any] | HTMLResponse:
    """Reliability per dimension and quality per rater, as JSON or a page (admin only)."""
    report = _service(request).qc(rater)
    if format == "html":
        from pianoeval.label.qc import qc_report_html

        return HTMLResponse(qc_report_html(report), headers={"Cache-Control": "no-store"})
    return report.to_dict()


def _handler(status: int, kind: str, public: str | None = None) -> Any:
    """Answer ``status`` with the error's message, or with ``public`` (the message logged)."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        if public is not None:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        detail = str(exc) if public is None else public
        return JSONResponse({"error": kind, "detail": detail}, status_code=status)

    return handle


def _install_label_handlers(app: FastAPI) -> None:
    # media errors hold server paths (the roots, the resolved file): raters get a fixed
    # message, the server's log the full one
    statuses: list[tuple[type[Exception], int, str, str | None]] = [
        (UnknownTokenError, 401, "unauthorized", None),
        (LabelPermissionError, 403, "forbidden", None),
        (MediaAccessError, 403, "forbidden", "media outside the configured media roots: refused"),
        (MediaNotFoundError, 404, "not_found", "media file not found or unreadable"),
        (UnknownSegmentError, 404, "not_found", None),
        (LabelConflictError, 409, "conflict", None),
    ]
    for cls, status, kind, public in statuses:
        app.add_exception_handler(cls, _handler(status, kind, public))


def create_label_app(
    queue: PathLike | LabelQueue,
    db: PathLike | AnswerStore,
    anchors: PathLike | None = None,
    *,
    media_roots: Sequence[PathLike] | None = None,
    honeypots: PathLike | None = None,
    n_raters: int = 3,
    honeypot_rate: float = 0.1,
    rerate_rate: float = 0.05,
    rerate_after: int = 5,
    seed: int = 0,
    soundfont: str = "fluidr3_gm",
    min_listen_fraction: float = 0.9,
    lease_minutes: float = 30.0,
    pairwise: bool = False,
    pairwise_per_item: int = 4,
    extra_routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """Build the labeling app.

    Parameters
    ----------
    queue : path-like or LabelQueue
        The queue manifest (``pianoeval select``'s output, or any schema-2 manifest).
    db : path-like or AnswerStore
        The answer store (created when missing).
    anchors : path-like, optional
        Anchors JSON (``{dim: {"low"|"mid"|"high": {clip_uri, t0, t1, desc}}}``).
    media_roots : sequence of path-like, optional
        Folders media may be read from; default: the folders of the queue, the honeypot
        manifest and the anchors file. MIDI renders are cached in the first one.
    honeypots : path-like, optional
        A manifest of segments with human labels (more honeypots).
    n_raters, honeypot_rate, rerate_rate, rerate_after, seed
        The :class:`~pianoeval.label.assign.AssignmentPolicy`.
    soundfont : str
        SoundFont key or path for MIDI-only rows (default FluidR3_GM).
    min_listen_fraction : float
        Share of a segment's length that must pass between sending its audio and accepting
        its heard event (0 turns the check off).
    lease_minutes : float
        An item left open this long without any activity of its rater stops counting
        toward its segment's ``n_raters`` (0: never).
    pairwise : bool
        Also serve the pairwise mode (page at ``/pairwise/``): takes of the same passage in
        the queue paired (:func:`~pianoeval.label.pairwise.make_pairs`, ``pairwise_per_item``
        comparisons per take) and compared on the queue's dimensions; their audio comes from
        ``/api/pairwise-media``.
    pairwise_per_item : int
        Comparisons per take in the pairwise mode.
    extra_routers : sequence of APIRouter
        More routes (the pairwise mode); their handlers find the :class:`LabelService` at
        ``request.app.state.label`` and may use :func:`current_rater` as a dependency.

    Returns
    -------
    FastAPI
        Serve it with uvicorn (``pianoeval label serve``), or test it with a ``TestClient``.
    """
    q = queue if isinstance(queue, LabelQueue) else _load_queue(queue, honeypots=honeypots)
    anchor_map = load_anchors(anchors) if anchors is not None else {}
    if media_roots is None:
        default = [q.path.parent.absolute()]
        if honeypots is not None:
            default.append(Path(honeypots).parent.absolute())
        if anchors is not None:
            default.append(Path(anchors).parent.absolute())
        media_roots = list(dict.fromkeys(default))
    roots = MediaRoots(media_roots)
    store = db if isinstance(db, AnswerStore) else AnswerStore(db)
    policy = AssignmentPolicy(
        n_raters=n_raters,
        honeypot_rate=honeypot_rate,
        rerate_rate=rerate_rate,
        rerate_after=rerate_after,
        seed=seed,
    )
    service = LabelService(
        q,
        store,
        roots,
        anchors=anchor_map,
        policy=policy,
        soundfont=soundfont,
        min_listen_fraction=min_listen_fraction,
        lease_minutes=lease_minutes,
    )
    _warn_outside_roots(service)
    routers = list(extra_routers)
    if pairwise:
        routers.append(_pairwise_router(service, per_item=pairwise_per_item, seed=seed))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if not isinstance(db, AnswerStore):  # a store passed in belongs to the caller
                store.close()

    app = FastAPI(
        title="pianoeval label",
        version=__version__,
        summary="Rate piano segments on perceptual dimensions; every answer saved at once.",
        lifespan=lifespan,
    )
    app.state.label = service
    install_handlers(app)
    _install_label_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.include_router(router)
    for extra in routers:
        app.include_router(extra)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="label-static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "label.html", media_type="text/html")

    return app


def _pairwise_router(service: LabelService, *, per_item: int, seed: int) -> APIRouter:
    """Build the pairwise mode over the queue's tasks (media via ``/api/pairwise-media``)."""
    from pianoeval.label.pairwise import make_pairs
    from pianoeval.label.pairwise_api import pairwise_router

    segments = [t.segment for t in service.queue.tasks]
    pairs = make_pairs(segments, per_item=per_item, seed=seed)
    if not pairs:
        raise ParameterError(
            f"{service.queue.path}: no two takes of the same passage to pair (pairwise mode)"
        )
    service.pair_ids = frozenset(i for p in pairs for i in (p.left_id, p.right_id))
    taxonomy = segments[0].taxonomy or "percepiano19"
    dims = list(dict.fromkeys(f"{taxonomy}.{d}" for s in segments for d in s.dims))
    return pairwise_router(
        service.store.path,
        pairs,
        dims,
        lambda sid: f"/api/pairwise-media?segment_id={quote(sid, safe='')}",
    )


def _warn_outside_roots(service: LabelService) -> None:
    """Log the rows whose media the roots refuse (they are refused again, 403, if asked)."""
    bad = []
    for task in (*service.queue.tasks, *service.queue.honeypots):
        uri = task.segment.audio_uri or task.segment.midi_uri
        if uri is None:
            continue
        try:
            service.media.resolve(uri, task.base_dir)
        except (MediaAccessError, MediaNotFoundError) as exc:
            bad.append(f"{task.segment_id}: {exc}")
    if bad:
        log.warning(
            "%d queue rows have media the app will refuse: %s", len(bad), "; ".join(bad[:5])
        )
