"""Rater quality control: how far the labels can be trusted, and which raters to look at.

Task
    From the answer store's long rows (one per rater x segment x dimension, plus optional
    re-rate and honeypot columns), measure the reliability of every dimension and the
    quality of every rater, and flag the raters below documented thresholds.

Input
    A pandas DataFrame (or rows) with ``rater_id, segment_id, dim, value`` and optionally
    ``rater_name``, ``created`` (ISO 8601, for pace), ``attempt`` (1 for the first answer, 2
    for a re-rate ...) or ``is_rerate``, ``is_honeypot`` and ``known_value`` (the honeypot's
    known answer, on the same label scale). Honeypot known answers can also be given as a mapping
    (:func:`honeypot_answers` reads them from a manifest). Plain columns, so QC does not
    depend on how the app stores attempts.

Per dimension (on the non-honeypot answers, each rater's repeats averaged first, as
:mod:`pianoeval.data.reliability` does)
    - **ICC(1,1)** and **ICC(1,k)**: one-way random effects,
      :func:`pianoeval.data.reliability.icc_oneway` (raters are not crossed with segments).
    - **Krippendorff's alpha** (interval), from the ``krippendorff`` package, on the
      rater x segment matrix (missing where a rater did not answer).

Per rater
    - **Agreement with the leave-one-out consensus**: each answer against the mean of the
      *other* raters' answers to the same segment and dimension (answers with at least one
      other rater). ``agreement_r`` is the Pearson correlation within each dimension,
      averaged over dimensions weighted by the number of answers (dimensions with at least
      3 answers and some spread); ``agreement_mae`` is the mean absolute difference.
    - **Honeypot error**: mean ``|answer - known answer|`` over honeypot answers.
    - **Re-rate consistency**: mean ``|first - second|`` over the answers given twice.
    - **Pace**: median seconds between the first answers of consecutive segments (from
      ``created``); rating faster than a clip can be heard is a warning sign.

Thresholds (:class:`QCThresholds`, in label units: ``percepiano19`` labels are ratings / 7)
    ``agreement_r < 0.25``, ``agreement_mae > 0.25``, ``honeypot_error > 0.2``,
    ``rerate_diff > 0.25``, ``sec_per_segment < 3``. Agreement is judged only for raters with
    at least ``min_answers`` (10) compared answers, honeypots and re-rates with at least one.
    PercePiano's expert panel (:func:`percepiano_answer_rows`, 63 raters) sets the scale of
    normal: its raters' agreement r spans 0.13-0.72 (5th percentile 0.24, median 0.45), MAE
    0.11-0.26 (95th percentile 0.245), re-rate difference 0.01-0.32 (95th percentile 0.26);
    the defaults flag roughly the worst 5 % of such a panel on each figure. A 0.2 honeypot
    error is 1.4 points of a 7-point scale.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pianoeval.errors import ParameterError
from pianoeval.label.export import answers_frame

if TYPE_CHECKING:
    import pandas as pd

    from pianoeval.label.store import AnswerStore, Rater
    from pianoeval.manifest import Segment

__all__ = [
    "DimensionQC",
    "QCReport",
    "QCThresholds",
    "RaterQC",
    "honeypot_answers",
    "percepiano_answer_rows",
    "plot_raters_png",
    "plot_reliability_png",
    "qc_report",
    "qc_report_html",
    "save_qc_plots",
    "store_answer_rows",
]

Repeats = Literal["mean", "first"]


@dataclass(frozen=True)
class QCThresholds:
    """Limits below (or above) which a rater is flagged; see the module docstring."""

    min_agreement_r: float = 0.25
    max_agreement_mae: float = 0.25
    max_honeypot_error: float = 0.2
    max_rerate_diff: float = 0.25
    min_sec_per_segment: float = 3.0
    min_answers: int = 10


@dataclass(frozen=True)
class DimensionQC:
    """Reliability of one dimension (NaN where the data are too few)."""

    dim: str
    icc1: float
    icc1k: float
    k0: float
    alpha: float
    n_segments: int
    n_raters: int
    n_answers: int


@dataclass
class RaterQC:
    """Quality figures of one rater (NaN where nothing to measure) and the flags raised."""

    rater_id: str
    rater_name: str
    n_answers: int
    n_segments: int
    agreement_r: float
    agreement_mae: float
    n_compared: int
    honeypot_error: float
    n_honeypot: int
    rerate_diff: float
    n_rerate: int
    sec_per_segment: float
    flags: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        """Whether any threshold was crossed."""
        return bool(self.flags)


def _json_float(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


@dataclass
class QCReport:
    """Everything :func:`qc_report` measured."""

    dimensions: list[DimensionQC]
    raters: list[RaterQC]
    thresholds: QCThresholds
    repeats: str
    n_answers: int
    n_raters: int
    n_segments: int

    @property
    def flagged(self) -> list[RaterQC]:
        """The raters with at least one flag."""
        return [r for r in self.raters if r.flagged]

    def mean(self, name: str) -> float:
        """Mean of a per-dimension figure over the dimensions where it is finite."""
        vals = [getattr(d, name) for d in self.dimensions]
        vals = [v for v in vals if math.isfinite(v)]
        return float(np.mean(vals)) if vals else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes null)."""

        def clean(d: dict[str, Any]) -> dict[str, Any]:
            return {k: _json_float(v) for k, v in d.items()}

        return {
            "schema_version": 1,
            "thresholds": asdict(self.thresholds),
            "repeats": self.repeats,
            "n_answers": self.n_answers,
            "n_raters": self.n_raters,
            "n_segments": self.n_segments,
            "dimensions": [clean(asdict(d)) for d in self.dimensions],
            "mean": {k: _json_float(self.mean(k)) for k in ("icc1", "icc1k", "alpha")},
            "raters": [clean(asdict(r)) for r in self.raters],
            "flagged": [r.rater_id for r in self.flagged],
        }


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    y = y - y.mean()
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / den) if den > 0 else float("nan")


