"""The shipped reference percentiles: readable, cached, and bad files named."""

from __future__ import annotations

from pathlib import Path

import pytest

from pianoeval.data.reference import LEVELS, load_reference, save_reference
from pianoeval.errors import SchemaError
from pianoeval.symbolic.align.bars import BAR_MEASURES


def test_the_shipped_reference_covers_every_bar_measure_and_dimension() -> None:
    ref = load_reference()
    assert ref["levels"] == list(LEVELS)
    assert ref["n_performances"] == 1189
    assert ref["licence"] == "MIT"
    for m in BAR_MEASURES:
        lo, hi = ref["bars"]["all"][m]
        assert lo <= hi, m
    assert len(ref["ratings"]["all"]) == 19
    assert len(ref["bars"]["passages"]) >= 50
    assert load_reference() is ref  # read once per process


def test_a_rewritten_reference_is_read_again_and_bad_files_are_named(tmp_path: Path) -> None:
    p = tmp_path / "ref.json.xz"
    record = {**load_reference(), "n_performances": 3}
    save_reference(record, p)
    assert load_reference(p)["n_performances"] == 3
    save_reference({**record, "n_performances": 4}, p)
    assert load_reference(p)["n_performances"] == 4
    bad = tmp_path / "bad.json.xz"
    bad.write_bytes(b"not xz at all")
    with pytest.raises(SchemaError, match=r"bad\.json\.xz"):
        load_reference(bad)
    with pytest.raises(SchemaError, match="missing"):
        load_reference(tmp_path / "missing.json.xz")
