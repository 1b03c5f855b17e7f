"""The labeling app end to end in a real headless browser (Debian chromium + Playwright).

The server runs as a real ``pianoeval label serve`` process. A rater logs in, hears a
segment (2 s, played to its end at 1x), sets two sliders and confirms a pre-filled one, goes
on; rates a 6-dimension segment with the keyboard only (the interactions are counted); gives
the answers of a third segment, and the server is killed with SIGKILL and restarted: every
answer is there, the page resumes where it was, the export is right, and a second rater
sees none of the first one's answers.

Like tests/serve/test_serve_browser.py: never a downloaded browser; without chromium or
playwright the tests skip on a developer machine and FAIL in CI (``CI=true``).
``benchmarks/label_interactions.py`` runs :func:`keyboard_only_segment` of this module.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _browser import AUTOPLAY_FLAGS as FLAGS
from _browser import CHROMIUM, free_port, need_browser

SR = 16000
THREE = ["timing_stability", "pedal_clarity", "dynamic_range"]
SIX = ["timing_stability", "tempo_control", "rhythmic_accuracy", "articulation_length",
       "pedal_clarity", "dynamic_range"]  # fmt: skip
TWO = ["energy_level", "timbre_brightness"]
PREFILL = 0.4  # suggestion for dynamic_range of segment "a"
#: Most interactions (beyond listening) allowed for one 6-dimension segment, keyboard only.
MAX_INTERACTIONS = 10


def write_clip(path: Path, seconds: float, freq: float) -> Path:
    """A decaying tone with a few partials (something to see in the spectrogram)."""
    import soundfile as sf

    t = np.arange(int(seconds * SR)) / SR
    y = sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3)) * np.exp(-t) * 0.2
    sf.write(path, y.astype(np.float32), SR, subtype="PCM_16")
    return path


def make_world(folder: Path) -> dict[str, Any]:
    """A queue of three 2 s segments (3, 6 and 2 dims; one suggestion), an empty store, raters."""
    from pianoeval.label import AnswerStore
    from pianoeval.manifest import Segment, write_manifest

    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for seg_id, dims, freq in (("a", THREE, 220.0), ("b", SIX, 330.0), ("c", TWO, 440.0)):
        write_clip(folder / f"{seg_id}.wav", 3.0, freq)
        extra = (
            {"active": {"predicted": {"execution16.dynamic_range": PREFILL}}}
            if seg_id == "a"
            else {}
        )
        rows.append(Segment(segment_id=seg_id, dataset="test", audio_uri=f"{seg_id}.wav", t0=0.5,
                            t1=2.5, taxonomy="execution16", dims=dims,
                            provenance={"license": "CC0-1.0"}, **extra))  # fmt: skip
    write_manifest(folder / "queue.jsonl", rows)
    db = folder / "labels.sqlite"
    with AnswerStore(db) as store:
        tokens = {
            name: store.add_rater(name, admin=name == "boss")[1] for name in ("ana", "ben", "boss")
        }
    return {"folder": folder, "queue": folder / "queue.jsonl", "db": db, "tokens": tokens}


class Server:
    """``pianoeval label serve`` as a child process (killed with SIGKILL, restarted)."""

    def __init__(self, world: dict[str, Any]) -> None:
        self.world = world
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = Path(sys.executable).with_name("pianoeval")
        cmd = [str(exe), "label", "serve", "--queue", str(self.world["queue"]), "--db",
               str(self.world["db"]), "--port", str(self.port), "--honeypot-rate", "0",
               "--rerate-rate", "0", "--log-level", "warning"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stderr.read().decode() if self.proc.stderr else "")
            try:
                if httpx.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("label serve did not start in 60 s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


def get(server: Server, path: str, token: str) -> Any:
    import httpx

    return httpx.get(server.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def log_in(page: Any, server: Server, token: str) -> None:
    page.goto(server.url + "/")
    page.fill("#token", token)
    page.click("#login")
    page.wait_for_selector("#rate-section:not([hidden]), #done-section:not([hidden])")


def wait_segment(page: Any, segment_id: str) -> None:
    page.wait_for_function(
        "id => window.pianoeval.state.item && window.pianoeval.state.item.segment_id === id",
        arg=segment_id,
        timeout=20_000,
    )


def wait_heard(page: Any) -> None:
    page.wait_for_function("() => window.pianoeval.state.heard", timeout=30_000)


def wait_saved(page: Any) -> None:
    page.wait_for_function(
        "() => window.pianoeval.state.dims.every(d => d.saved && !d.pending)", timeout=20_000
    )


def keyboard_only_segment(page: Any, n_dims: int) -> dict[str, Any]:
    """Rate the current segment with the keyboard only; return the interaction counts.

    The rater presses a digit per dimension while the segment plays (each answer waits for
    the heard-to-end event, then saves), then Enter once it has been heard.
    """
    page.evaluate("() => window.pianoeval.resetCounts()")
    segment_id = page.evaluate("() => window.pianoeval.state.item.segment_id")
    for k in range(n_dims):
        page.keyboard.press(str(1 + (2 * k) % 9))
    wait_heard(page)
    wait_saved(page)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "id => !window.pianoeval.state.item || window.pianoeval.state.item.segment_id !== id",
        arg=segment_id,
        timeout=20_000,
    )
    counts: dict[str, Any] = page.evaluate("() => window.pianoeval.counts")
    return counts


@pytest.fixture
def browser() -> Iterator[Any]:
    need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    need_browser()
    s = Server(make_world(tmp_path / "world"))
    s.start()
    yield s
    s.stop()


def new_page(browser: Any, server: Server, errors: list[str]) -> Any:
    context = browser.new_context()
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith((server.url, "blob:", "data:"))
            else errors.append("outside request: " + r.url))  # fmt: skip
    return page


def test_rate_kill_restart_export_and_isolation(browser: Any, server: Server) -> None:
    tokens = server.world["tokens"]
    errors: list[str] = []
    page = new_page(browser, server, errors)

    # log in with a wrong token, then the right one
    page.goto(server.url + "/")
    page.fill("#token", "wrong")
    page.click("#login")
    page.wait_for_function("() => document.querySelector('#login-error').textContent !== ''")
    log_in(page, server, tokens["ana"])
    wait_segment(page, "a")
    assert page.text_content("#who") == "ana"
    assert page.locator(".dim").count() == 3
    assert page.locator(".dim.suggested").count() == 1
    assert "steady pulse" in page.text_content(".dim[data-dim=timing_stability]")

    # heard to the end (autoplay at 1x), then two sliders set and one suggestion confirmed
    assert page.evaluate("() => window.pianoeval.audio.preservesPitch") is True
    wait_heard(page)
    assert "heard to the end" in page.text_content("#heard-status")
    page.keyboard.press("7")  # timing_stability -> 0.75, focus moves on
    page.keyboard.press("3")  # pedal_clarity -> 0.25
    page.keyboard.press("c")  # dynamic_range: the suggestion confirmed
    wait_saved(page)
    page.keyboard.press("Enter")
    wait_segment(page, "b")

    # six dimensions, keyboard only: counted
    counts = keyboard_only_segment(page, len(SIX))
    assert counts["other"] <= MAX_INTERACTIONS, counts
    assert counts["other"] == len(SIX) + 1  # a digit per dimension and Enter
    wait_segment(page, "c")

    # the third segment's answers given, then the server dies before Enter
    wait_heard(page)
    page.keyboard.press("2")
    page.keyboard.press("8")
    wait_saved(page)
    server.kill()
    server.start()
    page.reload()  # the token is in sessionStorage: no new login
    wait_segment(page, "c")
    assert page.evaluate("() => window.pianoeval.state.heard") is True
    assert page.locator(".dim.saved").count() == 2
    page.keyboard.press("Enter")
    page.wait_for_selector("#done-section:not([hidden])")

    # every answer is in the store, the export says so
    mine = get(server, "/api/answers", tokens["ana"]).json()["answers"]
    assert len(mine) == 3 + 6 + 2
    values = {(a["segment_id"], a["dim"]): (a["value"], a["source"]) for a in mine}
    assert values[("a", "timing_stability")] == (0.75, "rater")
    assert values[("a", "pedal_clarity")] == (0.25, "rater")
    assert values[("a", "dynamic_range")] == (PREFILL, "prefill_confirmed")
    assert [values[("b", d)][0] for d in SIX] == [(2 * k % 9) / 8 for k in range(6)]
    assert values[("c", "energy_level")][0] == 0.125
    export = get(server, "/api/admin/export", tokens["boss"]).json()
    rows = export["answers"]
    assert len(rows) == 11
    assert {r["rater_name"] for r in rows} == {"ana"}
    assert [r["dim"] for r in rows if r["model_verified"]] == ["dynamic_range"]
    assert all(r["created"] <= r["updated"] for r in rows)

    # a second rater reads nothing of ana's and may not export
    assert get(server, "/api/answers", tokens["ben"]).json()["answers"] == []
    assert get(server, "/api/admin/export", tokens["ben"]).status_code == 403
    ben = new_page(browser, server, errors)
    log_in(ben, server, tokens["ben"])
    wait_segment(ben, "a")
    assert ben.evaluate("() => window.pianoeval.state.dims.some(d => d.saved)") is False
    assert ben.locator(".dim.saved").count() == 0
    assert not errors, errors
