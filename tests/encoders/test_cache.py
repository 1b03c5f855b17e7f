from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pianoeval.encoders import (
    EmbeddingCache,
    embed_segments,
    get_encoder,
    load_embeddings,
    save_embeddings,
)
from pianoeval.errors import AudioError, FileProblemError, ParameterError, SchemaError
from pianoeval.manifest import Segment, read_manifest


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.npy"))


def test_embed_segments_cuts_rows_and_caches_them(manifest: Path, tmp_path: Path) -> None:
    rows = read_manifest(manifest)
    enc = get_encoder("mel_stats")
    cache = tmp_path / "cache"
    x = embed_segments(rows, enc, base_dir=manifest.parent, cache=cache, progress=False, jobs=1)
    assert x.shape == (3, enc.dim)
    assert x.dtype == np.float32
    for i, row in enumerate(rows):
        direct = enc.embed_file(manifest.parent / str(row.audio_uri), t0=row.t0, t1=row.t1)
        np.testing.assert_array_equal(x[i], direct)
    assert not np.allclose(x[0], x[2])  # the sub-span is its own segment
    assert len(_entries(cache)) == 3
    # a second run reads the cache: poison an entry's vector through the store's own API
    # and the poisoned value comes back, proving nothing was recomputed
    store = EmbeddingCache(cache)
    key = next(iter(_entries(cache))).stem
    meta = store.read_json(key)
    assert meta is not None
    assert meta["encoder"] == "mel_stats"
    store.put(key, np.full(enc.dim, 7.0, dtype=np.float32), meta)
    again = embed_segments(
        rows, "mel_stats", base_dir=manifest.parent, cache=cache, progress=False, jobs=1
    )
    assert (again == 7.0).all(axis=1).sum() == 1


def test_cache_is_content_addressed_and_resumes(manifest: Path, tmp_path: Path) -> None:
    rows = read_manifest(manifest)
    cache = tmp_path / "cache"
    embed_segments(
        rows[:2], "mel_stats", base_dir=manifest.parent, cache=cache, progress=False, jobs=1
    )
    assert len(_entries(cache)) == 2
    full = embed_segments(
        rows, "mel_stats", base_dir=manifest.parent, cache=cache, progress=False, jobs=1
    )
    assert len(_entries(cache)) == 3  # only the missing row was added
    # a renamed copy of the audio hits the same entries
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.copy(manifest.parent / str(rows[0].audio_uri), moved / "renamed.wav")
    seg = rows[0].model_copy(update={"audio_uri": "renamed.wav"})
    x = embed_segments([seg], "mel_stats", base_dir=moved, cache=cache, progress=False, jobs=1)
    np.testing.assert_array_equal(x[0], full[0])
    assert len(_entries(cache)) == 3


def test_a_corrupt_entry_is_recomputed(manifest: Path, tmp_path: Path) -> None:
    rows = read_manifest(manifest)[:1]
    cache = tmp_path / "cache"
    x = embed_segments(
        rows, "mel_stats", base_dir=manifest.parent, cache=cache, progress=False, jobs=1
    )
    npy = _entries(cache)[0]
    npy.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="fails its checksum"):
        y = embed_segments(
            rows, "mel_stats", base_dir=manifest.parent, cache=cache, progress=False, jobs=1
        )
    np.testing.assert_array_equal(x, y)


def test_parallel_equals_serial(manifest: Path, tmp_path: Path) -> None:
    rows = read_manifest(manifest)
    serial = embed_segments(rows, "mel_stats", base_dir=manifest.parent, cache=False, jobs=1)
    parallel = embed_segments(
        rows, "mel_stats", base_dir=manifest.parent, cache=tmp_path / "c", jobs=2, progress=False
    )
    np.testing.assert_array_equal(serial, parallel)
    assert len(_entries(tmp_path / "c")) == 3


def test_rows_without_audio_or_with_missing_audio(tmp_path: Path) -> None:
    midi_only = Segment(
        segment_id="m", dataset="user", midi_uri="x.mid", t0=0, t1=1, provenance={"license": "MIT"}
    )
    with pytest.raises(SchemaError, match="no audio_uri"):
        embed_segments([midi_only], "mel_stats", base_dir=tmp_path, cache=False, jobs=1)
    missing = midi_only.model_copy(update={"audio_uri": "absent.wav", "midi_uri": None})
    with pytest.raises(AudioError, match=r"absent\.wav"):
        embed_segments([missing], "mel_stats", base_dir=tmp_path, cache=tmp_path / "c", jobs=1)


def test_embeddings_file_round_trip_and_errors(tmp_path: Path) -> None:
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    meta = {"encoder": "mert", "settings": {"layers": [7, 8]}, "command": "pianoeval embed"}
    path = save_embeddings(tmp_path / "sub" / "e.npz", ["a", "b", "c"], x, meta)
    ids, y, back = load_embeddings(path)
    assert ids == ["a", "b", "c"]
    np.testing.assert_array_equal(x, y)
    assert back["settings"] == {"layers": [7, 8]}
    assert (back["n"], back["dim"], back["schema_version"]) == (3, 2, 1)
    with np.load(path, allow_pickle=False) as z:  # readable without pickle
        assert set(z.files) == {"embeddings", "ids", "meta"}
    with pytest.raises(ParameterError, match="shape"):
        save_embeddings(tmp_path / "f.npz", ["a"], x, {})
    with pytest.raises(ParameterError, match="unique"):
        save_embeddings(tmp_path / "f.npz", ["a", "a", "b"], x, {})
    with pytest.raises(ParameterError, match="JSON"):
        save_embeddings(tmp_path / "f.npz", ["a", "b", "c"], x, {"bad": object()})
    with pytest.raises(FileProblemError, match="no such file"):
        load_embeddings(tmp_path / "absent.npz")
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(2))
    with pytest.raises(FileProblemError, match="not an embeddings file"):
        load_embeddings(other)
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(FileProblemError, match="cannot be read"):
        load_embeddings(tmp_path / "text.npz")
