"""The rating result: one typed, versioned record per rated performance.

:class:`Rating` is what :func:`pianoeval.rater.evaluate` returns and what every front end
prints or serves (``pianoeval analyze`` as a table or JSON; the API and the web page to
come). New fields are added to it, never a second result type; ``schema_version`` says
which fields a record has. Scores are on the taxonomy's scale (PercePiano: mean rating / 7,
in [1/7, 1]); a score is a position between the dimension's two descriptors, not a grade.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "RESULT_SCHEMA_VERSION",
    "Advice",
    "AnalysisReport",
    "BarReport",
    "DimensionScore",
    "FailedInput",
    "InputInfo",
    "Rating",
    "ScoreUse",
    "StandOut",
    "SummaryItem",
    "WindowRating",
    "WindowScore",
]

#: Version of the :class:`Rating` record (and of :class:`AnalysisReport`). Version 2 added
#: each score's ``sigma`` and interval (``interval_low``, ``interval_high``,
#: ``interval_level``) and ``calibrated``; version 3 the whole-performance view
#: (``windows``, ``bars``, ``standouts``, ``advice``, ``timings``, ``model_card``, ``notes``, each
#: score's ``learnt_from``, the input's ``sha256`` and ``sample_rate``, ``pooled``) and
#: the out-of-distribution score and flag (``ood_score``, ``ood_flagged``). Older
#: records lack them (read as empty/None).
RESULT_SCHEMA_VERSION = 3


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DimensionScore(_Record):
    """One dimension's score.

    Attributes
    ----------
    name : str
        Dimension name within the taxonomy.
    value : float
        The score, on the taxonomy's scale (calibrated when ``calibrated``).
    low, high : str
        The descriptors of the two ends of the scale (not an interval).
    sigma : float or None
        The score's spread: with a calibration, an estimate of the standard deviation of
        its error; without one, the raw disagreement of the rater's members (not on the
        error's scale); None for a rater that gives none.
    interval_low, interval_high : float or None
        Conformal interval around ``value`` of nominal coverage ``interval_level``
        (None without a calibration).
    interval_level : float or None
        E.g. 0.8: about 80 % of such intervals hold the listeners' mean rating.
    calibrated : bool
        Whether ``value``, ``sigma`` and the interval come from the rater's calibration.
    learnt_from : {"human labels", "pseudo-labels"}
        What the rater learnt this dimension from.
    """

    name: str
    value: float
    low: str
    high: str
    sigma: float | None = None
    interval_low: float | None = None
    interval_high: float | None = None
    interval_level: float | None = None
    calibrated: bool = False
    learnt_from: Literal["human labels", "pseudo-labels"] = "human labels"


class WindowScore(_Record):
    """One dimension's score in one window (see :class:`DimensionScore`)."""

    name: str
    value: float
    sigma: float | None = None
    interval_low: float | None = None
    interval_high: float | None = None


class WindowRating(_Record):
    """The ratings of one window of a long performance.

    ``scores`` is empty when the window holds too little music (``note`` says so).
    ``bar_start``/``bar_end`` are set for windows of whole bars (with a score).
    """

    index: int
    start_sec: float
    end_sec: float
    bar_start: int | None = None
    bar_end: int | None = None
    n_notes: int
    scores: list[WindowScore] = Field(default_factory=list)
    note: str | None = None


class BarReport(_Record):
    """One bar's measurements against the score (see :mod:`pianoeval.symbolic.align.bars`).

    Times: ``start_sec``/``end_sec`` in the performance, ``score_*`` in the score. Rates
    and ratios are None where the bar gives too little to measure. ``missing_notes`` are
    ``[score_sec, pitch]`` pairs, ``extra_notes`` and ``wrong_notes`` ``[perf_sec, pitch]``
    (for the piano roll). ``standout`` names the measurements beyond the usual range.
    """

    bar: int
    start_sec: float
    end_sec: float
    score_start_sec: float
    score_end_sec: float
    n_score: int
    n_played: int
    n_missing: int
    n_extra: int
    n_wrong_pitch: int
    tempo_ratio: float | None = None
    pedal_down: float | None = None
    pedal_blur: float | None = None
    n_harmony_changes: int = 0
    melody_lead: float | None = None
    velocity_mean: float | None = None
    marking: str | None = None
    dynamics_residual: float | None = None
    missing_notes: list[list[float]] = Field(default_factory=list)
    extra_notes: list[list[float]] = Field(default_factory=list)
    standout: list[str] = Field(default_factory=list)


class StandOut(_Record):
    """A measurement or window rating beyond the 10th/90th percentile of the reference.

    ``reference`` says which served: the labelled performances of the same passage, or all.
    """

    kind: Literal["bar", "window"]
    measure: str
    direction: Literal["high", "low"]
    value: float
    p10: float
    p90: float
    excess: float
    reference: Literal["passage", "all"]
    bar: int | None = None
    start_sec: float
    end_sec: float


