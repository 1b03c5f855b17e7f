"""What an alignment says about the playing: note accuracy and alignment features.

:func:`note_accuracy` counts matched, missing, extra and wrong-pitch notes;
:func:`alignment_features` measures timing, tempo and articulation against the score
(columns ``alignment.*``). Both read any backend's :class:`Alignment`.
"""

from __future__ import annotations

import math

import numpy as np

from pianoeval._typing import Float64Array
from pianoeval.errors import ParameterError
from pianoeval.symbolic.align.alignment import Alignment
from pianoeval.symbolic.align.score import _interp_extrap
from pianoeval.symbolic.midi import PerformanceMidi

__all__ = [
    "LEGATO_RATIO",
    "LOCAL_FIT_QUARTERS",
    "STACCATO_RATIO",
    "WRONG_PITCH_MAX_SEC",
    "WRONG_PITCH_MAX_SEMITONES",
    "alignment_features",
    "note_accuracy",
]

#: Half-width of the local tempo fit, in score quarters (widened to reach five onsets).
LOCAL_FIT_QUARTERS = 2.0
#: Duration ratios (key-down time / notated value at the local tempo) counted as legato...
LEGATO_RATIO = 0.9
#: ... and as staccato.
STACCATO_RATIO = 0.5
#: A missing and an extra note this close in pitch (semitones) and time (seconds) are
#: counted as one wrong pitch: a neighbouring key struck instead of the written one.
WRONG_PITCH_MAX_SEMITONES = 2
WRONG_PITCH_MAX_SEC = 0.15


def note_accuracy(alignment: Alignment) -> dict[str, float]:
    """Return how accurately the notes were played.

    Returns
    -------
    dict
        ``n_score``, ``n_perf``, ``n_matched``, ``n_missing``, ``n_missing_grace``,
        ``n_extra``, ``n_wrong_pitch``; ``match_rate`` (matched / score notes),
        ``missing_rate`` (missing / score notes), ``extra_rate`` (extra / performed notes),
        ``precision`` (matched / performed notes), ``f_measure`` and ``wrong_pitch_rate``
        (wrong pitches / score notes).

    Notes
    -----
    Grace notes are optional here: a grace note that is played counts as a matched score
    note, one that is not is left out of the score notes (``n_missing_grace``) instead of
    counting as missing. Score MIDIs write grace notes, and sometimes ornaments nobody plays,
    as notes of zero length (2 % of ASAP's score notes, 1.4 % of PercePiano's); partitura
    reads them as grace notes.

    A wrong pitch is a missing non-grace score note and an extra note at most
    :data:`WRONG_PITCH_MAX_SEMITONES` semitones away and :data:`WRONG_PITCH_MAX_SEC` from
    where the missing note was due (the score-to-performance time map of the matched
    notes), paired greedily by time.

    Examples
    --------
    >>> from pianoeval.examples import example_midi_path, example_score_path
    >>> from pianoeval.symbolic.align import align
    >>> acc = note_accuracy(align(example_midi_path(), example_score_path()))
    >>> sorted(acc)[:3]
    ['extra_rate', 'f_measure', 'match_rate']
    """
    grace_missing = alignment.score_notes["is_grace"][alignment.missing]
    n_miss = int(np.sum(~grace_missing))
    n_m, n_p = alignment.n_matched, alignment.n_perf
    n_s = n_m + n_miss
    n_wrong = len(_wrong_pitch_pairs(alignment))
    precision = n_m / n_p if n_p else math.nan
    recall = n_m / n_s if n_s else math.nan
    f = 2 * precision * recall / (precision + recall) if n_m else 0.0
    return {
        "n_score": float(n_s),
        "n_perf": float(n_p),
        "n_matched": float(n_m),
        "n_missing": float(n_miss),
        "n_missing_grace": float(grace_missing.sum()),
        "n_extra": float(alignment.n_extra),
        "n_wrong_pitch": float(n_wrong),
        "match_rate": recall,
        "missing_rate": n_miss / n_s if n_s else math.nan,
        "extra_rate": alignment.n_extra / n_p if n_p else math.nan,
        "precision": precision,
        "f_measure": f,
        "wrong_pitch_rate": n_wrong / n_s if n_s else math.nan,
    }


def _score_to_perf_map(alignment: Alignment) -> tuple[Float64Array, Float64Array]:
    """Return the score onsets (quarters) of matched non-grace notes and their played times."""
    m = alignment.matched()
    m = m[~m["is_grace"]]
    if m.size == 0:
        return np.zeros(0), np.zeros(0)
    x, inv = np.unique(m["score_onset_quarter"], return_inverse=True)
    y = np.array([np.median(m["perf_onset_sec"][inv == j]) for j in range(x.size)])
    return x, y


