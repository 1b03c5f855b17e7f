"""The shipped audio rater and the inputs it takes from a recording (one transkun pass).

:func:`audio_inputs` transcribes an audio file with transkun and keeps the pooled context of
that same forward pass (:func:`pianoeval.encoders.transkun.transcribe_with_embedding`),
then pools the fixed-reference mel (``mel_stats``): everything
:class:`~pianoeval.model.audio.AudioRater` needs besides the transcription's features.
:func:`default_audio_rater` loads the bundle shipped in ``pianoeval/rater/weights/audio_v1``
(trained on PercePiano renders; its ``audio_rater.json`` says what was measured).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pianoeval._typing import PathLike
from pianoeval.data.audio_table import embedding_columns

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pianoeval.model.audio import AudioRater
    from pianoeval.model.symbolic import CalibratedPrediction
    from pianoeval.symbolic.transcribe import Transcription

__all__ = [
    "ACOUSTIC",
    "AUDIO_DIR",
    "audio_inputs",
    "audio_predict_calibrated",
    "default_audio_rater",
    "ood_encoders",
]

#: The pseudo-encoder name of the acoustic descriptors (:mod:`pianoeval.audio.acoustic`).
ACOUSTIC = "acoustic"
#: The shipped audio rater's bundle.
AUDIO_DIR = Path(__file__).resolve().parent / "weights" / "audio_v1"


@lru_cache(maxsize=1)
def _default() -> AudioRater | None:
    from pianoeval.model.audio import AudioRater, is_audio_bundle

    return AudioRater.load(AUDIO_DIR) if is_audio_bundle(AUDIO_DIR) else None


def default_audio_rater() -> AudioRater | None:
    """Return the audio rater shipped with pianoeval, or None where it is not installed.

    Loaded once per process and shared: do not modify it.
    """
    return _default()


def audio_inputs(
    path: PathLike, *, encoders: tuple[str, ...] = ("transkun", "mel_stats")
) -> tuple[Transcription, dict[str, float]]:
    """Transcribe ``path`` and pool the vectors the audio rater needs, with one transkun pass.

    Returns
    -------
    transcription : Transcription
        As :func:`pianoeval.symbolic.transcribe.transcribe` gives it (cached).
    vectors : dict of str to float
        ``{"emb.<encoder>.<i>": value}`` for each encoder.
    """
    from pianoeval.encoders.mel_stats import MelStatsEncoder
    from pianoeval.encoders.transkun import transcribe_with_embedding

    transcription, context = transcribe_with_embedding(path)
    out: dict[str, float] = {}
    if "transkun" in encoders:
        out.update(
            zip(embedding_columns("transkun", len(context)), map(float, context), strict=True)
        )
    if "mel_stats" in encoders:
        mel = MelStatsEncoder().embed_file(path)
        out.update(zip(embedding_columns("mel_stats", len(mel)), map(float, mel), strict=True))
    if ACOUSTIC in encoders:
        from pianoeval.audio.acoustic import acoustic_inputs

        out.update(acoustic_inputs(path))
    return transcription, out


def ood_encoders(audio: AudioRater) -> tuple[str, ...]:
    """Return the encoders whose pooled vectors ``audio``'s OOD models read.

    The shipped audio rater's OOD model reads transkun's pooled context besides the
    transcription's features, and its acoustic check the recording's acoustic descriptors
    (``"acoustic"``; docs/calibration.md, "Out of distribution"); :func:`evaluate` asks
    for these vectors with the ones the rater itself needs.
    """
    inner = audio.rater
    found: list[str] = [ACOUSTIC] if audio.acoustic is not None else []
    for part in (inner, None if inner is None else inner.no_score):
        if part is None or part.ood is None:
            continue
        for col in part.ood.columns:
            if col.startswith("emb."):
                enc = col.split(".")[1]
                if enc not in found:
                    found.append(enc)
    return tuple(found)


def audio_predict_calibrated(
    audio: AudioRater, inputs: Mapping[str, float], *, level: float | None = None
) -> CalibratedPrediction:
    """Rate one recording's inputs like :meth:`AudioRater.predict_calibrated`, with OOD scores.

    The inner rater's OOD models read the inputs before projection (``ood_input``), so they
    may use pooled vectors the rater itself does not (transkun's context); the acoustic
    check's score (when the bundle has one and ``inputs`` hold its descriptors) joins
    theirs: the rating's OOD score is the larger of the two.
    """
    import pandas as pd

    from pianoeval.errors import ParameterError
    from pianoeval.model.symbolic import DEFAULT_INTERVAL_LEVEL, CalibratedPrediction

    if audio.rater is None:
        raise ParameterError("the audio rater is not fitted: call fit() or load()")
    frame = pd.DataFrame([dict(inputs)])
    extra, reason = None, None
    if audio.acoustic is not None and all(c in inputs for c in audio.acoustic.columns):
        extra = audio.acoustic.score(inputs)
        reason = audio.acoustic.reason(inputs)
    pred = audio.rater.predict_calibrated(
        audio.transform(frame),
        level=DEFAULT_INTERVAL_LEVEL if level is None else level,
        ood_input=frame,
        ood_extra=extra,
    )
    ood = None if pred.ood_score is None else pred.ood_score[0]
    if extra is None or ood is None or ood != extra[0]:
        reason = None  # the acoustic check's reason only when its score is the rating's
    return CalibratedPrediction(
        raw=pred.raw[0], value=pred.value[0], sigma=pred.sigma[0], low=pred.low[0],
        high=pred.high[0], calibrated=pred.calibrated[0], level=pred.level,
        ood_score=ood, ood_reason=reason,
    )  # fmt: skip
