"""Datasets: importers (PercePiano, ASAP, user folders), splits, rater reliability, the
PercePiano rater table, and pseudo-labelled manifests (:mod:`.pseudo_labels`) with their
validation and calibration against the human labels (:mod:`.pseudo_fit`).

Datasets are read from a data root (:func:`find_data_root`) and never copied into the
project; importers write manifests that point at the data in place.
"""

from pianoeval.data.root import ENV_VAR, find_data_root

__all__ = ["ENV_VAR", "find_data_root"]
