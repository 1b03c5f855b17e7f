"""``pianoeval serve``: run the REST API and the web page with uvicorn.

Options override the ``PIANOEVAL_SERVE_*`` environment variables
(:class:`pianoeval.serve.ServeSettings`); FastAPI and uvicorn are imported inside the
command, so ``pianoeval --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
    max_upload_mb: Annotated[
        float | None,
        typer.Option("--max-upload-mb", min=0.001, help="Largest upload in MB (default 50)."),
    ] = None,
    max_duration_sec: Annotated[
        float | None,
        typer.Option("--max-duration-sec", min=0.1, help="Longest input in seconds (default 900)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, max=64, help="Ratings run at once (default 1)."),
    ] = None,
    rater_dir: Annotated[
        Path | None, typer.Option("--rater", help="MIDI rater bundle (default: shipped).")
    ] = None,
    audio_rater_dir: Annotated[
        Path | None,
        typer.Option("--audio-rater", help="Audio rater bundle (default: shipped)."),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Serve the rating API (/v1/..., OpenAPI at /docs) and the web page (/)."""
    try:
        import uvicorn

        from pianoeval.serve import ServeSettings, create_app
    except ImportError as e:
        from pianoeval.errors import BackendUnavailableError

        raise BackendUnavailableError(
            "the service", "pip install 'pianoeval[serve]'", reason=str(e)
        ) from None
    from pydantic import ValidationError

    from pianoeval.errors import ParameterError

    try:
        settings = ServeSettings.from_env(
            max_upload_bytes=None if max_upload_mb is None else int(max_upload_mb * 1_000_000),
            max_duration_sec=max_duration_sec,
            workers=workers,
            rater_dir=rater_dir,
            audio_rater_dir=audio_rater_dir,
        )
    except ValidationError as e:
        raise ParameterError(f"bad service setting: {e.errors()[0].get('msg')}") from None
    typer.echo(f"pianoeval serve: http://{host}:{port}/ (API docs at /docs)", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
