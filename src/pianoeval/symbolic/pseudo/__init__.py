"""Pseudo-labels on the ``execution16`` dimensions from symbolic proxies: proxies and scaling.

Unlabelled performances (ASAP windows, user MIDI) can train a rater when they carry weak
labels on the execution dimensions a MIDI file can speak to, each with a confidence
(evaluator guide, section 16.2). This package holds the dataset-free half:

- :mod:`~pianoeval.symbolic.pseudo.proxies`: what a performance (and its alignment to a
  score) measures for each dimension (:func:`midi_proxies`, :func:`segment_proxies`), the
  candidates per dimension and their human match;
- :mod:`~pianoeval.symbolic.pseudo.scaling`: robust scaling of a proxy into [0, 1], and the
  committed calibration that says which proxy each dimension uses, how it is scaled, how
  confident it is and how it maps to the human scale (:func:`pseudo_labels_for`,
  :func:`calibrate_to_human`).

The dataset half lives in :mod:`pianoeval.data`: :mod:`pianoeval.data.pseudo_labels` runs
the proxies over a manifest (one alignment per performance, a process pool, the
content-addressed cache) and writes pseudo-labelled manifests;
:mod:`pianoeval.data.pseudo_fit` chooses, validates and calibrates the proxies against
PercePiano's human labels (within-excerpt Spearman, excerpt split) and fits the scalers.
"""

from pianoeval.symbolic.pseudo.proxies import (
    CANDIDATES,
    GRID_SEC,
    HUMAN_MATCH,
    MIDI_COLUMNS,
    PROXY_VERSION,
    TAXONOMY,
    TIMBRE_DIMS,
    alignment_quality,
    cut_performance,
    midi_proxies,
    segment_proxies,
)
from pianoeval.symbolic.pseudo.scaling import (
    CALIBRATION_PATH,
    PERCENTILES,
    PseudoCalibration,
    apply_human_map,
    calibrate_to_human,
    fit_robust_scaler,
    load_calibration,
    pseudo_labels_for,
    robust_scale,
)

__all__ = [
    "CALIBRATION_PATH",
    "CANDIDATES",
    "GRID_SEC",
    "HUMAN_MATCH",
    "MIDI_COLUMNS",
    "PERCENTILES",
    "PROXY_VERSION",
    "TAXONOMY",
    "TIMBRE_DIMS",
    "PseudoCalibration",
    "alignment_quality",
    "apply_human_map",
    "calibrate_to_human",
    "cut_performance",
    "fit_robust_scaler",
    "load_calibration",
    "midi_proxies",
    "pseudo_labels_for",
    "robust_scale",
    "segment_proxies",
]
