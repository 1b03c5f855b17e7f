"""The pairwise page in a real headless browser (Debian chromium driven by Playwright).

Never a downloaded browser: ``/usr/bin/chromium`` (scripts/setup.sh installs it). Without it
the tests skip on a developer machine and FAIL in CI (``CI=true``), like the serve page's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pytest
import soundfile as sf
from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import FileResponse

from _browser import AUTOPLAY_FLAGS as FLAGS
from _browser import CHROMIUM, free_port
from _browser import need_browser as _need_browser
from pianoeval.label.pairwise import Pair, PairStore
from pianoeval.label.pairwise_api import pairwise_router
from pianoeval.label.store import AnswerStore

DIMS = ["percepiano19.drama", "execution16.articulation_length"]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A tiny app (the pairwise router + a media route) on a real uvicorn server."""
    _need_browser()
    import uvicorn

    sr = 22050
    t = np.arange(int(0.4 * sr)) / sr
    for name, freq in (("take-a", 440.0), ("take-b", 523.25)):
        sf.write(tmp_path / f"{name}.wav", 0.2 * np.sin(2 * np.pi * freq * t), sr)
    db = tmp_path / "answers.sqlite"
    with AnswerStore(db) as answers:
        _, token = answers.add_rater("ana")
    app = FastAPI()
    app.include_router(
        pairwise_router(db, [Pair("take-a", "take-b", "x")], DIMS, lambda s: f"/media/{s}.wav")
    )

    @app.get("/media/{name}")
    def media(name: str, authorization: Annotated[str, Header()] = "") -> FileResponse:
        # like the labeling app's media route: only for a rater's token
        if authorization != f"Bearer {token}":
            raise HTTPException(401, "media need the rater's token")
        return FileResponse(tmp_path / name, media_type="audio/wav")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "db": db, "token": token}
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page(site: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        pg = browser.new_page()
        errors: list[str] = []
        requests: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("request", lambda r: requests.append(r.url))
        yield pg
        browser.close()
        assert not errors, errors
        assert all(u.startswith((site["url"], "blob:")) for u in requests), requests


def _comparisons(db: Path, token: str) -> list[tuple[str, str, str, str]]:
    with PairStore(db) as store:
        rater = store.answers.require_rater(token)
        return [(c.left_id, c.right_id, c.dim, c.choice) for c in store.comparisons_of(rater)]


def test_keyboard_flow_hears_both_takes_then_saves_each_choice(
    page: Any, site: dict[str, Any]
) -> None:
    page.goto(site["url"] + "/pairwise/#token=" + site["token"])
    page.wait_for_selector("#task:not([hidden])")
    assert "#token" not in page.url  # the token leaves the address bar
    assert page.text_content("#question") == "Which take is more dramatic?"
    assert page.is_disabled("#choose-left")
    # choosing before hearing both takes is refused and nothing is stored
    page.keyboard.press("ArrowLeft")
    assert "Listen to both" in page.text_content("#message")
    page.keyboard.press("a")
    page.wait_for_function("document.getElementById('heard-a').textContent === 'heard'")
    assert page.is_disabled("#choose-left")  # B not heard yet
    page.keyboard.press("b")
    page.wait_for_function("document.getElementById('heard-b').textContent === 'heard'")
    page.wait_for_selector("#choose-right:not([disabled])")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('Saved: B')")
    assert _comparisons(site["db"], site["token"]) == [
        ("take-a", "take-b", "percepiano19.drama", "right")
    ]
    # Enter: the same pair's next dimension; both takes stay heard
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('question').textContent.includes('legato')")
    page.wait_for_selector("#choose-same:not([disabled])")
    page.keyboard.press("=")
    page.wait_for_function(
        "document.getElementById('message').textContent.startsWith('Saved: the same')"
    )
    page.keyboard.press("Enter")
    page.wait_for_selector("#done:not([hidden])")
    assert "2 of 2" in page.text_content("#done-line")
    assert sorted(_comparisons(site["db"], site["token"])) == [
        ("take-a", "take-b", "execution16.articulation_length", "same"),
        ("take-a", "take-b", "percepiano19.drama", "right"),
    ]


def test_unknown_token_shows_the_login(page: Any, site: dict[str, Any]) -> None:
    page.goto(site["url"] + "/pairwise/#token=not-a-token")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#token", site["token"])
    page.click("#login-go")
    page.wait_for_selector("#task:not([hidden])")
    assert page.text_content("#question") == "Which take is more dramatic?"
