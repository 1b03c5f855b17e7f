"""The contract every transcription backend follows, and the checks applied to what it returns.

A backend turns a waveform into notes (and, when it can, pedal events). Every backend is a
:class:`TranscriptionBackend` and is used only through
:meth:`TranscriptionBackend.transcribe_array`, which is the same for all of them:

1. the waveform is checked (finite, 1-D or channels-first 2-D, a positive rate), downmixed
   when the backend wants mono, and resampled to the backend's rate with soxr;
2. the settings are resolved (:meth:`~TranscriptionBackend.resolve_settings`): every option
   has a documented default; unknown names and bad values raise
   :class:`~pianoeval.errors.ParameterError`;
3. the backend's :meth:`~TranscriptionBackend._transcribe` runs;
4. its output is checked by :func:`validate_output` (dtypes, finite times inside the audio,
   onset < offset, MIDI pitch and velocity ranges, time order), so a broken backend fails
   loudly at the boundary instead of writing a bad MIDI file.

Only the backend modules import their heavy dependencies (torch, onnxruntime), and only
inside methods: listing or describing backends never imports them. A missing dependency
raises :class:`~pianoeval.errors.BackendUnavailableError` whose message is the exact
command that installs it (:meth:`TranscriptionBackend.check`).
"""

from __future__ import annotations

import importlib.metadata
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from pianoeval.errors import BackendUnavailableError, ParameterError, SchemaError
from pianoeval.symbolic.midi import NOTE_DTYPE, PEDAL_DTYPE

__all__ = [
    "EXTRA_INSTALL",
    "BackendOutput",
    "TranscriptionBackend",
    "empty_output",
    "validate_output",
]

#: The part of every install command that installs the extra's dependencies. The extra pins
#: torch==2.13.0, so pip keeps the CPU build; transkun and basic-pitch then go in without
#: their declared dependencies (a torchaudio, TensorFlow), as scripts/setup.sh does.
EXTRA_INSTALL = "pip install 'pianoeval[transcribe]'"

#: Lowest and highest MIDI pitch a transcription may contain (the full MIDI range; piano
#: backends stay within 21-108).
PITCH_MIN, PITCH_MAX = 0, 127


@dataclass(frozen=True)
class BackendOutput:
    """What a backend found in a waveform, times in seconds from its first sample.

    Attributes
    ----------
    notes : np.ndarray, dtype=NOTE_DTYPE, shape=(n_notes,)
        Sorted by onset then pitch; velocities 1-127.
    sustain : np.ndarray, dtype=PEDAL_DTYPE, shape=(n_events,)
        CC64 events in time order (empty when the backend gives no pedal).
    soft : np.ndarray, dtype=PEDAL_DTYPE, shape=(n_events,)
        CC67 events in time order (empty when the backend gives no soft pedal).
    """

    notes: npt.NDArray[np.void]
    sustain: npt.NDArray[np.void]
    soft: npt.NDArray[np.void]


def empty_output() -> BackendOutput:
    """Return a transcription without notes or pedal events.

    Examples
    --------
    >>> len(empty_output().notes)
    0
    """
    return BackendOutput(
        notes=np.zeros(0, dtype=NOTE_DTYPE),
        sustain=np.zeros(0, dtype=PEDAL_DTYPE),
        soft=np.zeros(0, dtype=PEDAL_DTYPE),
    )


def clip_to_duration(output: BackendOutput, duration_sec: float) -> BackendOutput:
    """Cut a transcription at the end of its audio: nothing can sound after the audio ends.

    Models that hear fixed-length windows padded past the end (transkun) may let a note or a
    pedal run on into the padding; notes starting at or after the end are dropped, later
    offsets and pedal events moved to the end.

    Examples
    --------
    >>> notes = np.array([(0.5, 2.5, 60, 80), (2.1, 2.4, 62, 80)], dtype=NOTE_DTYPE)
    >>> out = clip_to_duration(BackendOutput(notes, empty_output().sustain,
    ...                                      empty_output().soft), 2.0)
    >>> out.notes["offset_sec"].tolist()
    [2.0]
    """
    notes = output.notes[output.notes["onset_sec"] < duration_sec].copy()
    notes["offset_sec"] = np.minimum(notes["offset_sec"], duration_sec)
    pedals = []
    for events in (output.sustain, output.soft):
        ev = events.copy()
        ev["time_sec"] = np.minimum(ev["time_sec"], duration_sec)
        pedals.append(ev)
    return BackendOutput(notes=notes, sustain=pedals[0], soft=pedals[1])


