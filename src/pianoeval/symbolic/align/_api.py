"""align(): one entry point over the aligner backends, chosen by name."""

from __future__ import annotations

import os
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from pianoeval._registry import Registry
from pianoeval._typing import Float64Array, PathLike
from pianoeval.errors import AlignmentError, ParameterError
from pianoeval.symbolic.align.alignment import Alignment, BackendMatch
from pianoeval.symbolic.align.chord_dtw import isotonic
from pianoeval.symbolic.align.score import NotatedScore, load_score, score_from_partitura
from pianoeval.symbolic.midi import PerformanceMidi, load_midi

__all__ = ["ALIGN_BACKENDS", "AlignBackend", "align", "anchors_from_downbeats"]


class AlignBackend(Protocol):
    """An aligner backend: performed and score notes in, matched pairs (and time map) out."""

    def __call__(
        self,
        perf_notes: npt.NDArray[np.void],
        score_notes: npt.NDArray[np.void],
        *,
        anchors: Float64Array | None = ...,
        margin_sec: float = ...,
    ) -> BackendMatch: ...


#: The aligner backends, by name (each in its own module, imported on first use).
ALIGN_BACKENDS: Registry[AlignBackend] = Registry("alignment backend")
ALIGN_BACKENDS.register("parangonar", "pianoeval.symbolic.align.parangonar:match_parangonar")
ALIGN_BACKENDS.register("chord_dtw", "pianoeval.symbolic.align.chord_dtw:match_chord_dtw")


def _as_performance(perf: PerformanceMidi | PathLike) -> PerformanceMidi:
    if isinstance(perf, PerformanceMidi):
        return perf
    return load_midi(perf)


def _as_score(score: NotatedScore | PathLike | Any) -> NotatedScore:
    if isinstance(score, NotatedScore):
        return score
    if isinstance(score, str | os.PathLike):
        return load_score(score)
    return score_from_partitura(score)


def anchors_from_downbeats(
    perf_downbeats_sec: npt.ArrayLike,
    score_downbeats_sec: npt.ArrayLike,
    *,
    every: int = 8,
) -> Float64Array:
    """Pair the performance's and the score's downbeats as anchors, every ``every`` bars.

    Both lists must have the same number of bars (bar ``i`` of one is bar ``i`` of the
    other, as for ASAP annotations when the repeats are taken as written).

    Returns
    -------
    np.ndarray, shape=(n_anchors, 2)
        ``(perf_sec, score_sec)`` rows.

    Raises
    ------
    ParameterError
        If the counts differ or ``every`` < 1.
    """
    p = np.asarray(perf_downbeats_sec, dtype=np.float64).ravel()
    s = np.asarray(score_downbeats_sec, dtype=np.float64).ravel()
    if p.size != s.size:
        raise ParameterError(
            f"{p.size} performance downbeats but {s.size} score downbeats: anchors need the "
            "same bars on both sides"
        )
    if every < 1:
        raise ParameterError(f"every must be >= 1, not {every}")
    return np.stack([p[::every], s[::every]], axis=1)