def _wrong_pitch_pairs(alignment: Alignment) -> list[tuple[int, int]]:
    if alignment.n_missing == 0 or alignment.n_extra == 0:
        return []
    x, y = _score_to_perf_map(alignment)
    if x.size == 0:
        return []
    miss = alignment.missing[~alignment.score_notes["is_grace"][alignment.missing]]
    on_q = alignment.score_notes["onset_quarter"][miss]
    due = _interp_extrap(on_q, x, y) if x.size > 1 else np.full(miss.size, y[0])
    ex_on = alignment.perf_notes["onset_sec"][alignment.extra]
    ex_pitch = alignment.perf_notes["pitch"][alignment.extra].astype(int)
    candidates = []
    for k, s in enumerate(miss):
        dp = np.abs(ex_pitch - int(alignment.score_notes["pitch"][s]))
        dt = np.abs(ex_on - due[k])
        for j in np.flatnonzero((dp >= 1) & (dp <= WRONG_PITCH_MAX_SEMITONES)):
            if dt[j] <= WRONG_PITCH_MAX_SEC:
                candidates.append((float(dt[j]), int(s), int(alignment.extra[j])))
    candidates.sort()
    used_s: set[int] = set()
    used_p: set[int] = set()
    pairs = []
    for _, s, p in candidates:
        if s not in used_s and p not in used_p:
            used_s.add(s)
            used_p.add(p)
            pairs.append((s, p))
    return pairs


def _local_tempo(
    x: Float64Array, y: Float64Array, *, half_width: float = LOCAL_FIT_QUARTERS, k_min: int = 5
) -> tuple[Float64Array, Float64Array]:
    """Tricube-weighted local linear fit of y (s) on x (quarters): (fitted y, slope s/q)."""
    n = x.size
    fit, slope = np.empty(n), np.empty(n)
    for j in range(n):
        d = np.abs(x - x[j])
        h = max(half_width, float(np.sort(d)[min(k_min, n) - 1]) * 1.0001)
        w = np.clip(1 - (d / h) ** 3, 0, None) ** 3
        sw = w.sum()
        mx, my = (w * x).sum() / sw, (w * y).sum() / sw
        vx = (w * (x - mx) ** 2).sum()
        b = (w * (x - mx) * (y - my)).sum() / vx if vx > 0 else math.nan
        slope[j] = b
        fit[j] = my + b * (x[j] - mx) if math.isfinite(b) else my
    return fit, slope


def _ls_slope(x: Float64Array, y: Float64Array) -> float:
    if x.size < 2 or np.ptp(x) <= 0:
        return math.nan
    xm = x - x.mean()
    return float((xm * (y - y.mean())).sum() / (xm**2).sum())


