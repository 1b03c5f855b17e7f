"""Scores for alignment: notes with notated positions (quarters), seconds and bar numbers.

:class:`NotatedScore` is the one score type the aligners read: a structured note array
(:data:`SCORE_NOTE_DTYPE`) sorted by onset then pitch, read from a score MIDI or MusicXML
by :func:`load_score` (partitura), converted from a partitura object by
:func:`score_from_partitura`, or built from a note array in seconds by
:func:`score_from_notes` (a score rendition read as a MIDI performance).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pianoeval._typing import Float64Array, PathLike
from pianoeval.errors import AlignmentError, ParameterError

__all__ = [
    "DYNAMIC_LEVELS",
    "NOMINAL_QPM",
    "SCORE_NOTE_DTYPE",
    "NotatedScore",
    "load_score",
    "score_from_notes",
    "score_from_partitura",
]

#: Tempo assumed for a MusicXML score without a metronome mark (quarters per minute).
NOMINAL_QPM = 120.0

#: Notated dynamic markings read from MusicXML, with their order (softest -3 to loudest 3).
DYNAMIC_LEVELS: dict[str, int] = {
    "ppp": -3, "pp": -2, "p": -1, "mp": 0, "mf": 1, "f": 2, "ff": 3, "fff": 3,
}  # fmt: skip

SCORE_NOTE_DTYPE = np.dtype(
    [
        ("onset_quarter", "f8"),
        ("duration_quarter", "f8"),
        ("onset_sec", "f8"),
        ("duration_sec", "f8"),
        ("pitch", "i2"),
        ("bar", "i4"),
        ("is_grace", "?"),
    ]
)
_SCORE_EXTS_MIDI = (".mid", ".midi")
_SCORE_EXTS_XML = (".musicxml", ".xml", ".mxl")


@dataclass(frozen=True)
class NotatedScore:
    """A score as notes with notated positions, durations, seconds and bar numbers.

    Attributes
    ----------
    notes : np.ndarray, dtype=SCORE_NOTE_DTYPE, shape=(n_notes,)
        Sorted by onset then pitch. ``onset_quarter``/``duration_quarter`` in quarter notes
        from the start of the file; ``onset_sec``/``duration_sec`` at the score's tempo;
        ``bar`` from the measures or the downbeats (see ``bar_source``).
    path : str or None
        The file it was read from.
    time_source : str
        ``"midi_tempo"`` (a score MIDI's tempo map), ``"metronome_mark"`` (a MusicXML's
        first tempo) or ``"nominal"`` (:data:`NOMINAL_QPM`).
    bar_source : str
        ``"measures"`` (partitura's measure numbers) or ``"downbeats"``.
    quarter_to_sec : tuple of np.ndarray
        ``(quarters, seconds)`` breakpoints of the piecewise-linear map between both score
        times (extrapolated linearly past the ends).
    dynamics : tuple of (float, str)
        Notated dynamic markings (``"pp"``, ``"f"``, ...: :data:`DYNAMIC_LEVELS`) with their
        positions in quarters, in score order; empty for a score MIDI (it has none).
    """

    notes: npt.NDArray[np.void]
    path: str | None = None
    time_source: str = "nominal"
    bar_source: str = "measures"
    quarter_to_sec: tuple[Float64Array, Float64Array] = field(
        default_factory=lambda: (np.array([0.0, 1.0]), np.array([0.0, 60.0 / NOMINAL_QPM]))
    )
    dynamics: tuple[tuple[float, str], ...] = ()

    @property
    def n_notes(self) -> int:
        """Number of notes (grace notes included)."""
        return len(self.notes)

    def fingerprint(self) -> str:
        """Return a short hash of the notated notes (pitch and position), to recognise a passage.

        Two files of the same passage (a MusicXML and its score MIDI) usually differ in
        grace notes and positions of ornaments; only non-grace notes enter, positions
        rounded to a 1/48 quarter, counted from the first note.
        """
        import hashlib

        n = self.notes[~self.notes["is_grace"]]
        if n.size == 0:
            return ""
        q = np.round((n["onset_quarter"] - n["onset_quarter"].min()) * 48).astype(np.int64)
        rows = np.stack([q, n["pitch"].astype(np.int64)], axis=1)
        rows = rows[np.lexsort((rows[:, 1], rows[:, 0]))]
        return hashlib.sha1(rows.tobytes()).hexdigest()[:16]

    def seconds(self, quarters: npt.ArrayLike) -> Float64Array:
        """Convert score quarters to score seconds (linear past the ends)."""
        q, s = self.quarter_to_sec
        return _interp_extrap(np.asarray(quarters, dtype=np.float64), q, s)

    def with_downbeats(self, downbeats_sec: npt.ArrayLike) -> NotatedScore:
        """Return a copy whose bar numbers come from downbeats in score seconds.

        Bar ``i`` (1-based) starts at the ``i``-th downbeat; notes before the first downbeat
        are bar 0 (a pickup). A small tolerance (10 ms) puts notes written on a downbeat
        but exported a tick early into their bar.
        """
        db = np.sort(np.asarray(downbeats_sec, dtype=np.float64).ravel())
        if db.size == 0:
            raise ParameterError("downbeats_sec is empty: give at least one downbeat")
        notes = self.notes.copy()
        notes["bar"] = np.searchsorted(db, notes["onset_sec"] + 0.01, side="right")
        return replace(self, notes=notes, bar_source="downbeats")


def _interp_extrap(x: Float64Array, xp: Float64Array, fp: Float64Array) -> Float64Array:
    """np.interp with linear extrapolation from the end segments."""
    if xp.size == 1:
        return np.full_like(x, fp[0])
    y = np.interp(x, xp, fp)
    lo, hi = x < xp[0], x > xp[-1]
    if lo.any():
        slope = (fp[1] - fp[0]) / max(xp[1] - xp[0], 1e-12)
        y[lo] = fp[0] + (x[lo] - xp[0]) * slope
    if hi.any():
        slope = (fp[-1] - fp[-2]) / max(xp[-1] - xp[-2], 1e-12)
        y[hi] = fp[-1] + (x[hi] - xp[-1]) * slope
    return y


def load_score(path: PathLike, *, downbeats_sec: npt.ArrayLike | None = None) -> NotatedScore:
    """Read a score (score MIDI or MusicXML) with partitura.

    Parameters
    ----------
    path : path-like
        ``.mid``/``.midi`` (a quantised score MIDI: seconds from its tempo map) or
        ``.musicxml``/``.xml``/``.mxl`` (seconds from its first metronome mark, else
        :data:`NOMINAL_QPM`); any other format partitura reads is tried as well.
    downbeats_sec : array-like, optional
        Downbeats in score seconds: bar numbers come from them instead of the measures.

    Returns
    -------
    NotatedScore

    Raises
    ------
    AlignmentError
        If the file is missing, cannot be read, or has no notes.

    Examples
    --------
    >>> from pianoeval.examples import example_score_path
    >>> score = load_score(example_score_path())
    >>> score.n_notes > 0, score.time_source
    (True, 'midi_tempo')
    """
    p = Path(path)
    if not p.is_file():
        raise AlignmentError(f"{p}: score file does not exist")
    import partitura as pt  # type: ignore[import-untyped]

    suffix = p.suffix.lower()
    tick_to_sec: tuple[int, Float64Array, Float64Array, Float64Array] | None = None
    try:
        with warnings.catch_warnings():
            # partitura warns about pitch spelling, voices and overlapping notes on most files
            warnings.simplefilter("ignore")
            if suffix in _SCORE_EXTS_MIDI:
                import mido

                mf = mido.MidiFile(str(p))
                if not any(
                    msg.type == "note_on" and msg.velocity > 0 for tr in mf.tracks for msg in tr
                ):  # partitura fails obscurely on a note-less file
                    raise AlignmentError(f"{p}: the score has no notes")
                tick_to_sec = _midi_tempo_map(mf)
                loaded = pt.load_score_midi(mf, quiet=True)
            elif suffix in _SCORE_EXTS_XML:
                loaded = pt.load_musicxml(str(p))
            else:
                loaded = pt.load_score(str(p))
    except AlignmentError:
        raise
    except Exception as e:  # partitura and mido raise many kinds on bad files
        raise AlignmentError(f"{p}: cannot read the score ({type(e).__name__}: {e})") from None
    try:
        score = score_from_partitura(loaded, path=str(p), _tick_map=tick_to_sec)
    except AlignmentError:
        raise
    except Exception as e:  # partitura's note_array fails on some grace-note chords
        raise AlignmentError(
            f"{p}: cannot read the score's notes ({type(e).__name__}: {e})"
        ) from None
    return score.with_downbeats(downbeats_sec) if downbeats_sec is not None else score


def _midi_tempo_map(mf: Any) -> tuple[int, Float64Array, Float64Array, Float64Array]:
    """Return ``(ppq, change_ticks, change_secs, us_per_quarter)`` of a mido MidiFile."""
    changes: list[tuple[int, int]] = []
    for track in mf.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                changes.append((tick, msg.tempo))
    changes.sort(key=lambda c: c[0])
    if not changes or changes[0][0] > 0:
        changes.insert(0, (0, 500_000))  # the MIDI default: 120 quarters a minute
    ticks = np.array([c[0] for c in changes], dtype=np.float64)
    tempos = np.array([c[1] for c in changes], dtype=np.float64)
    ppq = int(mf.ticks_per_beat)
    secs = np.concatenate([[0.0], np.cumsum(np.diff(ticks) * tempos[:-1] / 1e6 / ppq)])
    return ppq, ticks, secs, tempos


def score_from_partitura(
    obj: Any,
    *,
    path: str | None = None,
    downbeats_sec: npt.ArrayLike | None = None,
    _tick_map: tuple[int, Float64Array, Float64Array, Float64Array] | None = None,
) -> NotatedScore:
    """Convert a partitura ``Score``, ``Part`` or list of parts to a :class:`NotatedScore`.

    Positions are converted from each part's divisions to quarters independently (parts of
    a MusicXML file may use different divisions). Without a tempo map (MusicXML, or a part
    built in code) seconds come from the first metronome mark, else :data:`NOMINAL_QPM`.

    Raises
    ------
    AlignmentError
        If there are no notes.
    """
    parts = _parts_of(obj)
    rows: list[npt.NDArray[np.void]] = []
    for part in parts:
        try:
            na = part.note_array(include_grace_notes=True)
        except ValueError:  # partitura 1.9 fails on some chords of grace notes: skip graces
            na = part.note_array(include_grace_notes=False)
        if len(na) == 0:
            continue
        arr = np.zeros(len(na), dtype=SCORE_NOTE_DTYPE)
        onset_q = _div_to_quarter(part, na["onset_div"])
        arr["onset_quarter"] = onset_q
        arr["duration_quarter"] = _div_to_quarter(part, na["onset_div"] + na["duration_div"]) - (
            onset_q
        )
        arr["pitch"] = na["pitch"]
        arr["is_grace"] = na["is_grace"] if "is_grace" in (na.dtype.names or ()) else False
        rows.append(arr)
    if not rows:
        raise AlignmentError(f"{path or 'score'}: the score has no notes")
    notes = np.concatenate(rows)
    notes = notes[np.lexsort((notes["pitch"], notes["onset_quarter"]))]

    # bar numbers from the first part's measures (parts share their barlines)
    measures = list(parts[0].measures)
    if measures:
        starts = _div_to_quarter(parts[0], np.array([m.start.t for m in measures]))
        numbers = np.array(
            [m.number if m.number is not None else i + 1 for i, m in enumerate(measures)]
        )
        idx = np.searchsorted(starts, notes["onset_quarter"] + 1e-6, side="right") - 1
        notes["bar"] = numbers[np.clip(idx, 0, len(numbers) - 1)]
    else:
        notes["bar"] = 1

    if _tick_map is not None:
        ppq, ticks, secs, tempos = _tick_map
        grid_q = np.unique(np.concatenate([ticks / ppq, notes["onset_quarter"], [0.0]]))
        grid_q = grid_q[grid_q >= 0]
        grid_t = grid_q * ppq
        i = np.clip(np.searchsorted(ticks, grid_t, side="right") - 1, 0, len(ticks) - 1)
        grid_s = secs[i] + (grid_t - ticks[i]) * tempos[i] / 1e6 / ppq
        q2s = (grid_q, grid_s)
        time_source = "midi_tempo"
    else:
        qpm = _first_metronome_qpm(parts)
        time_source = "metronome_mark" if qpm is not None else "nominal"
        spq = 60.0 / (qpm or NOMINAL_QPM)
        q2s = (np.array([0.0, 1.0]), np.array([0.0, spq]))
    score = NotatedScore(
        notes, path=path, time_source=time_source, quarter_to_sec=q2s,
        dynamics=_dynamic_markings(parts),
    )  # fmt: skip
    on = score.seconds(notes["onset_quarter"])
    notes["onset_sec"] = on
    notes["duration_sec"] = score.seconds(notes["onset_quarter"] + notes["duration_quarter"]) - on
    return score.with_downbeats(downbeats_sec) if downbeats_sec is not None else score


def _dynamic_markings(parts: Sequence[Any]) -> tuple[tuple[float, str], ...]:
    """Constant dynamic markings (p, f, ...) of the parts, in quarters, sorted, deduplicated."""
    try:
        from partitura.score import ConstantLoudnessDirection  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - partitura always has it
        return ()
    found: set[tuple[float, str]] = set()
    for part in parts:
        for d in part.iter_all(ConstantLoudnessDirection):
            text = str(getattr(d, "text", "") or "").strip().lower()
            if text in DYNAMIC_LEVELS and d.start is not None:
                found.add((float(_div_to_quarter(part, np.array([d.start.t]))[0]), text))
    return tuple(sorted(found))


def _parts_of(obj: Any) -> list[Any]:
    if hasattr(obj, "parts"):  # partitura.score.Score
        parts = list(obj.parts)
    elif isinstance(obj, list | tuple):
        parts = list(obj)
    else:
        parts = [obj]
    parts = [p for p in parts if hasattr(p, "note_array")]
    if not parts:
        raise AlignmentError("not a partitura score or part: nothing with a note_array()")
    return parts


def _div_to_quarter(part: Any, divs: npt.ArrayLike) -> Float64Array:
    """Convert a part's divisions to quarters (piecewise: divisions may change)."""
    d = np.asarray(divs, dtype=np.float64)
    qd = np.asarray(part.quarter_durations(), dtype=np.float64).reshape(-1, 2)
    if qd.size == 0:
        return d
    starts, per = qd[:, 0], qd[:, 1]
    cum = np.concatenate([[0.0], np.cumsum(np.diff(starts) / per[:-1])])
    i = np.clip(np.searchsorted(starts, d, side="right") - 1, 0, len(starts) - 1)
    return np.asarray(cum[i] + (d - starts[i]) / per[i], dtype=np.float64)


