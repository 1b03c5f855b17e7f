"""Datasets: importers, splits, reliability, the rater table and pseudo-label manifests.

The importers read PercePiano, ASAP and user folders; :mod:`.percepiano_table` builds the
PercePiano rater table; :mod:`.pseudo_labels` writes pseudo-labelled manifests, validated
and calibrated against the human labels by :mod:`.pseudo_fit`.

Datasets are read from a data root (:func:`find_data_root`) and never copied into the
project; importers write manifests that point at the data in place.
"""

from pianoeval.data.root import ENV_VAR, find_data_root

__all__ = ["ENV_VAR", "find_data_root"]