def align(
    perf: PerformanceMidi | PathLike,
    score: NotatedScore | PathLike | Any,
    *,
    backend: str = "parangonar",
    downbeats_sec: npt.ArrayLike | None = None,
    anchors: npt.ArrayLike | None = None,
    margin_sec: float = 1.0,
) -> Alignment:
    """Align a performance to its score note by note.

    Parameters
    ----------
    perf : PerformanceMidi or path-like
        The performance (read with :func:`~pianoeval.symbolic.midi.load_midi` when a path).
    score : NotatedScore, path-like, or partitura Score/Part
        The score (read with :func:`~pianoeval.symbolic.align.load_score` when a path).
    backend : str
        An entry of :data:`ALIGN_BACKENDS`: ``"parangonar"`` (parangonar's dual DTW note
        matcher, the reference; long pairs need anchors) or ``"chord_dtw"`` (chord DTW
        and greedy pitch matching, numpy only, linear in the length; what the feature
        families use).
    downbeats_sec : array-like, optional
        Downbeats in score seconds; bar numbers come from them instead of the measures.
    anchors : array-like, shape=(n, 2), optional
        Corresponding ``(perf_sec, score_sec)`` times, increasing on both sides. The pair
        is then aligned piece by piece between consecutive anchors (each piece with
        ``margin_sec`` of context either side; a score note belongs to the piece its onset
        falls in), which bounds time and memory for long performances (``parangonar``).
    margin_sec : float
        Context added to each side of a piece, in performance seconds.

    Returns
    -------
    Alignment
        The same type whatever the backend; its time map comes from the backend, or (for
        ``parangonar``) from the matched notes: per score onset, the median performed
        onset, made monotone.

    Raises
    ------
    AlignmentError
        If the score or the performance has no notes, nothing matches, or the pair is too
        long to align without anchors.
    ParameterError
        If the backend is unknown or does not take the arguments given.

    Examples
    --------
    >>> from pianoeval.examples import example_midi_path, example_score_path
    >>> from pianoeval.symbolic.align import note_accuracy
    >>> al = align(example_midi_path(), example_score_path())
    >>> bool(note_accuracy(al)["match_rate"] > 0.9)
    True
    >>> al2 = align(example_midi_path(), example_score_path(), backend="chord_dtw")
    >>> type(al2) is type(al), al2.method
    (True, 'chord_dtw')
    """
    matcher = ALIGN_BACKENDS.get(backend)
    performance = _as_performance(perf)
    notated = _as_score(score)
    if downbeats_sec is not None:
        notated = notated.with_downbeats(downbeats_sec)
    if notated.n_notes == 0:
        raise AlignmentError(f"{notated.path or 'score'}: the score has no notes")
    if performance.n_notes == 0:
        raise AlignmentError(f"{performance.path}: the performance has no notes")
    pn, sn = performance.notes, notated.notes
    anchor_arr = None if anchors is None else _check_anchors(anchors)
    found = matcher(pn, sn, anchors=anchor_arr, margin_sec=margin_sec)
    if found.perf_index.size == 0:
        raise AlignmentError(
            f"no performed note matches the score ({len(pn)} performed notes, {len(sn)} score "
            f"notes): is {notated.path or 'the score'} the score of {performance.path}?"
        )
    order = np.lexsort((found.score_index, found.perf_index))
    pi = np.asarray(found.perf_index[order], dtype=np.intp)
    si = np.asarray(found.score_index[order], dtype=np.intp)
    matched_p = np.zeros(len(pn), dtype=bool)
    matched_p[pi] = True
    matched_s = np.zeros(len(sn), dtype=bool)
    matched_s[si] = True
    if found.anchor_score_sec is not None and found.anchor_perf_sec is not None:
        xs, ys = found.anchor_score_sec, found.anchor_perf_sec
    else:
        xs, ys = time_map_from_pairs(sn, pn, si, pi)
    return Alignment(
        perf_notes=pn,
        score_notes=sn,
        perf_index=pi,
        score_index=si,
        missing=np.flatnonzero(~matched_s).astype(np.intp),
        extra=np.flatnonzero(~matched_p).astype(np.intp),
        perf_path=performance.path,
        score_path=notated.path,
        bar_source=notated.bar_source,
        time_source=notated.time_source,
        method=found.method,
        anchor_score_sec=np.asarray(xs, dtype=np.float64),
        anchor_perf_sec=np.asarray(ys, dtype=np.float64),
    )


def _check_anchors(anchors: npt.ArrayLike) -> Float64Array:
    arr = np.asarray(anchors, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ParameterError(f"anchors must have shape (n, 2), not {arr.shape}")
    return arr


def time_map_from_pairs(
    score_notes: npt.NDArray[np.void],
    perf_notes: npt.NDArray[np.void],
    score_index: npt.NDArray[np.intp],
    perf_index: npt.NDArray[np.intp],
) -> tuple[Float64Array, Float64Array]:
    """Return a monotone time map from matched pairs: per score onset, the median played one.

    Grace notes are left out when other notes matched. Returns ``(score_sec, perf_sec)``.
    """
    grace = score_notes["is_grace"][score_index]
    if grace.all():
        grace = np.zeros_like(grace)
    s_on = np.asarray(score_notes["onset_sec"][score_index[~grace]], dtype=np.float64)
    p_on = np.asarray(perf_notes["onset_sec"][perf_index[~grace]], dtype=np.float64)
    xs, inv = np.unique(s_on, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    bounds = np.append(np.searchsorted(inv[order], np.arange(xs.size)), inv.size)
    sorted_p = p_on[order]
    ys = np.array([np.median(sorted_p[bounds[k] : bounds[k + 1]]) for k in range(xs.size)])
    return xs, isotonic(ys, np.diff(bounds).astype(np.float64))
