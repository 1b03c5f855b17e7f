"""Labels from the answer store to the manifest that training reads.

Task
    Turn the long answer rows of :meth:`pianoeval.label.store.AnswerStore.export_rows` (one
    row per rater x segment x dimension) and the queue manifest the raters worked from into
    one :class:`~pianoeval.manifest.Segment` per rated segment, with the consensus label of
    every rated dimension and how it was reached.

Conventions
    - **Scale.** Answers are stored on the label scale of their dimension's taxonomy (its
      ``value_range``, ``[1/7, 1]`` for ``percepiano19``), as the labeling app saves them
      and as manifests hold labels, so a consensus is a label as it stands. An answer
      outside that range (beyond 1e-9) is refused: it was saved on another scale.
    - **Repeats.** A rater who answered the same segment and dimension more than once (re-rate
      rows with an ``attempt`` or ``is_rerate`` column) counts once, with the mean of their
      answers.
    - **Unsure answers** count only where nobody was sure: when a segment's dimension has at
      least one sure answer, the unsure ones are left out; when every answer is unsure, all
      are used (a label from unsure raters beats none, and ``label_std`` shows the spread).
    - **Consensus** is the median (default) or the mean of the kept answers; ``label_std`` is
      their sample standard deviation (ddof=1, on the label scale, as the PercePiano importer
      writes it), left out for a dimension with one answer.
    - ``n_raters`` counts the distinct raters of the row; ``rater_id`` is their store ids,
      sorted and comma-joined (the schema's ``rater_id`` is one string).
    - ``label_source`` is ``model_verified`` for a dimension whose every kept answer is a
      pre-filled suggestion confirmed unchanged (store source ``prefill_confirmed``), else
      ``human``; the row's ``source`` is ``human`` when any label is human.
    - Honeypots (queue rows that already carry human or human-verified labels, and any id in
      ``honeypots``) are left out: their answers check the raters, they are not new labels.
    - Everything else of the queue row is kept (provenance and licence, media, groups,
      pseudo-labels); the selector's ``active`` field is dropped.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pianoeval.errors import ParameterError, PianoEvalWarning, SchemaError

if TYPE_CHECKING:
    import pandas as pd

    from pianoeval.dims import Dimension
    from pianoeval.manifest import Segment

__all__ = [
    "REQUIRED_COLUMNS",
    "answers_frame",
    "export_manifest",
    "honeypot_ids",
    "validate_segments",
]

#: Columns every answer row must have (the store's export rows have them and more).
REQUIRED_COLUMNS = ("rater_id", "segment_id", "dim", "value")

#: The queue manifest's field written by ``pianoeval select`` (not a label: dropped on export).
QUEUE_FIELD = "active"

Consensus = Literal["median", "mean"]


def answers_frame(rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Return answer rows as a DataFrame with the optional columns filled in.

    Parameters
    ----------
    rows : iterable of mapping or pandas.DataFrame
        Long rows with at least ``rater_id, segment_id, dim, value``; optional ``unsure``
        (False), ``source`` (``'rater'``), ``model_verified`` (``source ==
        'prefill_confirmed'``), ``attempt`` (1) or ``is_rerate`` (False), ``created``.

    Raises
    ------
    SchemaError
        A required column is missing or a value is not a finite number.
    """
    import pandas as pd

    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if df.empty:
        return pd.DataFrame(columns=[*REQUIRED_COLUMNS, "unsure", "model_verified", "attempt"])
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise SchemaError(f"answer rows lack the columns {missing} (have {list(df.columns)})")
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    if not np.isfinite(df["value"].to_numpy(dtype=np.float64)).all():
        raise SchemaError("answer rows hold a value that is not a finite number")
    df["rater_id"] = df["rater_id"].astype(str)
    df["segment_id"] = df["segment_id"].astype(str)
    df["dim"] = df["dim"].astype(str)
    df["unsure"] = df["unsure"].fillna(False).astype(bool) if "unsure" in df else False
    if "model_verified" not in df:
        src = df["source"] if "source" in df else pd.Series("rater", index=df.index)
        df["model_verified"] = src == "prefill_confirmed"
    df["model_verified"] = df["model_verified"].fillna(False).astype(bool)
    if "attempt" not in df:
        rerate = df["is_rerate"].fillna(False).astype(bool) if "is_rerate" in df else False
        df["attempt"] = np.where(rerate, 2, 1)
    df["attempt"] = pd.to_numeric(df["attempt"], errors="coerce").fillna(1).astype(int)
    df["is_rerate"] = df["attempt"] > 1
    return df


