"""The content-addressed store: checksums that catch corrupt entries, folders checked first."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from pianoeval._cache import (
    CACHE_ENV_VAR,
    CHECKSUMS_FIELD,
    ContentStore,
    CorruptCacheEntryWarning,
    cache_dir,
    check_cache_dir,
)
from pianoeval.errors import CacheDirError, PianoEvalError
from pianoeval.render.cache import RenderCache
from pianoeval.symbolic.features.cache import FeatureCache
from pianoeval.symbolic.transcribe.cache import TranscriptionCache

KEY = "ab" + "12" * 31


# --- checksums -------------------------------------------------------------------------


def test_round_trip_records_and_hides_checksums(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    store.write_json(KEY, {"x": 1.5, "nested": {"a": [1, 2]}, "nan": float("nan")}, indent=1)
    on_disk = json.loads(store.entry(KEY, ".json").read_text())
    assert set(on_disk[CHECKSUMS_FIELD]) == {"self"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = store.read_json(KEY)
    assert got is not None
    assert CHECKSUMS_FIELD not in got
    assert got["x"] == 1.5
    assert got["nested"] == {"a": [1, 2]}
    assert np.isnan(got["nan"])


def test_a_changed_value_is_caught_and_dropped(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    store.write_json(KEY, {"n_notes": 120})
    path = store.entry(KEY, ".json")
    path.write_text(path.read_text().replace("120", "121"))  # still valid JSON
    with pytest.warns(CorruptCacheEntryWarning, match="fails its checksum"):
        assert store.read_json(KEY) is None
    assert not path.exists()
    assert store.read_json(KEY) is None  # now a plain miss


@pytest.mark.parametrize(
    "damage",
    [lambda b: b[: len(b) // 2], lambda b: b"\xff\xfe" + b, lambda b: b"[1, 2]"],
    ids=["truncated", "not-utf8", "not-an-object"],
)
def test_undecodable_json_is_dropped(tmp_path: Path, damage: object) -> None:
    store = ContentStore(tmp_path)
    store.write_json(KEY, {"a": "b" * 100})
    path = store.entry(KEY, ".json")
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    with pytest.warns(CorruptCacheEntryWarning, match=str(path)):
        assert store.read_json(KEY) is None
    assert not path.exists()


def test_a_corrupt_companion_file_drops_the_whole_entry(tmp_path: Path) -> None:
    cache = TranscriptionCache(tmp_path)
    midi = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x04\x00\xff\x2f\x00"
    cache.put(KEY, midi, {"backend": "test"})
    on_disk = json.loads(cache.meta_path(KEY).read_text())
    assert set(on_disk[CHECKSUMS_FIELD]) == {"self", ".mid"}
    assert cache.get(KEY) == {"backend": "test", "key": KEY}

    damaged = bytearray(midi)
    damaged[-2] ^= 0xFF  # one flipped byte
    cache.midi_path(KEY).write_bytes(bytes(damaged))
    with pytest.warns(CorruptCacheEntryWarning, match=r"\.mid file that fails its checksum"):
        assert cache.get(KEY) is None
    assert not cache.midi_path(KEY).exists()
    assert not cache.meta_path(KEY).exists()

    # rebuilt: a new put makes it whole again
    cache.put(KEY, midi, {"backend": "test"})
    assert cache.get(KEY) is not None


def test_a_lost_companion_is_caught(tmp_path: Path) -> None:
    cache = TranscriptionCache(tmp_path)
    cache.put(KEY, b"MThd....", {})
    cache.midi_path(KEY).unlink()
    with pytest.warns(CorruptCacheEntryWarning, match=r"lost its \.mid file"):
        assert cache.get(KEY) is None
    assert not cache.meta_path(KEY).exists()


def test_render_cache_audio_is_checked(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)
    y = (0.1 * np.sin(np.arange(2205) / 10)).astype(np.float32)
    cache.put(KEY, y, 22050, {"note": "tone"})
    assert cache.get(KEY) is not None
    audio = cache.audio_path(KEY)
    audio.write_bytes(audio.read_bytes()[:-100])  # a cut-off FLAC
    with pytest.warns(CorruptCacheEntryWarning, match=r"\.flac file that fails its checksum"):
        assert cache.get(KEY) is None


def test_feature_cache_is_checked(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    cache.put(KEY, {"timing.drift": 0.5})
    path = cache.path(KEY)
    path.write_text(path.read_text().replace("0.5", "0.7"))
    with pytest.warns(CorruptCacheEntryWarning):
        assert cache.get(KEY) is None


def test_entries_from_before_checksums_are_adopted(tmp_path: Path) -> None:
    cache = TranscriptionCache(tmp_path)
    cache.midi_path(KEY).parent.mkdir(parents=True)
    cache.midi_path(KEY).write_bytes(b"MThd-legacy")
    cache.meta_path(KEY).write_text(json.dumps({"backend": "old", "key": KEY}, indent=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.get(KEY) == {"backend": "old", "key": KEY}
    recorded = json.loads(cache.meta_path(KEY).read_text())[CHECKSUMS_FIELD]
    assert set(recorded) == {"self", ".mid"}
    # from now on a change is caught
    cache.midi_path(KEY).write_bytes(b"MThd-changed")
    with pytest.warns(CorruptCacheEntryWarning):
        assert cache.get(KEY) is None


def test_temporaries_are_not_part_of_an_entry(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    folder = store.entry(KEY, ".json").parent
    folder.mkdir(parents=True)
    (folder / f".{KEY}.mid.abc.tmp").write_bytes(b"half written")
    store.write_json(KEY, {"a": 1})
    assert set(json.loads(store.entry(KEY, ".json").read_text())[CHECKSUMS_FIELD]) == {"self"}


# --- folders checked before any work ----------------------------------------------------


def test_cache_variable_pointing_at_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a_file = tmp_path / "cache.txt"
    a_file.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV_VAR, str(a_file))
    with pytest.raises(CacheDirError) as exc:
        check_cache_dir()
    message = str(exc.value)
    assert message.startswith(f"{a_file}: ")
    assert f"{CACHE_ENV_VAR}={a_file}" in message
    assert "is a file, not a folder" in message
    # every cache finds it at construction, before any work
    for make in (TranscriptionCache, RenderCache, FeatureCache):
        with pytest.raises(CacheDirError) as exc:
            make(cache_dir("transcribe"))
        assert f"is inside {a_file}, which is a file" in str(exc.value)
        assert CACHE_ENV_VAR in str(exc.value)


def test_check_cache_dir_creates_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "new" / "cache"))
    folder = check_cache_dir()
    assert folder == tmp_path / "new" / "cache"
    assert folder.is_dir()
    assert os.listdir(folder) == []  # the write test leaves nothing behind
    assert check_cache_dir(tmp_path / "other") == tmp_path / "other"


def test_unwritable_folder_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import tempfile

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # root may write anywhere
    with pytest.raises(CacheDirError, match="is not writable: permission denied") as exc:
        check_cache_dir(tmp_path)
    assert exc.value.path == str(tmp_path)
    assert isinstance(exc.value, PianoEvalError)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_read_only_folder_for_real(tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(CacheDirError, match="not writable"):
            check_cache_dir(tmp_path / "cache")
        with pytest.raises(CacheDirError, match="not writable"):
            ContentStore(tmp_path / "cache")
    finally:
        tmp_path.chmod(0o755)


def test_a_path_through_a_file(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(CacheDirError, match="which is a file"):
        check_cache_dir(f / "sub")


def test_the_fix_named_is_the_variable_only_when_it_chose_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pianoeval._cache import CACHE_ENV_VAR, check_cache_dir
    from pianoeval.errors import CacheDirError

    a_file = tmp_path / "f"
    a_file.write_text("x")
    monkeypatch.delenv(CACHE_ENV_VAR, raising=False)
    with pytest.raises(CacheDirError) as given:
        check_cache_dir(a_file)
    assert CACHE_ENV_VAR not in str(given.value)
    assert "give a folder" in str(given.value)
    monkeypatch.setenv(CACHE_ENV_VAR, str(a_file))
    with pytest.raises(CacheDirError) as from_env:
        check_cache_dir()
    assert f"point {CACHE_ENV_VAR} at a folder" in str(from_env.value)
