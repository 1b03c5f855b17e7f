"""Manifests: JSONL files with one :class:`Segment` per line.

A manifest is how segments, labels and their provenance travel between importers, the
labeling app, training and evaluation. Audio is never copied into a manifest: rows point
at media through ``file://`` URIs or paths relative to the manifest, and label exports
carry segment ids and numbers only.

Reading validates every row and reports ALL problems at once, each with the file, line,
field and reason (:class:`ManifestError`), with JSON types checked strictly (``"t0": "0"``
is an error, not a number). Writing is atomic; appending and label updates never rewrite
or lose other rows. Rows carry ``schema_version``; readers dispatch on it (one module per
schema generation, :mod:`pianoeval.manifest.v1` and :mod:`pianoeval.manifest.v2`),
:func:`migrate` brings an older row to the latest, and writers emit :data:`LATEST_VERSION`.

Examples
--------
>>> from pianoeval.manifest import Segment
>>> seg = Segment(segment_id="demo_0", dataset="user", audio_uri="demo.wav", t0=0.0, t1=20.0,
...               provenance={"license": "user"})
>>> seg.duration_sec
20.0
"""

from pianoeval.manifest.io import (
    append_segments,
    atomic_write,
    export_labels,
    read_manifest,
    update_labels,
    validate_manifest,
    write_manifest,
)
from pianoeval.manifest.stats import ManifestStats, manifest_stats
from pianoeval.manifest.uri import UnsupportedURIError, path_to_uri, uri_to_path
from pianoeval.manifest.v1 import Provenance, Source
from pianoeval.manifest.v2 import Alignment, LabelSource, PseudoMeta, Segment
from pianoeval.manifest.validate import (
    LATEST_VERSION,
    SUPPORTED_VERSIONS,
    ManifestError,
    Problem,
    media_problem,
    migrate,
)

__all__ = [
    "LATEST_VERSION",
    "SUPPORTED_VERSIONS",
    "Alignment",
    "LabelSource",
    "ManifestError",
    "ManifestStats",
    "Problem",
    "Provenance",
    "PseudoMeta",
    "Segment",
    "Source",
    "UnsupportedURIError",
    "append_segments",
    "atomic_write",
    "export_labels",
    "manifest_stats",
    "media_problem",
    "migrate",
    "path_to_uri",
    "read_manifest",
    "update_labels",
    "uri_to_path",
    "validate_manifest",
    "write_manifest",
]
