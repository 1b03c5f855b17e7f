"""``pianoeval manifest``: exit codes (2 for a bad option value, 1 for bad input), --root,
--max-problems, and one-line errors instead of tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pianoeval.cli import app

runner = CliRunner()
Row = Callable[..., dict[str, Any]]
Writer = Callable[..., Path]
MAIN = "import sys; from pianoeval.cli import main; sys.argv[0] = 'pianoeval'; main()"


def pianoeval(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI the way the console script does (library errors -> one line, exit 1)."""
    return subprocess.run(
        [sys.executable, "-c", MAIN, *args], capture_output=True, text=True, timeout=120
    )


def test_max_problems_stops_the_report_and_counts_the_rest(
    make_row: Row, write_manifest_lines: Writer
) -> None:
    a = write_manifest_lines([make_row(segment_id=f"a{i}", t1=-1.0) for i in range(3)], "a.jsonl")
    b = write_manifest_lines([make_row(segment_id=f"b{i}", t1=-1.0) for i in range(4)], "b.jsonl")
    r = runner.invoke(app, ["manifest", "validate", "--max-problems", "5", str(a), str(b)])
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    assert lines[:5] == [f"{a}:{n}: t1: t1 (-1) must be greater than t0 (0)" for n in (1, 2, 3)] + [
        f"{b}:{n}: t1: t1 (-1) must be greater than t0 (0)" for n in (1, 2)
    ]
    assert lines[5] == "... 2 more problem(s) not shown (--max-problems)"
    assert lines[6] == "7 problem(s) in 2 file(s)"


def test_max_problems_default_is_1000(make_row: Row, write_manifest_lines: Writer) -> None:
    rows = [make_row(segment_id=f"s{i}", t1=-1.0) for i in range(1003)]
    r = runner.invoke(app, ["manifest", "validate", str(write_manifest_lines(rows))])
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1002
    assert lines[1000] == "... 3 more problem(s) not shown (--max-problems)"


@pytest.mark.parametrize(
    "args",
    [
        ["--max-problems", "0"],
        ["--max-problems", "-3"],
        ["--max-problems", "many"],
        ["--root", "/no/such/folder"],
        ["--root", "FILE"],
        ["--bogus"],
    ],
)
def test_bad_option_values_are_usage_errors(
    make_row: Row, write_manifest_lines: Writer, args: list[str]
) -> None:
    path = write_manifest_lines([make_row()])
    args = [str(path) if a == "FILE" else a for a in args]
    r = runner.invoke(app, ["manifest", "validate", *args, str(path)])
    assert r.exit_code == 2, r.output
    assert "Usage:" in r.stderr


def test_export_labels_out_directory_is_a_usage_error(
    make_row: Row, write_manifest_lines: Writer, tmp_path: Path
) -> None:
    r = runner.invoke(
        app, ["manifest", "export-labels", str(write_manifest_lines([make_row()])), "--out", "."]
    )
    assert r.exit_code == 2


def test_root_confines_media(
    make_row: Row, write_manifest_lines: Writer, tone_wav: Path, tmp_path: Path
) -> None:
    path = write_manifest_lines([make_row()])
    ok = runner.invoke(app, ["manifest", "validate", "--root", str(tmp_path), str(path)])
    assert ok.exit_code == 0, ok.output
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = runner.invoke(app, ["manifest", "validate", "--root", str(elsewhere), str(path)])
    assert r.exit_code == 1
    assert f"{path}:1: audio_uri: outside the media root {elsewhere.resolve()}" in r.stderr


def test_validate_a_directory_says_so(tmp_path: Path) -> None:
    r = runner.invoke(app, ["manifest", "validate", str(tmp_path)])
    assert r.exit_code == 1
    assert r.stderr.splitlines()[0] == f"{tmp_path}:0: -: is a directory, not a manifest file"


def test_bad_input_is_one_line_and_exit_1_never_a_traceback(
    make_row: Row, write_manifest_lines: Writer, tmp_path: Path
) -> None:
    deep = '{"segment_id": ' + "[" * 100_000 + "]" * 100_000 + "}"
    long_uri = make_row(midi_uri="x" * 5000 + ".mid")
    path = write_manifest_lines([deep, long_uri, make_row(segment_id="s", t0="0")])
    r = pianoeval("manifest", "validate", str(path))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert [line.split(": ")[0] for line in r.stderr.splitlines()[:3]] == [
        f"{path}:1",
        f"{path}:2",
        f"{path}:3",
    ]
    stats = pianoeval("manifest", "stats", str(tmp_path))
    assert stats.returncode == 1
    assert stats.stderr == (
        f"error: 1 problem in manifest:\n  {tmp_path}:0: -: is a directory, not a manifest file\n"
    )
    # export-labels does not look at media: the long URI is no problem there
    export = pianoeval("manifest", "export-labels", str(path), "--out", str(tmp_path / "o.jsonl"))
    assert export.returncode == 1
    assert export.stderr.startswith("error: 2 problems in manifest")
    assert "Traceback" not in export.stderr


def test_validate_reads_v1_and_v2_rows_in_one_file(
    make_row: Row, write_manifest_lines: Writer
) -> None:
    path = write_manifest_lines([make_row(schema_version=1), make_row(segment_id="b")])
    r = runner.invoke(app, ["manifest", "validate", str(path)])
    assert r.exit_code == 0
    r = runner.invoke(app, ["manifest", "stats", str(path), "--format", "json"])
    stats = json.loads(r.stdout)
    assert stats["n_rows"] == 2
    assert stats["labels_per_label_source"] == {"human": 4}
    table = runner.invoke(app, ["manifest", "stats", str(path)])
    assert table.exit_code == 0
    assert "label provenance" in table.stdout
