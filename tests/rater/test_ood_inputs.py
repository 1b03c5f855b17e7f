"""Odd inputs, made here, against the shipped raters' OOD models (issue 18).

A harpsichord, speech-like sound, a duet, very sparse playing and a 3-second clip are each
either flagged (score above 1, widened intervals, the warning) or, where they truly hold
too little music, refused with NotRatableError; the example performance is not flagged.

The shipped bundles' ``ood.json`` (``benchmarks/ood.py --store``) is what is tested: no
data root is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pianoeval.errors import NotRatableError
from pianoeval.examples import example_audio_path, example_midi_path, example_score_path
from pianoeval.model.audio import AudioRater
from pianoeval.model.symbolic import SymbolicRater
from pianoeval.rater import DEFAULT_DIR, Rating, evaluate
from pianoeval.rater.audio import AUDIO_DIR

SR = 22050
#: Seconds of each made-up clip (transkun runs once per clip: keep them short).
CLIP_SEC = 9.0


@pytest.fixture(scope="module")
def midi_rater() -> SymbolicRater:
    rater = SymbolicRater.load(DEFAULT_DIR)
    assert rater.ood is not None, "the shipped MIDI rater carries its OOD model (ood.json)"
    return rater


@pytest.fixture(scope="module")
def audio_raters() -> tuple[AudioRater, AudioRater]:
    """The shipped audio rater with its OOD models, and a copy without them."""
    audio = AudioRater.load(AUDIO_DIR)
    assert audio.rater is not None
    assert audio.rater.ood is not None, "the shipped audio rater carries its OOD model"
    assert audio.acoustic is not None, "the shipped audio rater carries its acoustic check"
    plain = AudioRater.load(AUDIO_DIR)
    assert plain.rater is not None
    assert plain.rater.no_score is not None
    plain.rater.ood = plain.rater.no_score.ood = None
    plain.acoustic = None
    return audio, plain


def _pm_crop(t0: float, t1: float, *, program: int = 0, semitones: int = 0, stretch: float = 1.0):  # type: ignore[no-untyped-def]
    import pretty_midi

    src = pretty_midi.PrettyMIDI(str(example_midi_path()))
    out = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=program)
    for ins in src.instruments:
        for n in ins.notes:
            if t0 <= n.start < t1:
                inst.notes.append(
                    pretty_midi.Note(
                        velocity=n.velocity, pitch=min(108, n.pitch + semitones),
                        start=(n.start - t0) * stretch, end=(min(n.end, t1) - t0) * stretch,
                    )
                )  # fmt: skip
    out.instruments.append(inst)
    return out


def _synth(pm) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Render with FluidSynth on the instrument's General MIDI program (FluidR3_GM)."""
    pytest.importorskip("fluidsynth")
    from pianoeval.render import get_soundfont

    return np.asarray(pm.fluidsynth(fs=SR, synthesizer=str(get_soundfont("fluidr3_gm").path)))


def _norm(y: np.ndarray) -> np.ndarray:
    return (0.5 * y / max(1e-9, float(np.abs(y).max()))).astype(np.float32)


