"""Media of the labeling app: files only from configured roots, exactly t0-t1, MIDI rendered.

Safety
------
A manifest URI is resolved (:func:`pianoeval.manifest.uri_to_path`) and then refused unless
its real path (``Path.resolve()``: symlinks followed) lies inside one of the configured media
roots (``is_relative_to``). A URI with a ``..`` component is refused even when it would land
inside a root: a queue has no reason to climb folders, and refusing it is simpler to audit.
Refusals raise :class:`MediaAccessError` (HTTP 403); a missing file
:class:`MediaNotFoundError` (404). Anchor clips pass the same check.

Audio
-----
Recordings are cropped to ``[t0, t1]`` with soundfile (frames read, nothing else decoded) and
sent as 16-bit WAV: every browser decodes it, and a 20 s mono clip is under 2 MB. MIDI-only
rows are rendered with FluidSynth (:func:`pianoeval.render.render_midi`, the whole file, so
notes sounding before ``t0`` ring on as they should) and cropped; the crop is cached under
``<first media root>/.label_cache/`` keyed by the MIDI file's SHA-256, ``t0``, ``t1``, the
SoundFont's SHA-256 and :data:`pianoeval.render.RENDERER_VERSION`, so a segment renders once.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pianoeval._cache import content_key, file_sha256, replace_atomically
from pianoeval._typing import PathLike
from pianoeval.errors import FileProblemError, ParameterError, PianoEvalError
from pianoeval.manifest import uri_to_path

__all__ = [
    "CACHE_DIRNAME",
    "MediaAccessError",
    "MediaNotFoundError",
    "MediaRoots",
    "crop_audio",
    "render_midi_crop",
    "wav_bytes",
]

#: Folder under the first media root where rendered MIDI crops are cached.
CACHE_DIRNAME = ".label_cache"


class MediaAccessError(PianoEvalError, PermissionError):
    """A media URI points outside the configured media roots (or climbs with ``..``)."""


class MediaNotFoundError(FileProblemError):
    """A media file inside the roots does not exist or is not a file."""


class MediaRoots:
    """The folders media may be read from.

    Parameters
    ----------
    roots : sequence of path-like
        Existing folders; resolved once (symlinks followed).

    Raises
    ------
    ParameterError
        No root, or a root that is not an existing folder.

    Examples
    --------
    >>> import tempfile
    >>> roots = MediaRoots([tempfile.mkdtemp()])
    >>> roots.resolve("../secret.wav", roots.roots[0])
    Traceback (most recent call last):
    ...
    pianoeval.label.media.MediaAccessError: media URI '../secret.wav' climbs out with '..': refused
    """

    def __init__(self, roots: Sequence[PathLike]) -> None:
        if not roots:
            raise ParameterError("at least one media root is needed")
        resolved = []
        for r in roots:
            p = Path(r).expanduser()
            if not p.is_dir():
                raise ParameterError(f"media root {p} is not an existing folder")
            resolved.append(p.resolve())
        self.roots: tuple[Path, ...] = tuple(resolved)

    @property
    def cache_dir(self) -> Path:
        """Where rendered crops are cached: ``<first root>/.label_cache``."""
        return self.roots[0] / CACHE_DIRNAME

    def resolve(self, uri: str, base_dir: PathLike) -> Path:
        """Return the real path of a media URI, if it is a file inside a root.

        Parameters
        ----------
        uri : str
            ``file://`` URI, absolute path, or path relative to ``base_dir``.
        base_dir : path-like
            The folder of the file the URI comes from (manifest, anchors file).

        Raises
        ------
        MediaAccessError
            ``..`` in the URI, an unsupported scheme, or a real path outside every root
            (a symlink leading out included).
        MediaNotFoundError
            Inside a root, but no such file.
        """
        try:
            path = uri_to_path(uri, base_dir)
        except PianoEvalError as exc:
            raise MediaAccessError(f"media URI {uri!r} refused: {exc}") from None
        # checked after decoding too: file:///root/%2e%2e/x is a '..' as well
        if ".." in Path(uri.replace("\\", "/")).parts or ".." in uri_to_path(uri).parts:
            raise MediaAccessError(f"media URI {uri!r} climbs out with '..': refused")
        real = Path(os.path.abspath(path)).resolve()
        if not any(real.is_relative_to(root) for root in self.roots):
            raise MediaAccessError(
                f"media URI {uri!r} is outside the media roots "
                f"({', '.join(str(r) for r in self.roots)}): refused"
            )
        if not real.is_file():
            raise MediaNotFoundError(real, "media file not found")
        return real


def crop_audio(path: PathLike, t0: float, t1: float) -> tuple[np.ndarray, int]:
    """Read exactly ``[t0, t1]`` seconds of an audio file (clipped to its end).

    Returns
    -------
    y : np.ndarray [float32], shape=(n_samples,) or (n_samples, n_channels)
    sr : int

    Raises
    ------
    MediaNotFoundError
        Unreadable file, or ``t0`` at or after its end.
    """
    import soundfile as sf

    if not (math.isfinite(t0) and math.isfinite(t1) and 0 <= t0 < t1):
        raise ParameterError(f"need 0 <= t0 < t1, got t0={t0}, t1={t1}")
    try:
        info = sf.info(str(path))
        sr = int(info.samplerate)
        start, stop = round(t0 * sr), min(round(t1 * sr), int(info.frames))
        if start >= stop:
            raise MediaNotFoundError(path, f"t0={t0} s is at or after the end of the audio")
        y, _ = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise MediaNotFoundError(path, f"cannot read the audio ({exc})") from None
    return np.asarray(y, dtype=np.float32), sr


def wav_bytes(y: np.ndarray, sr: int) -> bytes:
    """Encode audio as 16-bit PCM WAV bytes (clipped to [-1, 1])."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(y, -1.0, 1.0), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def render_midi_crop(
    midi_path: PathLike, t0: float, t1: float, *, soundfont: str, cache_dir: PathLike
) -> Path:
    """Render a MIDI file's ``[t0, t1]`` to a cached WAV; return the cached file.

    Parameters
    ----------
    midi_path : path-like
        An already checked MIDI file (:meth:`MediaRoots.resolve`).
    t0, t1 : float, s
    soundfont : str
        A SoundFont key or ``.sf2``/``.sf3`` path (:func:`pianoeval.render.get_soundfont`).
    cache_dir : path-like
        Cache folder (created when missing).

    Raises
    ------
    MidiError, SoundFontNotFoundError, BackendUnavailableError
        From the renderer.
    """
    from pianoeval.render import RENDERER_VERSION, get_soundfont, render_midi, soundfont_sha256

    if not (math.isfinite(t0) and math.isfinite(t1) and 0 <= t0 < t1):
        raise ParameterError(f"need 0 <= t0 < t1, got t0={t0}, t1={t1}")
    font = get_soundfont(soundfont)
    key = content_key(
        {
            "renderer": RENDERER_VERSION,
            "midi_sha256": file_sha256(midi_path),
            "t0": float(t0),
            "t1": float(t1),
            "soundfont": font.name,
            "soundfont_sha256": soundfont_sha256(font.check()),
        }
    )
    folder = Path(cache_dir)
    target = folder / key[:2] / f"{key}.wav"
    if target.is_file():
        return target
    y, sr = render_midi(midi_path, soundfont=font)
    start, stop = round(t0 * sr), min(round(t1 * sr), len(y))
    if start >= stop:
        raise MediaNotFoundError(midi_path, f"t0={t0} s is after the end of the rendered MIDI")
    target.parent.mkdir(parents=True, exist_ok=True)
    with replace_atomically(target) as tmp:
        tmp.write_bytes(wav_bytes(y[start:stop], sr))
    return target
