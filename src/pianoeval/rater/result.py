"""The rating result: one typed, versioned record per rated performance.

:class:`Rating` is what :func:`pianoeval.rater.evaluate` returns and what every front end
prints or serves (``pianoeval analyze`` as a table or JSON; the API and the web page to
come). New fields are added to it, never a second result type; ``schema_version`` says
which fields a record has. Scores are on the taxonomy's scale (PercePiano: mean rating / 7,
in [1/7, 1]); a score is a position between the dimension's two descriptors, not a grade.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "RESULT_SCHEMA_VERSION",
    "AnalysisReport",
    "DimensionScore",
    "FailedInput",
    "InputInfo",
    "Rating",
    "ScoreUse",
    "SummaryItem",
]

#: Version of the :class:`Rating` record (and of :class:`AnalysisReport`). Version 2 added
#: each score's ``sigma`` and interval (``interval_low``, ``interval_high``,
#: ``interval_level``) and ``calibrated``; version 3 the out-of-distribution score and
#: flag (``ood_score``, ``ood_flagged``). Older records lack them (read as None/False).
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
    """

    path: str
    kind: Literal["midi", "audio"]
    duration_sec: float
    n_notes: int
    music_sec: float
    transcription: TranscriptionInfo | None = None


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
