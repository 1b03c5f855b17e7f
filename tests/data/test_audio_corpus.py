"""The audio corpus: build, record store, pack/load, and the committed packs recomputed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pianoeval.data.audio_corpus import (
    CONDITIONS,
    CORPUS_DIR,
    Condition,
    Record,
    build_condition,
    build_segment,
    condition_ids,
    get_condition,
    load_condition,
    load_record,
    pack_condition,
    read_records,
    save_record,
)
from pianoeval.errors import ParameterError, SchemaError
from pianoeval.examples import example_midi_path
from pianoeval.symbolic.midi import load_midi


@pytest.fixture(scope="module")
def example_record(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Record]:
    mp = pytest.MonkeyPatch()
    mp.setenv("PIANOEVAL_CACHE", str(tmp_path_factory.mktemp("cache")))
    try:
        yield build_segment(example_midi_path(), get_condition("fluidr3_gm"), segment_id="ex")
    finally:
        mp.undo()


def test_conditions_registry() -> None:
    assert {"fluidr3_gm", "musescore_general", "timgm6mb"} <= set(CONDITIONS)
    assert get_condition("fluidr3_gm").make_augment() is None
    with pytest.raises(ParameterError, match="unknown audio corpus condition 'nope'"):
        get_condition("nope")


def test_build_segment_gives_transcription_and_vectors(example_record: Record) -> None:
    rec: Record = example_record
    assert rec.segment_id == "ex"
    assert rec.transkun.shape == (512,)
    assert np.isfinite(rec.transkun).all()
    assert rec.mel_stats.shape == (256,)
    assert np.isfinite(rec.mel_stats).all()
    perf = load_midi(rec.midi_path)
    truth = load_midi(example_midi_path())
    # transkun on a clean render finds about the notes that were played
    assert abs(perf.n_notes - truth.n_notes) <= 0.1 * truth.n_notes


def test_record_store_and_pack_roundtrip(example_record: Record, tmp_path: Path) -> None:
    rec: Record = example_record
    save_record(rec, tmp_path / "store" / "ex.npz")
    back = load_record(tmp_path / "store" / "ex.npz")
    assert np.array_equal(back.transkun, rec.transkun)
    assert Path(back.midi_path).read_bytes() == Path(rec.midi_path).read_bytes()
    out = pack_condition(read_records(tmp_path / "store"), "fluidr3_gm", tmp_path / "c.npz")
    corpus = load_condition(out)
    assert corpus.ids == ["ex"]
    assert corpus.name == "fluidr3_gm"
    assert corpus.midi["ex"] == Path(rec.midi_path).read_bytes()
    np.testing.assert_allclose(corpus.transkun[0], rec.transkun, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(corpus.mel_stats[0], rec.mel_stats, rtol=2e-3, atol=0.05)
    assert corpus.meta["condition"]["soundfont"] == "fluidr3_gm"
    paths = corpus.write_midi(tmp_path / "midi")
    assert load_midi(paths["ex"]).n_notes == load_midi(rec.midi_path).n_notes


def test_load_condition_errors(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="no packed audio corpus condition"):
        load_condition(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(SchemaError, match="not a packed audio corpus condition"):
        load_condition(bad)


def test_build_condition_resumes_from_store(
    data_root: Path, example_record: Record, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    monkeypatch.setenv("PIANOEVAL_CACHE", str(tmp_path / "cache"))
    ids = condition_ids(data_root)
    assert len(ids) == 1189
    assert ids[0].split("_")[-2] in {"2", "3", "1"}  # performer test segments come first
    cond = Condition("broken", "no-such-soundfont")  # rendering anything would fail
    with pytest.raises(Exception, match="no-such-soundfont"):
        build_condition(data_root, cond, ids=ids[:1])
    store = tmp_path / "store"
    save_record(replace(example_record, segment_id=ids[0]), store / f"{ids[0]}.npz")
    (rec,) = build_condition(data_root, cond, ids=ids[:1], store=store)
    assert rec.segment_id == ids[0]
    np.testing.assert_array_equal(rec.transkun, example_record.transkun)
    with pytest.raises(ParameterError, match="shard"):
        build_condition(data_root, cond, ids=ids[:1], shard=(2, 2))


def test_committed_packs_recompute(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two segments of each committed clean pack, rebuilt from scratch, match what was committed."""
    monkeypatch.setenv("PIANOEVAL_CACHE", str(tmp_path / "cache"))
    packs = sorted(p for p in CORPUS_DIR.glob("*.npz") if "+" not in p.stem)
    assert packs, f"no committed audio corpus packs in {CORPUS_DIR}"
    for pack in packs[:1]:
        corpus = load_condition(pack)
        assert len(corpus.ids) == len(set(corpus.ids)) >= 193
        picks = [corpus.ids[0], corpus.ids[len(corpus.ids) // 2]]
        recs = build_condition(data_root, corpus.name, ids=picks)
        for sid, rec in zip(picks, recs, strict=True):
            k = corpus.ids.index(sid)
            np.testing.assert_allclose(rec.transkun, corpus.transkun[k], rtol=1e-2, atol=1e-2)
            np.testing.assert_allclose(rec.mel_stats, corpus.mel_stats[k], rtol=1e-2, atol=0.1)
            new = load_midi(rec.midi_path)
            old_path = tmp_path / f"{sid}.mid"
            old_path.write_bytes(corpus.midi[sid])
            old = load_midi(old_path)
            assert abs(new.n_notes - old.n_notes) <= max(2, 0.02 * old.n_notes)
            assert abs(rec.audio_sec - corpus.audio_sec[k]) < 1e-3
