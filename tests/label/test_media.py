"""Media of the labeling app: only from the roots (``..``, absolute paths, file:// URIs and
symlinks leading out are refused), exactly t0-t1, MIDI rendered once into the cache."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the label app needs the serve extra")

import soundfile as sf
from fastapi.testclient import TestClient

from pianoeval.errors import ParameterError
from pianoeval.label import AnswerStore
from pianoeval.label.app import create_label_app
from pianoeval.label.media import (
    MediaAccessError,
    MediaNotFoundError,
    MediaRoots,
    crop_audio,
)
from pianoeval.manifest import Segment, write_manifest

SR = 8000


def write_tone(path: Path, seconds: float = 1.0) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR, subtype="PCM_16")
    return path


def row(seg_id: str, *, audio: str | None = None, midi: str | None = None) -> Segment:
    return Segment(segment_id=seg_id, dataset="test", audio_uri=audio, midi_uri=midi, t0=0.5,
                   t1=1.5, taxonomy="execution16", dims=["pedal_clarity"],
                   provenance={"license": "CC0-1.0"})  # fmt: skip


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    write_tone(root / "sub" / "in.wav", 2.0)
    write_tone(outside / "secret.wav", 2.0)
    os.symlink(outside / "secret.wav", root / "link.wav")
    return {"root": root, "outside": outside, "secret": outside / "secret.wav"}


def test_resolve_accepts_inside_and_refuses_everything_leading_out(
    layout: dict[str, Path],
) -> None:
    roots = MediaRoots([layout["root"]])
    root = layout["root"]
    assert roots.resolve("sub/in.wav", root) == (root / "sub" / "in.wav").resolve()
    assert roots.resolve((root / "sub" / "in.wav").as_uri(), "/") == (root / "sub/in.wav").resolve()
    refused = [
        "../outside/secret.wav",  # climbs
        "sub/../../outside/secret.wav",
        "sub/../sub/in.wav",  # climbs, even though it lands inside
        str(layout["secret"]),  # absolute, outside
        layout["secret"].as_uri(),  # file:// outside
        (root / "sub").as_uri() + "/%2e%2e/%2e%2e/outside/secret.wav",  # encoded ..
        "link.wav",  # a symlink leading out
        "https://example.org/a.wav",  # not a local file
        "/etc/passwd",
    ]
    for uri in refused:
        with pytest.raises(MediaAccessError):
            roots.resolve(uri, root)
    with pytest.raises(MediaNotFoundError, match="not found"):
        roots.resolve("sub/none.wav", root)
    with pytest.raises(ParameterError, match="not an existing folder"):
        MediaRoots([root / "nope"])


def test_crop_is_exactly_t0_t1_and_clipped_to_the_end(layout: dict[str, Path]) -> None:
    y, sr = crop_audio(layout["root"] / "sub" / "in.wav", 0.25, 0.75)
    assert (sr, len(y)) == (SR, SR // 2)
    full, _ = sf.read(layout["root"] / "sub" / "in.wav", dtype="float32")
    np.testing.assert_array_equal(y, full[SR // 4 : 3 * SR // 4])
    y, _ = crop_audio(layout["root"] / "sub" / "in.wav", 1.5, 9.0)
    assert len(y) == SR // 2
    with pytest.raises(MediaNotFoundError, match="after the end"):
        crop_audio(layout["root"] / "sub" / "in.wav", 3.0, 4.0)


@pytest.fixture
def serve_rows(tmp_path: Path, layout: dict[str, Path]) -> Iterator[Any]:
    clients: list[TestClient] = []

    def _serve(rows: list[Segment], **kw: Any) -> tuple[TestClient, str]:
        queue = layout["root"] / "queue.jsonl"
        write_manifest(queue, rows)
        db = tmp_path / f"db{len(clients)}.sqlite"
        with AnswerStore(db) as store:
            token = store.add_rater("ana")[1]
        kw.setdefault("min_listen_fraction", 0.0)
        client = TestClient(create_label_app(queue, db, honeypot_rate=0.0, **kw))
        client.__enter__()
        clients.append(client)
        return client, token

    yield _serve
    for c in clients:
        c.__exit__(None, None, None)


def test_media_route_refuses_uris_outside_the_roots(
    serve_rows: Any, layout: dict[str, Path]
) -> None:
    bad = {
        "climb": "../outside/secret.wav",
        "absolute": str(layout["secret"]),
        "file-uri": layout["secret"].as_uri(),
        "symlink": "link.wav",
    }
    rows = [row(k, audio=v) for k, v in bad.items()] + [row("good", audio="sub/in.wav")]
    client, token = serve_rows(rows)
    headers = {"Authorization": f"Bearer {token}"}
    statuses = {}
    for _ in range(len(rows)):
        item = client.get("/api/next", headers=headers).json()["item"]
        r = client.get(item["media_url"], headers=headers)
        statuses[item["segment_id"]] = r.status_code
        if r.status_code == 403:
            assert r.json()["error"] == "forbidden"
            assert "refused" in r.json()["detail"]
            assert str(layout["root"]) not in r.text  # no server path leaks to the rater
        client.post("/api/skip", json={"segment_id": item["segment_id"]}, headers=headers)
    assert statuses == {"climb": 403, "absolute": 403, "file-uri": 403, "symlink": 403,
                        "good": 200}  # fmt: skip
    # segment ids are looked up, never used as paths
    for sid in ("../outside/secret.wav", str(layout["secret"]), "..%2F..%2Fetc%2Fpasswd"):
        r = client.get("/api/media", params={"segment_id": sid}, headers=headers)
        assert r.status_code == 404
    assert client.get("/static/../../../../etc/passwd").status_code == 404


def test_explicit_media_roots_replace_the_default(serve_rows: Any, layout: dict[str, Path]) -> None:
    client, token = serve_rows([row("s", audio="sub/in.wav")], media_roots=[layout["outside"]])
    headers = {"Authorization": f"Bearer {token}"}
    item = client.get("/api/next", headers=headers).json()["item"]
    assert client.get(item["media_url"], headers=headers).status_code == 403


@pytest.mark.backend
def test_midi_only_row_is_rendered_once_into_the_cache(
    serve_rows: Any, layout: dict[str, Path]
) -> None:
    pytest.importorskip("fluidsynth")
    import pretty_midi

    from pianoeval.render import SOUNDFONTS

    if not SOUNDFONTS.get("fluidr3_gm").path.is_file():
        pytest.skip("FluidR3_GM SoundFont missing: run scripts/setup.sh")
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [pretty_midi.Note(80, 60 + i, 0.25 * i, 0.25 * i + 0.2) for i in range(8)]
    pm.instruments.append(inst)
    pm.write(str(layout["root"] / "sub" / "take.mid"))
    client, token = serve_rows([row("m", midi="sub/take.mid")])
    headers = {"Authorization": f"Bearer {token}"}
    item = client.get("/api/next", headers=headers).json()["item"]
    first = client.get(item["media_url"], headers=headers)
    assert first.status_code == 200, first.text
    y, sr = sf.read(io.BytesIO(first.content))
    assert abs(len(y) / sr - 1.0) < 1e-3  # exactly t0-t1 (0.5-1.5 s)
    assert np.abs(y).max() > 0.01  # notes sound there
    cached = list((layout["root"] / ".label_cache").rglob("*.wav"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns
    second = client.get(item["media_url"], headers=headers)
    assert second.content == first.content
    assert cached[0].stat().st_mtime_ns == mtime
    assert list((layout["root"] / ".label_cache").rglob("*.wav")) == cached
