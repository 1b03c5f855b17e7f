"""Is this a solo piano? The acoustic half of the out-of-distribution check (issue 18).

The raters' OOD model (:class:`~pianoeval.calibration.OODModel`) measures how unlike the
training inputs a recording is *as the rater reads it*: notes from a transcription and
pooled embeddings. A harpsichord or two pianists playing different things at once are
transcribed as a plausible piano performance and pass it. :class:`AcousticCheck` reads
what the recording *sounds* like instead (:func:`pianoeval.audio.acoustic.acoustic_features`)
and gives the probability that it is not one piano played by one person.

It is a logistic regression on robustly standardised descriptors (median and IQR, clipped
at ``clip``), trained with *outlier exposure* (Hendrycks et al., 2019): PercePiano's MIDI
rendered as piano on three SoundFonts (positives) and as other General MIDI instruments
or as two performances mixed (negatives), half of each through random recording-like
degradations (room, noise, band limits, MP3), so that a phone recording of a piano is
still a piano. ``benchmarks/acoustic_ood.py`` builds it and measures it on what it never
saw: a fourth piano, the harpsichord, clavinet and dulcimer (never among the negatives)
and duets of held-out performances (docs/calibration.md, "Out of distribution").

The score is ``p / threshold``, where ``threshold`` is the ``quantile`` (99 %) of the
out-of-fold probabilities of the training pianos (grouped by excerpt), so it reads like
the OOD model's: above 1 (:data:`~pianoeval.calibration.ood.OOD_THRESHOLD`) flags the
recording, and :func:`~pianoeval.calibration.ood_widen_factor` widens its intervals.

Stored as ``acoustic_check.json`` in the audio rater's bundle (``kind:
"pianoeval.acoustic_check"``, ``schema_version`` 1); a wrong, corrupt or newer file raises
:class:`~pianoeval.errors.SchemaError` naming the file.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> x = pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "b", "c"])
>>> is_piano = (x["a"] < 1.0).to_numpy().astype(int)
>>> check = AcousticCheck.fit(x, is_piano, groups=np.arange(400) // 8)
>>> bool(check.flagged({"a": 4.0, "b": 0.0, "c": 0.0})[0])
True
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pianoeval._typing import PathLike
from pianoeval.errors import ParameterError, SchemaError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ACOUSTIC_CHECK_FILE", "AcousticCheck"]

#: The check's file inside an audio rater bundle.
ACOUSTIC_CHECK_FILE = "acoustic_check.json"
_KIND = "pianoeval.acoustic_check"
_SCHEMA = 1
FloatArray = npt.NDArray[np.float64]


@dataclass
class AcousticCheck:
    """A fitted "not a solo piano" classifier on acoustic descriptors.

    Attributes
    ----------
    columns : tuple of str
        The descriptors it reads, in order.
    center, scale : np.ndarray
        Robust standardisation: ``z = clip((x - center) / scale, -clip, clip)``.
    coef : np.ndarray
        Logistic-regression weights on ``z`` for "not a solo piano".
    intercept : float
    threshold : float
        Probability above which an input is flagged (score 1).
    clip : float
    info : dict
        How it was fitted (rows per kind, C, quantile, out-of-fold recall), for the card.
    """

    columns: tuple[str, ...]
    center: FloatArray
    scale: FloatArray
    coef: FloatArray
    intercept: float
    threshold: float
    clip: float = 10.0
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        x: pd.DataFrame,
        is_piano: npt.ArrayLike,
        *,
        groups: npt.ArrayLike,
        c: float = 0.1,
        quantile: float = 0.99,
        n_folds: int = 5,
        clip: float = 10.0,
    ) -> AcousticCheck:
        """Fit on descriptor rows ``x`` labelled 1 (a solo piano) or 0 (anything else).

        The threshold is the ``quantile`` of the out-of-fold probabilities of the piano
        rows, the folds grouped by ``groups`` (a passage is never scored by a model that
        heard it), so about ``1 - quantile`` of new piano recordings like these are flagged.
        """
        from sklearn.model_selection import GroupKFold

        yv = np.asarray(is_piano, dtype=int)
        g = np.asarray(groups)
        if not 0 < quantile < 1:
            raise ParameterError(f"quantile must be in (0, 1), got {quantile}")
        if len(x) != len(yv) or len(yv) != len(g):
            raise ParameterError(f"{len(x)} rows, {len(yv)} labels and {len(g)} groups differ")
        if set(np.unique(yv)) != {0, 1}:
            raise ParameterError("the labels need both pianos (1) and other inputs (0)")
        arr = np.asarray(x, dtype=np.float64)
        oof = np.full(len(yv), np.nan)
        for a, b in GroupKFold(n_splits=n_folds).split(arr, yv, g):
            oof[b] = cls._fit_arrays(arr[a], yv[a], c=c, clip=clip)._proba(arr[b])
        threshold = float(np.quantile(oof[yv == 1], quantile))
        model = cls._fit_arrays(arr, yv, c=c, clip=clip)
        model.columns = tuple(str(col) for col in x.columns)
        model.threshold = threshold
        model.info = {
            "n_piano": int((yv == 1).sum()),
            "n_other": int((yv == 0).sum()),
            "c": c,
            "quantile": quantile,
            "oof_flagged_piano": round(float(np.mean(oof[yv == 1] > threshold)), 4),
            "oof_flagged_other": round(float(np.mean(oof[yv == 0] > threshold)), 4),
        }
        return model._as_stored()

    @classmethod
    def _fit_arrays(
        cls, arr: FloatArray, y: npt.NDArray[np.int_], *, c: float, clip: float
    ) -> AcousticCheck:
        from sklearn.linear_model import LogisticRegression

        center = np.nanmedian(arr, axis=0)
        q1, q3 = np.nanpercentile(arr, [25, 75], axis=0)
        scale = (q3 - q1) / 1.349
        sd = np.nanstd(arr, axis=0)
        scale = np.where(scale > 1e-12, scale, np.where(sd > 1e-12, sd, 1.0))
        out = cls((), center, scale, np.zeros(arr.shape[1]), 0.0, 0.5, clip)
        lr = LogisticRegression(C=c, max_iter=5000).fit(out._z(arr), 1 - y)
        out.coef, out.intercept = lr.coef_[0].astype(np.float64), float(lr.intercept_[0])
        return out

    def _as_stored(self) -> AcousticCheck:
        """Round like the stored file, so a loaded check scores exactly as the fitted one."""
        return type(self).from_dict(self.to_dict())

    def _z(self, arr: FloatArray) -> FloatArray:
        z = (np.where(np.isfinite(arr), arr, self.center) - self.center) / self.scale
        return np.clip(z, -self.clip, self.clip)

    def _proba(self, arr: FloatArray) -> FloatArray:
        logit = self._z(arr) @ self.coef + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50))), dtype=np.float64)

    def _array(self, x: pd.DataFrame | Mapping[str, float]) -> FloatArray:
        if isinstance(x, Mapping):
            missing = [c for c in self.columns if c not in x]
            if missing:
                raise ParameterError(f"acoustic check: missing descriptors {missing[:3]}")
            return np.array([[float(x[c]) for c in self.columns]], dtype=np.float64)
        missing = [c for c in self.columns if c not in x.columns]
        if missing:
            raise ParameterError(f"acoustic check: missing descriptors {missing[:3]}")
        return np.asarray(x[list(self.columns)], dtype=np.float64)

    def probability(self, x: pd.DataFrame | Mapping[str, float]) -> FloatArray:
        """Probability that each row is not one piano played by one person."""
        return self._proba(self._array(x))

    def score(self, x: pd.DataFrame | Mapping[str, float]) -> FloatArray:
        """``probability / threshold``: above 1 flags the row."""
        return self.probability(x) / self.threshold

    def flagged(self, x: pd.DataFrame | Mapping[str, float]) -> npt.NDArray[np.bool_]:
        """Whether each row is flagged (score above 1)."""
        return np.asarray(self.score(x) > 1.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (numbers to 7 significant digits)."""
        return {
            "kind": _KIND,
            "schema_version": _SCHEMA,
            "columns": list(self.columns),
            "center": _round_list(self.center),
            "scale": _round_list(self.scale),
            "coef": _round_list(self.coef),
            "intercept": _round(self.intercept),
            "threshold": _round(self.threshold),
            "clip": self.clip,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "acoustic check") -> AcousticCheck:
        """Rebuild from :meth:`to_dict`; :class:`SchemaError` naming ``where`` if malformed."""
        if d.get("kind") != _KIND:
            raise SchemaError(f"{where}: not an acoustic check (kind {d.get('kind')!r})")
        if d.get("schema_version") != _SCHEMA:
            raise SchemaError(
                f"{where}: acoustic check schema {d.get('schema_version')!r}, "
                f"this pianoeval reads {_SCHEMA}"
            )
        try:
            cols = tuple(str(c) for c in d["columns"])
            vecs = [np.asarray(d[k], dtype=np.float64) for k in ("center", "scale", "coef")]
            if any(v.shape != (len(cols),) for v in vecs) or not cols:
                raise ValueError("vector lengths differ from the columns")
            threshold = float(d["threshold"])
            if not threshold > 0 or not all(np.isfinite(v).all() for v in vecs):
                raise ValueError("non-finite numbers or a threshold <= 0")
            return cls(cols, vecs[0], vecs[1], vecs[2], float(d["intercept"]), threshold,
                       float(d.get("clip", 10.0)), dict(d.get("info", {})))  # fmt: skip
        except (KeyError, TypeError, ValueError) as e:
            raise SchemaError(f"{where}: malformed acoustic check: {e}") from None

    def save(self, path: PathLike) -> Path:
        """Write the check as JSON; return the path."""
        p = Path(path)
        p.write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n", encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: PathLike) -> AcousticCheck:
        """Read a check written by :meth:`save` (errors name the file)."""
        p = Path(path)
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SchemaError(f"{p}: not a JSON acoustic check: {e}") from None
        if not isinstance(d, dict):
            raise SchemaError(f"{p}: not a JSON acoustic check")
        return cls.from_dict(d, where=str(p))


def _round(v: float) -> float:
    return float(f"{float(v):.7g}")


def _round_list(a: npt.ArrayLike | Sequence[float]) -> list[float]:
    return [_round(v) for v in np.asarray(a, dtype=np.float64).ravel()]
