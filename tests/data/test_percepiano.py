from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pianoeval.data.percepiano import (
    build_percepiano_manifest,
    load_released_labels,
    parse_name,
    percepiano_score_path,
    percepiano_score_paths,
    raw_key,
    released_means_from_raw,
)
from pianoeval.errors import DataRootError, ParameterError, SchemaError
from pianoeval.manifest import read_manifest


def test_parse_name_uses_player_then_segment() -> None:
    n = parse_name(" Schubert_D935_no.3_4bars_2_1.mid")
    assert (n.name, n.piece, n.n_bars, n.player, n.segment, n.segment_token) == (
        "Schubert_D935_no.3_4bars_2_1", "Schubert_D935_no.3", 4, "2", 1, "1",
    )  # fmt: skip
    z = parse_name("Schubert_D960_mv3_16bars_4_03")
    assert (z.segment, z.segment_token, z.excerpt) == (3, "03", "Schubert_D960_mv3_16bars_3")
    assert n.excerpt == "Schubert_D935_no.3_4bars_1"
    assert n.performer == "Schubert_D935_no.3/2"
    assert n.composer == "Schubert"
    assert not n.is_score_rendition
    v = parse_name("Beethoven_WoO80_var27_8bars_Score2_15")
    assert (v.work, v.is_score_rendition, v.performer) == (
        "Beethoven_WoO80", True, "Beethoven_WoO80/Score2",
    )  # fmt: skip
    with pytest.raises(ParameterError, match="not a PercePiano segment name"):
        parse_name("Beethoven_var27.mid")


def test_raw_key_applies_the_upstream_renames() -> None:
    assert raw_key("Beethoven_WoO80_var27_8bars_3_15.wav") == "Beethoven_WoO80_var27_8bars_3_15"
    assert (
        raw_key("Beethoven_WoO80_var8_8bars_score_6.wav") == "Beethoven_WoO80_var8_8bars_Score2_6"
    )
    assert (
        raw_key("Beethoven_WoO80_thema_8bars_Score_1.wav") == "Beethoven_WoO80_thema_8bars_Score_1"
    )
    assert raw_key("Schubert_D935_no.3_4bars_Score_1.wav") == "Schubert_D935_no.3_4bars_Score2_1"
    assert raw_key("Schubert_D935_no.3_8bars_Score_1.wav") == "Schubert_D935_no.3_8bars_Score_1"
    # the segment token is kept as written, never rebuilt from its number
    assert raw_key("Beethoven_WoO80_var32_8bars_score_05.wav") == (
        "Beethoven_WoO80_var32_8bars_Score2_05"
    )


