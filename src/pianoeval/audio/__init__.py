"""Audio front end: decoding, resampling, rating windows and the mel spectrogram.

``ndarray`` in, ``ndarray`` out. Importing this package is cheap: librosa is imported only
when a mel spectrogram is computed, and nothing here imports torch.

- :func:`load_audio`, :func:`audio_info`, :func:`resample`, :class:`TruncatedAudioWarning`,
  :func:`warn_truncated` (:mod:`pianoeval.audio.io`)
- :class:`Window`, :func:`fixed_windows`, :func:`bar_windows` (:mod:`pianoeval.audio.windows`)
- :class:`MelConfig`, :func:`mel_spectrogram`, :func:`mel_batch`, :func:`fix_length_frames`
  (:mod:`pianoeval.audio.mel`)

Problems with a file raise :class:`pianoeval.errors.AudioError`, re-exported here.
"""

from __future__ import annotations

from pianoeval.audio.io import (
    AudioInfo,
    TruncatedAudioWarning,
    audio_info,
    load_audio,
    resample,
    warn_truncated,
)
from pianoeval.audio.mel import (
    DEFAULT_MEL_CONFIG,
    MelConfig,
    fix_length_frames,
    mel_batch,
    mel_spectrogram,
)
from pianoeval.audio.windows import Window, bar_windows, fixed_windows
from pianoeval.errors import AudioError

__all__ = [
    "DEFAULT_MEL_CONFIG",
    "AudioError",
    "AudioInfo",
    "MelConfig",
    "TruncatedAudioWarning",
    "Window",
    "audio_info",
    "bar_windows",
    "fix_length_frames",
    "fixed_windows",
    "load_audio",
    "mel_batch",
    "mel_spectrogram",
    "resample",
    "warn_truncated",
]