def validate_output(output: BackendOutput, *, backend: str, duration_sec: float) -> BackendOutput:
    """Check what a backend returned; return it with notes and events in time order.

    Parameters
    ----------
    output : BackendOutput
    backend : str
        The backend's name, used in messages.
    duration_sec : float
        Length of the audio transcribed, in seconds: no time may lie past it (plus one
        second of slack for frame rounding and release tails).

    Returns
    -------
    BackendOutput
        The same arrays, notes sorted by (onset, pitch), pedal events by time.

    Raises
    ------
    SchemaError
        Naming the backend and the first problem: a wrong dtype, a non-finite or negative
        time, a time past the audio, an offset not after its onset, a pitch outside 0-127,
        a velocity outside 1-127, or a pedal value outside 0-127.

    Examples
    --------
    >>> validate_output(empty_output(), backend="demo", duration_sec=1.0).notes.shape
    (0,)
    """
    limit = duration_sec + 1.0
    notes = output.notes
    if not isinstance(notes, np.ndarray) or notes.dtype != NOTE_DTYPE or notes.ndim != 1:
        raise SchemaError(f"{backend}: notes must be a 1-D array of NOTE_DTYPE")
    onset = notes["onset_sec"]
    offset = notes["offset_sec"]
    if not (np.isfinite(onset).all() and np.isfinite(offset).all()):
        raise SchemaError(f"{backend}: non-finite note times")
    if len(notes) and (onset.min() < 0.0 or offset.max() > limit):
        raise SchemaError(
            f"{backend}: note times must lie in [0, {limit:.3f}] s, "
            f"found [{onset.min():.3f}, {offset.max():.3f}]"
        )
    if (offset <= onset).any():
        raise SchemaError(f"{backend}: {int((offset <= onset).sum())} notes end before they start")
    pitch, velocity = notes["pitch"], notes["velocity"]
    if len(notes) and (pitch.min() < PITCH_MIN or pitch.max() > PITCH_MAX):
        raise SchemaError(f"{backend}: pitches must be MIDI numbers 0-127")
    if len(notes) and (velocity.min() < 1 or velocity.max() > 127):
        raise SchemaError(f"{backend}: velocities must be 1-127")
    pedals = {}
    for name in ("sustain", "soft"):
        events = getattr(output, name)
        if not isinstance(events, np.ndarray) or events.dtype != PEDAL_DTYPE or events.ndim != 1:
            raise SchemaError(f"{backend}: {name} must be a 1-D array of PEDAL_DTYPE")
        times = events["time_sec"]
        outside = len(events) > 0 and (times.min() < 0 or times.max() > limit)
        if not np.isfinite(times).all() or outside:
            raise SchemaError(f"{backend}: {name} times must be finite, in [0, {limit:.3f}] s")
        if len(events) and (events["value"].min() < 0 or events["value"].max() > 127):
            raise SchemaError(f"{backend}: {name} values must be 0-127")
        pedals[name] = events[np.argsort(times, kind="stable")]
    return BackendOutput(
        notes=np.sort(notes, order=["onset_sec", "pitch"]),
        sustain=pedals["sustain"],
        soft=pedals["soft"],
    )


