"""The labeling queue: manifest rows turned into label tasks, honeypots and anchors.

A queue is any schema-2 manifest (:func:`pianoeval.manifest.read_manifest`); the one
``pianoeval select`` writes carries, per row, an ``active`` field whose ``predicted``
(``{"<taxonomy>.<dim>": value}``) pre-fills the sliders as suggestions. Each row becomes a
:class:`LabelTask`: the segment, its dimensions (resolved in :mod:`pianoeval.dims`, so the page
shows their low/high descriptors) and its suggestions.

Honeypots are rows with human labels (``label_source`` human, or the row's ``source``
``human``), from the queue itself or from a separate manifest: their known answers are kept
for QC and never shown to raters; they are given like any other segment.

Anchors are read from the JSON the anchors tools write:
``{dim: {"low"|"mid"|"high": {"clip_uri": str, "t0": float, "t1": float, "desc": str}}}``,
``dim`` plain or qualified, ``clip_uri`` relative to the file's folder or absolute.

Every problem is a :class:`~pianoeval.errors.SchemaError` naming the file (and the row).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from pianoeval import dims as dims_mod
from pianoeval._typing import PathLike
from pianoeval.errors import ParameterError, SchemaError
from pianoeval.manifest import Segment, read_manifest

__all__ = [
    "ANCHOR_LEVELS",
    "Anchor",
    "LabelQueue",
    "LabelTask",
    "load_anchors",
    "load_queue",
]

AnchorLevel = Literal["low", "mid", "high"]
ANCHOR_LEVELS: tuple[AnchorLevel, ...] = ("low", "mid", "high")


@dataclass(frozen=True)
class LabelTask:
    """One segment to rate.

    Attributes
    ----------
    segment : Segment
        The manifest row.
    base_dir : Path
        Folder of the manifest the row came from (relative media URIs resolve against it).
    dims : tuple of Dimension
        The dimensions to rate: the row's ``dims`` and nothing else.
    prefill : dict of str to float
        Suggested values by plain dimension name (from ``active.predicted``); may be empty.
    known : dict of str to float
        Human answers by plain dimension name: non-empty exactly for honeypots. Never sent to
        raters.
    """

    segment: Segment
    base_dir: Path
    dims: tuple[dims_mod.Dimension, ...]
    prefill: dict[str, float] = field(default_factory=dict)
    known: dict[str, float] = field(default_factory=dict)

    @property
    def segment_id(self) -> str:
        """The segment's id."""
        return self.segment.segment_id

    @property
    def is_honeypot(self) -> bool:
        """Whether the segment has known (human) answers."""
        return bool(self.known)

    def dim(self, name: str) -> dims_mod.Dimension:
        """Return the task's dimension called ``name`` (plain name).

        Raises
        ------
        ParameterError
            If the segment is not rated on that dimension.
        """
        for d in self.dims:
            if d.name == name:
                return d
        names = ", ".join(d.name for d in self.dims)
        raise ParameterError(
            f"segment {self.segment_id!r} is not rated on {name!r} (its dimensions: {names})"
        )


@dataclass(frozen=True)
class LabelQueue:
    """The tasks of one labeling run, regular segments in queue order and honeypots apart.

    Attributes
    ----------
    path : Path
        The queue manifest.
    tasks : tuple of LabelTask
        Segments to rate, in the manifest's order (``select`` writes them by rank).
    honeypots : tuple of LabelTask
        Segments with known answers (from the queue and the honeypot manifest).
    """

    path: Path
    tasks: tuple[LabelTask, ...]
    honeypots: tuple[LabelTask, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_by_id", {t.segment_id: t for t in (*self.tasks, *self.honeypots)}
        )

    def get(self, segment_id: str) -> LabelTask | None:
        """Return the task of a segment id (regular or honeypot), or None."""
        by_id: dict[str, LabelTask] = self._by_id  # type: ignore[attr-defined]
        return by_id.get(segment_id)

    @property
    def segment_ids(self) -> list[str]:
        """Ids of the regular segments, in queue order."""
        return [t.segment_id for t in self.tasks]

    @property
    def honeypot_ids(self) -> list[str]:
        """Ids of the honeypots, in file order."""
        return [t.segment_id for t in self.honeypots]

    def honeypot_answers(self) -> dict[str, dict[str, float]]:
        """Known answers of every honeypot: ``{segment_id: {dim: value}}`` (for QC only)."""
        return {t.segment_id: dict(t.known) for t in self.honeypots}


def _where(path: Path, seg: Segment) -> str:
    return f"{path}: segment {seg.segment_id!r}"


def _resolve_dims(path: Path, seg: Segment) -> tuple[dims_mod.Dimension, ...]:
    if not seg.dims:
        raise SchemaError(f"{_where(path, seg)} has no dims: nothing to rate")
    out = []
    for name in seg.dims:
        try:
            out.append(dims_mod.resolve_dimension(name, seg.taxonomy))
        except ParameterError as exc:
            raise SchemaError(f"{_where(path, seg)}: {exc}") from None
    return tuple(out)


def _check_value(path: Path, seg: Segment, what: str, value: Any, dim: dims_mod.Dimension) -> float:
    low, high = dims_mod.get_taxonomy(dim.taxonomy).value_range
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SchemaError(f"{_where(path, seg)}: {what} of {dim.name!r} is not a number: {value!r}")
    v = float(value)
    if not low - 1e-9 <= v <= high + 1e-9:
        raise SchemaError(
            f"{_where(path, seg)}: {what} of {dim.name!r} is {v}, outside [{low:.4g}, {high:.4g}]"
        )
    return min(max(v, low), high)


