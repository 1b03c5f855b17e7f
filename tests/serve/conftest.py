"""Fixtures of the service tests: one set of raters per session, small MIDI made in code."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")

from _serve_util import free_port, write_long_example, write_midi
from fastapi.testclient import TestClient

from pianoeval.serve import ServeSettings, create_app
from pianoeval.serve.service import Raters, load_raters


@pytest.fixture(scope="session")
def raters() -> Raters:
    # threads=None: the test process is shared with other tests; leave its threads alone
    return load_raters(ServeSettings(threads=None))


@pytest.fixture
def midi_file(tmp_path: Path) -> Path:
    return write_midi(tmp_path / "take.mid")


@pytest.fixture(scope="session")
def long_example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The example performance and its score, each played three times (about 95 s)."""
    return write_long_example(tmp_path_factory.mktemp("long"))


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    """Where the app writes uploads (checked empty after each request)."""
    return tmp_path / "uploads"


@pytest.fixture
def make_client(raters: Raters, upload_dir: Path) -> Iterator[Callable[..., TestClient]]:
    """Build a started client of an app with the given settings (uploads in ``upload_dir``)."""
    clients: list[TestClient] = []

    def _make(**settings: Any) -> TestClient:
        settings.setdefault("tmp_dir", upload_dir)
        app = create_app(ServeSettings(**settings), raters=raters)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield _make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture(scope="session")
def live_server(raters: Raters, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real uvicorn server in a thread on a free loopback port; yields its base URL."""
    import uvicorn

    settings = ServeSettings(tmp_dir=tmp_path_factory.mktemp("live_uploads"))
    app = create_app(settings, raters=raters)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