def honeypot_ids(queue_rows: Iterable[Segment], extra: Collection[str] = ()) -> set[str]:
    """Ids of the queue rows that are honeypots: labelled by people already, or in ``extra``."""
    ids = set(extra)
    for seg in queue_rows:
        if any(s in ("human", "model_verified") for s in seg.label_sources().values()):
            ids.add(seg.segment_id)
    return ids


def _resolve(dim: str, taxonomy: str | None, segment_id: str) -> Dimension:
    from pianoeval.dims import resolve_dimension

    try:
        return resolve_dimension(dim, taxonomy)
    except ParameterError as e:
        raise SchemaError(f"segment {segment_id!r}: answer dimension {dim!r}: {e}") from None


def _check_label(value: float, dim: Dimension, segment_id: str) -> float:
    from pianoeval.dims import get_taxonomy

    lo, hi = get_taxonomy(dim.taxonomy).value_range
    if not lo - 1e-9 <= value <= hi + 1e-9:
        raise SchemaError(
            f"segment {segment_id!r}: an answer of {dim.qualified_name} is {value:.6g}, outside "
            f"its label range [{lo:.4g}, {hi:.4g}] (answers are stored on the label scale)"
        )
    return float(min(max(value, lo), hi))


def validate_segments(segments: Sequence[Segment], *, what: str = "exported manifest") -> None:
    """Run the manifest validator's row checks on in-memory segments (media not checked).

    Raises
    ------
    SchemaError
        Listing every problem, each with the segment id, field and reason.
    """
    from pianoeval.manifest.validate import check_segment

    problems = []
    for i, seg in enumerate(segments, start=1):
        problems += check_segment(seg, path=what, line=i, base_dir=None, check_media=False)
    if problems:
        lines = "; ".join(f"row {p.line} {p.field}: {p.reason}" for p in problems[:10])
        raise SchemaError(f"{what}: {len(problems)} problem(s): {lines}")


