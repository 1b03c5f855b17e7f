"""The project's MIDI reader: notes, velocities and pedals of a performance, in seconds.

Every part of pianoeval that needs note times (rendering, features, manifests) reads MIDI
through :func:`load_midi`, so they all see the same times: pretty_midi's tempo-map
conversion of every note-on/note-off, all instruments merged (piano MIDI from Disklaviers and
from score exports often splits hands or pedals over tracks), drum tracks ignored.

Notes are a structured array with unit-suffixed fields (``onset_sec``, ``offset_sec``,
``pitch``, ``velocity``) sorted by onset then pitch, as in partitura's note arrays. Pedals
are ``(time_sec, value)`` arrays of controller events: sustain (CC64), sostenuto (CC66)
and soft (CC67); values are kept as played (0-127), so half-pedalling stays visible.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pianoeval._paths import check_input_file, describe_exception
from pianoeval._typing import PathLike
from pianoeval.constants import PEDAL_DOWN
from pianoeval.errors import MidiError, ParameterError

NOTE_DTYPE = np.dtype(
    [("onset_sec", "f8"), ("offset_sec", "f8"), ("pitch", "i2"), ("velocity", "i2")]
)
PEDAL_DTYPE = np.dtype([("time_sec", "f8"), ("value", "i2")])
SUSTAIN_CC, SOSTENUTO_CC, SOFT_CC = 64, 66, 67


@dataclass(frozen=True)
class PerformanceMidi:
    """A performance as notes and pedal events.

    Attributes
    ----------
    path : str
    notes : np.ndarray, dtype=NOTE_DTYPE, shape=(n_notes,)
    sustain, sostenuto, soft : np.ndarray, dtype=PEDAL_DTYPE
        Controller events in time order.
    end_sec : float
        End of the last sounding note, sustain pedal included (0 with no notes).
    """

    path: str
    notes: npt.NDArray[np.void]
    sustain: npt.NDArray[np.void]
    sostenuto: npt.NDArray[np.void]
    soft: npt.NDArray[np.void]
    end_sec: float

    @property
    def start_sec(self) -> float:
        """Onset of the first note (0 with no notes)."""
        return float(self.notes["onset_sec"][0]) if len(self.notes) else 0.0

    @property
    def n_notes(self) -> int:
        """Number of notes."""
        return len(self.notes)


def load_midi(path: PathLike, *, require_notes: bool = True) -> PerformanceMidi:
    """Read a performance MIDI file.

    Parameters
    ----------
    path : path-like
    require_notes : bool
        Raise if the file has no notes (a degenerate performance for most uses).

    Returns
    -------
    PerformanceMidi

    Raises
    ------
    MidiError
        Naming the file and the problem: missing, a directory, unreadable, a name longer
        than the system allows, a symbolic link loop, empty, truncated or corrupt, or no
        notes when ``require_notes``.

    Examples
    --------
    >>> from pianoeval.examples import example_midi_path
    >>> perf = load_midi(example_midi_path())
    >>> perf.n_notes, bool(perf.end_sec > perf.notes['offset_sec'].max())
    (137, True)
    """
    import pretty_midi

    p = check_input_file(path, MidiError, what="MIDI file")
    try:
        with warnings.catch_warnings():
            # Many real files put tempo events on later tracks; pretty_midi still reads them.
            warnings.simplefilter("ignore", RuntimeWarning)
            pm = pretty_midi.PrettyMIDI(str(p))
    except Exception as e:  # mido raises OSError, EOFError, ValueError, KeyError, IndexError...
        raise MidiError(p, f"corrupt or unreadable MIDI ({describe_exception(e)})") from None

    note_rows = [
        (n.start, n.end, n.pitch, n.velocity)
        for inst in pm.instruments
        if not inst.is_drum
        for n in inst.notes
        if n.end > n.start
    ]
    notes = np.array(note_rows, dtype=NOTE_DTYPE)
    notes.sort(order=["onset_sec", "pitch"])
    if require_notes and len(notes) == 0:
        raise MidiError(p, "has no notes")

    def controller(number: int) -> npt.NDArray[np.void]:
        rows = [
            (cc.time, cc.value)
            for inst in pm.instruments
            if not inst.is_drum
            for cc in inst.control_changes
            if cc.number == number
        ]
        arr = np.array(rows, dtype=PEDAL_DTYPE)
        return arr[np.argsort(arr["time_sec"], kind="stable")]

    sustain = controller(SUSTAIN_CC)
    ends = sounding_offsets(notes, sustain)
    return PerformanceMidi(
        path=str(p),
        notes=notes,
        sustain=sustain,
        sostenuto=controller(SOSTENUTO_CC),
        soft=controller(SOFT_CC),
        end_sec=float(ends.max()) if len(ends) else 0.0,
    )


def sounding_offsets(
    notes: npt.NDArray[np.void], sustain: npt.NDArray[np.void], *, threshold: int = PEDAL_DOWN
) -> npt.NDArray[np.float64]:
    """Return when each note stops sounding: its key release, held on by the sustain pedal.

    A note released while the pedal is down (value >= ``threshold``) sounds until the pedal
    next goes up; a pedal still down at the end holds it to the last pedal event or the
    release, whichever is later. Pedal events before the first note, "up" events only, or no
    events at all are all legal; the result is never before the key release and never NaN.

    Parameters
    ----------
    notes : np.ndarray, dtype=NOTE_DTYPE
    sustain : np.ndarray, dtype=PEDAL_DTYPE
        CC64 events (sorted here by time; simultaneous events keep their order).
    threshold : int
        Controller value at or above which the pedal counts as down.

    Returns
    -------
    np.ndarray, shape=(n_notes,), seconds
    """
    offsets = np.asarray(notes["offset_sec"], dtype=np.float64).copy()
    if len(sustain) == 0 or len(offsets) == 0:
        return offsets
    # Sort defensively (stable, so simultaneous events keep their file order): callers
    # building pedal arrays by hand need not know the reader's ordering.
    order = np.argsort(np.asarray(sustain["time_sec"], dtype=np.float64), kind="stable")
    times = np.asarray(sustain["time_sec"], dtype=np.float64)[order]
    down = np.asarray(sustain["value"])[order] >= threshold
    # state after each event; index of the last event at or before each offset
    idx = np.searchsorted(times, offsets, side="right") - 1
    held = (idx >= 0) & down[np.clip(idx, 0, None)]
    if not held.any():
        return offsets
    # next "up" event strictly after each held offset; none left (the pedal stays down to
    # the end) holds the note to the last pedal event
    up_times = times[~down]
    nxt = np.searchsorted(up_times, offsets[held], side="right")
    release = np.full(nxt.shape, times[-1])
    has_up = nxt < len(up_times)
    release[has_up] = up_times[nxt[has_up]]
    offsets[held] = np.maximum(offsets[held], release)
    return offsets


#: Target of :func:`normalise_velocities`: mean and standard deviation of the velocities.
NORMALISED_VELOCITY_MEAN, NORMALISED_VELOCITY_SD = 64.0, 18.0


def normalise_velocities(
    perf: PerformanceMidi,
    *,
    mean: float = NORMALISED_VELOCITY_MEAN,
    sd: float = NORMALISED_VELOCITY_SD,
) -> PerformanceMidi:
    """Return ``perf`` with its velocities standardised to ``mean`` and ``sd`` (1-127).

    Why: a transcription's velocities say how loud each note *sounded* on the piano that
    was recorded, and every piano maps touch to sound differently. Transcribing the same
    PercePiano performances rendered with MuseScore General instead of FluidR3_GM moves
    the mean transcribed velocity by 4.6 standard deviations (across segments) and doubles
    its spread (docs/audio-rater.md, "Velocities"), so a rater that learned absolute
    velocities on one piano misreads every other. Within a performance, the order and the
    relative size of the dynamics survive the piano; those are what this keeps. A
    performance whose notes all have one velocity gets ``mean`` for all.

    Examples
    --------
    >>> import numpy as np
    >>> notes = np.array([(0.0, 0.5, 60, 30), (0.5, 1.0, 62, 40), (1.0, 1.5, 64, 50)],
    ...                  dtype=NOTE_DTYPE)
    >>> empty = np.array([], dtype=PEDAL_DTYPE)
    >>> p = PerformanceMidi("x.mid", notes, empty, empty, empty, 1.5)
    >>> normalise_velocities(p).notes["velocity"].tolist()
    [42, 64, 86]
    """
    from dataclasses import replace

    if not 1.0 <= mean <= 127.0 or sd <= 0:
        raise ParameterError(f"mean must be within 1-127 and sd positive (got {mean}, {sd})")
    notes = perf.notes.copy()
    if len(notes):
        v = notes["velocity"].astype(np.float64)
        spread = float(v.std())
        z = (v - v.mean()) / spread if spread > 0 else np.zeros_like(v)
        notes["velocity"] = np.clip(np.rint(mean + sd * z), 1, 127).astype(notes["velocity"].dtype)
    return replace(perf, notes=notes)
