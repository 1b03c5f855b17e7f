"""Reliability plot of conformal intervals: observed against nominal coverage.

Kept out of :mod:`pianoeval.calibration`'s namespace (as ``mir_eval.display`` is) so that
importing the calibration never imports matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pianoeval._typing import PathLike
from pianoeval.errors import BackendUnavailableError, ParameterError

__all__ = ["plot_reliability"]


def plot_reliability(
    nominal: Sequence[float] | npt.ArrayLike,
    observed: npt.ArrayLike,
    path: PathLike,
    *,
    dims: Sequence[str] | None = None,
    title: str = "Interval reliability",
) -> Path:
    """Write a PNG of observed against nominal coverage (the diagonal is perfect).

    Parameters
    ----------
    nominal : array-like, shape=(n_levels,)
        Nominal levels, e.g. ``report["reliability"]["nominal"]``.
    observed : array-like, shape=(n_levels,) or (n_levels, n_dims)
        Observed coverage: one curve, or one per dimension (drawn faint, with their mean
        in bold), e.g. :func:`~pianoeval.calibration.metrics.coverage_curve`.
    path : str or Path
        The PNG to write.
    dims : sequence of str, optional
        Names of the dimension curves (a legend is drawn for up to 6).
    title : str

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    BackendUnavailableError
        Without matplotlib (``pip install 'pianoeval[plot]'``).
    """
    nom = np.asarray(nominal, dtype=np.float64)
    obs = np.asarray(observed, dtype=np.float64)
    if obs.ndim == 1:
        obs = obs[:, None]
    if nom.ndim != 1 or obs.shape[0] != nom.size:
        raise ParameterError(f"{obs.shape[0]} observed coverages for {nom.size} nominal levels")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    if obs.shape[1] > 1:
        names = list(dims) if dims is not None else [f"dim{j}" for j in range(obs.shape[1])]
        for j, name in enumerate(names):
            label: Any = name if len(names) <= 6 else None
            ax.plot(nom, obs[:, j], alpha=0.3, linewidth=1, label=label)
    ax.plot(nom, obs.mean(axis=1), color="black", marker="o", linewidth=2, label="mean")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="nominal coverage", ylabel="observed coverage")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise BackendUnavailableError(
            "matplotlib", "pip install 'pianoeval[plot]'", reason=str(e)
        ) from None
    return plt