def _alpha(matrix: np.ndarray) -> float:
    import krippendorff

    finite = matrix[np.isfinite(matrix)]
    if finite.size < 2 or np.unique(finite).size < 2:
        return float("nan")
    try:
        return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="interval"))
    except (ValueError, ZeroDivisionError):
        return float("nan")


def _mark_honeypots(
    df: pd.DataFrame, honeypots: Mapping[str, Mapping[str, float]] | None
) -> pd.DataFrame:
    if "known_value" not in df:
        df["known_value"] = np.nan
    df["known_value"] = df["known_value"].astype(np.float64)
    if "is_honeypot" not in df:
        df["is_honeypot"] = df["known_value"].notna()
    df["is_honeypot"] = df["is_honeypot"].fillna(False).astype(bool)
    if honeypots:
        known = [
            honeypots.get(s, {}).get(d, np.nan)
            for s, d in zip(df["segment_id"], df["dim"], strict=True)
        ]
        known_arr = np.asarray(known, dtype=np.float64)
        fill = df["known_value"].isna().to_numpy() & np.isfinite(known_arr)
        df.loc[fill, "known_value"] = known_arr[fill]
        df.loc[df["segment_id"].isin(set(honeypots)), "is_honeypot"] = True
    return df


def _pace(rows: pd.DataFrame) -> float:
    import pandas as pd

    if "created" not in rows or rows["created"].isna().all():
        return float("nan")
    times = pd.to_datetime(rows["created"], utc=True, errors="coerce", format="ISO8601")
    first = times.groupby(rows["segment_id"]).min().dropna().sort_values()
    if len(first) < 2:
        return float("nan")
    gaps = first.diff().dropna().dt.total_seconds().to_numpy()
    return float(np.median(gaps))


