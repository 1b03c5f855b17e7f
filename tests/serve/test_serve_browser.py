"""The web page in a real headless browser (Debian chromium driven by Playwright).

Never a downloaded browser: the tests use ``/usr/bin/chromium`` (scripts/setup.sh installs
it). Without it they skip on a developer machine and FAIL in CI (``CI=true``), like the
tests that need the real data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _serve_util import write_midi, write_piano_wav

from _browser import CHROMIUM, FLAGS
from _browser import need_browser as _need_browser


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
    href = page.get_attribute("#download-json", "href")
    assert href is not None
    assert href.startswith("blob:")
    # the HTML report of the job just rated
    job_id = page.evaluate("() => window.pianoeval.state.jobId")
    assert page.get_attribute("#download-html", "href") == f"/v1/jobs/{job_id}/report"
    with page.expect_download() as got:
        page.click("#download-html")
    report = Path(got.value.path()).read_text()
    assert "<svg" in report
    assert "melody.mid" in report


def test_a_long_upload_with_its_score_shows_timeline_bars_and_advice(
    page: Any, long_example: tuple[Path, Path]
) -> None:
    take, score = long_example
    page.set_input_files("#file", str(take))
    page.set_input_files("#score", str(score))
    page.click("#rate")
    page.wait_for_selector("#timeline-svg", timeout=90_000)
    n_windows = page.evaluate("() => window.pianoeval.state.rating.windows.length")
    assert n_windows >= 3
    assert page.locator("#timeline-svg .window-row").count() == n_windows
    assert page.locator("#timeline-dim option").count() == 19
    page.select_option("#timeline-dim", "dynamic_range")  # redraws for another dimension
    assert "dynamic_range" in page.text_content("#timeline-svg title")
    # the cursor follows playback; a MIDI upload has no player, so move it as playback would
    page.evaluate("() => window.pianoeval.state.moveCursor(47)")
    x = float(page.get_attribute("#timeline-cursor", "x1") or 0)
    end = page.evaluate(
        "() => Math.max(...window.pianoeval.state.rating.windows.map((w) => w.end_sec))"
    )
    assert abs(x - (110 + 740 * 47 / end)) < 1
    n_bars = page.evaluate("() => window.pianoeval.state.rating.bars.length")
    assert n_bars > 10
    assert page.locator("#bars tbody tr").count() == n_bars
    n_standout = page.evaluate(
        "() => window.pianoeval.state.rating.bars.filter(b => b.standout.length).length"
    )
    assert n_standout > 0
    assert page.locator("#bars tbody tr.standout").count() == n_standout
    assert page.is_visible("#advice-section")
    n_advice = page.evaluate("() => window.pianoeval.state.rating.advice.length")
    assert page.locator("#advice li").count() == n_advice >= 1
    assert "long_score.mid" in str(page.evaluate("() => window.pianoeval.state.rating.score.path"))


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
