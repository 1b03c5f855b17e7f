"""The web page in a real headless browser (Debian chromium driven by Playwright).

Never a downloaded browser: the tests use ``/usr/bin/chromium`` (scripts/setup.sh installs
it). Without it they skip on a developer machine and FAIL in CI (``CI=true``), like the
tests that need the real data.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _serve_util import write_midi, write_piano_wav

CHROMIUM = Path(os.environ.get("PIANOEVAL_CHROMIUM", "/usr/bin/chromium"))

#: Flags that work as root in a container (docs: ENVIRONMENT.md, "Browser tests").
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _need_browser() -> None:
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (dev extra)")
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install chromium chromium-driver)")
    if missing:
        msg = "browser tests need " + " and ".join(missing)
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def fake_mic_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rendered piano melody the fake microphone plays (looped by chromium)."""
    _need_browser()
    return write_piano_wav(tmp_path_factory.mktemp("mic") / "mic.wav", n_notes=16)


@pytest.fixture(scope="module")
def browser(fake_mic_wav: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    args = [
        *FLAGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_mic_wav}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    context = browser.new_context(permissions=["microphone"])
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    requests: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.goto(live_server + "/")
    yield pg
    context.close()
    assert not errors, errors
    assert all(u.startswith((live_server, "blob:", "data:")) for u in requests), requests


def test_upload_a_midi_and_see_the_chart(page: Any, tmp_path: Path) -> None:
    midi = write_midi(tmp_path / "melody.mid")
    page.set_input_files("#file", str(midi))
    assert "melody.mid" in page.text_content("#file-name")
    page.click("#rate")
    page.wait_for_selector("#chart-svg .dim-row", timeout=60_000)
    rows = page.locator("#chart-svg .dim-row")
    assert rows.count() == 19
    values = page.locator("#chart-svg .dim-value").all_text_contents()
    assert len(values) == 19
    assert all(1 / 7 - 1e-3 <= float(v) <= 1.0 for v in values)
    assert page.get_attribute("#chart-svg .dim-row", "data-dim") == "timing"
    assert "melody.mid" in page.text_content("#result-line")
    assert page.locator("#summary tbody tr").count() > 0
    if not page.evaluate("() => (window.pianoeval.state.rating.windows || []).length"):
        assert page.is_hidden("#timeline-section")
    assert page.is_hidden("#download-html")  # the server makes no HTML report yet
    href = page.get_attribute("#download-json", "href")
    assert href is not None
    assert href.startswith("blob:")


def test_bad_file_shows_the_servers_message(page: Any, tmp_path: Path) -> None:
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd\x00\x00")
    page.set_input_files("#file", str(bad))
    page.click("#rate")
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert "broken.mid" in page.text_content("#error")


def test_windows_and_bars_are_drawn_when_the_rating_has_them(page: Any) -> None:
    score = {"name": "timing", "value": 0.5, "low": "stable", "high": "unstable",
             "interval_low": 0.4, "interval_high": 0.6, "interval_level": 0.8}  # fmt: skip
    rating = {
        "kind": "rating",
        "model_id": "test",
        "input": {"path": "x.wav", "kind": "audio", "duration_sec": 40.0, "n_notes": 99},
        "scores": [score],
        "windows": [
            {"start_sec": 0.0, "end_sec": 20.0, "scores": [score]},
            {"start_sec": 20.0, "end_sec": 40.0, "scores": [{**score, "value": 0.7}]},
        ],
        "bars": [
            {
                "bar": 1,
                "start_sec": 0.0,
                "end_sec": 2.0,
                "notes": ["rushed"],
                "missing_notes": [[60, 0.5], [64, 1.0]],
            }
        ],
        "advice": [
            {"text": "Bars 3-4 rush.", "measure": "tempo", "start_sec": 4.0, "end_sec": 8.0}
        ],
    }
    page.evaluate("r => window.pianoeval.render(r)", rating)
    assert page.is_visible("#timeline-svg")
    assert page.locator("#timeline-svg .window-row").count() == 2
    assert page.locator("#chart-svg .band").count() == 1  # the interval is drawn
    assert page.locator("#bars tbody tr").count() == 1
    assert "rushed" in page.text_content("#bars tbody")
    assert "missing notes" in page.text_content("#bars thead")
    assert page.locator("#advice li").count() == 1
    assert "Bars 3-4 rush." in page.text_content("#advice")
    # the cursor follows the playback time (here set by hand: 30 s of 40 s)
    page.evaluate("() => window.pianoeval.state.moveCursor(30)")
    x = float(page.get_attribute("#timeline-cursor", "x1") or 0)
    assert 650 < x < 700  # 110 + 740 * 30 / 40 = 665 in the SVG's coordinates


def test_drop_a_file_on_the_page(page: Any, tmp_path: Path) -> None:
    data = list(write_midi(tmp_path / "dropped.mid").read_bytes())
    page.evaluate(
        """bytes => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], "dropped.mid", {type: "audio/midi"}));
            const drop = document.getElementById("drop");
            drop.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true}));
            drop.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true}));
        }""",
        data,
    )
    assert "dropped.mid" in page.text_content("#file-name")
    assert page.is_enabled("#rate")


def test_record_from_the_fake_microphone_and_get_a_rating(
    page: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PIANOEVAL_CACHE", str(tmp_path / "cache"))
    page.click("#record")
    page.wait_for_function("document.getElementById('rec-time').textContent.includes('recording')")
    page.wait_for_timeout(6500)
    page.click("#record")
    page.wait_for_function(
        "document.getElementById('file-name').textContent.includes('recording.wav')"
    )
    page.click("#rate")
    page.wait_for_selector("#chart-svg .dim-row, #error:not([hidden])", timeout=150_000)
    assert page.is_hidden("#error"), page.text_content("#error")
    assert page.locator("#chart-svg .dim-row").count() == 19
    assert "recording (transcribed)" in page.text_content("#result-line")
    assert page.is_visible("#player")