def qc_report(
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
    *,
    honeypots: Mapping[str, Mapping[str, float]] | None = None,
    thresholds: QCThresholds | None = None,
    repeats: Repeats = "mean",
) -> QCReport:
    """Measure dimension reliability and rater quality; flag raters past the thresholds.

    Parameters
    ----------
    rows : iterable of mapping or pandas.DataFrame
        Long answer rows (:meth:`~pianoeval.label.store.AnswerStore.export_rows`, or a
        frame with the optional columns of the module docstring).
    honeypots : mapping, optional
        ``{segment_id: {dim: known answer}}`` on the answers' scale
        (:func:`honeypot_answers`); those segments' answers are scored against it and left
        out of the reliability figures.
    thresholds : QCThresholds, optional
        Defaults as documented.
    repeats : {'mean', 'first'}
        For reliability and agreement, a rater's repeated answers count as their mean
        (the project's reliability convention) or as the first only.

    Returns
    -------
    QCReport

    Raises
    ------
    ParameterError
        Unknown ``repeats``, or no answers at all.
    SchemaError
        Rows without the required columns.

    Examples
    --------
    >>> rows = [{"rater_id": r, "segment_id": f"s{i}", "dim": "timing", "value": v}
    ...         for i, v in enumerate([0.1, 0.5, 0.9]) for r in (1, 2)]
    >>> rep = qc_report(rows)
    >>> round(rep.dimensions[0].icc1, 3), round(rep.dimensions[0].alpha, 3)
    (1.0, 1.0)
    """
    from pianoeval.data.reliability import icc_oneway

    if repeats not in ("mean", "first"):
        raise ParameterError(f"repeats must be 'mean' or 'first', got {repeats!r}")
    th = thresholds or QCThresholds()
    df = answers_frame(rows)
    if df.empty:
        raise ParameterError("no answers to check")
    df = _mark_honeypots(df, honeypots)
    if "rater_name" not in df:
        df["rater_name"] = df["rater_id"]
    df["rater_name"] = df["rater_name"].fillna(df["rater_id"]).astype(str)

    keys = ["segment_id", "dim", "rater_id"]
    rel = df[~df["is_honeypot"]]
    if repeats == "first":
        rel = rel[rel["attempt"] == rel.groupby(keys)["attempt"].transform("min")]
    rel = rel.groupby(keys, as_index=False, sort=False)["value"].mean()

    dims_out: list[DimensionQC] = []
    for dim, sub in rel.groupby("dim", sort=False):
        grouped = sub.groupby("segment_id", sort=True)["value"]
        groups = [g.to_numpy(dtype=np.float64) for _, g in grouped]
        try:
            icc = icc_oneway(groups)
            icc1, icc1k, k0 = icc.icc1, icc.icc1k, icc.k0
        except ParameterError:
            icc1 = icc1k = k0 = float("nan")
        matrix = sub.pivot(index="rater_id", columns="segment_id", values="value")
        dims_out.append(
            DimensionQC(
                dim=str(dim),
                icc1=float(icc1),
                icc1k=float(icc1k),
                k0=float(k0),
                alpha=_alpha(matrix.to_numpy(dtype=np.float64)),
                n_segments=int(sub["segment_id"].nunique()),
                n_raters=int(sub["rater_id"].nunique()),
                n_answers=len(sub),
            )
        )

    # leave-one-out consensus: (sum of the segment-dim's answers - own) / (count - 1)
    cell = rel.groupby(["segment_id", "dim"])["value"]
    rel = rel.assign(_sum=cell.transform("sum"), _n=cell.transform("count"))
    compared = rel[rel["_n"] >= 2].copy()
    compared["loo"] = (compared["_sum"] - compared["value"]) / (compared["_n"] - 1)

    # re-rates: |second - first| answer of each rater x segment x dim given at least twice
    ordered = df.sort_values([*keys, "attempt"], kind="stable")
    nth = ordered.groupby(keys).cumcount()
    first = ordered[nth == 0].set_index(keys)["value"]
    second = ordered[nth == 1].set_index(keys)["value"]
    diff = (second - first.reindex(second.index)).abs()
    rerate_by_rater = {r: g.to_numpy() for r, g in diff.groupby(level="rater_id", sort=False)}

    raters_out: list[RaterQC] = []
    for rater_id, own in df.groupby("rater_id", sort=False):
        mine = compared[compared["rater_id"] == rater_id]
        rs, ws = [], []
        for _, d in mine.groupby("dim"):
            if len(d) >= 3:
                r = _pearson(d["value"].to_numpy(), d["loo"].to_numpy())
                if math.isfinite(r):
                    rs.append(r)
                    ws.append(len(d))
        agreement_r = float(np.average(rs, weights=ws)) if rs else float("nan")
        mae = float((mine["value"] - mine["loo"]).abs().mean()) if len(mine) else float("nan")
        hp = own[own["is_honeypot"] & own["known_value"].notna()]
        hp_err = float((hp["value"] - hp["known_value"]).abs().mean()) if len(hp) else math.nan
        diffs = rerate_by_rater.get(rater_id)
        n_rerate = 0 if diffs is None else len(diffs)
        rerate = float(np.mean(diffs)) if diffs is not None and n_rerate else float("nan")
        rq = RaterQC(
            rater_id=str(rater_id),
            rater_name=str(own["rater_name"].iloc[0]),
            n_answers=len(own),
            n_segments=int(own["segment_id"].nunique()),
            agreement_r=agreement_r,
            agreement_mae=mae,
            n_compared=len(mine),
            honeypot_error=hp_err,
            n_honeypot=len(hp),
            rerate_diff=rerate,
            n_rerate=n_rerate,
            sec_per_segment=_pace(own),
        )
        rq.flags = _flags(rq, th)
        raters_out.append(rq)
    raters_out.sort(key=lambda r: (not r.flagged, r.rater_id))
    return QCReport(
        dimensions=dims_out,
        raters=raters_out,
        thresholds=th,
        repeats=repeats,
        n_answers=len(df),
        n_raters=int(df["rater_id"].nunique()),
        n_segments=int(df["segment_id"].nunique()),
    )


