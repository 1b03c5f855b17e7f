"""The SoundFonts pianoeval renders with: where they are, who ships them, how loud they are.

Each known SoundFont is a Debian package's file, registered under a short key
(:data:`SOUNDFONTS`) with the gain that makes it as loud as the others for the same MIDI.
The gains were measured, not guessed: ``scripts/calibrate_render_gains.py`` renders 50
PercePiano performances with every SoundFont at 0 dB and sets each gain so that the mean
integrated loudness (ITU-R BS.1770, K-weighted and gated, mono) over the 50 renders is
:data:`TARGET_LOUDNESS_LUFS`. That target leaves headroom: the loudest of the 1202
PercePiano performances peaks below full scale with every SoundFont (docs/render.md).

A custom ``.sf2``/``.sf3`` file can be used by path; its gain is uncalibrated unless given
(``SoundFont(name, path, gain_db=...)``), and defaults to FluidR3_GM's.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from pianoeval._registry import Registry
from pianoeval._typing import PathLike
from pianoeval.errors import BackendUnavailableError, ParameterError

#: Mean loudness the calibrated gains aim at (over 50 PercePiano renders), in LUFS. Chosen
#: for headroom: at 0 dB the loudest of all 1202 PercePiano renders peaks at -16.9 dBFS
#: with each of the three SoundFonts, so a gain up to 15.9 dB keeps 1 dB below full scale.
#: csound_gm, added later, peaks at -13.05 dBFS at 0 dB (Beethoven_WoO80_var6_8bars_Score2_5),
#: so its gain of 12.67 dB keeps only 0.38 dB below full scale (no file clips).
TARGET_LOUDNESS_LUFS = -31.0

# Calibrated gains, in dB on top of FluidSynth's synth.gain 0.2 (the settings of .synth).
# Computed by scripts/calibrate_render_gains.py (2026-11-22, FluidSynth 2.3.1, 22050 Hz):
# every 24th PercePiano MIDI sorted by name (50 files), rendered at 0 dB; gain = target -
# mean integrated loudness (BS.1770). Means at 0 dB: FluidR3_GM -46.71 LUFS, MuseScore
# General -46.36, TimGM6mb -46.23 (std over the files 4.7-5.4 LU: the performances differ).
# Over all 1202 files the calibrated means agree within 0.35 LU and the loudest peak is
# -1.2 dBFS; one file's loudness still differs between SoundFonts by 2 LU (std), since
# their registers are balanced differently (docs/render.md).
_GAIN_FLUIDR3_GM_DB = 15.71
_GAIN_MUSESCORE_GENERAL_DB = 15.36
_GAIN_TIMGM6MB_DB = 15.23
# csound_gm, calibrated later the same way (2026-12-03, FluidSynth 2.3.1, 22050 Hz, the same 50
# files; FluidR3_GM re-measured alongside at -46.71, unchanged): mean at 0 dB -43.67 LUFS
# (std 5.79 LU). Over all 1202 files at the calibrated gains: mean -31.13 LUFS (FluidR3_GM
# -31.20), per-file difference from FluidR3_GM 0.06 +- 1.79 LU (range -5.0 to +5.4), loudest
# peak -0.38 dBFS (3 files above -1 dBFS, none clipped).
_GAIN_CSOUND_GM_DB = 12.67

SOUNDFONT_SUFFIXES = (".sf2", ".sf3")


class SoundFontNotFoundError(BackendUnavailableError):
    """A SoundFont file is missing; the message names the Debian package that ships it."""


@dataclass(frozen=True)
class SoundFont:
    """A SoundFont file and the fixed gain it is rendered with.

    Attributes
    ----------
    name : str
        Registry key (``"fluidr3_gm"``) or, for a custom file, its file name.
    path : pathlib.Path
        The ``.sf2``/``.sf3`` file.
    gain_db : float
        Gain applied to FluidSynth's output (at synth.gain 0.2), in dB: the same for every
        file rendered with this SoundFont, never derived from the audio.
    package : str or None
        Debian package that installs ``path`` (None for a custom file).
    description : str
    """

    name: str
    path: Path
    gain_db: float
    package: str | None = None
    description: str = ""

    def install_hint(self) -> str:
        """Return the command that installs this SoundFont."""
        if self.package:
            return f"sudo apt-get install {self.package}"
        return f"put the SoundFont file at {self.path} or pass another path"

    def check(self) -> Path:
        """Return the file's resolved path.

        Raises
        ------
        SoundFontNotFoundError
            If the file (or the file a symlink points to) does not exist.
        """
        if not self.path.is_file():
            raise SoundFontNotFoundError(
                f"SoundFont {self.name!r}",
                self.install_hint(),
                reason=f"{self.path} not found",
            )
        return self.path.resolve()


SOUNDFONTS: Registry[SoundFont] = Registry("SoundFont")
SOUNDFONTS.register(
    "fluidr3_gm",
    SoundFont(
        "fluidr3_gm",
        Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
        _GAIN_FLUIDR3_GM_DB,
        "fluid-soundfont-gm",
        "Fluid R3 General MIDI, preset 0 (Yamaha grand samples); MIT",
    ),
)
SOUNDFONTS.register(
    "musescore_general",
    SoundFont(
        "musescore_general",
        Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
        _GAIN_MUSESCORE_GENERAL_DB,
        "musescore-general-soundfont",
        "MuseScore General (Ogg-compressed .sf3, about 4-6 s to load), preset 0; MIT",
    ),
)
SOUNDFONTS.register(
    "timgm6mb",
    SoundFont(
        "timgm6mb",
        Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
        _GAIN_TIMGM6MB_DB,
        "timgm6mb-soundfont",
        "TimGM6mb, a 6 MB General MIDI set, preset 0; GPL-2",
    ),
)

SOUNDFONTS.register(
    "csound_gm",
    SoundFont(
        "csound_gm",
        Path("/usr/share/sounds/sf2/sf_GMbank.sf2"),
        _GAIN_CSOUND_GM_DB,
        "csound-soundfont",
        "csound's GM bank (sf_GMbank.sf2, 4 MB, EMU8000-era), preset 0 'Piano 1': 10 short "
        "looped 44.1 kHz piano samples, filter-enveloped, darker than the others; "
        "public domain",
    ),
)

#: The SoundFont rendering uses unless told otherwise.
DEFAULT_SOUNDFONT = "fluidr3_gm"


def get_soundfont(spec: str | PathLike | SoundFont) -> SoundFont:
    """Return the SoundFont for a registry key, a file path or a :class:`SoundFont`.

    Parameters
    ----------
    spec : str, path-like or SoundFont
        A key of :data:`SOUNDFONTS` (``"fluidr3_gm"``, ``"musescore_general"``,
        ``"timgm6mb"``, ``"csound_gm"``), a path to a ``.sf2``/``.sf3`` file (rendered at
        FluidR3_GM's gain, uncalibrated), or a SoundFont (returned as it is).

    Returns
    -------
    SoundFont
        Not checked for existence: call :meth:`SoundFont.check`.

    Raises
    ------
    ParameterError
        If ``spec`` is neither a known key nor a ``.sf2``/``.sf3`` path.

    Examples
    --------
    >>> get_soundfont("timgm6mb").package
    'timgm6mb-soundfont'
    >>> get_soundfont("/tmp/my_piano.sf2").gain_db == get_soundfont("fluidr3_gm").gain_db
    True
    """
    if isinstance(spec, SoundFont):
        return spec
    text = os.fspath(spec)
    if isinstance(spec, str) and spec in SOUNDFONTS:
        return SOUNDFONTS.get(spec)
    path = Path(text).expanduser()
    if path.suffix.lower() not in SOUNDFONT_SUFFIXES:
        known = ", ".join(SOUNDFONTS.names())
        raise ParameterError(
            f"soundfont must be one of {known} or a .sf2/.sf3 file path, got {text!r}"
        )
    return SoundFont(
        path.name,
        path,
        SOUNDFONTS.get(DEFAULT_SOUNDFONT).gain_db,
        None,
        "custom SoundFont (gain not calibrated: FluidR3_GM's)",
    )


_SHA256_MEMO: dict[tuple[str, int, int], str] = {}


def soundfont_sha256(path: PathLike) -> str:
    """Return the SHA-256 of a SoundFont file, computed once per process.

    The digest is memoised on (resolved path, size, mtime), so a file replaced in place is
    hashed again while repeated calls cost one ``stat``.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    str
        64 hex digits.
    """
    p = Path(path).resolve()
    st = p.stat()
    memo_key = (str(p), st.st_size, st.st_mtime_ns)
    digest = _SHA256_MEMO.get(memo_key)
    if digest is None:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            while chunk := fh.read(1 << 22):
                h.update(chunk)
        digest = h.hexdigest()
        _SHA256_MEMO[memo_key] = digest
    return digest
