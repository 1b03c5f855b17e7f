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
    from pianoeval.model.audio import AudioRater
    from pianoeval.symbolic.transcribe import Transcription

__all__ = ["AUDIO_DIR", "audio_inputs", "default_audio_rater"]

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
    return transcription, out