def _flags(r: RaterQC, th: QCThresholds) -> list[str]:
    out = []
    if r.n_compared >= th.min_answers:
        if r.agreement_r < th.min_agreement_r:
            out.append(f"agreement r {r.agreement_r:.3f} < {th.min_agreement_r}")
        if r.agreement_mae > th.max_agreement_mae:
            out.append(f"agreement MAE {r.agreement_mae:.3f} > {th.max_agreement_mae}")
    if r.n_honeypot and r.honeypot_error > th.max_honeypot_error:
        out.append(f"honeypot error {r.honeypot_error:.3f} > {th.max_honeypot_error}")
    if r.n_rerate and r.rerate_diff > th.max_rerate_diff:
        out.append(f"re-rate difference {r.rerate_diff:.3f} > {th.max_rerate_diff}")
    if math.isfinite(r.sec_per_segment) and r.sec_per_segment < th.min_sec_per_segment:
        out.append(f"pace {r.sec_per_segment:.1f} s/segment < {th.min_sec_per_segment}")
    return out


def store_answer_rows(store: AnswerStore, admin: Rater) -> list[dict[str, Any]]:
    """Every answer of the store as QC rows: first answers, and re-rates as ``attempt`` 2.

    :meth:`~pianoeval.label.store.AnswerStore.export_rows` gives the first answers (attempt
    1) and, where the store keeps re-rating answers apart,
    ``export_rerate_rows`` the second ones (attempt 2). Admin only.
    """
    rows = [{**r, "attempt": 1} for r in store.export_rows(admin)]
    rerates = getattr(store, "export_rerate_rows", None)
    if rerates is not None:
        rows += [
            {k: v for k, v in r.items() if not k.startswith("first_")} | {"attempt": 2}
            for r in rerates(admin)
        ]
    return rows


