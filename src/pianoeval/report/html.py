"""A rating as one self-contained HTML file: chart, timeline, piano roll and per-bar table.

:func:`rating_html` needs nothing but the :class:`~pianoeval.rater.result.Rating` (schema 3):
inline CSS, inline SVG drawn here, no script, no font or file from elsewhere, so the page
opens offline and can be mailed to a teacher. Sections appear only when the rating has
their data (a timeline for a rating over windows, bars and the piano roll's marks with a
score).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pianoeval.rater.result import BarReport, DimensionScore, Rating, WindowRating

__all__ = ["rating_html"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;
max-width:1100px;color:#1d232a;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}
h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde;padding-bottom:.2rem}
.facts{color:#556;font-size:.9rem}
.warn{background:#fff6e0;border-left:4px solid #e0a000;padding:.4rem .8rem;margin:.4rem 0}
.caution{background:#eef3ff;border-left:4px solid #4a6fd0;padding:.4rem .8rem;margin:.4rem 0}
ol.advice li{margin:.3rem 0;font-size:1.02rem}
table{border-collapse:collapse;font-size:.85rem;width:100%}
th,td{padding:.2rem .4rem;border-bottom:1px solid #eee;text-align:right}
th{background:#f4f6f8;position:sticky;top:0}
td.hi{background:#ffe2dc;font-weight:600}
svg text{font-family:inherit}.muted{color:#778}
"""
_DOT = " \u00b7 "
_ROW_H = 24
_CHART_W = 760


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: float | None, spec: str = ".2f") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "\u2013"
    return format(v, spec)


def _x(v: float, lo: float = 1 / 7, hi: float = 1.0, w: float = 300.0) -> float:
    return (min(max(v, lo), hi) - lo) / (hi - lo) * w


