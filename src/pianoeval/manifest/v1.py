"""Manifest schema, generation 1: one :class:`Segment` per JSONL line.

Field names follow the evaluator guide's manifest schema so manifests interchange:
``segment_id, dataset, audio_uri, sr, t0, t1, bars, dims, labels, label_mask, rater_id,
source, provenance, anchors`` plus ``midi_uri, score_uri, label_std, n_raters,
pseudo_labels, pseudo_conf`` and ``groups`` (grouping keys for splits: excerpt, performer,
work, ...). Unknown extra fields are kept, so tools can carry their own fields through.

Dimension names in ``dims``, ``labels``, ``label_mask`` and ``label_std`` are plain names of
the row's ``taxonomy`` or qualified ``taxonomy.name``; ``pseudo_labels`` and ``pseudo_conf``
use ``pseudo_taxonomy`` (``execution16`` unless stated).

This generation is frozen: readers take its rows through
:func:`pianoeval.manifest.v2.migrate` into the latest :class:`~pianoeval.manifest.v2.Segment`,
and nothing writes it any more.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

Source = Literal["human", "model", "model_verified", "pseudo"]


class Provenance(BaseModel):
    """Where a segment comes from; ``license`` is required (licence hygiene)."""

    model_config = ConfigDict(extra="allow")

    license: str = Field(min_length=1)
    piece: str | None = None
    performer: str | None = None
    composer: str | None = None


class Segment(BaseModel):
    """One segment of a performance and what is known about it (one manifest row)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    schema_version: int = SCHEMA_VERSION
    segment_id: str = Field(min_length=1)
    dataset: str = Field(min_length=1)
    audio_uri: str | None = None
    midi_uri: str | None = None
    score_uri: str | None = None
    sr: int | None = Field(default=None, gt=0)
    t0: float = Field(ge=0.0)
    t1: float
    bars: tuple[int, int] | None = None
    taxonomy: str | None = None
    dims: list[str] = Field(default_factory=list)
    labels: dict[str, float | None] = Field(default_factory=dict)
    label_mask: dict[str, int] = Field(default_factory=dict)
    label_std: dict[str, float] | None = None
    n_raters: int | None = Field(default=None, ge=1)
    rater_id: str | None = None
    source: Source = "human"
    provenance: Provenance
    anchors: list[str] = Field(default_factory=list)
    pseudo_taxonomy: str = "execution16"
    pseudo_labels: dict[str, float] | None = None
    pseudo_conf: dict[str, float] | None = None
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

    def to_json_dict(self) -> dict[str, Any]:
        """Return the row as written to JSONL (unset optional fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)