class TranscriptionBackend(ABC):
    """An audio-to-MIDI transcriber, registered in :data:`pianoeval.symbolic.transcribe.BACKENDS`.

    Subclasses set the class attributes, :attr:`defaults` (every option with its default)
    and implement :meth:`_load_dependencies`, :meth:`_transcribe` and, when some settings
    need more than a type check, :meth:`_check_settings`.

    Attributes
    ----------
    name : str
        Registry key.
    distribution : str
        The PyPI package whose code and weights the backend runs (``"transkun"``).
    supported_version : str
        The version of ``distribution`` the backend was written and measured against; the
        install command pins it.
    sr : int
        Rate the model works at, in Hz (input is resampled to it).
    mono : bool
        Whether the model takes one channel (True) or every channel of the file (False).
    gives_pedal : bool
        Whether the backend transcribes the sustain pedal.
    modules : tuple of str
        Top-level modules that must be importable.
    defaults : mapping
        Every option and its default value.
    description : str
    """

    name: ClassVar[str]
    distribution: ClassVar[str]
    supported_version: ClassVar[str]
    sr: ClassVar[int]
    mono: ClassVar[bool]
    gives_pedal: ClassVar[bool]
    modules: ClassVar[tuple[str, ...]]
    defaults: ClassVar[Mapping[str, Any]]
    description: ClassVar[str] = ""

    @property
    def install_command(self) -> str:
        """Return the exact command that installs this backend (run in the project root).

        Examples
        --------
        >>> from pianoeval.symbolic.transcribe import BACKENDS
        >>> BACKENDS.get("transkun").install_command
        "pip install 'pianoeval[transcribe]' && pip install --no-deps transkun==2.0.1"
        """
        package = f"{self.distribution}=={self.supported_version}"
        return f"{EXTRA_INSTALL} && pip install --no-deps {package}"

    def installed_version(self) -> str | None:
        """Return the installed version of :attr:`distribution`, or None when not installed."""
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    def is_available(self) -> bool:
        """Whether the backend's packages are installed (found, not imported: cheap)."""
        import importlib.util

        return self.installed_version() is not None and all(
            importlib.util.find_spec(m) is not None for m in self.modules
        )

    def check(self) -> None:
        """Import the backend's dependencies, raising when one cannot be imported.

        Raises
        ------
        BackendUnavailableError
            With :attr:`install_command` and what failed to import.
        """
        try:
            self._load_dependencies()
        except ImportError as e:
            raise BackendUnavailableError(
                f"transcription backend {self.name!r}", self.install_command, reason=str(e)
            ) from e
        except OSError as e:  # a compiled extension built for another version
            raise BackendUnavailableError(
                f"transcription backend {self.name!r}",
                self.install_command,
                reason=f"{type(e).__name__}: {e}",
            ) from e

    def version(self) -> str:
        """Return what identifies the backend's output: wrapper and package versions.

        Part of every cache key, so a new wrapper or a new package version misses the cache.
        """
        return f"{self.name}/{self.wrapper_version}+{self.distribution}=={self.installed_version()}"

    #: Bump when the wrapper's output changes for the same settings.
    wrapper_version: ClassVar[str] = "1"

    def resolve_settings(self, **options: Any) -> dict[str, Any]:
        """Return every option with its value: the defaults overridden by ``options``.

        Raises
        ------
        ParameterError
            For an unknown option or a value of the wrong type (a bool is not a number).
        """
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise ParameterError(
                f"transcription backend {self.name!r} has no option {unknown[0]!r}; "
                f"its options: {known}"
            )
        settings = {**self.defaults, **options}
        for key, value in settings.items():
            default = self.defaults[key]
            if default is None or value is None:
                continue
            ok = (
                isinstance(value, bool)
                if isinstance(default, bool)
                else isinstance(value, int | float) and not isinstance(value, bool)
                if isinstance(default, int | float)
                else isinstance(value, type(default))
            )
            if not ok:
                raise ParameterError(
                    f"{self.name} option {key} must be a {type(default).__name__}, got {value!r}"
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise ParameterError(f"{self.name} option {key} must be finite, got {value!r}")
        self._check_settings(settings)
        return settings

    def _check_settings(self, settings: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Check values beyond their types (ranges, choices); raise ParameterError."""

    def prepare(self, *, threads: int | None = None, **options: Any) -> None:
        """Load the model for these settings now (it is kept), so timings exclude loading.

        Raises
        ------
        BackendUnavailableError
            If the backend's dependencies are missing.
        """
        settings = self.resolve_settings(**options)
        self.check()
        self._prepare(settings, threads)

    def _prepare(self, settings: dict[str, Any], threads: int | None) -> None:  # noqa: B027
        """Load what :meth:`_transcribe` will need (optional hook)."""

    @abstractmethod
    def _load_dependencies(self) -> None:
        """Import what the backend needs; let ImportError propagate."""

    @abstractmethod
    def _transcribe(self, y: npt.NDArray[np.float32], settings: dict[str, Any]) -> BackendOutput:
        """Transcribe ``y`` (at :attr:`sr`; shape (n,) when mono, else (n_channels, n))."""

    def transcribe_array(
        self, y: npt.ArrayLike, sr: int, *, threads: int | None = None, **options: Any
    ) -> BackendOutput:
        """Transcribe a waveform: the same checks and conversions for every backend.

        Parameters
        ----------
        y : np.ndarray [float], shape=(n_samples,) or (n_channels, n_samples)
            Waveform, channels first, not normalised.
        sr : int
            Its rate in Hz.
        threads : int, optional
            CPU threads the model may use; default: the backend's default (2 for transkun).
        **options
            Backend settings (:attr:`defaults`).

        Returns
        -------
        BackendOutput
            Checked by :func:`validate_output`.

        Raises
        ------
        ParameterError
            For a bad waveform, rate or option.
        BackendUnavailableError
            If the backend's dependencies are missing.
        """
        from pianoeval.audio.io import resample

        arr = np.asarray(y)
        if arr.ndim not in (1, 2) or arr.shape[-1] == 0:
            raise ParameterError(
                f"y must have shape (n_samples,) or (n_channels, n_samples), got {arr.shape}"
            )
        if not np.issubdtype(arr.dtype, np.floating):
            raise ParameterError(f"y must hold floats in [-1, 1], got dtype {arr.dtype}")
        if not np.isfinite(arr).all():
            raise ParameterError("y has non-finite samples")
        if isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr <= 0:
            raise ParameterError(f"sr must be a positive integer in Hz, got {sr!r}")
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise ParameterError(f"threads must be a positive integer or None, got {threads!r}")
        settings = self.resolve_settings(**options)
        self.check()
        if self.mono and arr.ndim == 2:
            arr = arr.mean(axis=0)
        y32 = resample(arr.astype(np.float32, copy=False), int(sr), self.sr)
        duration_sec = y32.shape[-1] / self.sr
        out = clip_to_duration(self._run(y32, settings, threads), duration_sec)
        return validate_output(out, backend=self.name, duration_sec=duration_sec)

    def _run(
        self, y: npt.NDArray[np.float32], settings: dict[str, Any], threads: int | None
    ) -> BackendOutput:
        """Call :meth:`_transcribe`; backends that manage threads override this."""
        return self._transcribe(y, settings)

    def __repr__(self) -> str:
        return f"<transcription backend {self.name!r} ({self.distribution})>"
