"""Batches: the cache, per-file failures, the process pool and manifests."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pianoeval.manifest import read_manifest, uri_to_path
from pianoeval.render import (
    RENDERER_VERSION,
    Augment,
    RenderCache,
    default_cache_dir,
    render_files,
    render_manifest,
    render_midi,
)

pytestmark = pytest.mark.backend

SR = 22050


def test_second_call_hits_the_cache_and_settings_miss(
    midi_files: dict[str, Path], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    good = midi_files["good"]
    first = render_files([good], cache, jobs=1, progress=False)[0]
    assert first.ok
    assert not first.cached
    again = render_files([good], cache, jobs=1, progress=False)[0]
    assert again.cached
    assert again.audio_path == first.audio_path
    assert again.duration_sec == pytest.approx(first.duration_sec)
    # the key is the MIDI's content, not its name
    copy = tmp_path / "renamed.mid"
    shutil.copy(good, copy)
    assert render_files([copy], cache, jobs=1, progress=False)[0].cached
    # Augment() is no augmentation; anything that changes the audio misses
    assert render_files([good], cache, augment=Augment(), progress=False)[0].cached
    for kwargs in (
        {"sr": 16000},
        {"tail_sec": 0.5},
        {"soundfont": "timgm6mb"},
        {"augment": Augment(gain_db=-3.0)},
        {"augment": Augment(soundfont="timgm6mb", snr_db=30.0)},
        {"synth_sr": 44100},
    ):
        res = render_files([good], cache, jobs=1, progress=False, **kwargs)[0]
        assert res.ok, kwargs
        assert not res.cached, kwargs
        assert render_files([good], cache, jobs=1, progress=False, **kwargs)[0].cached, kwargs


def test_cached_audio_is_the_render(midi_files: dict[str, Path], tmp_path: Path) -> None:
    res = render_files([midi_files["good"]], tmp_path / "c", jobs=1, progress=False)[0]
    assert res.audio_path is not None
    assert res.audio_path.endswith(".flac")
    audio, sr = sf.read(res.audio_path, dtype="float32")
    info = sf.info(res.audio_path)
    assert (sr, info.channels, info.subtype) == (SR, 1, "PCM_16")
    y, _ = render_midi(midi_files["good"])
    np.testing.assert_allclose(audio, y, atol=1.0 / 32768)
    meta = json.loads(Path(res.audio_path).with_suffix(".json").read_text())
    assert meta["renderer_version"] == RENDERER_VERSION
    assert meta["soundfont"]["name"] == "fluidr3_gm"
    assert meta["settings"]["sr"] == SR
    assert meta["n_clipped"] == 0


def test_incomplete_cache_entry_is_a_miss(midi_files: dict[str, Path], tmp_path: Path) -> None:
    res = render_files([midi_files["good"]], tmp_path / "c", jobs=1, progress=False)[0]
    assert res.key is not None
    RenderCache(tmp_path / "c").meta_path(res.key).unlink()  # as after a crash mid-write
    assert not render_files([midi_files["good"]], tmp_path / "c", progress=False)[0].cached


def test_one_bad_file_does_not_stop_the_batch(midi_files: dict[str, Path], tmp_path: Path) -> None:
    paths = [
        midi_files["good"],
        midi_files["corrupt"],
        midi_files["no_notes"],
        tmp_path / "missing.mid",
        midi_files["good2"],
    ]
    results = render_files(paths, tmp_path / "c", jobs=2, progress=False)
    assert [r.midi_path for r in results] == [str(p) for p in paths]  # input order
    assert [r.ok for r in results] == [True, False, False, False, True]
    errors = [r.error or "" for r in results]
    assert "corrupt" in errors[1]
    assert "no notes" in errors[2]
    assert "missing.mid" in errors[3]
    assert all(r.audio_path is None for r in results if not r.ok)
    assert all(Path(r.audio_path).is_file() for r in results if r.ok and r.audio_path)


def test_pool_and_in_process_renders_are_identical(
    make_midi: Callable[..., Path], percepiano_notes: Callable[..., list], tmp_path: Path
) -> None:
    paths = [make_midi(percepiano_notes(seed=s, n=20), name=f"p{s}.mid") for s in range(4)]
    aug = Augment(reverb_rt60_sec=0.4, reverb_wet=0.2, snr_db=30.0, seed=7)
    one = render_files(paths, tmp_path / "one", jobs=1, augment=aug, progress=False)
    two = render_files(paths, tmp_path / "two", jobs=2, augment=aug, progress=False)
    for a, b in zip(one, two, strict=True):
        assert a.key == b.key
        assert a.audio_path
        assert b.audio_path
        assert Path(a.audio_path).read_bytes() == Path(b.audio_path).read_bytes()


def test_one_augment_per_file(midi_files: dict[str, Path], tmp_path: Path) -> None:
    paths = [midi_files["good"], midi_files["good"]]
    augs = [None, Augment(gain_db=-6.0)]
    a, b = render_files(paths, tmp_path / "c", augment=augs, jobs=1, progress=False)
    assert a.key != b.key
    ya, _ = sf.read(a.audio_path)
    yb, _ = sf.read(b.audio_path)
    assert 20 * np.log10(np.abs(yb).max() / np.abs(ya).max()) == pytest.approx(-6.0, abs=0.01)


def test_default_cache_dir_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PIANOEVAL_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "render"
    monkeypatch.delenv("PIANOEVAL_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "pianoeval" / "render"


def _manifest(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_render_manifest(midi_files: dict[str, Path], tmp_path: Path) -> None:
    def row(segment_id: str, **extra: object) -> dict:
        base = {"segment_id": segment_id, "dataset": "user", "t0": 0.0, "t1": 1.0}
        return {**base, "provenance": {"license": "MIT"}, **extra}

    manifest = _manifest(
        tmp_path / "in.jsonl",
        [
            row("a", midi_uri="good.mid"),
            row("a2", midi_uri="good.mid", t0=0.5),  # same file: one render
            row("b", midi_uri="corrupt.mid"),
            row("c", audio_uri="good.mid"),  # no MIDI
            row("d", midi_uri=midi_files["good2"].as_uri()),
        ],
    )
    out = tmp_path / "out" / "rendered.jsonl"
    cache = tmp_path / "out" / "cache"
    aug = Augment(gain_db=-2.0)
    report = render_manifest(manifest, out, cache_dir=cache, augment=aug, jobs=2, progress=False)
    assert (report.n_rows, report.n_written, report.n_rendered, report.n_cached) == (5, 3, 2, 0)
    assert dict(report.failed).keys() == {"b", "c"}
    assert "corrupt" in dict(report.failed)["b"]
    assert "midi_uri" in dict(report.failed)["c"]

    rows = read_manifest(out)  # validates, media included
    assert [r.segment_id for r in rows] == ["a", "a2", "d"]
    for r in rows:
        assert r.sr == SR
        assert r.audio_uri is not None
        assert not r.audio_uri.startswith("file:")
        assert uri_to_path(r.audio_uri, out.parent).is_file()
        assert uri_to_path(r.midi_uri or "", out.parent).is_file()  # re-expressed for out/
        prov = r.provenance.model_dump()
        assert prov["soundfont"] == "fluidr3_gm"
        assert prov["render"]["augment"]["gain_db"] == -2.0
        assert prov["render"]["sr"] == SR
        assert prov["render"]["tail_sec"] == 1.0
        assert prov["render"]["renderer_version"] == RENDERER_VERSION
    assert rows[0].audio_uri == rows[1].audio_uri
    assert rows[1].t0 == 0.5

    again = render_manifest(manifest, out, cache_dir=cache, augment=aug, progress=False)
    assert (again.n_rendered, again.n_cached) == (0, 2)


def test_pool_starts_cleanly_from_a_process_that_runs_threads(
    midi_files: dict[str, Path], tmp_path: Path
) -> None:
    """A script with busy torch threads (as after a transcription) renders with a pool.

    With ``fork`` the workers could inherit a lock held by another thread and wait on it
    for ever (render_files hung so after transkun). That hang depends on timing and is not
    reproduced here; what is checked is that the pool's start method never forks the
    calling process and that such a script (with the ``__main__`` guard that ``forkserver``
    needs) renders.
    """
    from pianoeval._parallel import pool_context

    assert pool_context().get_start_method() in {"forkserver", "spawn"}
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "threads_then_render.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import threading, time
            import torch
            from pianoeval.render import render_files

            stop = threading.Event()

            def busy():
                while not stop.is_set():
                    torch.ones(256, 256) @ torch.ones(256, 256)

            if __name__ == "__main__":
                torch.set_num_threads(2)
                worker = threading.Thread(target=busy)
                worker.start()
                paths = [{str(midi_files["good"])!r}, {str(midi_files["good2"])!r}]
                res = render_files(paths, {str(tmp_path / "cache")!r}, jobs=2, progress=False)
                stop.set()
                worker.join()
                print(sum(r.ok for r in res))
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "2"  # pyfluidsynth may print first
