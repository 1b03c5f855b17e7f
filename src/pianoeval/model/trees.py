"""LightGBM helpers shared by the tree members: the import and the compact model text."""

from __future__ import annotations

from typing import Any

from pianoeval.errors import BackendUnavailableError

#: Tree fields LightGBM writes but does not need to predict (its loader fills them in).
_TRAINING_ONLY_FIELDS = frozenset(
    {
        "split_gain",
        "internal_value",
        "internal_weight",
        "internal_count",
        "leaf_weight",
        "leaf_count",
        "tree_sizes",  # byte offsets of the full trees; the loader parses without them
    }
)


def compact_model_text(text: str) -> str:
    """Drop what a LightGBM text model holds only for training and importance plots.

    Gains, counts, weights and internal values of the nodes, and the ``tree_sizes`` index,
    are not used to predict; without them the text is about 40 % smaller and predicts
    exactly the same (checked by the tests).
    """
    keep = (ln for ln in text.split("\n") if ln.split("=", 1)[0] not in _TRAINING_ONLY_FIELDS)
    return "\n".join(keep)


def lightgbm_module() -> Any:
    """Import LightGBM, or say how to install it."""
    try:
        import lightgbm
    except ImportError as e:
        raise BackendUnavailableError(
            "lightgbm", "pip install 'pianoeval[train]'", reason=str(e)
        ) from None
    return lightgbm