def _first_metronome_qpm(parts: Sequence[Any]) -> float | None:
    try:
        from partitura.score import Tempo
    except ImportError:  # pragma: no cover - partitura always has it
        return None
    for part in parts:
        for tempo in part.iter_all(Tempo):
            try:
                us = float(tempo.microseconds_per_quarter)
            except (AttributeError, TypeError, ValueError, ZeroDivisionError):
                continue
            if us > 0 and math.isfinite(us):
                return 60e6 / us
    return None


def score_from_notes(
    notes: npt.NDArray[np.void],
    *,
    path: str | None = None,
    seconds_per_quarter: float = 60.0 / NOMINAL_QPM,
    downbeats_sec: npt.ArrayLike | None = None,
) -> NotatedScore:
    """Make a :class:`NotatedScore` from notes in seconds (a score rendition as MIDI).

    For a score read as a performance (:func:`~pianoeval.symbolic.midi.load_midi`): the
    seconds are kept, quarters are seconds over ``seconds_per_quarter``, bars come from
    ``downbeats_sec`` (score seconds) or are all 1, and no note is a grace note.

    Parameters
    ----------
    notes : np.ndarray, dtype=NOTE_DTYPE
        Sorted by onset then pitch (as ``load_midi`` gives them); the order is kept.
    path : str, optional
    seconds_per_quarter : float
    downbeats_sec : array-like, optional

    Raises
    ------
    ParameterError
        If ``seconds_per_quarter`` is not positive.

    Examples
    --------
    >>> from pianoeval.examples import example_score_path
    >>> from pianoeval.symbolic.midi import load_midi
    >>> s = score_from_notes(load_midi(example_score_path()).notes)
    >>> s.n_notes > 0, s.time_source
    (True, 'midi_tempo')
    """
    if not seconds_per_quarter > 0:
        raise ParameterError(f"seconds_per_quarter must be > 0, not {seconds_per_quarter}")
    arr = np.zeros(len(notes), dtype=SCORE_NOTE_DTYPE)
    on = np.asarray(notes["onset_sec"], dtype=np.float64)
    arr["onset_sec"] = on
    arr["duration_sec"] = np.asarray(notes["offset_sec"], dtype=np.float64) - on
    arr["onset_quarter"] = on / seconds_per_quarter
    arr["duration_quarter"] = arr["duration_sec"] / seconds_per_quarter
    arr["pitch"] = notes["pitch"]
    arr["bar"] = 1
    q2s = (np.array([0.0, 1.0]), np.array([0.0, seconds_per_quarter]))
    score = NotatedScore(arr, path=path, time_source="midi_tempo", quarter_to_sec=q2s)
    return score.with_downbeats(downbeats_sec) if downbeats_sec is not None else score
