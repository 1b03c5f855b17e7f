from __future__ import annotations

import json
from pathlib import Path

import pytest

from pianoeval.batch import NoInputError, collect_inputs, expand_inputs, is_glob
from pianoeval.constants import AUDIO_SUFFIXES, MIDI_SUFFIXES
from pianoeval.manifest import ManifestError

MIDI = MIDI_SUFFIXES


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ("b.mid", "a.MID", "notes.txt", ".hidden.mid", "sub/c.midi", ".git/d.mid",
                 "audio/x.wav"):  # fmt: skip
        touch(tmp_path / name)
    return tmp_path


def write_manifest(path: Path, rows: list[dict[str, object]]) -> Path:
    base = {"dataset": "user", "t0": 0.0, "t1": 5.0, "provenance": {"license": "user"}}
    lines = [json.dumps({"segment_id": f"s{i}", **base, **row}) for i, row in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_folder_is_searched_recursively_sorted_without_hidden_files(tree: Path) -> None:
    assert expand_inputs([tree], MIDI) == [tree / "a.MID", tree / "b.mid", tree / "sub/c.midi"]


def test_files_are_kept_as_given_and_repeats_dropped(tree: Path) -> None:
    files = expand_inputs([tree / "notes.txt", tree / "b.mid", tree], MIDI)
    assert files == [tree / "notes.txt", tree / "b.mid", tree / "a.MID", tree / "sub/c.midi"]


def test_glob_patterns_relative_absolute_and_recursive(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert is_glob(str(tree / "*.mid"))
    assert not is_glob(str(tree / "b.mid"))
    assert expand_inputs([str(tree / "*.mid")], MIDI) == [tree / "b.mid"]
    assert expand_inputs([str(tree / "**/*.midi")], MIDI) == [tree / "sub/c.midi"]
    monkeypatch.chdir(tree)
    assert expand_inputs(["*"], MIDI) == [
        Path("a.MID"), Path("b.mid"), Path("sub/c.midi")  # a folder matched is searched
    ]  # fmt: skip
    assert expand_inputs(["audio/*.wav"], AUDIO_SUFFIXES) == [Path("audio/x.wav")]


def test_a_manifest_gives_its_files_once_resolved_beside_it(tmp_path: Path) -> None:
    clip = touch(tmp_path / "media/clip.wav")
    take = touch(tmp_path / "media/take.mid")
    m = write_manifest(
        tmp_path / "m.jsonl",
        [
            {"midi_uri": "media/take.mid", "audio_uri": "media/clip.wav"},
            {"midi_uri": "media/take.mid", "t0": 5.0, "t1": 10.0},  # same file, once
            {"audio_uri": clip.as_uri()},
        ],
    )
    assert expand_inputs([m], MIDI) == [take]
    assert expand_inputs([m], AUDIO_SUFFIXES) == [clip]
    assert expand_inputs([m], AUDIO_SUFFIXES | MIDI, uri_field="audio_uri") == [clip]


def test_manifest_uris_fall_back_to_the_data_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    take = touch(root / "percepiano/midi/take.mid")
    (tmp_path / "lists").mkdir()
    m = write_manifest(tmp_path / "lists/m.jsonl", [{"midi_uri": "percepiano/midi/take.mid"}])
    monkeypatch.setenv("PIANOEVAL_DATA", str(root))
    assert expand_inputs([m], MIDI) == [take]


def test_an_invalid_manifest_is_a_manifest_error(tmp_path: Path) -> None:
    bad = tmp_path / "m.jsonl"
    bad.write_text('{"segment_id": "s"}\n')
    with pytest.raises(ManifestError):
        expand_inputs([bad], MIDI)


def test_what_matched_nothing_is_named(tree: Path) -> None:
    with pytest.raises(NoInputError, match=r"\*\.flac: the pattern matches no file"):
        expand_inputs([str(tree / "*.flac")], AUDIO_SUFFIXES)
    (tree / "empty").mkdir()
    with pytest.raises(NoInputError, match="folder holds no file") as info:
        expand_inputs([tree / "empty"], MIDI)
    assert info.value.path == str(tree / "empty")
    with pytest.raises(NoInputError, match="2 inputs matched nothing") as info:
        expand_inputs([tree / "empty", str(tree / "*.ogg"), tree / "b.mid"], AUDIO_SUFFIXES)
    assert "empty" in str(info.value)
    assert "*.ogg" in str(info.value)
    with pytest.raises(NoInputError, match="no input named"):
        expand_inputs([], MIDI)
    m = write_manifest(tree / "m.jsonl", [{"audio_uri": "audio/x.wav"}])
    with pytest.raises(NoInputError, match="manifest has no row with a midi_uri/audio_uri"):
        expand_inputs([m], MIDI)


def test_collect_inputs_keeps_going_past_what_matched_nothing(tree: Path) -> None:
    got = collect_inputs([str(tree / "*.flac"), tree / "b.mid"], MIDI)
    assert got.files == [tree / "b.mid"]
    assert [p.path for p in got.problems] == [str(tree / "*.flac")]