def _prefill(path: Path, seg: Segment, task_dims: Iterable[dims_mod.Dimension]) -> dict[str, float]:
    active = (seg.model_extra or {}).get("active")
    if active is None:
        return {}
    if not isinstance(active, Mapping):
        raise SchemaError(f"{_where(path, seg)}: 'active' must be an object, got {active!r}")
    predicted = active.get("predicted") or {}
    if not isinstance(predicted, Mapping):
        raise SchemaError(f"{_where(path, seg)}: 'active.predicted' must be an object")
    out = {}
    for d in task_dims:
        value = predicted.get(d.qualified_name, predicted.get(d.name))
        if value is not None:
            out[d.name] = _check_value(path, seg, "active.predicted", value, d)
    return out


def _known(path: Path, seg: Segment, task_dims: Iterable[dims_mod.Dimension]) -> dict[str, float]:
    sources = seg.label_sources()
    out = {}
    for d in task_dims:
        value = seg.labels.get(d.name)
        if value is not None and sources.get(d.name) == "human":
            out[d.name] = _check_value(path, seg, "label", value, d)
    return out


def _tasks(path: Path, *, all_honeypots: bool) -> tuple[list[LabelTask], list[LabelTask]]:
    if not path.is_file():
        raise SchemaError(f"{path}: queue manifest not found")
    segments = read_manifest(path, check_media=False)
    if not segments:
        raise SchemaError(f"{path}: the manifest has no rows")
    tasks, honeypots = [], []
    for seg in segments:
        task_dims = _resolve_dims(path, seg)
        known = _known(path, seg, task_dims)
        task = LabelTask(
            segment=seg,
            base_dir=path.parent.absolute(),
            dims=task_dims,
            prefill=_prefill(path, seg, task_dims),
            known=known,
        )
        if known:
            honeypots.append(task)
        elif all_honeypots:
            raise SchemaError(
                f"{_where(path, seg)}: a honeypot needs human labels for its dims, it has none"
            )
        else:
            tasks.append(task)
    return tasks, honeypots


def load_queue(queue: PathLike, *, honeypots: PathLike | None = None) -> LabelQueue:
    """Load a queue manifest (and optionally a manifest of honeypots) into label tasks.

    Parameters
    ----------
    queue : path-like
        A schema-2 manifest (e.g. written by ``pianoeval select``). Rows with human labels
        become honeypots; the others are the segments to rate, in file order.
    honeypots : path-like, optional
        A manifest whose every row has human labels for its dims: more honeypots.

    Returns
    -------
    LabelQueue

    Raises
    ------
    SchemaError
        A missing or empty file, a row without dims or with an unknown dimension, a bad
        prediction, a segment id given twice (the message names the file and the row);
        :class:`~pianoeval.manifest.ManifestError` for rows that break the manifest schema.
    """
    qpath = Path(queue)
    tasks, pots = _tasks(qpath, all_honeypots=False)
    if honeypots is not None:
        _, extra = _tasks(Path(honeypots), all_honeypots=True)
        pots += extra
    seen: dict[str, Path] = {}
    for t in (*tasks, *pots):
        if t.segment_id in seen:
            raise SchemaError(
                f"{t.base_dir}: segment id {t.segment_id!r} is given twice "
                f"(queue {qpath}{'' if honeypots is None else f', honeypots {honeypots}'})"
            )
        seen[t.segment_id] = t.base_dir
    if not tasks:
        raise SchemaError(f"{qpath}: no segment left to rate (every row has human labels)")
    return LabelQueue(path=qpath, tasks=tuple(tasks), honeypots=tuple(pots))


@dataclass(frozen=True)
class Anchor:
    """An example clip of one end (or the middle) of a dimension's scale.

    Attributes
    ----------
    dim : str
        Plain or qualified dimension name, as in the anchors file.
    level : {'low', 'mid', 'high'}
    clip_uri : str
    base_dir : Path
        Folder of the anchors file (relative URIs resolve against it).
    t0, t1 : float, s
    desc : str
        One sentence describing what to hear.
    """

    dim: str
    level: AnchorLevel
    clip_uri: str
    base_dir: Path
    t0: float
    t1: float
    desc: str


def load_anchors(path: PathLike) -> dict[str, dict[AnchorLevel, Anchor]]:
    """Read an anchors file: ``{dim: {level: Anchor}}``.

    Validation is :func:`pianoeval.label.anchors.read_anchors` (the format's owner); this
    only adds the folder relative clip URIs resolve against.

    Raises
    ------
    SchemaError
        Unreadable JSON, an unknown level, a missing or badly typed field, ``t1 <= t0``
        (the message names the file, the dimension and the level).
    """
    from pianoeval.label.anchors import read_anchors

    p = Path(path)
    base_dir = p.parent.absolute()
    out: dict[str, dict[AnchorLevel, Anchor]] = {}
    for dim, levels in read_anchors(p).items():
        out[dim] = {}
        for level, clip in levels.items():
            lv = cast(AnchorLevel, level)  # read_anchors checked it is one of ANCHOR_LEVELS
            out[dim][lv] = Anchor(
                dim=dim,
                level=lv,
                clip_uri=str(clip["clip_uri"]),
                base_dir=base_dir,
                t0=float(clip["t0"]),
                t1=float(clip["t1"]),
                desc=str(clip["desc"]),
            )
    return out