def _dimension_chart(scores: Sequence[DimensionScore]) -> str:
    """One row per dimension: the low and high descriptors, the score and its interval."""
    left, bar_w = 330, 280
    h = _ROW_H * len(scores) + 30
    out = [
        f'<svg role="img" aria-label="scores per dimension" width="{_CHART_W}" height="{h}" '
        f'viewBox="0 0 {_CHART_W} {h}">'
    ]
    for k in (0.25, 0.5, 0.75):
        x = left + k * bar_w
        out.append(f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{h - 20}" stroke="#eee"/>')
    for i, s in enumerate(scores):
        y = 20 + i * _ROW_H
        out.append(
            f'<text x="{left - 8}" y="{y + 4}" text-anchor="end" font-size="12">'
            f"{_esc(s.low)}</text>"
        )
        out.append(f'<text x="{left + bar_w + 8}" y="{y + 4}" font-size="12">{_esc(s.high)}</text>')
        out.append(f'<line x1="{left}" y1="{y}" x2="{left + bar_w}" y2="{y}" stroke="#ccd"/>')
        if s.interval_low is not None and s.interval_high is not None:
            x0, x1 = left + _x(s.interval_low), left + _x(s.interval_high)
            out.append(
                f'<rect x="{x0:.1f}" y="{y - 5}" width="{max(x1 - x0, 1):.1f}" height="10" '
                'rx="4" fill="#9fb6ea" opacity="0.8"/>'
            )
        xv = left + _x(s.value)
        label = f"{s.name}: {s.value:.2f}"
        if s.interval_low is not None:
            label += f" ({s.interval_low:.2f}-{s.interval_high:.2f})"
        out.append(
            f'<circle cx="{xv:.1f}" cy="{y}" r="5" fill="#1f4fb8"><title>{_esc(label)}'
            "</title></circle>"
        )
        out.append(
            f'<text x="4" y="{y + 4}" font-size="12" font-weight="600">{_esc(s.name)}</text>'
        )
        out.append(
            f'<text x="{_CHART_W - 4}" y="{y + 4}" text-anchor="end" font-size="12" '
            f'fill="#1f4fb8">{s.value:.2f}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _colour(v: float) -> str:
    """Return a blue-white-orange colour for a score on the label range."""
    t = min(max((v - 1 / 7) / (6 / 7), 0.0), 1.0)
    if t < 0.5:
        a = t / 0.5
        r, g, b = 58 + a * (245 - 58), 96 + a * (245 - 96), 200 + a * (245 - 200)
    else:
        a = (t - 0.5) / 0.5
        r, g, b = 245 + a * (230 - 245), 245 + a * (120 - 245), 245 + a * (40 - 245)
    return f"rgb({r:.0f},{g:.0f},{b:.0f})"


def _timeline(windows: Sequence[WindowRating], names: Sequence[str], end: float) -> str:
    """Windows x dimensions as coloured cells at the windows' times (overlaps drawn in turn)."""
    left, w = 170, _CHART_W - 180
    h = 14 * len(names) + 40
    out = [
        f'<svg role="img" aria-label="ratings over time" width="{_CHART_W}" height="{h}" '
        f'viewBox="0 0 {_CHART_W} {h}">'
    ]
    span = max(end, 1e-6)
    for j, n in enumerate(names):
        out.append(
            f'<text x="{left - 6}" y="{24 + j * 14}" text-anchor="end" font-size="10">'
            f"{_esc(n)}</text>"
        )
    for win in windows:
        if not win.scores:
            continue
        # draw the window's central hop-wide part so overlapping windows do not hide each other
        mid = (win.start_sec + win.end_sec) / 2
        half = min((win.end_sec - win.start_sec) / 2, 2.5)
        x0 = left + (mid - half) / span * w
        ww = max(2 * half / span * w, 1.0)
        for j, s in enumerate(win.scores):
            tip = f"{s.name} {s.value:.2f} at {win.start_sec:.0f}-{win.end_sec:.0f} s"
            out.append(
                f'<rect x="{x0:.1f}" y="{14 + j * 14}" width="{ww:.1f}" height="13" '
                f'fill="{_colour(s.value)}"><title>{_esc(tip)}</title></rect>'
            )
    for k in range(int(span // 30) + 1):
        x = left + k * 30 / span * w
        out.append(
            f'<text x="{x:.1f}" y="{h - 6}" font-size="10" fill="#556">{k // 2}:'
            f"{(k % 2) * 30:02d}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _piano_roll(rating: Rating) -> str:
    """Draw the notes (darker: louder), extra ones red, missed ones hollow, flagged bars shaded."""
    notes = rating.notes
    if not notes:
        return ""
    end = max(n[1] for n in notes)
    pitches = [int(n[2]) for n in notes]
    for b in rating.bars:
        pitches += [int(p) for _, p in b.missing_notes]
    lo, hi = min(pitches) - 1, max(pitches) + 1
    w, h = _CHART_W - 20, 260
    sx, sy = w / max(end, 1e-6), h / max(hi - lo, 1)
    out = [
        f'<svg role="img" aria-label="piano roll" width="{_CHART_W}" height="{h + 30}" '
        f'viewBox="0 0 {_CHART_W} {h + 30}">'
    ]
    for b in rating.bars:
        if b.standout:
            out.append(
                f'<rect x="{10 + b.start_sec * sx:.1f}" y="0" '
                f'width="{max((b.end_sec - b.start_sec) * sx, 1):.1f}" height="{h}" '
                f'fill="#fff0c2"><title>bar {b.bar}: {_esc(", ".join(b.standout))}</title>'
                "</rect>"
            )
        out.append(
            f'<text x="{10 + b.start_sec * sx:.1f}" y="{h + 14}" font-size="9" '
            f'fill="#889">{b.bar}</text>'
        )
    extra = {(round(t, 3), int(p)) for b in rating.bars for t, p in b.extra_notes}
    for on, off, p, v in notes:
        y = h - (p - lo) * sy
        is_extra = (round(on, 3), int(p)) in extra
        fill = "#d33" if is_extra else f"rgba(31,79,184,{0.35 + 0.65 * v / 127:.2f})"
        out.append(
            f'<rect x="{10 + on * sx:.1f}" y="{y - sy / 2:.1f}" '
            f'width="{max((off - on) * sx, 1):.1f}" height="{max(sy * 0.9, 1):.1f}" '
            f'fill="{fill}"/>'
        )
    for b in rating.bars:
        for t, p in b.missing_notes:
            y = h - (p - lo) * sy
            out.append(
                f'<rect x="{10 + t * sx:.1f}" y="{y - sy / 2:.1f}" width="{max(0.25 * sx, 3):.1f}" '
                f'height="{max(sy * 0.9, 1):.1f}" fill="none" stroke="#d33" stroke-width="1.2">'
                f"<title>missed: pitch {int(p)} (bar {b.bar})</title></rect>"
            )
    out.append("</svg>")
    return "".join(out)


def _bar_table(bars: Sequence[BarReport]) -> str:
    cols = [
        ("bar", "bar", "d", None),
        ("time", None, None, None),
        ("missed", "n_missing", "d", "missing_rate"),
        ("wrong", "n_wrong_pitch", "d", "wrong_pitch_rate"),
        ("extra", "n_extra", "d", "extra_rate"),
        ("tempo", "tempo_ratio", ".2f", "tempo_ratio"),
        ("pedal down", "pedal_down", ".0%", "pedal_down"),
        ("pedal through changes", "pedal_blur", ".0%", "pedal_blur"),
        ("melody lead", "melody_lead", "+.1f", "melody_lead"),
        ("mean velocity", "velocity_mean", ".0f", None),
        ("marking", "marking", None, None),
        ("vs marking", "dynamics_residual", "+.1f", "dynamics_residual"),
    ]
    head = "".join(f"<th>{_esc(c[0])}</th>" for c in cols)
    rows = []
    for b in bars:
        cells = []
        for _label, attr, spec, flag in cols:
            cls = ' class="hi"' if flag and flag in b.standout else ""
            if attr is None:
                txt = f"{b.start_sec:.1f}-{b.end_sec:.1f} s"
            else:
                v = getattr(b, attr)
                txt = _esc(v) if spec is None else (_fmt(v, spec) if v is not None else "\u2013")
                if spec == "d" and v is not None:
                    txt = str(int(v))
            cells.append(f"<td{cls}>{txt if txt != 'None' else ''}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def rating_html(rating: Rating, *, title: str | None = None) -> str:
    """Render ``rating`` as a self-contained HTML page.

    Parameters
    ----------
    rating : Rating
    title : str, optional
        Page title (default: the input's file name).

    Returns
    -------
    str
        The whole document.

    Examples
    --------
    >>> from pianoeval.examples import example_midi_path
    >>> from pianoeval.rater.performance import evaluate_performance
    >>> page = rating_html(evaluate_performance(example_midi_path()))
    >>> body = page.split("<body>")[1]
    >>> page.startswith("<!doctype html>"), "<svg" in body, "http" in body
    (True, True, False)
    """
    from pathlib import PurePath

    name = PurePath(rating.input.path).name
    title = title or f"pianoeval: {name}"
    info = rating.input
    facts = [f"{info.kind}", f"{info.duration_sec:.1f} s", f"{info.n_notes} notes"]
    if info.sample_rate:
        facts.append(f"{info.sample_rate} Hz")
    if info.sha256:
        facts.append(f"sha256 {info.sha256[:12]}\u2026")
    facts.append(f"rater {rating.model_id}")
    if rating.score is not None:
        used = "used" if rating.score.used else "not used"
        facts.append(f"score {PurePath(rating.score.path).name} ({used})")
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_esc(name)}</h1>",
        f'<p class="facts">{_esc(_DOT.join(facts))}</p>',
    ]
    for w in rating.warnings:
        parts.append(f'<p class="warn">{_esc(w)}</p>')
    if rating.caution:
        parts.append(f'<p class="caution">{_esc(rating.caution)}</p>')
    if rating.advice:
        parts.append('<h2>What to practise</h2><ol class="advice">')
        parts += [f"<li>{_esc(a.text)}</li>" for a in rating.advice]
        parts.append("</ol>")
    level = next((s.interval_level for s in rating.scores if s.interval_level), None)
    how = f"bands: {level:.0%} intervals" if level else "no intervals (uncalibrated rater)"
    pooled = " Scores are the mean of the windows below." if rating.pooled else ""
    parts.append(
        f'<h2>Scores</h2><p class="muted">Each row is a position between two '
        f"descriptors, not a grade; {how}.{pooled}</p>"
    )
    parts.append(_dimension_chart(rating.scores))
    if rating.windows:
        end = max(w.end_sec for w in rating.windows)
        parts.append(
            '<h2>Over time</h2><p class="muted">Each column is a window\'s rating '
            "(blue towards the low descriptor, orange towards the high one).</p>"
        )
        parts.append(_timeline(rating.windows, [s.name for s in rating.scores], end))
    roll = _piano_roll(rating)
    if roll:
        parts.append(
            '<h2>Piano roll</h2><p class="muted">Notes as played (darker: louder); '
            "red: not in the score; red outline: missed; shaded: bars that stand out.</p>"
        )
        parts.append(roll)
    if rating.bars:
        parts.append(
            '<h2>Bar by bar</h2><p class="muted">Highlighted: beyond the 10th/90th '
            "percentile of the labelled performances. Tempo: time per bar against your "
            "own tempo elsewhere (&gt; 1 slower).</p>"
        )
        parts.append(_bar_table(rating.bars))
    if rating.timings:
        t = ", ".join(f"{k} {v:.2f} s" for k, v in rating.timings.items())
        parts.append(f'<h2>Timings</h2><p class="muted">{_esc(t)}</p>')
    if rating.model_card:
        card = rating.model_card
        data = card.get("training_data", {})
        parts.append(
            '<h2>Model card</h2><p class="muted">'
            f"{_esc(card.get('model_id', rating.model_id))}: trained on "
            f"{_esc(data.get('dataset', '?'))} ({_esc(data.get('n_segments', '?'))} "
            f"segments); licences {_esc(card.get('licences', {}).get('licenses', '?'))}.</p>"
        )
    parts.append(
        f'<p class="muted">pianoeval {_esc(rating.pianoeval_version)}, rating schema '
        f"{rating.schema_version}</p></body></html>"
    )
    return "\n".join(parts)
