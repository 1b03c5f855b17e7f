"""Summary statistics of a manifest: rows and duration per dataset, labels per dimension."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from pianoeval.dims import resolve_dimension
from pianoeval.errors import ParameterError
from pianoeval.manifest.v2 import Segment


@dataclass
class ManifestStats:
    """What a manifest holds.

    Attributes
    ----------
    n_rows : int
    duration_sec : float
        Summed segment durations.
    rows_per_dataset, duration_sec_per_dataset : dict
    labelled_per_dimension : dict
        Rows with mask 1 per qualified dimension name (``taxonomy.name``).
    pseudo_labelled_per_dimension : dict
    rows_per_source, rows_per_license : dict
    labels_per_label_source : dict
        Labels given per provenance (``human``, ``model_verified``, ``pseudo``), each row's
        labels counted by :meth:`Segment.label_sources`.
    """

    n_rows: int = 0
    duration_sec: float = 0.0
    rows_per_dataset: dict[str, int] = field(default_factory=dict)
    duration_sec_per_dataset: dict[str, float] = field(default_factory=dict)
    labelled_per_dimension: dict[str, int] = field(default_factory=dict)
    pseudo_labelled_per_dimension: dict[str, int] = field(default_factory=dict)
    rows_per_source: dict[str, int] = field(default_factory=dict)
    rows_per_license: dict[str, int] = field(default_factory=dict)
    labels_per_label_source: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


def _qualified(name: str, taxonomy: str | None) -> str:
    try:
        return resolve_dimension(name, taxonomy).qualified_name
    except ParameterError:
        return name


def manifest_stats(segments: Iterable[Segment]) -> ManifestStats:
    """Count rows, duration and labels of ``segments``."""
    rows: Counter[str] = Counter()
    dur: dict[str, float] = {}
    labelled: Counter[str] = Counter()
    pseudo: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    licences: Counter[str] = Counter()
    label_sources: Counter[str] = Counter()
    for seg in segments:
        rows[seg.dataset] += 1
        dur[seg.dataset] = dur.get(seg.dataset, 0.0) + seg.duration_sec
        sources[seg.source] += 1
        licences[seg.license] += 1
        labelled.update(_qualified(d, seg.taxonomy) for d in seg.labelled_dims())
        pseudo.update(_qualified(d, seg.pseudo_taxonomy) for d in seg.pseudo_labels or {})
        label_sources.update(seg.label_sources().values())
    return ManifestStats(
        n_rows=sum(rows.values()),
        duration_sec=float(sum(dur.values())),
        rows_per_dataset=dict(sorted(rows.items())),
        duration_sec_per_dataset={k: float(v) for k, v in sorted(dur.items())},
        labelled_per_dimension=dict(labelled),
        pseudo_labelled_per_dimension=dict(pseudo),
        rows_per_source=dict(sorted(sources.items())),
        rows_per_license=dict(sorted(licences.items())),
        labels_per_label_source=dict(sorted(label_sources.items())),
    )
