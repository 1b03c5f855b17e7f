"""Recordings go to the audio rater: one transkun pass, pooled vectors, the bundle's scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pianoeval.cli import app
from pianoeval.examples import example_audio_path, example_midi_path
from pianoeval.model.audio import AudioRater
from pianoeval.rater import evaluate
from pianoeval.rater.audio import audio_inputs
from pianoeval.rater.evaluate import AUDIO_CAUTION
from pianoeval.symbolic.rater_inputs import performance_only_columns, rater_features


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example recording's first 8 s (short: transkun runs several times here)."""
    import soundfile as sf

    from pianoeval.audio import load_audio

    y, sr = load_audio(example_audio_path(), sr=None, t1=8.0, silence_dbfs=None)
    out = tmp_path_factory.mktemp("clip") / "clip.flac"
    sf.write(out, y, sr)
    return out


@pytest.fixture(scope="module")
def bundle(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small audio rater trained on jittered copies of the clip's inputs."""
    transcription, vectors = audio_inputs(clip)
    feats = rater_features(transcription.performance)
    base = pd.Series({**feats, **vectors})
    rng = np.random.default_rng(0)
    rows = [base * (1 + 0.05 * rng.standard_normal(len(base))) for _ in range(40)]
    x = pd.DataFrame(rows).reset_index(drop=True)
    x["score.available"] = 1.0
    y = np.clip(0.55 + 0.5 * (x["emb.transkun.000"] - base["emb.transkun.000"]), 0.2, 0.9)
    y_all = np.column_stack([y] * 19)
    x0 = x[[*performance_only_columns(x.columns), *(c for c in x.columns if c.startswith("emb."))]]
    rater = AudioRater(projections={"transkun": 3, "mel_stats": 2}, n_rounds=10,
                       extra_trees_rounds=10)  # fmt: skip
    rater.fit(x, y_all, x_no_score=x0)
    rater.metadata = {"model_id": "test-audio", "caution": "measured on nothing: a test rater"}
    return rater.save(tmp_path_factory.mktemp("bundle") / "audio")


def test_audio_input_uses_the_audio_rater(bundle: Path, clip: Path) -> None:
    audio = AudioRater.load(bundle)
    r = evaluate(clip, audio_rater=audio)
    assert r.model_id == "test-audio"
    assert r.caution == "measured on nothing: a test rater"
    assert r.input.kind == "audio"
    assert len(r.scores) == 19
    assert all(0.2 - 1e-9 <= s.value <= 0.9 + 1e-9 for s in r.scores)
    assert not any(k.startswith("emb.") for k in r.features)  # vectors are inputs, not features
    # the MIDI path for comparison, and MIDI inputs never touch the audio rater
    old = evaluate(clip, audio_rater=audio, use_audio_rater=False)
    assert old.model_id != "test-audio"
    assert old.caution == AUDIO_CAUTION
    midi = evaluate(example_midi_path(), audio_rater=audio)
    assert midi.model_id != "test-audio"
    assert midi.caution is None
    # another backend cannot feed the audio rater: transcribed and rated as MIDI
    assert evaluate(clip, audio_rater=audio, backend="basic_pitch").model_id != ("test-audio")


def test_analyze_audio_rater_option(bundle: Path, clip: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["analyze", str(clip), "--audio-rater", str(bundle)])
    assert res.exit_code == 0, res.output
    assert "test-audio" in res.output
    assert "measured on nothing" in res.output
    res = runner.invoke(app, ["analyze", str(clip), "--audio-rater", str(tmp_path)])
    assert res.exit_code == 2
    assert "not an audio rater bundle" in " ".join(res.output.replace("│", " ").split())


def test_load_rater_reads_audio_bundles(bundle: Path) -> None:
    from pianoeval.rater import load_rater

    assert isinstance(load_rater(bundle), AudioRater)


def test_build_audio_refuses_bad_options(tmp_path: Path) -> None:
    from pianoeval.rater.audio import AUDIO_DIR

    runner = CliRunner()
    res = runner.invoke(
        app, ["rater", "build-audio", "--condition", "nope", "--out", str(tmp_path)]
    )
    assert res.exit_code == 2
    assert "unknown audio corpus condition" in " ".join(res.output.replace("│", " ").split())
    res = runner.invoke(
        app, ["rater", "build-audio", "--holdout", "performer", "--out", str(AUDIO_DIR)]
    )
    assert res.exit_code == 2
    res = runner.invoke(app, ["rater", "build-audio", "--holdout", "nope"])
    assert res.exit_code == 2


def test_audio_rater_reads_the_transcription_as_it_was_trained(bundle: Path, clip: Path) -> None:
    from pianoeval.symbolic.midi import normalise_velocities

    raw = AudioRater.load(bundle)
    z = AudioRater.load(bundle)
    z.velocity = "z"  # same models, standardised velocities in
    transcription, vectors = audio_inputs(clip)
    perf = transcription.performance
    r = evaluate(clip, audio_rater=z)
    want = z.predict({**rater_features(normalise_velocities(perf)), **vectors})
    np.testing.assert_allclose([s.value for s in r.scores], np.round(want, 4))
    # the rating reports the transcription as found, not as the rater read it
    assert r.features["dynamics.vel_mean"] == pytest.approx(
        rater_features(perf)["dynamics.vel_mean"], abs=1e-5
    )
    assert abs(r.features["dynamics.vel_mean"] - 64) > 1
    r_raw = evaluate(clip, audio_rater=raw)
    assert [s.value for s in r_raw.scores] != [s.value for s in r.scores]