def alignment_features(perf: PerformanceMidi, alignment: Alignment) -> dict[str, float]:
    """Return timing, tempo, articulation and accuracy features of an aligned performance.

    Parameters
    ----------
    perf : PerformanceMidi
        The performance the alignment was made from (its notes are ``alignment.perf_notes``;
        for a window, the performance cut to the same times).
    alignment : Alignment

    Returns
    -------
    dict of str to float
        Columns prefixed ``alignment.``; NaN where too few notes match to say:

        - ``match_rate``, ``missing_rate``, ``extra_rate``, ``wrong_pitch_rate``,
          ``f_measure``: :func:`note_accuracy`;
        - ``onset_dev_mean_ms``, ``onset_dev_std_ms``, ``onset_dev_abs_ms``: performed
          onset minus the local tempo fit (signed mean, std, mean absolute);
        - ``chord_spread_ms``: mean spread (last minus first) of the performed onsets of
          each score chord;
        - ``tempo_ratio``: performed seconds per score second (least squares over the score
          onsets; > 1 slower than the score); ``tempo_variability``: std of the log local
          tempo ratio over the score onsets; ``tempo_jitter``: std of the change in log
          inter-beat interval ratio from one quarter to the next;
        - ``duration_ratio_mean``, ``duration_ratio_std``: key-down time over the notated
          value at the local tempo (clipped to [0, 4]); ``legato_share``,
          ``staccato_share``: shares of notes with a ratio >= :data:`LEGATO_RATIO` and
          <= :data:`STACCATO_RATIO`;
        - ``final_bar_slowdown``: seconds per score second over the last bar divided by
          that over the bars before it (> 1: the last bar is slower).

    Raises
    ------
    ParameterError
        If ``perf`` does not hold the alignment's performed notes.
    """
    if perf.n_notes != len(alignment.perf_notes):
        raise ParameterError(
            f"perf has {perf.n_notes} notes but the alignment was made on "
            f"{len(alignment.perf_notes)}: cut the performance as the alignment was cut"
        )
    acc = note_accuracy(alignment)
    out: dict[str, float] = {
        f"alignment.{k}": acc[k]
        for k in ("match_rate", "missing_rate", "extra_rate", "wrong_pitch_rate", "f_measure")
    }
    nan_keys = (
        "onset_dev_mean_ms", "onset_dev_std_ms", "onset_dev_abs_ms", "chord_spread_ms",
        "tempo_ratio", "tempo_variability", "tempo_jitter", "duration_ratio_mean",
        "duration_ratio_std", "legato_share", "staccato_share", "final_bar_slowdown",
    )  # fmt: skip
    out.update({f"alignment.{k}": math.nan for k in nan_keys})
    m = alignment.matched()
    m = m[~m["is_grace"]]
    if m.size == 0:
        return out
    x, inv = np.unique(m["score_onset_quarter"], return_inverse=True)
    y = np.array([np.median(m["perf_onset_sec"][inv == j]) for j in range(x.size)])
    xs = np.array([m["score_onset_sec"][inv == j][0] for j in range(x.size)])
    spreads = [np.ptp(m["perf_onset_sec"][inv == j]) for j in range(x.size) if (inv == j).sum() > 1]
    if spreads:
        out["alignment.chord_spread_ms"] = 1000 * float(np.mean(spreads))
    if x.size < 3:
        return out

    fit, spq = _local_tempo(x, y)
    dev = 1000 * (m["perf_onset_sec"] - fit[inv])
    out["alignment.onset_dev_mean_ms"] = float(dev.mean())
    out["alignment.onset_dev_std_ms"] = float(dev.std())
    out["alignment.onset_dev_abs_ms"] = float(np.abs(dev).mean())

    score_spq = np.gradient(xs, x) if x.size > 1 else np.full(x.size, math.nan)
    out["alignment.tempo_ratio"] = _ls_slope(xs, y)
    ok = (spq > 0) & (score_spq > 0)
    if ok.sum() >= 3:
        out["alignment.tempo_variability"] = float(np.std(np.log(spq[ok] / score_spq[ok])))

    # beat-to-beat: consecutive whole quarters that both carry a score onset
    on_grid = np.isclose(x, np.round(x), atol=1e-6)
    gx, gy, gs = x[on_grid], y[on_grid], xs[on_grid]
    idx = np.flatnonzero(np.isclose(np.diff(gx), 1.0))  # interval k: gx[idx[k]] -> +1
    if idx.size >= 4:
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = np.log((gy[idx + 1] - gy[idx]) / (gs[idx + 1] - gs[idx]))
        follows = np.diff(idx) == 1  # interval k+1 starts where interval k ends
        d = np.diff(lr)[follows]
        d = d[np.isfinite(d)]
        if d.size >= 3:
            out["alignment.tempo_jitter"] = float(np.std(d))

    notated = m["score_duration_quarter"] * np.interp(m["score_onset_quarter"], x, spq)
    played = m["perf_offset_sec"] - m["perf_onset_sec"]
    good = notated > 1e-3
    if good.sum() >= 3:
        ratio = np.clip(played[good] / notated[good], 0.0, 4.0)
        out["alignment.duration_ratio_mean"] = float(ratio.mean())
        out["alignment.duration_ratio_std"] = float(ratio.std())
        out["alignment.legato_share"] = float(np.mean(ratio >= LEGATO_RATIO))
        out["alignment.staccato_share"] = float(np.mean(ratio <= STACCATO_RATIO))

    bars = np.array([m["bar"][inv == j][0] for j in range(x.size)])
    last = bars == bars.max()
    if (~last).sum() >= 2 and last.any():
        first_last = int(np.argmax(last))
        tail = slice(max(first_last - 1, 0), None)  # the onset before the bar starts it
        if xs[tail].size >= 2:
            slow_last = _ls_slope(xs[tail], y[tail])
            slow_rest = _ls_slope(xs[~last], y[~last])
            if slow_rest > 0 and math.isfinite(slow_last):
                out["alignment.final_bar_slowdown"] = slow_last / slow_rest
    return out