def honeypot_answers(segments: Sequence[Segment]) -> dict[str, dict[str, float]]:
    """Known answers of labelled manifest rows: ``{segment_id: {dim: label}}``.

    Answers and labels share the label scale, so the labels are the known answers. Each is
    keyed by the plain and the qualified dimension name, so store rows may use either.
    """
    from pianoeval.dims import resolve_dimension

    out: dict[str, dict[str, float]] = {}
    for seg in segments:
        known: dict[str, float] = {}
        for name in seg.labelled_dims():
            value = seg.labels.get(name)
            if value is None:
                continue
            dim = resolve_dimension(name, seg.taxonomy)
            known[dim.name] = known[dim.qualified_name] = float(value)
        if known:
            out[seg.segment_id] = known
    return out


def percepiano_answer_rows(ratings: pd.DataFrame) -> pd.DataFrame:
    """PercePiano's raw ratings as QC answer rows (the check of QC against docs/data.md).

    Parameters
    ----------
    ratings : pandas.DataFrame
        :func:`pianoeval.data.percepiano.load_raw_ratings`'s table (answers 1-7).

    Returns
    -------
    pandas.DataFrame
        ``rater_id, segment_id, dim, value, attempt``: the answer ``r`` as the label ``r / 7``
        (PercePiano's label scale, on which the app stores answers), ``attempt`` the rank of
        the CSV row among the rater's submissions of that segment (repeated submissions are
        re-rates).
    """
    df = ratings.rename(columns={"rater": "rater_id", "segment": "segment_id", "dimension": "dim"})
    attempt = (
        df[["rater_id", "segment_id", "row"]]
        .drop_duplicates()
        .assign(attempt=lambda t: t.groupby(["rater_id", "segment_id"])["row"].rank(method="dense"))
    )
    df = df.merge(attempt, on=["rater_id", "segment_id", "row"], how="left")
    return df.assign(
        value=df["answer"].astype(np.float64) / 7.0, attempt=df["attempt"].astype(int)
    )[["rater_id", "segment_id", "dim", "value", "attempt"]]


# -- plots and the admin page ------------------------------------------------------------


