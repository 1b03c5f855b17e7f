"""Exit codes are consistent: 2 for a bad option or argument value, 1 for a bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pianoeval.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        ["dims", "list", "no_such_taxonomy"],
        ["example", "--bars", "0"],
        ["example", "--format", "xml"],
        ["analyze", "--example", "--backend", "no_such_backend"],
        ["analyze", "--example", "--format", "yaml"],
        ["analyze"],
        ["licences", "--format", "nope"],
        ["data", "reliability", "--format", "nope"],
        ["render", "m.jsonl", "--out", "o.jsonl", "--jobs", "0"],
        ["no-such-command"],
    ],
)
def test_bad_option_values_are_usage_errors(args: list[str]) -> None:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output


def test_a_library_parameter_error_is_a_usage_error_with_one_line() -> None:
    r = runner.invoke(app, ["dims", "list", "no_such_taxonomy"])
    assert r.stderr.startswith("usage error: unknown taxonomy 'no_such_taxonomy'")
    assert "Traceback" not in r.output


@pytest.mark.parametrize(
    "make",
    [
        lambda d: d / "missing.mid",
        lambda d: d / ("x" * 300 + ".mid"),
        lambda d: (d / "empty.mid").write_bytes(b"") and d / "empty.mid",
        lambda d: (d / "junk.mid").write_bytes(b"\x00" * 64) and d / "junk.mid",
    ],
    ids=["missing", "name_too_long", "empty", "junk"],
)
def test_bad_inputs_exit_1_with_one_line_naming_the_file(tmp_path: Path, make: object) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    r = runner.invoke(app, ["analyze", str(path)])
    assert r.exit_code == 1, r.output
    assert f"error: {path}" in r.stderr
    assert "Traceback" not in r.output


def test_a_score_with_a_name_too_long_is_one_line(tmp_path: Path) -> None:
    r = runner.invoke(app, ["analyze", "--example", "--score", str(tmp_path / ("s" * 300))])
    assert r.exit_code == 1
    assert "too long" in r.stderr
    assert "Traceback" not in r.output