def speech_like(sec: float, *, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Voiced speech-like sound: glottal pulses of gliding pitch through vowel formants.

    Syllables of 0.12-0.3 s (pitch 100-180 Hz, gliding up to +-30 %), each through the
    first three formants of a vowel, with pauses; no notes of fixed pitch.
    """
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(sec * sr)
    y = np.zeros(n)
    vowels = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480)]
    t = 0
    while t < n:
        if rng.random() < 0.2:
            t += int(rng.uniform(0.2, 0.6) * sr)  # a pause
            continue
        m = int(rng.uniform(0.12, 0.3) * sr)
        f0 = rng.uniform(100, 180) * np.exp(np.linspace(0, rng.uniform(-0.3, 0.3), m))
        pulses = np.diff(np.floor(np.cumsum(f0 / sr)), prepend=0.0)
        seg = lfilter([1.0], [1.0, -0.95], pulses)
        for f in vowels[rng.integers(len(vowels))]:
            r = np.exp(-np.pi * 80 / sr)
            seg = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / sr), r * r], seg)
        k = min(m, n - t)
        y[t : t + k] += (seg * np.hanning(m))[:k]
        t += m
    return _norm(y + 0.002 * rng.standard_normal(n))


def _sparse_pm(sec: float = 20.0):  # type: ignore[no-untyped-def]
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    for s, p in zip(
        np.linspace(0.5, sec - 1.5, 9), [60, 67, 64, 72, 55, 65, 69, 62, 71], strict=True
    ):
        inst.notes.append(
            pretty_midi.Note(velocity=70, pitch=p, start=float(s), end=float(s) + 0.4)
        )
    pm.instruments.append(inst)
    return pm


@pytest.fixture(scope="module")
def odd_audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The five odd recordings and a normal one (the example recording's start)."""
    import soundfile as sf

    from pianoeval.audio import load_audio

    out = tmp_path_factory.mktemp("odd")
    clips: dict[str, np.ndarray] = {
        "harpsichord": _norm(_synth(_pm_crop(0, CLIP_SEC, program=6))),  # GM 7: harpsichord
        "speech": speech_like(CLIP_SEC),
        "sparse": _norm(_synth(_sparse_pm())),
    }
    # two different performances at once: the passage's start, and its continuation
    # transposed a fifth up and played faster
    a = _synth(_pm_crop(0, CLIP_SEC))
    b = _synth(_pm_crop(14, 14 + CLIP_SEC / 0.77, semitones=7, stretch=0.77))
    n = min(len(a), len(b))
    clips["duet"] = _norm(a[:n] + b[:n])
    for name, y in clips.items():
        sf.write(out / f"{name}.flac", y, SR)
    for name, sec in (("clip3", 3.0), ("normal", CLIP_SEC)):
        y, sr = load_audio(example_audio_path(), sr=None, t1=sec, silence_dbfs=None)
        sf.write(out / f"{name}.flac", y, sr)
    return {p.stem: p for p in out.glob("*.flac")}


@pytest.fixture(scope="module")
def audio_ratings(
    odd_audio: dict[str, Path], audio_raters: tuple[AudioRater, AudioRater]
) -> dict[str, tuple[Rating, Rating] | NotRatableError]:
    """Each input rated with and without the OOD models (one transcription, cached)."""
    audio, plain = audio_raters
    out: dict[str, tuple[Rating, Rating] | NotRatableError] = {}
    for name, path in odd_audio.items():
        try:
            out[name] = (evaluate(path, audio_rater=audio), evaluate(path, audio_rater=plain))
        except NotRatableError as e:
            out[name] = e
    return out


def _check_flagged(r: Rating, plain: Rating) -> None:
    from pianoeval.calibration import ood_widen_factor

    assert r.ood_flagged, r.ood_score
    assert r.ood_score is not None
    assert r.ood_score > 1
    assert any("unlike anything the rater learned from" in w for w in r.warnings)
    f = float(ood_widen_factor(r.ood_score))
    assert f >= 1.5
    for s, p in zip(r.scores, plain.scores, strict=True):
        assert s.value == p.value
        assert s.sigma == pytest.approx(f * (p.sigma or 0.0), abs=2e-4)
        if s.calibrated:
            assert s.interval_low is not None
            assert s.interval_high is not None
            assert p.interval_low is not None
            assert p.interval_high is not None
            assert s.interval_high - s.interval_low >= p.interval_high - p.interval_low - 1e-4


def test_normal_recording_is_not_flagged(
    audio_ratings: dict[str, tuple[Rating, Rating] | NotRatableError],
) -> None:
    res = audio_ratings["normal"]
    assert not isinstance(res, NotRatableError)
    r, plain = res
    assert r.ood_score is not None
    assert r.ood_flagged is False
    assert r.ood_score < 1
    assert not any("unlike anything" in w for w in r.warnings)
    assert [s.interval_low for s in r.scores] == [s.interval_low for s in plain.scores]
    assert plain.ood_score is None


@pytest.mark.parametrize(
    "name",
    [
        "sparse",
        "clip3",
        "speech",
        "harpsichord",
        pytest.param(
            "duet",
            marks=pytest.mark.xfail(
                strict=True,
                reason="not flagged: two piano parts at once look like one dense piano "
                "performance to the features and the pooled context (score 0.7-0.8), and the "
                "acoustic check's duet head catches only about a third of duets (this one "
                "scores 0.78; docs/calibration.md, 'The acoustic check')",
            ),
        ),
    ],
)
def test_odd_recording_is_flagged_or_refused(
    audio_ratings: dict[str, tuple[Rating, Rating] | NotRatableError], name: str
) -> None:
    res = audio_ratings[name]
    if isinstance(res, NotRatableError):
        assert "too little music" in str(res)
        return
    _check_flagged(*res)
    if name == "harpsichord":  # caught by the acoustic check, which says why
        assert any("an instrument other than a piano" in w for w in res[0].warnings)


def test_midi_rater_flags_sparse_midi(midi_rater: SymbolicRater, tmp_path: Path) -> None:
    for score in (None, example_score_path()):
        r = evaluate(example_midi_path(), score=score, rater=midi_rater)
        assert r.ood_flagged is False, r.ood_score
    _sparse_pm().write(str(tmp_path / "sparse.mid"))
    r = evaluate(tmp_path / "sparse.mid", rater=midi_rater)
    assert r.ood_flagged, r.ood_score
    assert any("unlike anything the rater learned from" in w for w in r.warnings)


def test_too_little_music_is_refused_before_any_ood_scoring(
    midi_rater: SymbolicRater, tmp_path: Path
) -> None:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [pretty_midi.Note(velocity=60, pitch=60, start=0.5, end=1.0)]
    pm.instruments.append(inst)
    pm.write(str(tmp_path / "one.mid"))
    with pytest.raises(NotRatableError, match="too little music"):
        evaluate(tmp_path / "one.mid", rater=midi_rater)
