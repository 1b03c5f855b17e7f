"""Input paths checked before reading, and folders walked for the files a command reads."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from pianoeval._paths import check_input_file, describe_exception, expand_inputs, os_error_problem
from pianoeval.constants import AUDIO_SUFFIXES, MIDI_SUFFIXES
from pianoeval.errors import AudioError, FileProblemError, MidiError


def test_check_input_file_returns_the_path(tmp_path: Path) -> None:
    f = tmp_path / "a.mid"
    f.write_bytes(b"MThd")
    assert check_input_file(str(f), MidiError) == f


@pytest.mark.parametrize("kind", [AudioError, MidiError, FileProblemError])
def test_the_error_type_is_the_callers(tmp_path: Path, kind: type[FileProblemError]) -> None:
    with pytest.raises(kind) as exc:
        check_input_file(tmp_path / "nope", kind)
    assert type(exc.value) is kind
    assert str(exc.value) == f"{tmp_path / 'nope'}: file does not exist"


def test_each_problem_in_plain_words(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    fifo = tmp_path / "fifo.wav"
    import os

    os.mkfifo(fifo)
    cases = {
        "": "empty path: no score named",
        "a\0b": "NUL character",
        str(empty): "empty file (0 bytes)",
        str(loop): "a symbolic link loop",
        str(fifo): "not a regular file",
        str(tmp_path): "is a directory, not a score",
        str(tmp_path / ("n" * 256)): "file name too long",
        str(empty / "x"): "a part of the path is not a folder",
    }
    for path, needle in cases.items():
        with pytest.raises(FileProblemError) as exc:
            check_input_file(path, what="score")
        assert needle in str(exc.value), (path[:40], str(exc.value)[-120:])
        assert exc.value.path == path


def test_os_error_problem_falls_back_to_the_system_message() -> None:
    assert os_error_problem(OSError(errno.ENOSPC, "No space left on device")) == (
        "No space left on device"
    )
    assert os_error_problem(PermissionError(errno.EACCES, "Permission denied")) == (
        "permission denied"
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (EOFError(), "the file ends early (truncated)"),
        (EOFError("  "), "the file ends early (truncated)"),
        (IndexError(), "the file ends early or an index in it points past its end (corrupt)"),
        (KeyError("tempo"), "KeyError: missing or unknown field 'tempo'"),
        (RuntimeError(), "RuntimeError (no detail given)"),
        (
            ValueError("data byte must be in range 0..127"),
            "ValueError: data byte must be in range 0..127",
        ),
    ],
)
def test_describe_exception_never_dangles(exc: BaseException, expected: str) -> None:
    assert describe_exception(exc) == expected
    assert not describe_exception(exc).endswith(": ")


def test_expand_inputs_walks_folders_sorted(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for rel in [
        "b/2.wav",
        "b/1.MID",
        "a/deep/x.flac",
        "a/z.mp3",
        "a/notes.txt",
        "a/._z.mp3",
        ".hidden/h.wav",
        "top.ogg",
    ]:
        (tmp_path / rel).write_bytes(b"x")
    given = tmp_path / "given.txt"
    given.write_bytes(b"x")
    files, problems = expand_inputs([given, tmp_path], AUDIO_SUFFIXES | MIDI_SUFFIXES)
    rel = [f.relative_to(tmp_path).as_posix() for f in files]
    # a file given by name is kept (its reader reports what it is); folders sorted, recursive
    assert rel == ["given.txt", "a/deep/x.flac", "a/z.mp3", "b/1.MID", "b/2.wav", "top.ogg"]
    assert problems == []


def test_expand_inputs_reports_empty_folders_and_keeps_going(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no music here")
    good = tmp_path / "good"
    good.mkdir()
    (good / "a.wav").write_bytes(b"x")
    long_name = tmp_path / ("n" * 300)
    files, problems = expand_inputs([empty, long_name, good], AUDIO_SUFFIXES, kind=AudioError)
    assert files == [long_name, good / "a.wav"]  # the too-long name is left to the reader
    assert len(problems) == 1
    assert isinstance(problems[0], AudioError)
    assert problems[0].path == str(empty)
    assert "folder holds no file of the kinds read here" in str(problems[0])
    assert ".wav" in str(problems[0])
