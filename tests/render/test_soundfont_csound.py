"""csound_gm: csound-soundfont's GM bank (sf_GMbank.sf2) registered as a fourth SoundFont."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pianoeval.examples import example_midi_path
from pianoeval.render import SOUNDFONTS, get_soundfont, render_files, render_midi
from pianoeval.render.calibrate import loudness_lufs

pytestmark = pytest.mark.backend


def test_csound_gm_resolves() -> None:
    sf = get_soundfont("csound_gm")
    assert "csound_gm" in SOUNDFONTS.names()
    assert sf.package == "csound-soundfont"
    assert sf.check() == Path("/usr/share/sounds/sf2/sf_GMbank.sf2").resolve()
    assert sf.gain_db == pytest.approx(12.67)  # calibrated on 50 PercePiano files
    assert "public domain" in sf.description


def test_csound_gm_renders_the_example_into_the_cache(tmp_path: Path) -> None:
    import soundfile

    res = render_files(
        [example_midi_path()], tmp_path / "cache", soundfont="csound_gm", jobs=1, progress=False
    )[0]
    assert res.ok, res.error
    assert res.audio_path is not None
    assert Path(res.audio_path).is_relative_to(tmp_path / "cache")
    assert res.n_clipped == 0
    audio, sr = soundfile.read(res.audio_path, dtype="float32")
    assert len(audio) == pytest.approx(res.duration_sec * sr, abs=1)
    assert float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) > 1e-3  # not silent
    assert float(np.abs(audio).max()) < 1.0


def test_csound_gm_is_as_loud_as_fluidr3_gm_on_the_example() -> None:
    # Both gains bring the PercePiano mean to -31 LUFS; on one performance the two are
    # within a few LU (measured: -30.36 vs -30.30 LUFS).
    path = example_midi_path()
    y_csound, sr = render_midi(path, soundfont="csound_gm")
    y_fluid, sr_fluid = render_midi(path, soundfont="fluidr3_gm")
    assert sr == sr_fluid
    csound, fluid = loudness_lufs(y_csound, sr), loudness_lufs(y_fluid, sr)
    assert abs(csound - fluid) <= 6.0, (csound, fluid)
