"""The service's endpoints: health, rater information, evaluation, reports, jobs, the page.

Handlers stay thin: the work runs in a worker thread (the event loop stays free), and
:mod:`pianoeval.serve.service` does it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from pianoeval._version import __version__
from pianoeval.rater.result import Rating
from pianoeval.serve import service
from pianoeval.serve.config import ServeSettings
from pianoeval.serve.exceptions import ApiError
from pianoeval.serve.jobs import JobStore
from pianoeval.serve.schemas import (
    DimensionInfo,
    ErrorBody,
    Features,
    Health,
    JobView,
    Limits,
    RaterInfo,
)

__all__ = ["STATIC_DIR", "router"]

STATIC_DIR = Path(__file__).resolve().parent / "static"

router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "The upload is too large or too long."},
    415: {"model": ErrorBody, "description": "Not an accepted file type."},
    422: {
        "model": ErrorBody,
        "description": "Empty, corrupt or unreadable, or too little music to rate.",
    },
    503: {"model": ErrorBody, "description": "Too many jobs waiting, or a backend missing."},
}

FileField = Annotated[
    UploadFile,
    File(description="The performance: MIDI (.mid, .midi) or audio (.wav, .flac, .ogg, .mp3)."),
]
ScoreField = Annotated[
    UploadFile | None,
    File(
        description="Optional score of the passage: MIDI (.mid, .midi) or MusicXML "
        "(.musicxml, .xml, .mxl); used only when it matches (then bars are measured)."
    ),
]


def _settings(request: Request) -> ServeSettings:
    settings: ServeSettings = request.app.state.settings
    return settings


def _raters(request: Request) -> service.Raters:
    state = request.app.state
    with state.raters_lock:  # lifespan loads them; this covers an app run without one
        if state.raters is None:
            state.raters = service.load_raters(state.settings)
        raters: service.Raters = state.raters
    return raters


@router.get("/healthz", response_model=Health, tags=["service"])
def healthz(request: Request) -> Health:
    """Say the service is up, and which raters it serves."""
    raters = _raters(request)
    return Health(
        pianoeval_version=__version__,
        midi_rater=str(raters.midi.metadata.get("model_id", "unknown")),
        audio_rater=raters.audio.model_id if raters.audio is not None else None,
    )


@router.get("/v1/rater", response_model=RaterInfo, tags=["rater"])
def rater_info(request: Request) -> RaterInfo:
    """Describe the raters: model ids, model cards, the dimensions and the limits."""
    from pianoeval.dims import get_taxonomy

    settings = _settings(request)
    raters = _raters(request)
    tax = get_taxonomy(str(raters.midi.metadata.get("taxonomy", "percepiano19")))
    dims = [
        DimensionInfo(
            name=d.name,
            group=getattr(d, "group", None),
            low=d.low,
            high=d.high,
            meaning=getattr(d, "meaning", None),
        )
        for d in tax
    ]
    return RaterInfo(
        pianoeval_version=__version__,
        taxonomy=tax.name,
        taxonomy_version=str(tax.version),
        scale="mean listener rating / 7, in [1/7, 1]: a position between the two descriptors",
        model_ids={
            "midi": str(raters.midi.metadata.get("model_id", "unknown")),
            "audio": raters.audio.model_id if raters.audio is not None else None,
        },
        dimensions=dims,
        model_cards=raters.cards(),
        limits=Limits(
            max_upload_bytes=settings.max_upload_bytes,
            max_duration_sec=settings.max_duration_sec,
            allowed_suffixes=list(settings.allowed_suffixes),
            workers=settings.workers,
        ),
        features=Features(jobs=True, html_report=True),
    )


def _save_and_check(
    settings: ServeSettings,
    folder: Path,
    file: UploadFile,
    score: UploadFile | None,
) -> tuple[service.Upload, service.Upload | None, float]:
    """Type, size and duration checks on the uploads, saved into ``folder``."""
    service.check_type(file.filename, settings.allowed_suffixes)
    if score is not None and not score.filename and score.size == 0:
        score = None  # an empty optional field, as HTML forms send it
    if score is not None:
        service.check_type(score.filename, service.SCORE_SUFFIXES, what="score")
    upload = service.save_upload(
        file.file, file.filename, folder, stem="input", max_bytes=settings.max_upload_bytes
    )
    sc = None
    if score is not None:
        sc = service.save_upload(
            score.file, score.filename, folder, stem="score", max_bytes=settings.max_upload_bytes
        )
    names = {str(upload.path): upload.name, str(folder): "(upload)"}
    try:
        duration = service.check_input(upload, settings)
    except ApiError:
        raise
    except Exception as e:
        from pianoeval.serve.exceptions import error_status

        mapped = error_status(e)
        if mapped is None:
            raise
        raise ApiError(
            mapped.status, mapped.kind, service.scrub_paths(mapped.detail, names)
        ) from None
    return upload, sc, duration


@router.post(
    "/v1/evaluate",
    tags=["rating"],
    responses={200: {"model": Rating, "description": "The rating."}, **_ERRORS},
)
async def evaluate(request: Request, file: FileField, score: ScoreField = None) -> JSONResponse:
    """Rate one performance and wait for the rating (use jobs for long recordings)."""
    settings = _settings(request)
    raters = await run_in_threadpool(_raters, request)
    gate: threading.Semaphore = request.app.state.gate

    def work() -> dict[str, Any]:
        with service.request_dir(settings) as folder:
            upload, sc, duration = _save_and_check(settings, folder, file, score)
            return service.evaluate_upload(
                upload, sc, settings, raters, duration_sec=duration, gate=gate
            )

    return JSONResponse(await run_in_threadpool(work))


_HTML_PAGE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/html": {"schema": {"type": "string"}}},
        "description": "The rating as one self-contained HTML page (inline CSS and SVG).",
    }
}


@router.post(
    "/v1/report",
    tags=["rating"],
    response_class=HTMLResponse,
    responses={**_HTML_PAGE, **_ERRORS},
)
async def report(request: Request, file: FileField, score: ScoreField = None) -> HTMLResponse:
    """Evaluate one performance and answer its HTML report (a page to save or mail)."""
    settings = _settings(request)
    raters = await run_in_threadpool(_raters, request)
    gate: threading.Semaphore = request.app.state.gate

    def work() -> str:
        with service.request_dir(settings) as folder:
            upload, sc, duration = _save_and_check(settings, folder, file, score)
            result = service.evaluate_upload(
                upload, sc, settings, raters, duration_sec=duration, gate=gate
            )
        return service.rating_report(result)

    return HTMLResponse(await run_in_threadpool(work))


@router.post(
    "/v1/jobs",
    status_code=202,
    response_model=JobView,
    tags=["rating"],
    responses=_ERRORS,
)
async def create_job(request: Request, file: FileField, score: ScoreField = None) -> JSONResponse:
    """Start rating a performance in the background; poll ``GET /v1/jobs/{id}``."""
    settings = _settings(request)
    raters = await run_in_threadpool(_raters, request)
    jobs: JobStore = request.app.state.jobs
    gate: threading.Semaphore = request.app.state.gate

    def submit() -> dict[str, Any]:
        import shutil
        import tempfile

        root = settings.tmp_dir
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="pianoeval-serve-", dir=root))
        try:
            upload, sc, duration = _save_and_check(settings, folder, file, score)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

        def work(progress: service.ProgressCallback) -> dict[str, Any]:
            return service.evaluate_upload(
                upload, sc, settings, raters, progress, duration_sec=duration, gate=gate
            )

        # from here the job owns the folder (removed when it ends, or at once if refused)
        return jobs.submit(upload.name, work, folder).view()

    view = await run_in_threadpool(submit)
    return JSONResponse(view, status_code=202, headers={"Location": f"/v1/jobs/{view['id']}"})


@router.get(
    "/v1/jobs/{job_id}",
    response_model=JobView,
    tags=["rating"],
    responses={404: {"model": ErrorBody, "description": "No such job (or it expired)."}},
)
def get_job(request: Request, job_id: str) -> dict[str, Any]:
    """Show a job's status and progress; its rating (or error) once it has ended."""
    jobs: JobStore = request.app.state.jobs
    view = jobs.get(job_id)
    if view is None:
        raise ApiError(404, "not_found", f"no job {job_id[:64]!r}: it never existed or it expired")
    return view


@router.get(
    "/v1/jobs/{job_id}/report",
    tags=["rating"],
    response_class=HTMLResponse,
    responses={
        **_HTML_PAGE,
        404: {"model": ErrorBody, "description": "No such job (or it expired)."},
        409: {"model": ErrorBody, "description": "The job has not finished, or it failed."},
    },
)
async def job_report(request: Request, job_id: str) -> HTMLResponse:
    """Answer the HTML report of a finished job (as ``POST /v1/report`` makes it)."""
    jobs: JobStore = request.app.state.jobs
    view = jobs.get(job_id)
    if view is None:
        raise ApiError(404, "not_found", f"no job {job_id[:64]!r}: it never existed or it expired")
    if view["status"] == "error":
        detail = (view.get("error") or {}).get("detail", "the rating failed")
        raise ApiError(409, "job_failed", f"job {job_id[:64]!r} failed: {detail}")
    if view["status"] != "done" or view.get("result") is None:
        raise ApiError(
            409, "not_ready", f"job {job_id[:64]!r} is {view['status']}: poll it until done"
        )
    page = await run_in_threadpool(service.rating_report, view["result"])
    return HTMLResponse(page)


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    """Serve the web page."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")
