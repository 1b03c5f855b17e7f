from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pianoeval.errors import SchemaError
from pianoeval.manifest import (
    LATEST_VERSION,
    ManifestError,
    Segment,
    append_segments,
    export_labels,
    manifest_stats,
    read_manifest,
    update_labels,
    write_manifest,
)

Row = Callable[..., dict[str, Any]]
Writer = Callable[..., Path]


def segs(make_row: Row, n: int, prefix: str = "s") -> list[Segment]:
    return [Segment.model_validate(make_row(segment_id=f"{prefix}{i}")) for i in range(n)]


def test_write_then_read_round_trips(make_row: Row, tone_wav: Path) -> None:
    path = tone_wav.parent / "out.jsonl"
    rows = segs(make_row, 3)
    assert write_manifest(path, rows) == 3
    back = read_manifest(path)
    assert [s.model_dump() for s in back] == [s.model_dump() for s in rows]
    first = json.loads(path.read_text().splitlines()[0])
    assert first["schema_version"] == LATEST_VERSION == 2  # writers emit the latest
    assert "pseudo_labels" not in first  # unset optional fields are left out


def test_extra_fields_are_kept(make_row: Row, write_manifest_lines: Writer) -> None:
    path = write_manifest_lines([make_row(symbolic_feats_uri="feats/s.npz")])
    seg = read_manifest(path)[0]
    assert seg.to_json_dict()["symbolic_feats_uri"] == "feats/s.npz"


def test_write_refuses_duplicates_and_keeps_the_old_file(make_row: Row, tone_wav: Path) -> None:
    path = tone_wav.parent / "out.jsonl"
    write_manifest(path, segs(make_row, 2))
    before = path.read_bytes()
    with pytest.raises(SchemaError, match="duplicate segment_id 's0'"):
        write_manifest(path, segs(make_row, 2) + segs(make_row, 1))
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.suffix == ".tmp"] == []


def test_failed_rename_leaves_old_file_and_no_temp(
    make_row: Row, tone_wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tone_wav.parent / "out.jsonl"
    write_manifest(path, segs(make_row, 2))
    before = path.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_manifest(path, segs(make_row, 5, prefix="new"))
    assert path.read_bytes() == before
    assert [p for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_error_midway_through_the_rows_keeps_the_old_file(make_row: Row, tone_wav: Path) -> None:
    path = tone_wav.parent / "out.jsonl"
    write_manifest(path, segs(make_row, 2))
    before = path.read_bytes()

    def rows() -> Iterator[Segment]:
        yield from segs(make_row, 3, prefix="new")
        raise RuntimeError("importer crashed")

    with pytest.raises(RuntimeError):
        write_manifest(path, rows())
    assert path.read_bytes() == before


CRASHING_WRITER = """
import sys, time
from pianoeval.manifest import Segment, write_manifest
def rows():
    for i in range(1000):
        yield Segment(segment_id=f"new{i}", dataset="user", audio_uri="tone.wav", t0=0, t1=1,
                      provenance={"license": "MIT"})
        if i == 500:
            print("halfway", flush=True)
            time.sleep(60)
write_manifest(sys.argv[1], rows())
"""


def test_process_killed_while_writing_leaves_the_old_file(make_row: Row, tone_wav: Path) -> None:
    """A real crash: SIGKILL the writer half-way; the manifest must still be the old one."""
    path = tone_wav.parent / "out.jsonl"
    write_manifest(path, segs(make_row, 2))
    before = path.read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "halfway"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert path.read_bytes() == before
    assert len(read_manifest(path)) == 2


def test_append_keeps_existing_rows_byte_for_byte(
    make_row: Row, write_manifest_lines: Writer
) -> None:
    path = write_manifest_lines([make_row()])
    path.write_text(path.read_text().rstrip("\n"))  # no trailing newline: still appends cleanly
    before = path.read_text()
    assert append_segments(path, segs(make_row, 2, prefix="new")) == 2
    text = path.read_text()
    assert text.startswith(before + "\n")
    assert [s.segment_id for s in read_manifest(path)] == ["seg_0", "new0", "new1"]


def test_append_rejects_known_ids_and_appends_nothing(
    make_row: Row, write_manifest_lines: Writer
) -> None:
    path = write_manifest_lines([make_row()])
    before = path.read_bytes()
    with pytest.raises(SchemaError, match="'seg_0' is already in the manifest"):
        append_segments(
            path, [*segs(make_row, 1, prefix="new"), Segment.model_validate(make_row())]
        )
    assert path.read_bytes() == before


APPENDER = """
import sys
from pianoeval.manifest import Segment, append_segments
for i in range(40):
    append_segments(sys.argv[1], [Segment(segment_id=f"{sys.argv[2]}{i}", dataset="user",
                    audio_uri="tone.wav", t0=0, t1=1, provenance={"license": "MIT"})])
"""


def test_concurrent_appenders_lose_nothing(tone_wav: Path) -> None:
    path = tone_wav.parent / "shared.jsonl"
    procs = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(path), tag]) for tag in ("a", "b")
    ]
    for p in procs:
        assert p.wait(timeout=60) == 0
    ids = [s.segment_id for s in read_manifest(path)]
    assert sorted(ids) == sorted([f"{t}{i}" for t in "ab" for i in range(40)])


