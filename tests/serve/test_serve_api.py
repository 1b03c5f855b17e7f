"""The REST API through its app factory: every endpoint, the limits and the errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from _serve_util import write_example_musicxml, write_midi, write_piano_wav
from fastapi.testclient import TestClient

from pianoeval.serve import ServeSettings
from pianoeval.serve.service import dir_is_clean


def post(client: TestClient, path: Path | None = None, *, name: str | None = None,
         data: bytes | None = None, score: tuple[str, bytes] | None = None,
         url: str = "/v1/evaluate") -> object:  # fmt: skip
    content = data if data is not None else (path.read_bytes() if path else b"")
    files = {"file": (name or (path.name if path else "x"), content)}
    if score is not None:
        files["score"] = score
    return client.post(url, files=files)


def no_leak(body: dict[str, object], upload_dir: Path) -> None:
    text = str(body)
    assert "Traceback" not in text
    assert str(upload_dir) not in text
    assert "pianoeval-serve-" not in text


def test_healthz_names_the_raters(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["midi_rater"] == "pianoeval-symbolic-v1"


def test_rater_info_has_dimensions_cards_and_limits(client: TestClient) -> None:
    body = client.get("/v1/rater").json()
    assert len(body["dimensions"]) == 19
    assert {"name", "low", "high"} <= set(body["dimensions"][0])
    assert body["model_cards"]["midi"]["model_id"] == body["model_ids"]["midi"]
    assert "licences" in body["model_cards"]["midi"]
    assert body["limits"]["max_upload_bytes"] == 50_000_000
    assert body["limits"]["max_duration_sec"] == 900
    assert body["features"] == {"jobs": True, "html_report": True}


def test_evaluate_a_midi_returns_the_rating_json(
    client: TestClient, midi_file: Path, upload_dir: Path
) -> None:
    r = post(client, midi_file)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "rating"
    assert body["input"]["kind"] == "midi"
    assert body["input"]["path"] == "take.mid"  # the client's name, not the server's path
    assert len(body["scores"]) == 19
    assert all(1 / 7 - 1e-6 <= s["value"] <= 1 + 1e-6 for s in body["scores"])
    no_leak(body, upload_dir)
    assert dir_is_clean(upload_dir)


def test_evaluate_with_a_score(client: TestClient, midi_file: Path, tmp_path: Path) -> None:
    score = write_midi(tmp_path / "score.mid")
    r = post(client, midi_file, score=("score.mid", score.read_bytes()))
    assert r.status_code == 200, r.text
    assert r.json()["score"]["path"] == "score.mid"
    assert r.json()["score"]["used"] is True


def test_the_same_json_as_the_library(client: TestClient, midi_file: Path) -> None:
    from pianoeval.rater.performance import evaluate_performance

    served = post(client, midi_file).json()
    local = evaluate_performance(midi_file).model_dump(mode="json")
    assert served["scores"] == local["scores"]
    assert served.keys() == local.keys()
    assert served["schema_version"] == local["schema_version"] == 3
    for key in ("windows", "bars", "standouts", "advice", "notes"):
        assert served[key] == local[key], key
    assert served["timings"].keys() == local["timings"].keys()


@pytest.mark.parametrize("name", ["take.txt", "take", "take.pdf", "../../etc/passwd"])
def test_wrong_type_is_415(client: TestClient, name: str, upload_dir: Path) -> None:
    r = post(client, name=name, data=b"MThd whatever")
    assert r.status_code == 415
    assert r.json()["error"] == "unsupported_type"
    assert "not accepted" in r.json()["detail"]
    no_leak(r.json(), upload_dir)


@pytest.mark.parametrize("url", ["/v1/evaluate", "/v1/report", "/v1/jobs"])
def test_a_score_that_is_neither_midi_nor_musicxml_is_415(
    client: TestClient, midi_file: Path, url: str
) -> None:
    r = post(client, midi_file, score=("score.wav", b"RIFF"), url=url)
    assert r.status_code == 415
    assert "score.wav" in r.json()["detail"]
    assert ".musicxml" in r.json()["detail"]


def test_a_musicxml_score_is_accepted_and_gives_bars(
    client: TestClient, tmp_path: Path, upload_dir: Path
) -> None:
    from pianoeval.examples import example_midi_path

    xml = write_example_musicxml(tmp_path / "example.musicxml")
    r = post(client, example_midi_path(), score=("example.musicxml", xml.read_bytes()))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["score"]["path"] == "example.musicxml"
    assert body["score"]["used"] is True
    assert len(body["bars"]) > 0
    no_leak(body, upload_dir)
    assert dir_is_clean(upload_dir)


@pytest.mark.parametrize("name", ["s.musicxml", "s.xml", "s.mxl"])
def test_a_corrupt_or_empty_musicxml_score_is_422(
    client: TestClient, midi_file: Path, name: str, upload_dir: Path
) -> None:
    for data in (b"<score-partwise>garbage", b""):
        r = post(client, midi_file, score=(name, data))
        assert r.status_code == 422, r.text
        assert r.json()["detail"].startswith(name)
        no_leak(r.json(), upload_dir)
    assert dir_is_clean(upload_dir)


def test_a_long_performance_has_windows_bars_and_advice(
    client: TestClient, long_example: tuple[Path, Path]
) -> None:
    take, score = long_example
    r = post(client, take, score=("long_score.mid", score.read_bytes()))
    assert r.status_code == 200, r.text
    body = r.json()
    assert 90 < body["input"]["duration_sec"] < 100
    assert body["pooled"] is True
    assert len(body["windows"]) >= 3
    assert all(len(w["scores"]) == 19 for w in body["windows"])
    assert body["score"]["used"] is True
    assert len(body["bars"]) > 10
    assert any(b["standout"] for b in body["bars"])
    assert 1 <= len(body["advice"]) <= 3
    assert {"read", "rate", "windows", "total"} <= set(body["timings"])


def _page_is_self_contained(text: str) -> None:
    assert text.lstrip().lower().startswith("<!doctype html")
    assert "<svg" in text
    assert "<script" not in text.lower()
    for ref in ('src="http', "src='http", 'href="http', "href='http", "url(http", "@import"):
        assert ref not in text


def test_report_is_one_self_contained_html_page(
    client: TestClient, midi_file: Path, upload_dir: Path
) -> None:
    r = post(client, midi_file, url="/v1/report")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    _page_is_self_contained(r.text)
    assert "take.mid" in r.text
    assert str(upload_dir) not in r.text
    assert "pianoeval-serve-" not in r.text
    assert dir_is_clean(upload_dir)


def test_report_errors_are_json(client: TestClient, upload_dir: Path) -> None:
    r = post(client, name="take.txt", data=b"abc", url="/v1/report")
    assert r.status_code == 415
    assert r.json()["error"] == "unsupported_type"
    r = post(client, name="bad.mid", data=b"MThd\x00\x00", url="/v1/report")
    assert r.status_code == 422
    assert r.json()["detail"].startswith("bad.mid")
    assert dir_is_clean(upload_dir)


def _wait(client: TestClient, job_id: str) -> dict[str, object]:
    for _ in range(600):
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("done", "error"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end")


def test_a_finished_jobs_report(client: TestClient, midi_file: Path, tmp_path: Path) -> None:
    job_id = post(client, midi_file, url="/v1/jobs").json()["id"]
    early = client.get(f"/v1/jobs/{job_id}/report")
    assert early.status_code in (200, 409)  # 409 while it runs
    if early.status_code == 409:
        assert early.json()["error"] == "not_ready"
    assert _wait(client, job_id)["status"] == "done"
    r = client.get(f"/v1/jobs/{job_id}/report")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    _page_is_self_contained(r.text)
    assert "take.mid" in r.text
    assert client.get("/v1/jobs/not-a-job/report").status_code == 404
    failed = post(client, write_midi(tmp_path / "few.mid", n_notes=3), url="/v1/jobs").json()
    assert _wait(client, failed["id"])["status"] == "error"
    r = client.get(f"/v1/jobs/{failed['id']}/report")
    assert r.status_code == 409
    assert r.json()["error"] == "job_failed"
    assert "too little music" in r.json()["detail"]


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("empty.mid", b"", "empty"),
        ("empty.wav", b"", "empty"),
        ("bad.mid", b"MThd\x00\x00\x00\x06garbage", "corrupt"),
        ("bad.wav", b"RIFF\x10\x00\x00\x00WAVEjunkjunk", "audio"),
        ("bad.flac", b"not a flac at all", "audio"),
        ("text.mp3", b"hello, world" * 10, "audio"),
    ],
)
def test_empty_and_corrupt_files_are_422_naming_the_file(
    client: TestClient, name: str, data: bytes, says: str, upload_dir: Path
) -> None:
    r = post(client, name=name, data=data)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "bad_input"
    assert body["detail"].startswith(name)
    assert says in body["detail"]
    no_leak(body, upload_dir)
    assert dir_is_clean(upload_dir)


def test_too_little_music_is_422_with_what_a_rating_needs(
    client: TestClient, tmp_path: Path
) -> None:
    r = post(client, write_midi(tmp_path / "three.mid", n_notes=3))
    assert r.status_code == 422
    assert "too little music" in r.json()["detail"]
    assert r.json()["detail"].startswith("three.mid")


def test_a_corrupt_score_is_422(client: TestClient, midi_file: Path) -> None:
    r = post(client, midi_file, score=("s.mid", b"MThd\x00\x00"))
    assert r.status_code == 422
    assert r.json()["detail"].startswith("s.mid")


def test_oversize_is_413_while_reading(
    make_client: Callable[..., TestClient], midi_file: Path, upload_dir: Path
) -> None:
    client = make_client(max_upload_bytes=200)
    size = midi_file.stat().st_size
    assert size > 200
    # over the whole-body limit: refused by the middleware from Content-Length
    r = post(client, name="big.mid", data=b"\0" * 5000)
    assert r.status_code == 413
    assert r.json()["error"] == "too_large"
    # under the body limit but over the per-file limit: refused while the file is saved
    r = post(client, midi_file)
    assert r.status_code == 413
    assert "larger than" in r.json()["detail"]
    assert dir_is_clean(upload_dir)


def test_a_chunked_body_over_the_limit_is_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_upload_bytes=100)

    def body() -> object:  # a valid form whose file never ends: no Content-Length
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.mid"\r\n\r\n'
        for _ in range(100):
            yield b"x" * 1000

    r = client.post(
        "/v1/evaluate", content=body(), headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert r.status_code == 413


def test_too_long_is_413(
    make_client: Callable[..., TestClient], tmp_path: Path, upload_dir: Path
) -> None:
    client = make_client(max_duration_sec=5.0)
    r = post(client, write_midi(tmp_path / "long.mid", n_notes=30))  # 12 s
    assert r.status_code == 413
    assert r.json()["error"] == "too_long"
    wav = tmp_path / "long.wav"
    sf.write(wav, np.zeros(22050 * 8, dtype=np.float32), 22050)
    r = post(client, wav)
    assert r.status_code == 413
    assert "8.0 s is longer than the 5 s" in r.json()["detail"]
    assert dir_is_clean(upload_dir)


def test_missing_file_field_is_422(client: TestClient) -> None:
    r = client.post("/v1/evaluate", data={"nothing": "here"})
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_request"
    assert "file" in r.json()["detail"]


def test_concurrent_requests_all_succeed(
    make_client: Callable[..., TestClient], midi_file: Path, upload_dir: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = make_client(workers=2)
    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: post(client, midi_file).status_code, range(6)))
    assert statuses == [200] * 6
    assert dir_is_clean(upload_dir)


def test_jobs_progress_to_done(client: TestClient, midi_file: Path, upload_dir: Path) -> None:
    r = post(client, midi_file, url="/v1/jobs")
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] in ("queued", "running", "done")
    seen = [job["progress"]]
    for _ in range(300):
        job = client.get(f"/v1/jobs/{job['id']}").json()
        seen.append(job["progress"])
        if job["status"] in ("done", "error"):
            break
        time.sleep(0.05)
    assert job["status"] == "done", job
    assert job["progress"] == 1.0
    assert seen == sorted(seen)  # never goes back
    assert len(job["result"]["scores"]) == 19
    assert job["result"]["input"]["path"] == "take.mid"
    assert dir_is_clean(upload_dir)


def test_a_job_that_fails_reports_its_error(client: TestClient, tmp_path: Path) -> None:
    r = post(client, write_midi(tmp_path / "few.mid", n_notes=3), url="/v1/jobs")
    assert r.status_code == 202
    job_id = r.json()["id"]
    for _ in range(200):
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("done", "error"):
            break
        time.sleep(0.05)
    assert job["status"] == "error"
    assert job["error"]["status"] == 422
    assert "too little music" in job["error"]["detail"]


def test_job_checks_run_before_queueing(client: TestClient) -> None:
    assert post(client, name="x.txt", data=b"abc", url="/v1/jobs").status_code == 415
    assert post(client, name="x.mid", data=b"", url="/v1/jobs").status_code == 422


def test_unknown_job_is_404(client: TestClient) -> None:
    r = client.get("/v1/jobs/not-a-job")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


def test_jobs_expire(make_client: Callable[..., TestClient], midi_file: Path) -> None:
    client = make_client(job_ttl_sec=0.01)
    job_id = post(client, midi_file, url="/v1/jobs").json()["id"]
    for _ in range(200):
        r = client.get(f"/v1/jobs/{job_id}")
        if r.status_code == 404:
            break
        time.sleep(0.05)
    assert r.status_code == 404


def test_a_bug_is_a_500_without_internals(
    client: TestClient, midi_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pianoeval.serve.service as service

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal state /very/private/path")

    monkeypatch.setattr(service, "run_evaluation", boom)
    r = post(client, midi_file)
    assert r.status_code == 500
    assert r.json()["error"] == "internal"
    assert "secret" not in r.text
    assert "private" not in r.text


def test_page_and_static_files_are_served(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert "text/html" in r.headers["content-type"]
    assert "/static/app.js" in r.text
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    # nothing is fetched from anywhere but this server
    for text in (r.text, client.get("/static/app.js").text, client.get("/static/style.css").text):
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text


def test_openapi_documents_the_endpoints(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {
        "/healthz",
        "/v1/rater",
        "/v1/evaluate",
        "/v1/report",
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/report",
    } <= set(spec["paths"])
    assert "multipart/form-data" in spec["paths"]["/v1/evaluate"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in spec["paths"]["/v1/report"]["post"]["requestBody"]["content"]
    assert "text/html" in spec["paths"]["/v1/report"]["post"]["responses"]["200"]["content"]
    assert client.get("/docs").status_code == 200


def test_settings_from_env_and_validation() -> None:
    s = ServeSettings.from_env(
        {"PIANOEVAL_SERVE_MAX_DURATION_SEC": "60", "PIANOEVAL_SERVE_ALLOWED_SUFFIXES": "MID,.wav"}
    )
    assert s.max_duration_sec == 60
    assert s.allowed_suffixes == (".mid", ".wav")
    with pytest.raises(ValueError, match="greater than 0"):
        ServeSettings(max_upload_bytes=0)


def test_cli_serve_help_is_cheap_and_lists_the_options() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from typer.testing import CliRunner; from pianoeval.cli import app; "
        "r = CliRunner().invoke(app, ['serve', '--help']); print(r.output); "
        "print('LOADED', [m for m in ('fastapi', 'uvicorn') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for opt in ("--host", "--port", "--max-upload-mb", "--max-duration-sec", "--workers"):
        assert opt in out.stdout
    assert "LOADED []" in out.stdout


@pytest.mark.backend
def test_a_short_recording_is_transcribed_and_rated(
    client: TestClient, tmp_path: Path, upload_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIANOEVAL_CACHE", str(tmp_path / "cache"))
    wav = write_piano_wav(tmp_path / "take.wav")
    r = post(client, wav)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["input"]["kind"] == "audio"
    assert body["input"]["path"] == "take.wav"
    assert body["input"]["n_notes"] >= 8
    assert len(body["scores"]) == 19
    no_leak(body, upload_dir)
    assert dir_is_clean(upload_dir)
