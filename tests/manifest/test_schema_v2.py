"""Schema generation 2: typed fields, label provenance, and reading/migrating generation 1.

``data/v1_manifest.jsonl`` holds rows as the generation-1 writers wrote them (PercePiano
panel means, ASAP windows with score times, flags and beats, a pseudo-labelled row, a
queue row with a model's values).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pianoeval.errors import SchemaError
from pianoeval.manifest import (
    LATEST_VERSION,
    Problem,
    Segment,
    manifest_stats,
    migrate,
    read_manifest,
    update_labels,
    validate_manifest,
    write_manifest,
)

Row = Callable[..., dict[str, Any]]
Writer = Callable[..., Path]
V1_FIXTURE = Path(__file__).parent / "data" / "v1_manifest.jsonl"


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


@pytest.fixture
def v1_manifest(tmp_path: Path) -> Path:
    """The generation-1 fixture beside the media it names (tiny stand-in files)."""
    path = tmp_path / "v1.jsonl"
    shutil.copyfile(V1_FIXTURE, path)
    for name in ("perf.mid", "score.mid", "take.wav"):
        (tmp_path / name).write_bytes(b"stand-in")
    return path


def test_fixture_is_generation_1() -> None:
    rows = [json.loads(line) for line in V1_FIXTURE.read_text().splitlines()]
    assert {r["schema_version"] for r in rows} == {1}
    assert not any("label_source" in r for r in rows)
    assert LATEST_VERSION == 2


def test_v1_manifest_reads_as_v2_with_typed_fields(v1_manifest: Path) -> None:
    assert validate_manifest(v1_manifest) == []
    pp, asap, pseudo, queue = read_manifest(v1_manifest)
    assert {s.schema_version for s in (pp, asap, pseudo, queue)} == {2}

    assert (asap.score_t0, asap.score_t1, asap.score_bars) == (0.0, 22.5, (1, 12))
    assert asap.flags == ["end_estimated", "score_end_estimated"]
    assert asap.alignment is not None
    assert asap.alignment.downbeats_sec == [1.0323, 3.6411]
    assert (asap.alignment.time_signature, asap.alignment.key) == ("4/4", 0)
    assert (asap.model_extra or {})["window"] == {"index": 0, "n_bars": 12, "hop_bars": 6}

    assert pseudo.pseudo_calibrated == {"percepiano19.timing": 0.5871}
    assert pseudo.pseudo_meta is not None
    assert (pseudo.pseudo_meta.status, pseudo.pseudo_meta.alignment_f_measure) == (
        "aligned",
        0.8123,
    )
    assert pseudo.pseudo_meta.calibration == "2026-11-22_bf4fce2"
    assert (pseudo.score_t0, pseudo.flags) == (None, ["score_mismatch"])


def test_v1_label_provenance_comes_from_the_row_source(v1_manifest: Path) -> None:
    pp, asap, _, queue = read_manifest(v1_manifest)
    # only labels that are given: balance is null
    assert pp.label_source == {"timing": "human", "pace": "human"}
    assert pp.label_sources() == {"timing": "human", "pace": "human"}
    assert asap.label_source is None
    # a model's unverified value is a pseudo-label
    assert queue.label_source == {"energy_level": "pseudo"}


def test_migrate_keeps_given_provenance_and_every_other_field() -> None:
    row = json.loads(V1_FIXTURE.read_text().splitlines()[0])
    row["label_source"] = {"pace": "model_verified"}
    out = migrate(row)
    assert out["label_source"] == {"timing": "human", "pace": "model_verified"}
    assert {k: v for k, v in out.items() if k not in ("schema_version", "label_source")} == {
        k: v for k, v in row.items() if k not in ("schema_version", "label_source")
    }
    assert row["schema_version"] == 1  # the input is not modified
    again = migrate(out)  # a latest-generation row goes through unchanged
    assert again == out
    with pytest.raises(SchemaError, match='must be an integer, found the string "2"'):
        migrate({**row, "schema_version": "2"})


def test_migrated_rows_are_written_as_v2_and_read_back_equal(
    v1_manifest: Path, tmp_path: Path
) -> None:
    segments = read_manifest(v1_manifest)
    out = tmp_path / "v2.jsonl"
    write_manifest(out, segments)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["schema_version"] for r in rows} == {2}
    assert rows[1]["score_bars"] == [1, 12]
    assert rows[1]["alignment"]["key"] == 0
    assert rows[0]["label_source"] == {"timing": "human", "pace": "human"}
    assert [s.model_dump() for s in read_manifest(out)] == [s.model_dump() for s in segments]


def test_update_labels_migrates_the_row_it_touches(v1_manifest: Path) -> None:
    before = v1_manifest.read_text().splitlines()
    update_labels(
        v1_manifest,
        {
            "queue_0": {
                "labels": {"energy_level": 0.65},
                "label_source": {"energy_level": "model_verified"},
                "source": "model_verified",
            }
        },
    )
    after = v1_manifest.read_text().splitlines()
    assert after[:3] == before[:3]  # other rows stay generation 1, byte for byte
    row = json.loads(after[3])
    assert row["schema_version"] == 2
    assert row["label_source"] == {"energy_level": "model_verified"}
    assert read_manifest(v1_manifest)[3].label_sources() == {"energy_level": "model_verified"}


def test_a_v2_segment_cannot_claim_another_version(make_row: Row) -> None:
    with pytest.raises(ValidationError, match="schema_version"):
        Segment.model_validate(make_row(schema_version=1))
    assert Segment.model_validate(migrate(make_row(schema_version=1))).schema_version == 2


def test_label_sources_fall_back_to_the_row_source(make_row: Row) -> None:
    seg = Segment.model_validate(make_row(source="pseudo", label_source={"timing": "human"}))
    assert seg.label_sources() == {"timing": "human", "pace": "pseudo"}
    unlabelled = Segment.model_validate(make_row(labels={"timing": 0.5, "pace": None}))
    assert unlabelled.label_sources() == {"timing": "human"}


def test_stats_count_labels_per_provenance(v1_manifest: Path) -> None:
    s = manifest_stats(read_manifest(v1_manifest))
    # the panel row gives 2 labels (balance is null), the queue row 1 model value
    assert s.labels_per_label_source == {"human": 2, "pseudo": 1}
    assert s.rows_per_source == {"human": 3, "model": 1}


# --- one test per rule on the generation-2 fields -----------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"score_t0": 1.0}, "score_t1", "score_t0 is given without score_t1"),
        ({"score_t1": 1.0}, "score_t0", "score_t1 is given without score_t0"),
        ({"score_t0": 4.0, "score_t1": 4.0}, "score_t1", "must be greater than score_t0"),
        ({"score_t0": -1.0, "score_t1": 4.0}, "score_t0", "score_t0 >= 0"),
        ({"score_bars": [5, 2]}, "score_bars", "ends before it starts"),
        ({"flags": ["score_mismatch", "score_mismatch"]}, "flags", "listed twice"),
        ({"flags": [""]}, "flags[0]", "non-empty name"),
        (
            {"alignment": {"beats_sec": [1.0, 0.5], "downbeats_sec": [1.0]}},
            "alignment.beats_sec",
            "must not decrease",
        ),
        (
            {"alignment": {"downbeats_sec": [1.0, float("nan")]}},
            "alignment.downbeats_sec",
            "finite",
        ),
        ({"alignment": {"time_signature": "four"}}, "alignment.time_signature", "'3/4'"),
        (
            {"pseudo_calibrated": {"percepiano19.tempo": 0.5}},
            "pseudo_calibrated.percepiano19.tempo",
            "unknown dimension",
        ),
        (
            {"pseudo_calibrated": {"percepiano19.timing": 0.05}},
            "pseudo_calibrated.percepiano19.timing",
            "outside [0.1429, 1]",
        ),
        (
            {"pseudo_meta": {"status": "aligned", "alignment_f_measure": 1.5}},
            "pseudo_meta.alignment_f_measure",
            "outside [0, 1]",
        ),
        ({"pseudo_meta": {"calibration": "v1"}}, "pseudo_meta.status", "required field"),
        (
            {"label_source": {"timing": "crowd"}},
            "label_source.timing",
            "'human', 'model_verified' or 'pseudo'",
        ),
        ({"label_source": {"drama": "human"}}, "label_source.drama", "not in this row's dims"),
        (
            {
                "labels": {"timing": 0.5, "pace": None},
                "label_mask": {"timing": 1, "pace": 0},
                "label_source": {"pace": "human"},
            },
            "label_source.pace",
            "there is no label",
        ),
    ],
)
def test_v2_field_rules(
    make_row: Row, write_manifest_lines: Writer, fields: dict[str, Any], field: str, reason: str
) -> None:
    p = only(validate_manifest(write_manifest_lines([make_row(schema_version=2, **fields)])))
    assert (p.line, p.field) == (1, field)
    assert reason in p.reason


@pytest.mark.parametrize(
    ("fields", "field", "found"),
    [
        ({"flags": "score_mismatch"}, "flags", 'the string "score_mismatch"'),
        ({"score_t0": "0", "score_t1": 1.0}, "score_t0", 'the string "0"'),
        ({"score_bars": [1, 2.5]}, "score_bars.1", "the number 2.5"),
        ({"alignment": {"key": "C"}}, "alignment.key", 'the string "C"'),
        ({"alignment": {"beats_sec": [1.0, True]}}, "alignment.beats_sec.1", "the boolean true"),
        (
            {"pseudo_meta": {"status": "aligned", "calibration": 3}},
            "pseudo_meta.calibration",
            "the number 3",
        ),
    ],
)
def test_v2_field_types_are_strict(
    make_row: Row, write_manifest_lines: Writer, fields: dict[str, Any], field: str, found: str
) -> None:
    p = only(validate_manifest(write_manifest_lines([make_row(**fields)])))
    assert (p.line, p.field) == (1, field)
    assert p.reason.endswith(f"found {found}")


def test_importer_shapes_are_valid_v2(make_row: Row, write_manifest_lines: Writer) -> None:
    """The exact shapes data/asap.py and the pseudo-labeller write validate as typed fields."""
    row = make_row(
        bars=[3, 14],
        score_bars=[3, 14],
        score_t0=4.5,
        score_t1=20.25,
        flags=["short_passage"],
        alignment={
            "beats_sec": [0.0, 0.5, 1.0],
            "downbeats_sec": [0.0, 1.0],
            "time_signature": "6/8",
            "key": -3,
        },
        pseudo_taxonomy="execution16",
        pseudo_labels={"pedal_density": 0.3},
        pseudo_conf={"pedal_density": 1.0},
        pseudo_calibrated={},
        pseudo_meta={"calibration": None, "status": "no score", "alignment_f_measure": None},
        window={"index": 2, "length_sec": 20.0, "hop_sec": 10.0},
    )
    path = write_manifest_lines([row])
    assert validate_manifest(path) == []
    seg = read_manifest(path)[0]
    assert seg.score_bars == (3, 14)
    assert seg.pseudo_meta is not None
    assert seg.pseudo_meta.status == "no score"