def _png(fig: Any) -> bytes:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def plot_reliability_png(report: QCReport) -> bytes:
    """Bars of ICC(1,1), ICC(1,k) and Krippendorff's alpha per dimension, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = [d.dim for d in report.dimensions]
    x = np.arange(len(dims))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(dims) + 2), 3.5))
    for i, (name, label) in enumerate(
        [("icc1", "ICC(1,1)"), ("icc1k", "ICC(1,k)"), ("alpha", "Krippendorff alpha")]
    ):
        vals = [getattr(d, name) for d in report.dimensions]
        ax.bar(x + (i - 1) * 0.27, np.nan_to_num(vals), width=0.27, label=label)
    ax.set_xticks(x, dims, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("reliability")
    ax.axhline(0.8, color="grey", lw=0.8, ls="--")
    ax.legend(fontsize=8)
    ax.set_title("Reliability per dimension")
    return _png(fig)


def plot_raters_png(report: QCReport) -> bytes:
    """Each rater's agreement with the consensus (r against MAE), flagged in red, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.0, 4.0))
    for flagged, colour in ((False, "tab:blue"), (True, "tab:red")):
        rs = [r for r in report.raters if r.flagged == flagged]
        ax.scatter(
            [r.agreement_r for r in rs],
            [r.agreement_mae for r in rs],
            c=colour,
            label="flagged" if flagged else "ok",
        )
        for r in rs:
            ax.annotate(r.rater_name, (r.agreement_r, r.agreement_mae), fontsize=7)
    th = report.thresholds
    ax.axvline(th.min_agreement_r, color="grey", lw=0.8, ls="--")
    ax.axhline(th.max_agreement_mae, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("correlation with the leave-one-out consensus")
    ax.set_ylabel("MAE to the consensus")
    ax.legend(fontsize=8)
    ax.set_title("Raters")
    return _png(fig)


def save_qc_plots(report: QCReport, out_dir: str | Path) -> list[Path]:
    """Write ``qc_reliability.png`` and ``qc_raters.png`` into ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "qc_reliability.png", out / "qc_raters.png"]
    paths[0].write_bytes(plot_reliability_png(report))
    paths[1].write_bytes(plot_raters_png(report))
    return paths


def _fmt(x: float, digits: int = 3) -> str:
    return "-" if not math.isfinite(x) else f"{x:.{digits}f}"


def qc_report_html(report: QCReport) -> str:
    """Return a self-contained HTML page of the report (plots inlined), for an admin route."""
    e = html.escape

    def img(png: bytes, alt: str) -> str:
        data = base64.b64encode(png).decode("ascii")
        return f'<img alt="{e(alt)}" src="data:image/png;base64,{data}">'

    dim_rows = "".join(
        f"<tr><td>{e(d.dim)}</td><td>{_fmt(d.icc1)}</td><td>{_fmt(d.icc1k)}</td>"
        f"<td>{_fmt(d.alpha)}</td><td>{d.n_segments}</td><td>{d.n_raters}</td>"
        f"<td>{d.n_answers}</td></tr>"
        for d in report.dimensions
    )
    rater_rows = "".join(
        f'<tr class="{"flagged" if r.flagged else "ok"}"><td>{e(r.rater_id)}</td>'
        f"<td>{e(r.rater_name)}</td><td>{r.n_answers}</td><td>{_fmt(r.agreement_r, 2)}</td>"
        f"<td>{_fmt(r.agreement_mae)}</td><td>{_fmt(r.honeypot_error)}</td>"
        f"<td>{_fmt(r.rerate_diff)}</td><td>{_fmt(r.sec_per_segment, 1)}</td>"
        f"<td>{e('; '.join(r.flags)) or 'ok'}</td></tr>"
        for r in report.raters
    )
    th = report.thresholds
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Labeling QC</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }}
td:first-child, td:nth-child(2), td:last-child {{ text-align: left; }}
tr.flagged {{ background: #fdd; }}
</style></head><body>
<h1>Labeling QC</h1>
<p>{report.n_answers} answers, {report.n_raters} raters, {report.n_segments} segments;
repeats counted as their {e(report.repeats)}. Flagged: {len(report.flagged)}.</p>
<h2>Reliability per dimension</h2>
<table><tr><th>dimension</th><th>ICC(1,1)</th><th>ICC(1,k)</th><th>alpha</th>
<th>segments</th><th>raters</th><th>answers</th></tr>{dim_rows}
<tr><td><b>mean</b></td><td>{_fmt(report.mean("icc1"))}</td><td>{_fmt(report.mean("icc1k"))}</td>
<td>{_fmt(report.mean("alpha"))}</td><td></td><td></td><td></td></tr></table>
{img(plot_reliability_png(report), "reliability per dimension")}
<h2>Raters</h2>
<p>Flagged when agreement r &lt; {th.min_agreement_r} or MAE &gt; {th.max_agreement_mae}
(at least {th.min_answers} compared answers), honeypot error &gt; {th.max_honeypot_error},
re-rate difference &gt; {th.max_rerate_diff}, or pace &lt; {th.min_sec_per_segment} s per
segment.</p>
<table><tr><th>id</th><th>name</th><th>answers</th><th>agreement r</th><th>MAE</th>
<th>honeypot error</th><th>re-rate diff</th><th>s/segment</th><th>flags</th></tr>
{rater_rows}</table>
{img(plot_raters_png(report), "rater agreement")}
</body></html>
"""
