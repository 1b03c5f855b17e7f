from __future__ import annotations

import numpy as np
from tests.encoders._signals import piano_like

from pianoeval.encoders.mel_stats import MelStatsEncoder


def test_loudness_is_kept() -> None:
    enc = MelStatsEncoder()
    y = piano_like(22050, 3.0, gain=0.05)
    soft, loud = enc.embed(y, 22050), enc.embed(10 * y, 22050)
    n = enc.config.n_mels
    # +20 dB of gain raises every frame of a band by at most 20/80 of the dB range (exactly
    # that where it is above the floor), so the band means rise by up to 0.25
    active = soft[:n] > 0.15
    assert active.sum() > 10
    rise = loud[:n][active] - soft[:n][active]
    assert (rise > 0.15).all()
    assert (rise <= 0.25 + 1e-4).all()


def test_the_whole_segment_is_seen_and_short_clips_are_not_padded_into_the_stats() -> None:
    enc = MelStatsEncoder()
    y = piano_like(22050, 24.0)
    quiet_end = y.copy()
    quiet_end[-22050 * 2 :] = 0.0  # a 20-s centre crop would not see the last 2 s
    assert not np.allclose(enc.embed(y, 22050), enc.embed(quiet_end, 22050), atol=1e-3)
    short = piano_like(22050, 0.5)
    x = enc.embed(short, 22050)
    assert x.shape == (enc.dim,)
    assert x[: enc.config.n_mels].max() > 0.5  # padding (0.0) did not drag the means down