def export_manifest(
    store_rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
    queue_rows: Sequence[Segment],
    *,
    consensus: Consensus = "median",
    min_raters: int = 1,
    honeypots: Collection[str] = (),
) -> list[Segment]:
    """Build the labelled manifest rows from the store's answers and the queue.

    Parameters
    ----------
    store_rows : iterable of mapping or pandas.DataFrame
        :meth:`~pianoeval.label.store.AnswerStore.export_rows` (or a frame of such rows).
    queue_rows : sequence of Segment
        The queue manifest the raters worked from; gives each segment its media, times,
        taxonomy and provenance.
    consensus : {'median', 'mean'}
        How the kept answers of a dimension are combined.
    min_raters : int
        A dimension with fewer kept raters gets no label (mask 0).
    honeypots : collection of str
        More segment ids to leave out (besides queue rows that are labelled already).

    Returns
    -------
    list of Segment
        One row per queue segment with at least one answer, in queue order; every row
        passes the manifest validator.

    Raises
    ------
    ParameterError
        Bad ``consensus`` or ``min_raters``; a segment id twice in the queue.
    SchemaError
        Answer rows without the required columns, with a dimension the queue row's taxonomy
        does not have, or with a value outside its label range.

    Warns
    -----
    PianoEvalWarning
        For answers to segments that are not in the queue (left out).

    Examples
    --------
    >>> from pianoeval.manifest import Segment
    >>> q = [Segment(segment_id="s1", dataset="user", midi_uri="a.mid", t0=0, t1=4,
    ...              taxonomy="percepiano19", provenance={"license": "CC-BY-4.0"})]
    >>> rows = [{"rater_id": r, "segment_id": "s1", "dim": "timing", "value": v}
    ...         for r, v in [(1, 0.5), (2, 0.75), (3, 1.0)]]
    >>> seg = export_manifest(rows, q)[0]
    >>> seg.labels["timing"], seg.n_raters, seg.rater_id, seg.label_source
    (0.75, 3, '1,2,3', {'timing': 'human'})
    """
    from pianoeval.manifest import Segment

    if consensus not in ("median", "mean"):
        raise ParameterError(f"consensus must be 'median' or 'mean', got {consensus!r}")
    if min_raters < 1:
        raise ParameterError(f"min_raters must be >= 1, got {min_raters}")
    by_id: dict[str, Segment] = {}
    for seg in queue_rows:
        if seg.segment_id in by_id:
            raise ParameterError(f"segment id {seg.segment_id!r} is twice in the queue")
        by_id[seg.segment_id] = seg
    skip = honeypot_ids(queue_rows, honeypots)
    df = answers_frame(store_rows)
    unknown = sorted(set(df["segment_id"]) - set(by_id))
    if unknown:
        warnings.warn(
            f"{len(unknown)} answered segment(s) are not in the queue and are left out: "
            f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}",
            PianoEvalWarning,
            stacklevel=2,
        )
    df = df[df["segment_id"].isin(set(by_id) - skip)]
    # one answer per rater x segment x dim: the mean of their attempts (re-rates)
    per_rater = df.groupby(["segment_id", "dim", "rater_id"], as_index=False, sort=False).agg(
        value=("value", "mean"),
        unsure=("unsure", "all"),
        model_verified=("model_verified", "all"),
    )
    groups = dict(tuple(per_rater.groupby("segment_id", sort=False)))
    out: list[Segment] = []
    for seg_id, seg in by_id.items():
        if seg_id not in groups:
            continue
        answers = groups[seg_id]
        resolved = {d: _resolve(d, seg.taxonomy, seg_id) for d in answers["dim"].unique()}
        taxonomies = {d.taxonomy for d in resolved.values()}
        # one taxonomy: plain names under it; several: qualified names, no row taxonomy
        single = len(taxonomies) == 1 and (seg.taxonomy in (None, *taxonomies))
        taxonomy = next(iter(taxonomies)) if single else None

        def key(dim: Dimension, taxonomy: str | None = taxonomy) -> str:
            return dim.name if taxonomy is not None else dim.qualified_name

        labels: dict[str, float | None] = {}
        mask: dict[str, int] = {}
        std: dict[str, float] = {}
        source: dict[str, Any] = {}
        raters: set[str] = set()
        order = sorted(resolved.items(), key=lambda kv: (kv[1].taxonomy, kv[1].index))
        for raw_dim, dim in order:
            sub = answers[answers["dim"] == raw_dim]
            sure = sub[~sub["unsure"]]
            kept = sure if len(sure) else sub
            name = key(dim)
            if len(kept) < min_raters:
                labels[name], mask[name] = None, 0
                continue
            values = np.array(
                [_check_label(v, dim, seg_id) for v in kept["value"].to_numpy(dtype=np.float64)]
            )
            labels[name] = float(np.median(values) if consensus == "median" else values.mean())
            mask[name] = 1
            if len(values) > 1:
                std[name] = float(values.std(ddof=1))
            source[name] = "model_verified" if bool(kept["model_verified"].all()) else "human"
            raters.update(kept["rater_id"])
        base_dims = [d for d in seg.dims if d not in labels]
        row = seg.to_json_dict()
        row.pop(QUEUE_FIELD, None)
        for field in ("labels", "label_mask", "label_std", "label_source", "n_raters"):
            row.pop(field, None)
        if base_dims and taxonomy is None and seg.taxonomy is not None:
            base_dims = [f"{seg.taxonomy}.{d}" if "." not in d else d for d in base_dims]
        row.update(
            taxonomy=taxonomy,
            dims=[*base_dims, *labels],
            labels=labels,
            label_mask={**dict.fromkeys(base_dims, 0), **mask},
            label_std=std or None,
            label_source=source or None,
            n_raters=len(raters) or None,
            rater_id=",".join(sorted(raters, key=_id_order)) or None,
            source="human" if "human" in source.values() or not source else "model_verified",
        )
        out.append(Segment.model_validate({k: v for k, v in row.items() if v is not None}))
    validate_segments(out)
    return out


def _id_order(rater_id: str) -> tuple[int, int | str]:
    return (0, int(rater_id)) if rater_id.isdigit() else (1, rater_id)
