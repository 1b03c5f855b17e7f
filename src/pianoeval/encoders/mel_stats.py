"""``mel_stats``: loudness and spectral balance of a segment from the fixed-reference mel.

Learned audio encoders either normalise gain (transkun) or standardise their input (MERT's
feature extractor), so they cannot say how loud a passage was played; dynamics are labels
here. This encoder keeps that information: the segment's mel spectrogram in dB against a
fixed full-scale reference (:func:`pianoeval.audio.mel_spectrogram`, the same front end as
``mel_cnn``), fitted whole into its 128 frames (the hop follows the segment's length, so no
crop drops music), then the mean and the standard deviation of every band over time.
No weights, no torch: it is cheap enough to compute on the fly.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from pianoeval._typing import FloatArray
from pianoeval.audio.mel import DEFAULT_MEL_CONFIG
from pianoeval.encoders.base import FrozenEncoder
from pianoeval.encoders.pooling import mean_std_pool

__all__ = ["MelStatsEncoder"]

#: Shortest window the front end is asked for: shorter clips are padded, never stretched.
MIN_WINDOW_SEC = 1.0


class MelStatsEncoder(FrozenEncoder):
    """Mean and std over time of each band of the fixed-reference dB mel (``2 * n_mels``).

    Examples
    --------
    >>> enc = MelStatsEncoder()
    >>> t = np.arange(22050 * 2) / 22050
    >>> x = enc.embed(0.5 * np.sin(2 * np.pi * 440 * t), 22050)
    >>> x.shape, x.dtype
    ((256,), dtype('float32'))
    """

    name = "mel_stats"
    version = "mel_stats/1"

    def __init__(self) -> None:
        self.config = DEFAULT_MEL_CONFIG
        self.sr = self.config.sr
        self.dim = 2 * self.config.n_mels

    def settings(self) -> dict[str, Any]:
        """Return the mel constants (sr, n_mels, n_fft, hop, dB range)."""
        c = self.config
        return {
            "sr": c.sr,
            "n_mels": c.n_mels,
            "n_fft": c.n_fft,
            "hop_length": c.hop_length,
            "n_frames": c.n_frames,
            "floor_db": c.floor_db,
            "top_db": c.top_db,
        }

    def _embed(self, y: FloatArray, sr: int) -> FloatArray:
        from pianoeval.audio import mel_spectrogram

        duration_sec = y.size / sr
        config = replace(self.config, window_sec=max(duration_sec, MIN_WINDOW_SEC))
        mel = mel_spectrogram(y, sr=sr, config=config)[0]  # (n_mels, n_frames)
        n_real = min(config.n_frames, max(1, round(duration_sec / config.frame_sec)))
        start = (config.n_frames - n_real) // 2  # shorter clips are centred in zero padding
        frames = mel[:, start : start + n_real].T  # (T, n_mels)
        out: FloatArray = mean_std_pool(frames).astype(np.float32)
        return out
