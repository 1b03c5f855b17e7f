"""Audio to MIDI: transcribe piano recordings with a registry of backends, cached.

Task and conventions
--------------------
A transcription turns an audio file into a performance MIDI file: notes (onset, offset,
pitch, velocity) and, when the backend gives them, sustain (CC64) and soft (CC67) pedal
events, times in seconds from the first sample of the file. The result is read back with
the project's MIDI reader (:func:`pianoeval.symbolic.load_midi`), so a transcription is
used exactly like a performance MIDI file.

Backends (:data:`BACKENDS`), each in its own module and imported on first use:

- ``"transkun"`` (default, :mod:`.transkun`): accurate, notes and pedal; PyTorch. Made
  3-4x faster than transkun's own loop on CPU (docs/transcription.md).
- ``"basic_pitch"`` (:mod:`.basic_pitch`): fast, notes only; ONNX Runtime.

Both ship their weights in their PyPI packages (nothing is downloaded) and both declare
dependencies that cannot be installed here (a torchaudio, TensorFlow): ``scripts/setup.sh``
installs them with ``--no-deps`` next to the ``transcribe`` extra. A backend that cannot be
imported raises :class:`~pianoeval.errors.BackendUnavailableError` whose message is the
command that installs it. Every backend follows one contract (:mod:`.base`): same entry
point, same input handling, same checks of its output.

Transcriptions are cached by content (:mod:`.cache`): the SHA-256 of the audio file's
bytes, the backend, its settings and the versions of the code that ran. A second call with
the same audio returns the stored MIDI file without loading a model.

Differences from the backends' own tools: audio is read by :func:`pianoeval.audio.load_audio`
(libsndfile + soxr, no ffmpeg); MIDI files are written by pianoeval (one piano track, no
pitch bends), not by the backends.

Examples
--------
>>> from pianoeval.symbolic.transcribe import BACKENDS
>>> BACKENDS.names()
['transkun', 'basic_pitch']
"""

from __future__ import annotations

import io
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pianoeval._registry import Registry
from pianoeval._typing import PathLike
from pianoeval.errors import BackendUnavailableError
from pianoeval.symbolic.midi import PerformanceMidi, load_midi
from pianoeval.symbolic.transcribe.base import BackendOutput, TranscriptionBackend
from pianoeval.symbolic.transcribe.cache import (
    TRANSCRIBE_VERSION,
    TranscriptionCache,
    audio_sha256,
    default_cache_dir,
    transcription_key,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "TRANSCRIBE_VERSION",
    "BackendOutput",
    "Transcription",
    "TranscriptionBackend",
    "TranscriptionCache",
    "available_backends",
    "default_cache_dir",
    "get_backend",
    "output_to_midi_bytes",
    "transcribe",
]

#: Transcription backends by name: ``"module:attribute"`` entries imported on first use.
BACKENDS: Registry[TranscriptionBackend] = Registry("transcription backend")
BACKENDS.register("transkun", "pianoeval.symbolic.transcribe.transkun:BACKEND")
BACKENDS.register("basic_pitch", "pianoeval.symbolic.transcribe.basic_pitch:BACKEND")

#: The backend :func:`transcribe` uses unless told otherwise.
DEFAULT_BACKEND = "transkun"


@dataclass(frozen=True)
class Transcription:
    """A transcribed audio file: the MIDI file written and what it contains.

    Attributes
    ----------
    performance : PerformanceMidi
        The MIDI file read back with :func:`pianoeval.symbolic.load_midi` (notes, pedals).
    midi_path : str
        The MIDI file (``out_path`` when given, else the cache entry).
    audio_path : str
    backend : str
    settings : dict
        The resolved backend settings (all options, defaults included).
    key : str
        Cache key.
    cached : bool
        True when the MIDI came from the cache.
    audio_sec : float
        Length of the audio, in seconds.
    elapsed_sec : float
        Wall-clock seconds the transcription took when the MIDI was made: reading the audio
        and running the backend, not loading its model (once per process); for a cached
        result, the time stored with the entry.
    threads : int or None
        Threads used when the MIDI was made.
    """

    performance: PerformanceMidi
    midi_path: str
    audio_path: str
    backend: str
    settings: dict[str, Any]
    key: str
    cached: bool
    audio_sec: float
    elapsed_sec: float
    threads: int | None = None
    meta: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def notes(self) -> npt.NDArray[np.void]:
        """Transcribed notes (``NOTE_DTYPE``)."""
        return self.performance.notes

    @property
    def sustain(self) -> npt.NDArray[np.void]:
        """Transcribed sustain-pedal events (``PEDAL_DTYPE``; empty without pedal)."""
        return self.performance.sustain

    @property
    def real_time_factor(self) -> float:
        """``elapsed_sec / audio_sec``: below 1 is faster than real time."""
        return self.elapsed_sec / self.audio_sec if self.audio_sec > 0 else float("nan")


def get_backend(name: str) -> TranscriptionBackend:
    """Return the registered backend ``name`` (importing its module, not its dependencies).

    Raises
    ------
    ParameterError
        If no backend has that name (the message lists them).
    """
    return BACKENDS.get(name)


def available_backends() -> list[str]:
    """Return the names of the backends whose packages are installed.

    Cheap: packages are looked up, not imported. A package that is installed but cannot be
    imported is still listed; :func:`transcribe` then raises with the install command.

    Examples
    --------
    >>> set(available_backends()) <= set(BACKENDS.names())
    True
    """
    return [name for name in BACKENDS if BACKENDS.get(name).is_available()]