def _fake_percepiano(root: Path, files: dict[str, list[str]]) -> Path:
    """Empty files under ``root/percepiano/<folder>/`` (names only matter to the lookup)."""
    for folder, names in files.items():
        (root / "percepiano" / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            (root / "percepiano" / folder / name).write_bytes(b"")
    return root


def test_score_lookup_keeps_the_segment_token_and_picks_the_source(tmp_path: Path) -> None:
    root = _fake_percepiano(
        tmp_path,
        {
            "midi": [
                "Schubert_D960_mv3_16bars_4_03.mid",
                "Schubert_D960_mv3_16bars_Score_03.mid",
                "Schubert_D960_mv3_16bars_Score2_03.mid",  # a variant, not the score
                "Beethoven_WoO80_var27_8bars_3_15.mid",
                "Beethoven_WoO80_var27_8bars_Score_15.mid",
            ],
            "score_midi": [
                "Schubert_D960_mv3_16bars_Score_03.mid",
                "beethoven_woo80_score2.mid",  # the whole piece: no excerpt
            ],
            "score_xml": [
                "Schubert_D960_mv3_16bars_Score_03.xml",
                "Schubert_D960_mv3_16bars_Score_03.musicxml",
                "Beethoven_WoO80_var27_8bars_Score_15.musicxml",
            ],
        },
    )
    pp = root / "percepiano"
    assert percepiano_score_paths(root) == {
        "Beethoven_WoO80_var27_8bars_15": pp / "midi" / "Beethoven_WoO80_var27_8bars_Score_15.mid",
        "Schubert_D960_mv3_16bars_3": pp / "midi" / "Schubert_D960_mv3_16bars_Score_03.mid",
    }
    assert percepiano_score_paths(root, source="score_midi") == {
        "Schubert_D960_mv3_16bars_3": pp / "score_midi" / "Schubert_D960_mv3_16bars_Score_03.mid"
    }
    xml = percepiano_score_paths(root, source="score_xml")
    assert xml["Schubert_D960_mv3_16bars_3"].name == "Schubert_D960_mv3_16bars_Score_03.musicxml"
    assert percepiano_score_path("Schubert_D960_mv3_16bars_4_03", root) == (
        pp / "midi" / "Schubert_D960_mv3_16bars_Score_03.mid"
    )
    assert (
        percepiano_score_path("Beethoven_WoO80_var27_8bars_3_15", root, source="score_midi") is None
    )
    with pytest.raises(ParameterError, match="unknown PercePiano score source 'wav'"):
        percepiano_score_paths(root, source="wav")
    with pytest.raises(ParameterError, match="unknown PercePiano score source"):
        percepiano_score_path("Beethoven_WoO80_var27_8bars_3_15", root, source="xml")
    with pytest.raises(ParameterError, match="not a PercePiano segment name"):
        percepiano_score_path("var27", root)


def test_score_lookup_refuses_two_scores_for_one_excerpt(tmp_path: Path) -> None:
    root = _fake_percepiano(
        tmp_path,
        {"midi": ["Schubert_D960_mv3_16bars_Score_3.mid", "Schubert_D960_mv3_16bars_Score_03.mid"]},
    )
    with pytest.raises(SchemaError, match="both the score of excerpt 'Schubert_D960_mv3_16bars_3'"):
        percepiano_score_paths(root)


def test_missing_data_root_names_all_three_places(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIANOEVAL_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataRootError) as err:
        build_percepiano_manifest(None, tmp_path / "m.jsonl", progress=False)
    msg = str(err.value)
    assert "--data-root" in msg
    assert "PIANOEVAL_DATA" in msg
    assert "../shared/data" in msg
    assert "docs/data.md" in msg
    assert "github.com/JonghoKimSNU/PercePiano" in msg


@pytest.mark.data
def test_raw_ratings_rebuild_all_released_means(raw_ratings: pd.DataFrame, data_root: Path) -> None:
    released, _ = load_released_labels(data_root)
    rebuilt = released_means_from_raw(raw_ratings)
    assert len(released) == 1189
    assert set(rebuilt) == set(released)
    worst = max(float(np.max(np.abs(rebuilt[k] - released[k]))) for k in released)
    assert worst < 1e-12


@pytest.mark.data
def test_raw_ratings_table(raw_ratings: pd.DataFrame) -> None:
    assert list(raw_ratings.columns) == ["row", "rater", "segment", "dimension", "answer"]
    assert raw_ratings["rater"].nunique() == 63
    assert raw_ratings["answer"].between(1, 7).all()
    assert raw_ratings["dimension"].nunique() == 19


@pytest.mark.data
def test_manifest_rows(percepiano_manifest: Path, data_root: Path) -> None:
    segs = {s.segment_id: s for s in read_manifest(percepiano_manifest)}
    released, _ = load_released_labels(data_root)
    assert set(segs) == set(released)
    seg = segs["Beethoven_WoO80_var27_8bars_3_15"]
    assert seg.taxonomy == "percepiano19"
    assert seg.labels["timing"] == pytest.approx(released[seg.segment_id][0], abs=0)
    assert seg.labelled_dims() == seg.dims
    assert len(seg.dims) == 19
    assert seg.license == "MIT"
    assert seg.groups == {
        "excerpt": "Beethoven_WoO80_var27_8bars_15",
        "performer": "Beethoven_WoO80/3",
        "work": "Beethoven_WoO80",
    }
    prov = seg.provenance.model_dump()
    assert prov["is_score_rendition"] is False
    assert prov["excerpt"] == "Beethoven_WoO80_var27_8bars_15"
    assert seg.midi_uri is not None
    # 99 Score files less the 13 without labels, plus 30 Score2 files
    assert sum(s.provenance.model_dump()["is_score_rendition"] for s in segs.values()) == 116
    # n_raters counts distinct raters, not CSV rows
    csv_path = data_root / "percepiano" / "labels" / "total_2rounds.csv"
    with csv_path.open() as fh:
        users = {r["user"] for r in csv.DictReader(fh) if raw_key(r["filename"]) == seg.segment_id}
    assert 5 <= seg.n_raters <= len(users)
    # 5-17 raters per segment before upstream dropped invalid rows, 4-17 after
    n_raters = [s.n_raters or 0 for s in segs.values()]
    assert (min(n_raters), max(n_raters)) == (4, 17)
    assert 9.0 < float(np.mean(n_raters)) < 10.0
    assert all(s.label_std and len(s.label_std) == 19 for s in segs.values())


@pytest.mark.data
def test_every_labelled_row_gets_its_excerpts_score(percepiano_manifest: Path) -> None:
    from pianoeval.manifest import uri_to_path

    segs = read_manifest(percepiano_manifest)
    assert len(segs) == 1189
    # 340 of them have a segment token with a leading zero (``_03``)
    assert sum(parse_name(s.segment_id).segment_token.startswith("0") for s in segs) >= 340
    for seg in segs:
        assert seg.score_uri is not None, seg.segment_id
        score = uri_to_path(seg.score_uri, percepiano_manifest.parent)
        assert score.is_file()
        assert score.parent.name == "midi"  # the canonical source: the Score rendition
        name, perf = parse_name(score.name), parse_name(seg.segment_id)
        assert name.player == "Score"
        assert (name.excerpt, name.segment_token) == (perf.excerpt, perf.segment_token)


@pytest.mark.data
def test_score_sources_cover_every_labelled_excerpt(data_root: Path) -> None:
    import hashlib

    released, _ = load_released_labels(data_root)
    excerpts = {parse_name(k).excerpt for k in released}
    assert len(excerpts) == 99
    by_source = {s: percepiano_score_paths(data_root, source=s) for s in
                 ("midi", "score_midi", "score_xml")}  # fmt: skip
    for source, paths in by_source.items():
        assert excerpts <= set(paths), source
    # the canonical source is what the rater's committed figures used: the midi/ rendition;
    # the score MIDI differs from it (tempo events, resolution) for 3 excerpts
    digest = {
        s: {e: hashlib.sha256(by_source[s][e].read_bytes()).hexdigest() for e in excerpts}
        for s in ("midi", "score_midi")
    }
    differ = sorted(e for e in excerpts if digest["midi"][e] != digest["score_midi"][e])
    assert differ == [
        "Schubert_D935_no.3_4bars_25",
        "Schubert_D935_no.3_4bars_42",
        "Schubert_D935_no.3_4bars_50",
    ]


@pytest.mark.data
@pytest.mark.filterwarnings("ignore:Tempo, Key or Time signature:RuntimeWarning")
def test_manifest_t1_is_the_end_of_the_last_sounding_note(percepiano_manifest: Path) -> None:
    import pretty_midi

    from pianoeval.manifest import uri_to_path

    segs = read_manifest(percepiano_manifest)[:20]
    for seg in segs:
        assert seg.midi_uri is not None
        pm = pretty_midi.PrettyMIDI(str(uri_to_path(seg.midi_uri, percepiano_manifest.parent)))
        last_release = max(n.end for i in pm.instruments for n in i.notes)
        assert seg.t0 == 0.0
        assert last_release - 1e-6 <= seg.t1 <= pm.get_end_time() + 1e-6


@pytest.mark.data
def test_report_names_the_unlabelled_score_renditions(data_root: Path, tmp_path: Path) -> None:
    report = build_percepiano_manifest(data_root, tmp_path / "m.jsonl", progress=False)
    assert report.n_sources == 1202
    assert len(report.skipped) == 13
    assert all("_Score_" in name for name, _ in report.skipped)
    assert all("moved its ratings to" in why for _, why in report.skipped)
    assert json.loads(json.dumps(report.to_dict()))["n_rows"] == 1189