def test_update_labels_touches_only_the_named_rows(
    make_row: Row, write_manifest_lines: Writer
) -> None:
    path = write_manifest_lines([make_row(segment_id=f"s{i}") for i in range(4)])
    before = path.read_text().splitlines()
    n = update_labels(
        path,
        {
            "s2": {
                "labels": {"interpretation": 0.9},
                "label_mask": {"interpretation": 1},
                "n_raters": 4,
            }
        },
    )
    after = path.read_text().splitlines()
    assert n == 1
    assert [after[i] for i in (0, 1, 3)] == [before[i] for i in (0, 1, 3)]
    seg = {s.segment_id: s for s in read_manifest(path)}["s2"]
    assert seg.labels == {"timing": 0.5, "pace": 0.75, "interpretation": 0.9}
    assert seg.dims == ["timing", "pace", "interpretation"]
    assert seg.n_raters == 4


def test_update_labels_validates_before_writing(
    make_row: Row, write_manifest_lines: Writer
) -> None:
    path = write_manifest_lines([make_row(segment_id=f"s{i}") for i in range(2)])
    before = path.read_bytes()
    with pytest.raises(ManifestError) as err:
        update_labels(path, {"s1": {"labels": {"timing": 3.0}}})
    assert err.value.problems[0].line == 2
    assert err.value.problems[0].field == "labels.timing"
    with pytest.raises(SchemaError, match="no row with segment_id 'zz'"):
        update_labels(path, {"zz": {"labels": {"timing": 0.5}}})
    assert path.read_bytes() == before


def test_export_labels_has_ids_and_numbers_only(
    make_row: Row, write_manifest_lines: Writer
) -> None:
    unlabelled = make_row(segment_id="u", dims=[], labels={}, label_mask={})
    path = write_manifest_lines(
        [make_row(label_std={"timing": 0.1, "pace": 0.2}, midi_uri="tone.wav"), unlabelled]
    )
    out = path.parent / "labels.jsonl"
    assert export_labels(read_manifest(path), out) == 1
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["segment_id"] == "seg_0"
    assert row["labels"] == {"timing": 0.5, "pace": 0.75}
    assert row["license"] == "MIT"
    assert not {k for k in row if k.endswith("_uri")}
    assert "tone.wav" not in out.read_text()


def test_stats_count_rows_durations_and_labels(make_row: Row, write_manifest_lines: Writer) -> None:
    path = write_manifest_lines(
        [
            make_row(segment_id="a"),
            make_row(
                segment_id="b",
                dataset="asap",
                t0=1.0,
                t1=1.5,
                dims=[],
                labels={},
                label_mask={},
                provenance={"license": "CC-BY-NC-SA-4.0"},
                pseudo_labels={"pedal_density": 0.2},
            ),
        ]
    )
    s = manifest_stats(read_manifest(path))
    assert s.n_rows == 2
    assert s.rows_per_dataset == {"asap": 1, "user": 1}
    assert s.duration_sec == pytest.approx(2.5)
    assert s.labelled_per_dimension == {"percepiano19.timing": 1, "percepiano19.pace": 1}
    assert s.pseudo_labelled_per_dimension == {"execution16.pedal_density": 1}
    assert s.rows_per_license == {"CC-BY-NC-SA-4.0": 1, "MIT": 1}
    assert json.loads(json.dumps(s.to_dict()))["n_rows"] == 2


def test_atomic_write_gives_new_files_the_usual_mode(make_row: Row, tone_wav: Path) -> None:
    path = tone_wav.parent / "mode.jsonl"
    write_manifest(path, segs(make_row, 1))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    path.chmod(0o640)
    write_manifest(path, segs(make_row, 2))
    assert path.stat().st_mode & 0o777 == 0o640
