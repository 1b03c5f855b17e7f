"""One test per validation rule: each asserts the reported line and field."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pianoeval.manifest import ManifestError, Problem, read_manifest, validate_manifest

Row = Callable[..., dict[str, Any]]
Writer = Callable[..., Path]


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


def test_valid_manifest_has_no_problems(make_row: Row, write_manifest_lines: Writer) -> None:
    path = write_manifest_lines([make_row(), make_row(segment_id="seg_1", t0=1.0, t1=2.0)])
    assert validate_manifest(path) == []
    segs = read_manifest(path)
    assert [s.segment_id for s in segs] == ["seg_0", "seg_1"]
    assert segs[1].duration_sec == pytest.approx(1.0)
    assert segs[0].labelled_dims() == ["timing", "pace"]


def test_bad_json(make_row: Row, write_manifest_lines: Writer) -> None:
    path = write_manifest_lines([make_row(), '{"segment_id": "x",'])
    p = only(validate_manifest(path))
    assert (p.path, p.line, p.field) == (str(path), 2, "-")
    assert "bad JSON" in p.reason


def test_row_must_be_an_object(write_manifest_lines: Writer) -> None:
    p = only(validate_manifest(write_manifest_lines(["[1, 2]"])))
    assert (p.line, p.field) == (1, "-")
    assert "JSON object" in p.reason


def test_blank_lines_are_skipped_but_counted(make_row: Row, write_manifest_lines: Writer) -> None:
    path = write_manifest_lines([make_row(), "", make_row(segment_id="s2", t1=-1.0)])
    p = only(validate_manifest(path))
    assert (p.line, p.field) == (3, "t1")


def test_missing_required_field(make_row: Row, write_manifest_lines: Writer) -> None:
    row = make_row()
    del row["segment_id"]
    p = only(validate_manifest(write_manifest_lines([row])))
    assert (p.line, p.field, p.reason) == (1, "segment_id", "required field is missing")


def test_wrong_type(make_row: Row, write_manifest_lines: Writer) -> None:
    p = only(validate_manifest(write_manifest_lines([make_row(t0="soon")])))
    assert (p.line, p.field) == (1, "t0")
    assert '"soon"' in p.reason


def test_unknown_source(make_row: Row, write_manifest_lines: Writer) -> None:
    p = only(validate_manifest(write_manifest_lines([make_row(source="guess")])))
    assert (p.line, p.field) == (1, "source")


def test_unsupported_schema_version(make_row: Row, write_manifest_lines: Writer) -> None:
    p = only(validate_manifest(write_manifest_lines([make_row(schema_version=99)])))
    assert (p.line, p.field) == (1, "schema_version")
    assert "99" in p.reason


def test_unknown_dimension(make_row: Row, write_manifest_lines: Writer) -> None:
    row = make_row(dims=["timing", "tempo"], labels={"timing": 0.5}, label_mask={"timing": 1})
    p = only(validate_manifest(write_manifest_lines([row])))
    assert (p.line, p.field) == (1, "dims[1]")
    assert "unknown dimension" in p.reason
    assert "tempo" in p.reason


def test_unknown_pseudo_label_dimension(make_row: Row, write_manifest_lines: Writer) -> None:
    row = make_row(pseudo_labels={"pedal_density": 0.3, "timbre_loudness": 0.2})
    p = only(validate_manifest(write_manifest_lines([row])))
    assert (p.line, p.field) == (1, "pseudo_labels.timbre_loudness")


def test_label_outside_unit_interval(make_row: Row, write_manifest_lines: Writer) -> None:
    row = make_row(
        taxonomy="execution16",
        dims=["energy_level"],
        labels={"energy_level": 1.2},
        label_mask={"energy_level": 1},
    )
    p = only(validate_manifest(write_manifest_lines([row])))
    assert (p.line, p.field) == (1, "labels.energy_level")
    assert "outside [0, 1]" in p.reason


def test_label_below_the_percepiano_scale(make_row: Row, write_manifest_lines: Writer) -> None:
    row = make_row(labels={"timing": 0.05, "pace": 0.5})
    p = only(validate_manifest(write_manifest_lines([row])))
    assert (p.line, p.field) == (1, "labels.timing")
    assert "0.1429" in p.reason


def test_t1_not_after_t0(make_row: Row, write_manifest_lines: Writer) -> None:
    path = write_manifest_lines([make_row(), make_row(segment_id="b", t0=2.0, t1=2.0)])
    p = only(validate_manifest(path))
    assert (p.line, p.field) == (2, "t1")
    assert "greater than t0" in p.reason


def test_mask_one_without_label(make_row: Row, write_manifest_lines: Writer) -> None:
    row = make_row(labels={"timing": 0.5, "pace": None})
    p = only(validate_manifest(write_manifest_lines([row])))
    assert (p.line, p.field) == (1, "label_mask.pace")
    assert "no label" in p.reason


def test_mask_zero_with_label(make_row: Row, write_manifest_lines: Writer) -> None:
    row = make_row(label_mask={"timing": 1, "pace": 0})
    p = only(validate_manifest(write_manifest_lines([row])))
    assert (p.line, p.field) == (1, "label_mask.pace")
    assert "mask is 0" in p.reason


def test_label_for_a_dimension_not_in_dims(make_row: Row, write_manifest_lines: Writer) -> None:
    row = make_row(dims=["timing"], labels={"timing": 0.5, "pace": 0.5}, label_mask={"timing": 1})
    p = only(validate_manifest(write_manifest_lines([row])))
    assert (p.line, p.field) == (1, "labels.pace")
    assert "not in this row's dims" in p.reason


def test_negative_label_std(make_row: Row, write_manifest_lines: Writer) -> None:
    p = only(validate_manifest(write_manifest_lines([make_row(label_std={"timing": -0.1})])))
    assert (p.line, p.field) == (1, "label_std.timing")


def test_duplicate_segment_id(make_row: Row, write_manifest_lines: Writer) -> None:
    path = write_manifest_lines([make_row(), make_row(segment_id="other"), make_row()])
    p = only(validate_manifest(path))
    assert (p.line, p.field) == (3, "segment_id")
    assert "first on line 1" in p.reason


def test_missing_media(make_row: Row, write_manifest_lines: Writer) -> None:
    path = write_manifest_lines([make_row(midi_uri="perf/missing.mid")])
    p = only(validate_manifest(path))
    assert (p.line, p.field) == (1, "midi_uri")
    assert "missing media" in p.reason
    assert str(path.parent / "perf" / "missing.mid") in p.reason
    assert validate_manifest(path, check_media=False) == []


def test_file_uri_is_resolved(make_row: Row, write_manifest_lines: Writer, tone_wav: Path) -> None:
    path = write_manifest_lines([make_row(audio_uri=tone_wav.as_uri())])
    assert validate_manifest(path) == []


def test_unsupported_uri_scheme(make_row: Row, write_manifest_lines: Writer) -> None:
    p = only(validate_manifest(write_manifest_lines([make_row(audio_uri="s3://bucket/a.wav")])))
    assert (p.line, p.field) == (1, "audio_uri")
    assert "unsupported URI scheme 's3'" in p.reason


def test_segment_needs_a_source(make_row: Row, write_manifest_lines: Writer) -> None:
    row = make_row()
    del row["audio_uri"]
    p = only(validate_manifest(write_manifest_lines([row])))
    assert (p.line, p.field) == (1, "audio_uri")
    assert "needs a source" in p.reason


def test_missing_licence(make_row: Row, write_manifest_lines: Writer) -> None:
    p = only(validate_manifest(write_manifest_lines([make_row(provenance={"piece": "x"})])))
    assert (p.line, p.field) == (1, "provenance.license")


def test_all_problems_are_reported_in_file_order(
    make_row: Row, write_manifest_lines: Writer
) -> None:
    path = write_manifest_lines(
        [
            make_row(t1=-1.0, labels={"timing": 2.0, "pace": 0.5}),
            "not json",
            make_row(segment_id="ok"),
            make_row(
                segment_id="ok",
                dims=["timing", "nope"],
                labels={"timing": 0.5},
                label_mask={"timing": 1},
            ),
        ]
    )
    problems = validate_manifest(path)
    assert [(p.line, p.field) for p in problems] == [
        (1, "t1"),
        (1, "labels.timing"),
        (2, "-"),
        (4, "dims[1]"),
        (4, "segment_id"),
    ]
    with pytest.raises(ManifestError) as err:
        read_manifest(path)
    assert err.value.problems == problems
    assert f"{path}:4: segment_id: duplicate" in str(err.value)
    assert str(err.value).startswith("5 problems in manifest")


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    p = only(validate_manifest(tmp_path / "nope.jsonl"))
    assert "does not exist" in p.reason
    assert "nope.jsonl" in p.path
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"segment_id": "caf\xe9"}\n')
    assert "not UTF-8" in only(validate_manifest(bad)).reason


def test_empty_manifest_is_valid_and_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    assert validate_manifest(path) == []
    assert read_manifest(path) == []


def test_qualified_names_mix_taxonomies(make_row: Row, write_manifest_lines: Writer) -> None:
    row = make_row(
        taxonomy=None,
        dims=["percepiano19.timing", "execution16.energy_level"],
        labels={"percepiano19.timing": 0.5, "execution16.energy_level": 0.0},
        label_mask={"percepiano19.timing": 1, "execution16.energy_level": 1},
    )
    assert validate_manifest(write_manifest_lines([row])) == []
    row["dims"].append("pedal_clarity")  # plain and ambiguous without a taxonomy
    p = only(validate_manifest(write_manifest_lines([row])))
    assert (p.field, "ambiguous" in p.reason) == ("dims[2]", True)


# --- strict JSON types: reported, never coerced -------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "found"),
    [
        ("t0", False, "the boolean false"),
        ("t0", "0", 'the string "0"'),
        ("t1", None, "null"),
        ("sr", 22050.5, "the number 22050.5"),
        ("sr", True, "the boolean true"),
        ("sr", "22050", 'the string "22050"'),
        ("n_raters", 3.0, "the number 3.0"),
        ("bars", [1, "2"], 'the string "2"'),
        ("segment_id", 7, "the number 7"),
        ("dims", "timing", 'the string "timing"'),
    ],
)
@pytest.mark.parametrize("version", [1, 2])
def test_wrong_json_types_are_reported_not_coerced(
    make_row: Row, write_manifest_lines: Writer, field: str, value: Any, found: str, version: int
) -> None:
    row = make_row(schema_version=version, **{field: value})
    p = only(validate_manifest(write_manifest_lines([row])))
    assert p.line == 1
    assert p.field.split(".")[0] == field
    assert p.reason.endswith(f"found {found}")


@pytest.mark.parametrize("version", [1, 2])
def test_json_integers_are_valid_floats(
    make_row: Row, write_manifest_lines: Writer, version: int
) -> None:
    row = make_row(schema_version=version, t0=0, t1=2, labels={"timing": 1, "pace": 0.75})
    path = write_manifest_lines([row])
    assert validate_manifest(path) == []
    seg = read_manifest(path)[0]
    assert (seg.t0, seg.t1, seg.labels["timing"]) == (0.0, 2.0, 1.0)
    assert isinstance(seg.t0, float)


def test_label_and_mask_types_are_strict(make_row: Row, write_manifest_lines: Writer) -> None:
    row = make_row(labels={"timing": "0.5", "pace": 0.75}, label_mask={"timing": 1, "pace": True})
    problems = validate_manifest(write_manifest_lines([row]))
    assert sorted(p.field for p in problems) == ["label_mask.pace", "labels.timing"]


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("1", 'schema_version must be an integer, found the string "1"'),
        (True, "schema_version must be an integer, found the boolean true"),
        (1.0, "schema_version must be an integer, found the number 1.0"),
        (None, "schema_version must be an integer, found null"),
        (3, "unsupported version 3 (known: 1, 2)"),
    ],
)
def test_schema_version_must_be_a_known_integer(
    make_row: Row, write_manifest_lines: Writer, version: Any, reason: str
) -> None:
    p = only(validate_manifest(write_manifest_lines([make_row(schema_version=version)])))
    assert (p.line, p.field, p.reason) == (1, "schema_version", reason)


# --- rows and files that used to give a traceback or a misleading message ---------------


def test_row_nested_100000_levels_is_a_problem_of_its_line(
    make_row: Row, write_manifest_lines: Writer
) -> None:
    deep = '{"segment_id": "x", "extra": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path = write_manifest_lines([make_row(), deep, make_row(segment_id="after")])
    p = only(validate_manifest(path))
    assert (p.line, p.field) == (2, "-")
    assert "nested too deeply" in p.reason
    with pytest.raises(ManifestError, match="nested too deeply"):
        read_manifest(path)


def test_row_nested_beyond_the_fast_parser_is_still_read(
    make_row: Row, write_manifest_lines: Writer
) -> None:
    # deep enough for pydantic's JSON parser to give up (it stops at about 200 levels),
    # well within what the json module reads: a legal row, read the long way
    row = json.dumps(make_row())[:-1] + ', "extra": ' + "[" * 500 + "]" * 500 + "}"
    path = write_manifest_lines([row, make_row(segment_id="b", t0="0")])
    p = only(validate_manifest(path))
    assert (p.line, p.field) == (2, "t0")
    (seg,) = read_manifest(write_manifest_lines([row]))
    depth, value = 0, (seg.model_extra or {})["extra"]
    while value:
        depth, value = depth + 1, value[0]
    assert depth == 499


def test_empty_uri_says_so(make_row: Row, write_manifest_lines: Writer) -> None:
    path = write_manifest_lines([make_row(midi_uri="")])
    p = only(validate_manifest(path, check_media=False))
    assert (p.field, p.reason.startswith("empty URI")) == ("midi_uri", True)


def test_directory_uri_says_so(make_row: Row, write_manifest_lines: Writer) -> None:
    path = write_manifest_lines([make_row(score_uri=".")])
    p = only(validate_manifest(path))
    assert p.field == "score_uri"
    assert "is a directory, not a file" in p.reason


def test_symlink_loop_says_so(make_row: Row, write_manifest_lines: Writer, tmp_path: Path) -> None:
    (tmp_path / "a.mid").symlink_to(tmp_path / "b.mid")
    (tmp_path / "b.mid").symlink_to(tmp_path / "a.mid")
    p = only(validate_manifest(write_manifest_lines([make_row(midi_uri="a.mid")])))
    assert p.field == "midi_uri"
    assert p.reason.startswith("symlink loop")


@pytest.mark.parametrize(
    "uri", ["x" * 5000 + ".mid", "/".join(["deep"] * 2000) + "/a.mid", "n" * 300 + ".mid"]
)
def test_uri_too_long_for_the_system_is_a_problem(
    make_row: Row, write_manifest_lines: Writer, uri: str
) -> None:
    path = write_manifest_lines([make_row(midi_uri=uri), make_row(segment_id="b")])
    p = only(validate_manifest(path))
    assert (p.line, p.field) == (1, "midi_uri")
    assert "too long for this system" in p.reason


def test_uri_through_a_file_or_with_a_nul(make_row: Row, write_manifest_lines: Writer) -> None:
    path = write_manifest_lines(
        [make_row(segment_id="a", midi_uri="tone.wav/x.mid"), make_row(midi_uri="a\u0000.mid")]
    )
    through_file, nul = validate_manifest(path)
    assert (through_file.line, through_file.field) == (1, "midi_uri")
    assert "is not a folder" in through_file.reason
    assert (nul.line, nul.reason) == (2, "a URI cannot contain a NUL character")


def test_manifest_path_that_is_a_directory(tmp_path: Path) -> None:
    p = only(validate_manifest(tmp_path))
    assert (p.path, p.line) == (str(tmp_path), 0)
    assert p.reason == "is a directory, not a manifest file"
    with pytest.raises(ManifestError, match="is a directory, not a manifest file"):
        read_manifest(tmp_path)


def test_manifest_path_symlink_loop_and_too_long(tmp_path: Path) -> None:
    (tmp_path / "m.jsonl").symlink_to(tmp_path / "m.jsonl")
    assert only(validate_manifest(tmp_path / "m.jsonl")).reason.startswith("symlink loop")
    assert "too long" in only(validate_manifest(tmp_path / ("m" * 400 + ".jsonl"))).reason


def test_lines_split_at_line_feeds_only(make_row: Row, write_manifest_lines: Writer) -> None:
    # U+2028 and U+0085 are valid inside JSON strings; str.splitlines would cut the row
    row = make_row(provenance={"license": "MIT", "piece": "Étude\u2028op.\x85 10"})
    path = write_manifest_lines([row, make_row(segment_id="two")])
    assert validate_manifest(path) == []
    assert read_manifest(path)[0].provenance.piece == "Étude\u2028op.\x85 10"


# --- --root: media confined to a folder ---------------------------------------------------


def test_media_root_confines_uris(
    make_row: Row, write_manifest_lines: Writer, tone_wav: Path, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    inside = media / "in.wav"
    inside.write_bytes(tone_wav.read_bytes())
    (media / "escape.wav").symlink_to(tone_wav)  # inside by name, outside once resolved
    path = write_manifest_lines(
        [
            make_row(segment_id="a", audio_uri="media/in.wav"),
            make_row(segment_id="b", audio_uri=tone_wav.as_uri()),
            make_row(segment_id="c", audio_uri="media/../tone.wav"),
            make_row(segment_id="d", audio_uri="media/escape.wav"),
        ]
    )
    assert validate_manifest(path) == []
    problems = validate_manifest(path, media_root=media)
    assert [(p.line, p.field) for p in problems] == [
        (2, "audio_uri"),
        (3, "audio_uri"),
        (4, "audio_uri"),
    ]
    assert all(p.reason.startswith(f"outside the media root {media.resolve()}") for p in problems)
    assert str(tone_wav.resolve()) in problems[2].reason
    # the root applies without the media check too: it is about where a URI points
    assert len(validate_manifest(path, check_media=False, media_root=media)) == 3


def test_problem_message_is_capped_with_a_count(
    make_row: Row, write_manifest_lines: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pianoeval.manifest import validate as validate_module

    monkeypatch.setattr(validate_module, "MAX_PROBLEMS_SHOWN", 2)
    path = write_manifest_lines([make_row(segment_id=f"s{i}", t1=-1.0) for i in range(5)])
    with pytest.raises(ManifestError) as err:
        read_manifest(path)
    assert len(err.value.problems) == 5
    text = str(err.value)
    assert text.startswith("5 problems in manifest")
    assert f"{path}:2: t1" in text
    assert f"{path}:3: t1" not in text
    assert text.endswith("... and 3 more")
