"""The one alignment type: which performed note plays which score note.

Every aligner backend (:data:`~pianoeval.symbolic.align.ALIGN_BACKENDS`) returns an
:class:`Alignment`: the performed and score notes, the matched pairs, the missing score
notes and the extra performed notes, and a monotone score-to-performance time map
(anchors in score seconds and the performance seconds they map to).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from pianoeval._typing import Float64Array
from pianoeval.errors import ParameterError
from pianoeval.symbolic.align.score import SCORE_NOTE_DTYPE
from pianoeval.symbolic.midi import NOTE_DTYPE

__all__ = ["SCHEMA_VERSION", "Alignment", "BackendMatch"]

#: Version of :meth:`Alignment.to_dict`'s record (2: with the time map; 1 is still read).
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class BackendMatch:
    """What an aligner backend returns; :func:`~pianoeval.symbolic.align.align` completes it.

    Attributes
    ----------
    perf_index, score_index : np.ndarray of int, shape=(n_matched,)
        Matched pairs (any order; each note in one pair at most).
    method : str
        Name of the matcher, recorded in :attr:`Alignment.method`.
    anchor_score_sec, anchor_perf_sec : np.ndarray or None
        The backend's time map; None to have it derived from the matched pairs.
    """

    perf_index: npt.NDArray[np.intp]
    score_index: npt.NDArray[np.intp]
    method: str
    anchor_score_sec: Float64Array | None = None
    anchor_perf_sec: Float64Array | None = None


@dataclass(frozen=True)
class Alignment:
    """The note alignment of a performance to its score.

    Attributes
    ----------
    perf_notes : np.ndarray, dtype=NOTE_DTYPE, shape=(n_perf,)
        The performed notes, as :func:`load_midi` gives them.
    score_notes : np.ndarray, dtype=SCORE_NOTE_DTYPE, shape=(n_score,)
        The score notes.
    perf_index, score_index : np.ndarray of int, shape=(n_matched,)
        Matched pairs: ``perf_notes[perf_index[k]]`` plays ``score_notes[score_index[k]]``;
        sorted by performed note, then score note (whatever the backend).
    missing : np.ndarray of int
        Score notes not played (indices into ``score_notes``), grace notes included
        (:func:`note_accuracy` does not count those as missing).
    extra : np.ndarray of int
        Performed notes not in the score (indices into ``perf_notes``).
    perf_path, score_path : str or None
    bar_source, time_source : str
        See :class:`~pianoeval.symbolic.align.score.NotatedScore`.
    method : str
        The backend used (``"parangonar.DualDTWNoteMatcher"``, ``"chord_dtw"``).
    anchor_score_sec, anchor_perf_sec : np.ndarray, shape=(n_anchors,)
        Monotone score-to-performance time map: score seconds and the performance seconds
        they map to (see :meth:`score_to_perf`). Empty when nothing matched.
    """

    perf_notes: npt.NDArray[np.void]
    score_notes: npt.NDArray[np.void]
    perf_index: npt.NDArray[np.intp]
    score_index: npt.NDArray[np.intp]
    missing: npt.NDArray[np.intp]
    extra: npt.NDArray[np.intp]
    perf_path: str | None = None
    score_path: str | None = None
    bar_source: str = "measures"
    time_source: str = "nominal"
    method: str = "parangonar.DualDTWNoteMatcher"
    anchor_score_sec: Float64Array = field(default_factory=lambda: np.zeros(0))
    anchor_perf_sec: Float64Array = field(default_factory=lambda: np.zeros(0))

    def score_to_perf(self, t: npt.ArrayLike) -> Float64Array:
        """Map score seconds to performance seconds through the time map.

        Linear between anchors, the mean tempo ratio (first to last anchor) beyond them;
        a shift with one anchor, the identity with none.
        """
        xs, ys = self.anchor_score_sec, self.anchor_perf_sec
        t = np.asarray(t, dtype=np.float64)
        if len(xs) == 0:
            return t.copy()
        if len(xs) == 1:
            shifted: Float64Array = t - xs[0] + ys[0]
            return shifted
        ratio = (ys[-1] - ys[0]) / (xs[-1] - xs[0]) if xs[-1] > xs[0] else 1.0
        out = np.interp(t, xs, ys)
        out = np.where(t < xs[0], ys[0] + (t - xs[0]) * ratio, out)
        mapped: Float64Array = np.where(t > xs[-1], ys[-1] + (t - xs[-1]) * ratio, out)
        return mapped

    @property
    def n_matched(self) -> int:
        """Number of matched pairs."""
        return int(self.perf_index.size)

    @property
    def n_missing(self) -> int:
        """Number of score notes not played."""
        return int(self.missing.size)

    @property
    def n_extra(self) -> int:
        """Number of performed notes not in the score."""
        return int(self.extra.size)

    @property
    def n_score(self) -> int:
        """Score notes covered (matched + missing)."""
        return self.n_matched + self.n_missing

    @property
    def n_perf(self) -> int:
        """Performed notes covered (matched + extra)."""
        return self.n_matched + self.n_extra

    def matched(self) -> npt.NDArray[np.void]:
        """Return the matched pairs with their times, one row per pair.

        Returns
        -------
        np.ndarray
            Fields ``perf_index``, ``score_index``, ``pitch``, ``velocity``,
            ``perf_onset_sec``, ``perf_offset_sec``, ``score_onset_quarter``,
            ``score_duration_quarter``, ``score_onset_sec``, ``bar``, ``is_grace``.
        """
        dtype = np.dtype(
            [
                ("perf_index", "i8"),
                ("score_index", "i8"),
                ("pitch", "i2"),
                ("velocity", "i2"),
                ("perf_onset_sec", "f8"),
                ("perf_offset_sec", "f8"),
                ("score_onset_quarter", "f8"),
                ("score_duration_quarter", "f8"),
                ("score_onset_sec", "f8"),
                ("bar", "i4"),
                ("is_grace", "?"),
            ]
        )
        out = np.zeros(self.n_matched, dtype=dtype)
        p = self.perf_notes[self.perf_index]
        s = self.score_notes[self.score_index]
        out["perf_index"], out["score_index"] = self.perf_index, self.score_index
        out["pitch"], out["velocity"] = p["pitch"], p["velocity"]
        out["perf_onset_sec"], out["perf_offset_sec"] = p["onset_sec"], p["offset_sec"]
        out["score_onset_quarter"] = s["onset_quarter"]
        out["score_duration_quarter"] = s["duration_quarter"]
        out["score_onset_sec"] = s["onset_sec"]
        out["bar"], out["is_grace"] = s["bar"], s["is_grace"]
        return out

    def bars(self) -> tuple[int, int] | None:
        """First and last bar of the score notes covered (None if none)."""
        idx = np.concatenate([self.score_index, self.missing])
        if idx.size == 0:
            return None
        b = self.score_notes["bar"][idx]
        return int(b.min()), int(b.max())

    def window(
        self,
        t0: float,
        t1: float,
        *,
        score_t0: float | None = None,
        score_t1: float | None = None,
    ) -> Alignment:
        """Return the alignment of the performed notes with onsets in ``[t0, t1)``.

        Performance indices are renumbered to the window's notes (the notes a
        :class:`PerformanceMidi` cut at the same times holds, in the same order); score
        notes are kept whole. Pairs whose performed note is in the window are kept (even
        when a chord on the window's first downbeat is played a little early into the
        previous one); missing score notes are those with ``onset_sec`` in
        ``[score_t0, score_t1)``, or, without those, between the first and last score onset
        the window's pairs play.
        """
        on = self.perf_notes["onset_sec"]
        in_win = (on >= t0) & (on < t1)
        new_index = np.cumsum(in_win) - 1
        keep = in_win[self.perf_index]
        pi, si = self.perf_index[keep], self.score_index[keep]
        extra = self.extra[in_win[self.extra]]
        s_on = self.score_notes["onset_sec"][self.missing]
        if score_t0 is not None and score_t1 is not None:
            lo, hi = score_t0, score_t1
            miss = self.missing[(s_on >= lo) & (s_on < hi)]
        elif si.size:
            lo = float(self.score_notes["onset_sec"][si].min())
            hi = float(self.score_notes["onset_sec"][si].max())
            miss = self.missing[(s_on >= lo) & (s_on <= hi)]
        else:
            miss = self.missing[:0]
        return replace(
            self,
            perf_notes=self.perf_notes[in_win],
            perf_index=new_index[pi].astype(np.intp),
            score_index=si,
            missing=miss,
            extra=new_index[extra].astype(np.intp),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready record of the alignment (notes included, so it round-trips).

        Examples
        --------
        >>> from pianoeval.examples import example_midi_path, example_score_path
        >>> from pianoeval.symbolic.align import align
        >>> al = align(example_midi_path(), example_score_path())
        >>> d = al.to_dict()
        >>> d["n_matched"] == al.n_matched and Alignment.from_dict(d).n_extra == al.n_extra
        True
        """
        return {
            "schema_version": SCHEMA_VERSION,
            "method": self.method,
            "perf_path": self.perf_path,
            "score_path": self.score_path,
            "bar_source": self.bar_source,
            "time_source": self.time_source,
            "n_matched": self.n_matched,
            "n_missing": self.n_missing,
            "n_extra": self.n_extra,
            "bars": list(b) if (b := self.bars()) else None,
            "matched": np.stack([self.perf_index, self.score_index], axis=1).tolist(),
            "missing": self.missing.tolist(),
            "extra": self.extra.tolist(),
            "time_map": {
                "score_sec": self.anchor_score_sec.tolist(),
                "perf_sec": self.anchor_perf_sec.tolist(),
            },
            "perf_notes": {n: self.perf_notes[n].tolist() for n in NOTE_DTYPE.names or ()},
            "score_notes": {n: self.score_notes[n].tolist() for n in SCORE_NOTE_DTYPE.names or ()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alignment:
        """Rebuild an alignment from :meth:`to_dict`'s record."""
        if data.get("schema_version") not in (1, SCHEMA_VERSION):
            raise ParameterError(
                f"alignment schema_version {data.get('schema_version')!r} is not supported"
            )

        def table(cols: Mapping[str, Any], dtype: np.dtype[Any]) -> npt.NDArray[np.void]:
            n = len(next(iter(cols.values()))) if cols else 0
            arr = np.zeros(n, dtype=dtype)
            for name in dtype.names or ():
                arr[name] = cols[name]
            return arr

        pairs = np.asarray(data["matched"], dtype=np.intp).reshape(-1, 2)
        time_map = data.get("time_map") or {}  # version 1 records have none
        return cls(
            perf_notes=table(data["perf_notes"], NOTE_DTYPE),
            score_notes=table(data["score_notes"], SCORE_NOTE_DTYPE),
            perf_index=pairs[:, 0].copy(),
            score_index=pairs[:, 1].copy(),
            missing=np.asarray(data["missing"], dtype=np.intp),
            extra=np.asarray(data["extra"], dtype=np.intp),
            perf_path=data.get("perf_path"),
            score_path=data.get("score_path"),
            bar_source=data.get("bar_source", "measures"),
            time_source=data.get("time_source", "nominal"),
            method=data.get("method", "parangonar.DualDTWNoteMatcher"),
            anchor_score_sec=np.asarray(time_map.get("score_sec", []), dtype=np.float64),
            anchor_perf_sec=np.asarray(time_map.get("perf_sec", []), dtype=np.float64),
        )