def output_to_midi_bytes(output: BackendOutput, *, resolution: int = 960) -> bytes:
    """Write a backend's output as a standard MIDI file (one piano track), in memory.

    Parameters
    ----------
    output : BackendOutput
    resolution : int
        Ticks per beat at pretty_midi's 120 bpm: 960 gives 1/1920 s steps.

    Returns
    -------
    bytes

    Examples
    --------
    >>> from pianoeval.symbolic.transcribe.base import empty_output
    >>> output_to_midi_bytes(empty_output())[:4]
    b'MThd'
    """
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(resolution=resolution)
    piano = pretty_midi.Instrument(program=0, name="transcription")
    for onset, offset, pitch, velocity in output.notes.tolist():
        piano.notes.append(pretty_midi.Note(int(velocity), int(pitch), onset, offset))
    for number, events in ((64, output.sustain), (67, output.soft)):
        for time_sec, value in events.tolist():
            piano.control_changes.append(pretty_midi.ControlChange(number, int(value), time_sec))
    pm.instruments.append(piano)
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def transcribe(
    audio_path: PathLike,
    *,
    backend: str = DEFAULT_BACKEND,
    cache_dir: PathLike | None = None,
    out_path: PathLike | None = None,
    threads: int | None = None,
    refresh: bool = False,
    **options: Any,
) -> Transcription:
    """Transcribe an audio file to MIDI, reusing a cached transcription when there is one.

    Parameters
    ----------
    audio_path : path-like
        Any file :func:`pianoeval.audio.load_audio` reads (wav, flac, ogg, mp3...).
    backend : str
        A name in :data:`BACKENDS`: ``"transkun"`` (notes and pedal) or ``"basic_pitch"``.
    cache_dir : path-like, optional
        Cache folder; default :func:`default_cache_dir`.
    out_path : path-like, optional
        Also write the MIDI file here (the cache keeps its own copy).
    threads : int, optional
        CPU threads for the model (transkun default 2; basic-pitch: ONNX Runtime's choice).
    refresh : bool
        Transcribe even when the cache has the result, and replace the entry.
    **options
        Backend settings (``TranscriptionBackend.defaults``), e.g. ``precision="fp32"``.

    Returns
    -------
    Transcription

    Raises
    ------
    ParameterError
        Unknown backend or option, or a bad value.
    BackendUnavailableError
        If the backend's packages are missing (the message has the install command).
    AudioError
        If the audio file cannot be read.

    Warns
    -----
    UserWarning
        When nothing was transcribed (silent or non-piano audio): the MIDI file has no notes.

    Examples
    --------
    >>> import tempfile
    >>> from pianoeval.examples import example_audio_path  # doctest: +SKIP
    >>> t = transcribe(example_audio_path(), backend="basic_pitch",
    ...                cache_dir=tempfile.mkdtemp())  # doctest: +SKIP
    >>> t.performance.n_notes > 0  # doctest: +SKIP
    True
    """
    impl = get_backend(backend)
    settings = impl.resolve_settings(**options)
    path = Path(audio_path)
    from pianoeval.audio.io import audio_info, load_audio, warn_truncated

    info = audio_info(path)  # AudioError for a missing, empty or corrupt file
    cache = TranscriptionCache(cache_dir if cache_dir is not None else default_cache_dir())
    if not impl.is_available():
        raise BackendUnavailableError(
            f"transcription backend {backend!r}",
            impl.install_command,
            reason=f"{impl.distribution} is not installed",
        )
    key = transcription_key(
        audio_sha256=audio_sha256(path),
        backend=impl.name,
        backend_version=impl.version(),
        settings=settings,
    )
    meta = None if refresh else cache.get(key)
    cached = meta is not None
    if meta is None:
        impl.prepare(threads=threads, **settings)  # model loading is not part of the timing
        t0, c0 = time.perf_counter(), time.process_time()
        y, sr = load_audio(path, sr=None, mono=impl.mono, silence_dbfs=None)
        output = impl.transcribe_array(y, sr, threads=threads, **settings)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        meta = cache.put(
            key,
            output_to_midi_bytes(output),
            {
                "transcribe_version": TRANSCRIBE_VERSION,
                "backend": impl.name,
                "backend_version": impl.version(),
                "settings": settings,
                "audio_path": str(path),
                # what decodes, which a truncated file's header overstates
                "audio_sec": y.shape[-1] / sr,
                "declared_audio_sec": info.declared_duration_sec,
                "elapsed_sec": elapsed,
                "cpu_sec": cpu,
                "load_average": os.getloadavg()[0],
                "threads": threads,
                "n_notes": len(output.notes),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )
    elif "declared_audio_sec" in meta:  # a cache hit: the same warning as the first run
        warn_truncated(path, declared_sec=meta["declared_audio_sec"], decoded_sec=meta["audio_sec"])
    midi_path = cache.midi_path(key)
    if out_path is not None:
        out = Path(out_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(midi_path, out)
        midi_path = out
    performance = load_midi(midi_path, require_notes=False)
    if performance.n_notes == 0:
        warnings.warn(
            f"{backend} found no notes in {os.fspath(path)}: the MIDI file is empty",
            UserWarning,
            stacklevel=2,
        )
    return Transcription(
        performance=performance,
        midi_path=str(midi_path),
        audio_path=str(path),
        backend=impl.name,
        settings=settings,
        key=key,
        cached=cached,
        audio_sec=float(meta.get("audio_sec", info.duration_sec)),
        elapsed_sec=float(meta.get("elapsed_sec", float("nan"))),
        threads=meta.get("threads"),
        meta=meta,
    )
