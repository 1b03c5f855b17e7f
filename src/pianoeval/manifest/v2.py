"""Manifest schema, generation 2: generation 1 plus typed score, alignment and provenance fields.

Generation 2 types the fields that importers and the pseudo-labeller wrote beside the
generation-1 schema, so they are checked instead of carried blindly, and adds a
per-dimension label provenance for the labeling loop:

``score_t0``, ``score_t1`` : float, s
    The segment's span in the score's own time (ASAP: from the score annotations).
``score_bars`` : [int, int]
    First and last score bar (inclusive) when they differ from, or are known apart from,
    the performance's ``bars``.
``flags`` : [str]
    Importer remarks about the row (``short_performance``, ``end_estimated``,
    ``score_mismatch``, ``short_passage``, ``score_end_estimated``, ...).
``alignment`` : :class:`Alignment`
    Beat and downbeat times of the performance within the segment (seconds from the start
    of the media), with the time signature and key in force at ``t0``.
``pseudo_calibrated`` : {qualified dim: float}
    Pseudo-labels mapped onto a human taxonomy (``{"percepiano19.timing": 0.61}``).
``pseudo_meta`` : :class:`PseudoMeta`
    How the pseudo-labels were made (calibration version, alignment status, F-measure).
``label_source`` : {dim: "human" | "model_verified" | "pseudo"}
    Where each label comes from, keyed like ``labels``. A labelled dimension without an
    entry takes the row's ``source`` (:meth:`Segment.label_sources`).

Every other generation-1 field keeps its name, type and meaning. A generation-1 row is
read through :func:`migrate`, which moves nothing (the new fields have the names the old
extras had) and fills ``label_source`` from the row-level ``source``.

Strict JSON types: manifests are read with pydantic's strict JSON mode, so a float field
accepts JSON numbers only (``0`` and ``0.5``, never ``false`` or ``"0"``) and an int field
accepts JSON integers only (never ``true``, ``"1"`` or ``1.5``). Segments built in Python
(importers) are validated in the usual lax mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from pianoeval.manifest.v1 import Provenance, Source

SCHEMA_VERSION: Literal[2] = 2

LabelSource = Literal["human", "model_verified", "pseudo"]
"""Provenance of one label: a person, a model's value a person confirmed, or a machine's."""

#: Row-level ``source`` -> provenance of its labels. A model's unverified value used as a
#: label is a pseudo-label.
SOURCE_TO_LABEL_SOURCE: dict[str, LabelSource] = {
    "human": "human",
    "model_verified": "model_verified",
    "model": "pseudo",
    "pseudo": "pseudo",
}

#: Fields generation 1 carried as untyped extras that generation 2 types.
TYPED_EXTRAS = (
    "score_t0",
    "score_t1",
    "score_bars",
    "flags",
    "alignment",
    "pseudo_calibrated",
    "pseudo_meta",
)


class Alignment(BaseModel):
    """Beats of the performance within a segment (seconds from the start of its media).

    Extra keys are kept, so aligners can add their own.
    """

    model_config = ConfigDict(extra="allow")

    beats_sec: list[float] = Field(default_factory=list)
    downbeats_sec: list[float] = Field(default_factory=list)
    time_signature: str | None = None
    key: int | None = None


class PseudoMeta(BaseModel):
    """How a row's pseudo-labels were made.

    Attributes
    ----------
    calibration : str or None
        Version of the pseudo->human calibration used.
    status : str
        ``aligned``, ``no score``, ``alignment failed: ...``.
    alignment_f_measure : float or None
        Note-alignment F-measure to the score, in [0, 1], when aligned.
    """

    model_config = ConfigDict(extra="allow")

    calibration: str | None = None
    status: str = Field(min_length=1)
    alignment_f_measure: float | None = None


class Segment(BaseModel):
    """One segment of a performance and what is known about it (one manifest row)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    # Only 2: an older row becomes a Segment through migrate(), never by relabelling it.
    schema_version: Literal[2] = SCHEMA_VERSION
    segment_id: str = Field(min_length=1)
    dataset: str = Field(min_length=1)
    audio_uri: str | None = None
    midi_uri: str | None = None
    score_uri: str | None = None
    sr: int | None = Field(default=None, gt=0)
    t0: float = Field(ge=0.0)
    t1: float
    bars: tuple[int, int] | None = None
    score_t0: float | None = None
    score_t1: float | None = None
    score_bars: tuple[int, int] | None = None
    taxonomy: str | None = None
    dims: list[str] = Field(default_factory=list)
    labels: dict[str, float | None] = Field(default_factory=dict)
    label_mask: dict[str, int] = Field(default_factory=dict)
    label_std: dict[str, float] | None = None
    label_source: dict[str, LabelSource] | None = None
    n_raters: int | None = Field(default=None, ge=1)
    rater_id: str | None = None
    source: Source = "human"
    provenance: Provenance
    anchors: list[str] = Field(default_factory=list)
    flags: list[str] | None = None
    alignment: Alignment | None = None
    pseudo_taxonomy: str = "execution16"
    pseudo_labels: dict[str, float] | None = None
    pseudo_conf: dict[str, float] | None = None
    pseudo_calibrated: dict[str, float] | None = None
    pseudo_meta: PseudoMeta | None = None
    groups: dict[str, str] = Field(default_factory=dict)

    @property
    def duration_sec(self) -> float:
        """Length of the segment in seconds."""
        return self.t1 - self.t0

    @property
    def license(self) -> str:
        """The licence of the segment's source material."""
        return self.provenance.license

    def labelled_dims(self) -> list[str]:
        """Names of the dimensions this row labels (mask 1)."""
        return [d for d in self.dims if self.label_mask.get(d, 0) == 1]

    def label_sources(self) -> dict[str, LabelSource]:
        """Provenance of every label given: ``label_source``, else the row's ``source``.

        Examples
        --------
        >>> seg = Segment(segment_id="s", dataset="user", midi_uri="a.mid", t0=0, t1=1,
        ...               provenance={"license": "MIT"}, dims=["timing", "pace"],
        ...               labels={"timing": 0.5, "pace": 0.6}, source="model",
        ...               label_source={"timing": "model_verified"})
        >>> seg.label_sources()
        {'timing': 'model_verified', 'pace': 'pseudo'}
        """
        explicit = self.label_source or {}
        fallback = SOURCE_TO_LABEL_SOURCE[self.source]
        return {d: explicit.get(d, fallback) for d in self.dims if self.labels.get(d) is not None}

    def to_json_dict(self) -> dict[str, Any]:
        """Return the row as written to JSONL (unset optional fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)


def migrate(row: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a generation-1 row (a JSON object) into a generation-2 row.

    The fields generation 1 kept as extras already have their generation-2 names; the
    row-level ``source`` becomes the ``label_source`` of every label given (``model`` ->
    ``pseudo``), without overriding entries the row already has. Nothing is validated
    here: the result is validated as a generation-2 row, so a bad value is reported under
    its own field.

    Examples
    --------
    >>> migrate({"schema_version": 1, "source": "human", "dims": ["timing", "pace"],
    ...          "labels": {"timing": 0.5, "pace": None}})["label_source"]
    {'timing': 'human'}
    """
    out = dict(row)
    out["schema_version"] = SCHEMA_VERSION
    source = row.get("source", "human")
    labels = row.get("labels")
    label_source = SOURCE_TO_LABEL_SOURCE.get(source) if isinstance(source, str) else None
    if label_source is not None and isinstance(labels, Mapping):
        given = [k for k, v in labels.items() if v is not None]
        existing = row.get("label_source")
        if given and (existing is None or isinstance(existing, Mapping)):
            out["label_source"] = {**dict.fromkeys(given, label_source), **(existing or {})}
    return out


LABEL_SOURCES: tuple[str, ...] = get_args(LabelSource)

__all__ = [
    "LABEL_SOURCES",
    "SCHEMA_VERSION",
    "SOURCE_TO_LABEL_SOURCE",
    "TYPED_EXTRAS",
    "Alignment",
    "LabelSource",
    "PseudoMeta",
    "Segment",
    "migrate",
]
