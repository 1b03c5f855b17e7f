"""The labeling unit: the answer store now; the app, anchors, QC and Label Studio interop next.

Importing this package is cheap (standard library only); see :mod:`pianoeval.label.store`.
"""

from __future__ import annotations

from pianoeval.label.store import (
    SCHEMA_VERSION,
    Answer,
    AnswerStore,
    LabelPermissionError,
    LabelStoreError,
    Rater,
    UnknownTokenError,
)

__all__ = [
    "SCHEMA_VERSION",
    "Answer",
    "AnswerStore",
    "LabelPermissionError",
    "LabelStoreError",
    "Rater",
    "UnknownTokenError",
]
