"""The rating pipeline every front end calls: input in, a :class:`~.result.Rating` out.

:func:`evaluate` takes one performance (a MIDI file, an audio file, or a loaded
:class:`~pianoeval.symbolic.midi.PerformanceMidi`) and optionally its score, and

1. reads it (audio is transcribed first, by default with transkun);
2. refuses to rate what holds too little music (fewer than
   :data:`~pianoeval.constants.MIN_NOTES_TO_RATE` notes, or under
   :data:`~pianoeval.constants.MIN_MUSIC_SEC` from the first onset to the last release):
   silence, noise or a click never becomes a made-up rating;
3. aligns it to the score and keeps the score only when it matches
   (:data:`~pianoeval.constants.MIN_SCORE_MATCH_FRAC`), so a wrong score never shapes the
   rating;
4. computes the rater's inputs and scores them, and says in ``warnings`` what the user
   should know (a passage shorter or longer than the raters learned from, an unused score);
5. gives every score its spread and, when the rater's bundle holds a calibration
   (``calibration.json``, written by ``pianoeval calibrate``), the calibrated score and
   an 80 % conformal interval (:meth:`~pianoeval.model.symbolic.SymbolicRater.predict_calibrated`);
6. when the rater's bundle holds an OOD model (``ood.json``), scores how unlike the
   rater's training inputs the input is (``Rating.ood_score``, flagged above 1): a flagged
   input gets intervals and spread widened and a warning (:data:`OOD_WARNING`). Inputs
   with too little music never get that far (step 2).

:func:`evaluate_many` does the same for a batch: it rates what can be rated and reports
each input that cannot, so one bad file never loses the others' results.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pianoeval._typing import PathLike
from pianoeval._version import __version__
from pianoeval.constants import (
    MIDI_SUFFIXES,
    MIN_MUSIC_SEC,
    MIN_NOTES_TO_RATE,
    MIN_SCORE_MATCH_FRAC,
    TRAINED_DURATION_SEC,
)
from pianoeval.errors import (
    FileProblemError,
    NotRatableError,
    PianoEvalError,
    PianoEvalWarning,
)
from pianoeval.rater.result import (
    AnalysisReport,
    DimensionScore,
    FailedInput,
    InputInfo,
    Rating,
    ScoreUse,
    SummaryItem,
    TranscriptionInfo,
)

if TYPE_CHECKING:
    from pianoeval.model.audio import AudioRater
    from pianoeval.model.symbolic import CalibratedPrediction, SymbolicRater
    from pianoeval.symbolic.midi import PerformanceMidi

__all__ = [
    "AUDIO_CAUTION",
    "AUDIO_RATER_CAUTION",
    "OOD_WARNING",
    "SUMMARY",
    "check_ratable",
    "evaluate",
    "evaluate_many",
    "music_span_sec",
]

#: Said with every rating of transcribed audio (measured: docs/benchmarks.md, "First rater").
AUDIO_CAUTION = (
    "scores of transcribed audio are not reliable yet: the rater learned from recorded MIDI, "
    "and transcribed velocities and pedal differ from it (on rendered test audio its mean "
    "R2 fell from 0.52 with the true MIDI to below 0 with transkun's transcriptions; see "
    "docs/benchmarks.md#first-rater). The timing and pace features are reliable."
)

#: Said with ratings by the audio rater until its targets hold on held-out pianos (a
#: bundle's ``caution`` metadata replaces it with the figures it was measured at).
AUDIO_RATER_CAUTION = (
    "scores of recordings come from the audio rater, trained on rendered pianos: check "
    "docs/benchmarks.md#audio-rater for how well it agrees with listeners on a piano it "
    "never heard, and treat a single score as approximate."
)

#: Said when the input is out of distribution (``{score}``, ``{threshold}``, ``{factor}``).
OOD_WARNING = (
    "this input is unlike anything the rater learned from (OOD score {score:.2f}, threshold "
    "{threshold:.2f}): scores are unreliable and intervals widened (x{factor:.2f}); see "
    "docs/calibration.md#out-of-distribution"
)

#: What the audio rater's acoustic check says when one of its heads flags a recording.
OOD_REASONS = {
    "instrument": "it sounds like an instrument other than a piano",
    "duet": "it sounds like more than one performance at once",
}

#: The features the summary shows: (column, label, format, needs a score). A column that
#: needs a score is shown as "no score" without one, never as a measured 0; the tempo
#: falls back to the estimate from the performance alone.
SUMMARY: tuple[tuple[str, str, str, bool], ...] = (
    ("pace.perf_tempo_bpm", "tempo (bpm, against the score)", "{:.0f}", True),
    ("pace.tempo_bpm_est", "tempo (bpm, estimated without a score)", "{:.0f}", False),
    ("timing.tempo_std", "tempo variability (against the score)", "{:.3f}", True),
    ("timing.tempo_var", "tempo variability (inter-onset intervals)", "{:.3f}", False),
    ("timing.async_mean_ms", "chord asynchrony (ms)", "{:.1f}", False),
    ("articulation.legato_frac", "legato fraction", "{:.2f}", False),
    ("articulation.staccato_frac", "staccato fraction", "{:.2f}", False),
    ("dynamics.vel_mean", "mean velocity", "{:.0f}", False),
    ("dynamics.vel_range", "velocity range", "{:.0f}", False),
    ("voicing.top_minus_rest_vel", "melody over accompaniment (velocity)", "{:+.1f}", False),
    ("pedal.on_frac", "sustain pedal down (fraction)", "{:.2f}", False),
    ("pedal.presses_per_bar", "pedal changes per bar", "{:.2f}", False),
    ("score.match_frac_score", "score notes matched", "{:.2f}", True),
)


def music_span_sec(perf: PerformanceMidi) -> float:
    """Seconds from the first onset to the last key release (0 without notes).

    Examples
    --------
    >>> from pianoeval.examples import example_midi_path
    >>> from pianoeval.symbolic.midi import load_midi
    >>> round(music_span_sec(load_midi(example_midi_path())), 1)
    30.6
    """
    if perf.n_notes == 0:
        return 0.0
    return float(perf.notes["offset_sec"].max() - perf.notes["onset_sec"].min())


def check_ratable(perf: PerformanceMidi, *, path: str, what: str = "") -> None:
    """Raise :class:`~pianoeval.errors.NotRatableError` if ``perf`` holds too little music.

    Parameters
    ----------
    perf : PerformanceMidi
    path : str
        The input file, for the message.
    what : str
        How the notes were found (e.g. "transcription found "), for the message.
    """
    span = music_span_sec(perf)
    if perf.n_notes < MIN_NOTES_TO_RATE or span < MIN_MUSIC_SEC:
        found = f"{perf.n_notes} note{'s' if perf.n_notes != 1 else ''}"
        if perf.n_notes:
            found += f" over {span:.2f} s"
        raise NotRatableError(
            path,
            f"too little music to rate: {what}{found}; a rating needs at least "
            f"{MIN_NOTES_TO_RATE} notes and {MIN_MUSIC_SEC:g} s from the first onset to the "
            "last release",
        )


def _duration_warnings(span: float) -> list[str]:
    lo, hi = TRAINED_DURATION_SEC
    if span < lo:
        return [
            f"the passage is {span:.1f} s long, shorter than the {lo:g}-{hi:g} s passages the "
            "rater learned from: the scores are less certain"
        ]
    if span > hi:
        return [
            f"the passage is {span:.1f} s long; the rater learned from {lo:g}-{hi:g} s "
            "passages and rates this one as a whole"
        ]
    return []


def _summary(features: Mapping[str, float], *, score_used: bool) -> list[SummaryItem]:
    items = []
    for key, label, fmt, needs_score in SUMMARY:
        if key not in features:
            continue
        if needs_score and not score_used:
            items.append(SummaryItem(key=key, label=label, value=None, text="no score"))
        else:
            value = float(features[key])
            items.append(SummaryItem(key=key, label=label, value=value, text=fmt.format(value)))
    return items


def _load_input(
    source: PerformanceMidi | PathLike,
    *,
    backend: str,
    vectors: tuple[str, ...] | None = None,
) -> tuple[PerformanceMidi, InputInfo, list[str], dict[str, float] | None]:
    """Read (or transcribe) the input; also return the pianoeval warnings it gave.

    With ``vectors`` (the encoders an audio rater needs, possibly none), audio is
    transcribed by transkun through :func:`pianoeval.rater.audio.audio_inputs`, which also
    returns those pooled vectors of the same pass (the audio rater's inputs); None for MIDI.
    """
    from pianoeval.symbolic.midi import PerformanceMidi

    emb: dict[str, float] | None = None
    if isinstance(source, PerformanceMidi):
        perf, tinfo, duration, path = source, None, source.end_sec, source.path
        notes: list[str] = []
    else:
        path = os.fspath(source)
        with _collect_warnings() as notes:
            perf, tinfo, duration, emb = _read(path, backend=backend, vectors=vectors)
    what = f"transcription ({backend}) found " if tinfo is not None else "found "
    check_ratable(perf, path=path, what=what)
    info = InputInfo(
        path=path,
        kind="midi" if tinfo is None else "audio",
        duration_sec=round(float(duration), 3),
        n_notes=perf.n_notes,
        music_sec=round(music_span_sec(perf), 3),
        transcription=tinfo,
    )
    return perf, info, notes, emb


def _read(
    path: str, *, backend: str, vectors: tuple[str, ...] | None = None
) -> tuple[PerformanceMidi, TranscriptionInfo | None, float, dict[str, float] | None]:
    """MIDI by its suffix, anything else as audio (transcribed); its length in seconds."""
    from pianoeval.symbolic.midi import load_midi

    if Path(path).suffix.lower() in MIDI_SUFFIXES:
        perf = load_midi(path, require_notes=False)
        return perf, None, perf.end_sec, None
    from pianoeval.rater.audio import audio_inputs
    from pianoeval.symbolic.transcribe import transcribe

    emb: dict[str, float] | None = None
    with warnings.catch_warnings():
        # "found no notes": check_ratable says it, with what a rating needs
        warnings.filterwarnings("ignore", message=r".* found no notes in ")
        if vectors is not None and backend == "transkun":
            t, emb = audio_inputs(path, encoders=vectors)
        else:
            t = transcribe(path, backend=backend)
    info = TranscriptionInfo(
        backend=t.backend, cached=t.cached, elapsed_sec=round(t.elapsed_sec, 3)
    )
    return t.performance, info, t.audio_sec, emb


@contextmanager
def _collect_warnings() -> Iterator[list[str]]:
    """Collect the messages of :class:`PianoEvalWarning`s; let every other warning through."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PianoEvalWarning)
        yield messages
    for w in caught:
        if issubclass(w.category, PianoEvalWarning):
            if str(w.message) not in messages:
                messages.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _score_use(
    perf: PerformanceMidi, score: PerformanceMidi | PathLike
) -> tuple[dict[str, float] | None, ScoreUse]:
    """Rater features with the score, or None when the score does not match."""
    from pianoeval.symbolic.midi import PerformanceMidi, load_midi
    from pianoeval.symbolic.rater_inputs import rater_features

    sc = score if isinstance(score, PerformanceMidi) else load_midi(score, require_notes=False)
    spath = sc.path if isinstance(score, PerformanceMidi) else os.fspath(score)
    if sc.n_notes < MIN_NOTES_TO_RATE:
        return None, ScoreUse(
            path=spath,
            used=False,
            n_notes=sc.n_notes,
            reason=f"the score has {sc.n_notes} note(s): too few to align a performance to",
        )
    feats = rater_features(perf, score=sc)
    frac_s = float(feats.get("score.match_frac_score", 0.0))
    frac_p = float(feats.get("score.match_frac_perf", 0.0))
    use = ScoreUse(
        path=spath,
        used=True,
        n_notes=sc.n_notes,
        match_frac_score=round(frac_s, 4),
        match_frac_perf=round(frac_p, 4),
    )
    if feats.get("score.available", 0.0) and min(frac_s, frac_p) >= MIN_SCORE_MATCH_FRAC:
        return feats, use
    reason = (
        f"the score does not match the performance: {frac_s:.0%} of its notes and "
        f"{frac_p:.0%} of the performance's notes were matched (at least "
        f"{MIN_SCORE_MATCH_FRAC:.0%} of each are needed); is it the score of this passage?"
    )
    return None, use.model_copy(update={"used": False, "reason": reason})


def evaluate(
    source: PerformanceMidi | PathLike,
    *,
    score: PerformanceMidi | PathLike | None = None,
    rater: SymbolicRater | None = None,
    backend: str = "transkun",
    audio_rater: AudioRater | None = None,
    use_audio_rater: bool = True,
) -> Rating:
    """Rate one performance.

    Parameters
    ----------
    source : PerformanceMidi or path-like
        A performance MIDI (``.mid``/``.midi``), an audio file (transcribed first) or a
        loaded performance.
    score : PerformanceMidi, path-like or None
        The score of the passage played (MIDI). Used only when it matches the performance.
    rater : SymbolicRater, optional
        Default: :func:`pianoeval.rater.default_rater` (load it once for many calls).
    backend : str
        Transcription backend for audio inputs.
    audio_rater : AudioRater, optional
        Rates audio inputs (default: :func:`pianoeval.rater.audio.default_audio_rater`,
        when installed). It needs transkun's pooled context, so it is used only with the
        ``transkun`` backend; otherwise audio is transcribed and rated by ``rater``.
    use_audio_rater : bool
        False rates audio with the MIDI rater on its transcription (the pre-audio-rater
        path, for comparison).

    Returns
    -------
    Rating

    Raises
    ------
    NotRatableError
        Too little music to rate (nothing played, a few notes, a click).
    MidiError, AudioError
        The input or the score cannot be read (the message names the file).

    Examples
    --------
    >>> from pianoeval.examples import example_midi_path, example_score_path
    >>> r = evaluate(example_midi_path(), score=example_score_path())
    >>> len(r.scores), r.input.kind, r.score is not None and r.score.used
    (19, 'midi', True)
    """
    from pianoeval._cache import check_cache_dir
    from pianoeval.rater.bundle import default_rater

    check_cache_dir()  # a bad PIANOEVAL_CACHE is found before a transcription, not after
    rater = rater if rater is not None else default_rater()
    audio = _audio_rater(source, audio_rater, backend=backend, enabled=use_audio_rater)
    needs = _audio_needs(audio)
    perf, info, notes, emb = _load_input(source, backend=backend, vectors=needs)
    return rate_loaded(perf, info, notes, emb, score=score, rater=rater, audio=audio)


def rate_loaded(
    perf: PerformanceMidi,
    info: InputInfo,
    notes: list[str],
    emb: dict[str, float] | None,
    *,
    score: PerformanceMidi | PathLike | None,
    rater: SymbolicRater,
    audio: AudioRater | None,
) -> Rating:
    """Rate a performance already read (and transcribed) by :func:`evaluate`'s first stage.

    The single-segment rating; :func:`pianoeval.rater.performance.evaluate_performance`
    calls it for passages of the length the raters learned from.
    """
    from pianoeval.dims import get_taxonomy
    from pianoeval.rater.audio import audio_predict_calibrated
    from pianoeval.symbolic.rater_inputs import rater_features

    notes = [*notes, *_duration_warnings(info.music_sec)]
    feats: dict[str, float] | None = None
    use: ScoreUse | None = None
    if score is not None:
        feats, use = _score_use(perf, score)
        if not use.used:
            notes.append(f"score {use.path} not used: {use.reason}")
    if feats is None:
        feats = rater_features(perf)
    tax = get_taxonomy(rater.metadata.get("taxonomy", "percepiano19"))
    model_id = str(rater.metadata.get("model_id", "unknown"))
    caution = AUDIO_CAUTION if info.kind == "audio" else None
    if audio is not None and emb is not None:
        inputs = {**_audio_features(audio, perf, feats, score, use), **emb}
        pred = audio_predict_calibrated(audio, inputs)
        dim_names = audio.dims
        model_id = audio.model_id
        caution = str(audio.metadata.get("caution", AUDIO_RATER_CAUTION))
    else:
        pred = rater.predict_calibrated(feats)
        dim_names = rater.dims
    ood_score, ood_flagged = _ood(pred)
    if ood_flagged:
        notes.append(_ood_warning(ood_score, pred.ood_reason))
    dims = {d.name: d for d in tax}
    scores = [
        _dimension_score(name, j, pred, dims[name].low, dims[name].high)
        for j, name in enumerate(dim_names)
    ]
    return Rating(
        pianoeval_version=__version__,
        model_id=model_id,
        taxonomy=tax.name,
        taxonomy_version=tax.version,
        input=info,
        score=use,
        scores=scores,
        summary=_summary(feats, score_used=use is not None and use.used),
        features={k: round(float(v), 6) for k, v in feats.items()},
        warnings=notes,
        caution=caution,
        ood_score=ood_score,
        ood_flagged=ood_flagged,
    )


def _dimension_score(
    name: str, j: int, pred: CalibratedPrediction, low: str, high: str
) -> DimensionScore:
    """One dimension's score, with its spread and (when calibrated) its interval."""
    calibrated = bool(pred.calibrated)
    return DimensionScore(
        name=name,
        value=round(float(pred.value[j]), 4),
        low=low,
        high=high,
        sigma=round(float(pred.sigma[j]), 4),
        interval_low=round(float(pred.low[j]), 4) if calibrated else None,
        interval_high=round(float(pred.high[j]), 4) if calibrated else None,
        interval_level=pred.level if calibrated else None,
        calibrated=calibrated,
    )


def _ood(pred: CalibratedPrediction) -> tuple[float | None, bool | None]:
    """Return the rating's OOD score (rounded) and flag; None without an OOD model."""
    import math

    from pianoeval.calibration.ood import OOD_THRESHOLD

    if pred.ood_score is None or not math.isfinite(float(pred.ood_score)):
        return None, None
    value = float(pred.ood_score)
    return round(value, 4), value > OOD_THRESHOLD


def _ood_warning(score: float | None, reason: str | None = None) -> str:
    from pianoeval.calibration.ood import OOD_THRESHOLD, ood_widen_factor

    assert score is not None
    factor = float(ood_widen_factor(score))
    text = OOD_WARNING.format(score=score, threshold=OOD_THRESHOLD, factor=factor)
    why = OOD_REASONS.get(reason or "")
    return text if why is None else f"{text} ({why})"


def _audio_needs(audio: AudioRater | None) -> tuple[str, ...] | None:
    """Return the pooled vectors to compute for ``audio``: its own and its OOD models'."""
    if audio is None:
        return None
    from pianoeval.rater.audio import ood_encoders

    own = tuple(audio.encoders)
    return own + tuple(e for e in ood_encoders(audio) if e not in own)


def _audio_features(
    audio: AudioRater,
    perf: PerformanceMidi,
    feats: dict[str, float],
    score: PerformanceMidi | PathLike | None,
    use: ScoreUse | None,
) -> dict[str, float]:
    """Return the rater features of the transcription as ``audio`` reads it (``velocity``).

    ``feats`` (the transcription as found, what the rating reports) is reused when the
    audio rater reads the transcription unchanged.
    """
    from pianoeval.symbolic.rater_inputs import rater_features

    prepared = audio.prepare(perf)
    if prepared is perf:
        return feats
    with_score = score is not None and use is not None and use.used
    return rater_features(prepared, score=score if with_score else None)


def _audio_rater(
    source: PerformanceMidi | PathLike, given: AudioRater | None, *, backend: str, enabled: bool
) -> AudioRater | None:
    """Pick the audio rater for ``source``: None for MIDI, other backends or when disabled."""
    from pianoeval.symbolic.midi import PerformanceMidi

    if not enabled or backend != "transkun" or isinstance(source, PerformanceMidi):
        return None
    if Path(os.fspath(source)).suffix.lower() in MIDI_SUFFIXES:
        return None
    if given is not None:
        return given
    from pianoeval.rater.audio import default_audio_rater

    return default_audio_rater()


def evaluate_many(
    sources: Iterable[PathLike],
    *,
    score: PathLike | None = None,
    rater: SymbolicRater | None = None,
    backend: str = "transkun",
    on_result: Callable[[Rating | FailedInput], None] | None = None,
    audio_rater: AudioRater | None = None,
    use_audio_rater: bool = True,
) -> AnalysisReport:
    """Rate every input that can be rated; report each one that cannot.

    Parameters
    ----------
    sources : iterable of path-like
    score : path-like, optional
        One score for every input.
    rater : SymbolicRater, optional
        Loaded once when not given.
    backend : str
    on_result : callable, optional
        Called with each :class:`Rating` or :class:`FailedInput` as soon as it is ready.
    audio_rater, use_audio_rater
        As in :func:`evaluate`.

    Returns
    -------
    AnalysisReport
        ``failures`` names each input and its problem; problems that are not about one
        input (a missing backend, a bad cache folder) are raised, not collected.
    """
    from pianoeval.rater.bundle import default_rater
    from pianoeval.symbolic.midi import load_midi

    rater = rater if rater is not None else default_rater()
    # one score for all: read it once, so a bad score is one error, not one per input
    sc: PerformanceMidi | None = None if score is None else load_midi(score, require_notes=False)
    ratings: list[Rating] = []
    failures: list[FailedInput] = []
    for src in sources:
        item: Rating | FailedInput
        try:
            item = evaluate(
                src,
                score=sc,
                rater=rater,
                backend=backend,
                audio_rater=audio_rater,
                use_audio_rater=use_audio_rater,
            )
        except FileProblemError as e:
            item = FailedInput(path=os.fspath(src), error=str(e))
        except PianoEvalError as e:
            if _is_global_problem(e):
                raise
            item = FailedInput(path=os.fspath(src), error=f"{os.fspath(src)}: {e}")
        if isinstance(item, Rating):
            ratings.append(item)
        else:
            failures.append(item)
        if on_result is not None:
            on_result(item)
    return AnalysisReport(ratings=ratings, failures=failures)


def _is_global_problem(e: PianoEvalError) -> bool:
    """Problems that every other input would hit too: stop instead of repeating them."""
    from pianoeval.errors import BackendUnavailableError, ParameterError

    return isinstance(e, BackendUnavailableError | ParameterError)