class Advice(_Record):
    """One thing to practise, in plain words, and what it rests on."""

    text: str
    measure: str
    bars: list[int] | None = None
    start_sec: float
    end_sec: float


class SummaryItem(_Record):
    """One line of the feature summary shown beside the scores.

    ``value`` is None when the quantity cannot be measured from this input (for example the
    tempo against the score when no score was used); ``text`` then says why.
    """

    key: str | None
    label: str
    value: float | None
    text: str


class TranscriptionInfo(_Record):
    """How an audio input became MIDI."""

    backend: str
    cached: bool
    elapsed_sec: float


class InputInfo(_Record):
    """What was rated.

    Attributes
    ----------
    path : str
    kind : {"midi", "audio"}
    duration_sec : float
        Audio: the decoded length of the recording. MIDI: the end of the last sounding note.
    n_notes : int
        Notes played (transcribed, for audio).
    music_sec : float
        From the first onset to the last key release.
    transcription : TranscriptionInfo or None
        For audio inputs.
    sha256 : str or None
        Hash of the input file's bytes (None for a performance given in memory).
    sample_rate : int or None
        Audio inputs: the file's sample rate.
    """

    path: str
    kind: Literal["midi", "audio"]
    duration_sec: float
    n_notes: int
    music_sec: float
    transcription: TranscriptionInfo | None = None
    sha256: str | None = None
    sample_rate: int | None = None


class ScoreUse(_Record):
    """The score given with a performance, and whether the rating used it.

    A score is used only when it matches the performance (see
    :data:`pianoeval.constants.MIN_SCORE_MATCH_FRAC`); otherwise ``reason`` says why not
    and the performance is rated as if no score had been given.
    """

    path: str
    used: bool
    n_notes: int
    match_frac_score: float | None = None
    match_frac_perf: float | None = None
    reason: str | None = None


class Rating(_Record):
    """The rating of one performance.

    Attributes
    ----------
    schema_version : int
    pianoeval_version : str
    model_id : str
        The rater that produced the scores.
    taxonomy, taxonomy_version : str
        The dimensions the scores are on.
    input : InputInfo
    score : ScoreUse or None
        None when no score was given.
    scores : list of DimensionScore
        One per dimension, in taxonomy order.
    summary : list of SummaryItem
        Performance features in words (tempo, timing, articulation, ...).
    features : dict of str to float
        Every feature the rater saw.
    warnings : list of str
        Things the user should know about this rating (short input, unused score, ...).
    caution : str or None
        A standing caution about the kind of input (transcribed audio today).
    ood_score : float or None
        How unlike the rater's training inputs this input is: its distance to them over
        the threshold (docs/calibration.md, "Out of distribution"); None when the rater
        has no OOD model.
    ood_flagged : bool or None
        ``ood_score > 1``: the scores are unreliable, the intervals were widened and
        ``warnings`` says so.
    pooled : bool
        The scores are the mean of the window ratings (a performance longer than the
        passages the rater learned from), not one rating of the whole.
    windows : list of WindowRating
        Ratings over time (empty for a single-segment rating).
    bars : list of BarReport
        Per-bar measurements (with a score that matches).
    standouts : list of StandOut
        What lies beyond the usual range, bar by bar and window by window.
    advice : list of Advice
        At most three things to practise, most outstanding first.
    timings : dict of str to float
        Seconds per stage (read, transcribe, align, rate, feedback, total).
    model_card : dict or None
        The rater's model card (training data, licences, measured figures).
    notes : list of list of float
        ``[onset_sec, offset_sec, pitch, velocity]`` of the performance as rated (the
        transcription, for audio), for piano rolls; empty in single-segment ratings.
    """

    schema_version: int = RESULT_SCHEMA_VERSION
    kind: Literal["rating"] = "rating"
    pianoeval_version: str
    model_id: str
    taxonomy: str
    taxonomy_version: str
    input: InputInfo
    score: ScoreUse | None = None
    scores: list[DimensionScore]
    summary: list[SummaryItem] = Field(default_factory=list)
    features: dict[str, float] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    caution: str | None = None
    ood_score: float | None = None
    ood_flagged: bool | None = None
    pooled: bool = False
    windows: list[WindowRating] = Field(default_factory=list)
    bars: list[BarReport] = Field(default_factory=list)
    standouts: list[StandOut] = Field(default_factory=list)
    advice: list[Advice] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    model_card: dict[str, Any] | None = None
    notes: list[list[float]] = Field(default_factory=list)

    def score_dict(self) -> dict[str, float]:
        """Return ``{dimension: value}``."""
        return {s.name: s.value for s in self.scores}


class FailedInput(_Record):
    """An input that could not be rated, and why (the message names the file)."""

    path: str
    error: str


class AnalysisReport(_Record):
    """The ratings of a batch of inputs, and the inputs that could not be rated."""

    schema_version: int = RESULT_SCHEMA_VERSION
    kind: Literal["analysis"] = "analysis"
    ratings: list[Rating]
    failures: list[FailedInput] = Field(default_factory=list)
