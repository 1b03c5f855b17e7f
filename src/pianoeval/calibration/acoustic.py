"""Is this a solo piano? The acoustic half of the out-of-distribution check (issue 18).

The raters' OOD model (:class:`~pianoeval.calibration.OODModel`) measures how unlike the
training inputs a recording is *as the rater reads it*: notes from a transcription and
pooled embeddings. A harpsichord or two pianists playing different things at once are
transcribed as a plausible piano performance and pass it. :class:`AcousticCheck` reads
what the recording *sounds* like instead (:func:`pianoeval.audio.acoustic.acoustic_features`)
and gives the probability that it is not one piano played by one person.

It has heads (:class:`AcousticHead`), each a logistic regression on robustly standardised
descriptors (median and IQR, clipped at ``clip``) trained with *outlier exposure*
(Hendrycks et al., 2019): PercePiano's MIDI rendered as piano on three SoundFonts
(positives) against one kind of negative, half of each through random recording-like
degradations (room, noise, band limits, MP3), so that a phone recording of a piano is
still a piano. The shipped check has two: ``instrument`` reads the timbre descriptors
and learned from other General MIDI instruments; ``duet`` reads the rhythm and pitch
descriptors and learned from two performances mixed. Each reads only what tells its
negatives apart, so the passage played (its rhythm, its key) does not move the timbre
head, nor the instrument the rhythm head. ``benchmarks/acoustic_ood.py`` builds it and
measures it on what it never saw: a fourth piano, the harpsichord, clavinet and dulcimer
(never among the negatives) and duets of held-out performances (docs/calibration.md,
"Out of distribution").

A head's score is ``p / threshold``, where ``threshold`` is the ``quantile`` (99 %) of
the out-of-fold probabilities of the training pianos (grouped by excerpt); the check's
score is the largest head's, so it reads like the OOD model's: above 1
(:data:`~pianoeval.calibration.ood.OOD_THRESHOLD`) flags the recording, and
:func:`~pianoeval.calibration.ood_widen_factor` widens its intervals.

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

__all__ = ["ACOUSTIC_CHECK_FILE", "AcousticCheck", "AcousticHead"]

#: The check's file inside an audio rater bundle.
ACOUSTIC_CHECK_FILE = "acoustic_check.json"
_KIND = "pianoeval.acoustic_check"
_SCHEMA = 1
_MODELS = ("logistic", "mlp")
_NEEDS = {
    "logistic": ("center", "scale", "coef", "intercept", "clip"),
    "mlp": ("quantiles", "w1_0"),
}
#: scikit-learn's QuantileTransformer pins inputs this close to the ends.
_BOUNDS = 1e-7
FloatArray = npt.NDArray[np.float64]


@dataclass
class AcousticHead:
    """One "not a solo piano" classifier on some acoustic descriptors.

    Two kinds (``model``): ``"logistic"``, a logistic regression on robustly standardised
    descriptors (``z = clip((x - center) / scale, -clip, clip)``); ``"mlp"``, descriptors
    mapped to normal scores by their training quantiles (scikit-learn's
    ``QuantileTransformer``, reproduced here) and an average of small one-hidden-layer
    networks (scikit-learn's ``MLPClassifier``, ReLU, one per seed) over them. Both are
    evaluated here with numpy from the stored numbers.

    Attributes
    ----------
    name : str
        What it looks for (``"instrument"``, ``"duet"``), said in the warning.
    columns : tuple of str
        The descriptors it reads, in order.
    threshold : float
        Probability above which an input is flagged (score 1).
    model : {"logistic", "mlp"}
    params : dict of str to np.ndarray
        logistic: ``center``, ``scale``, ``coef`` (d,), ``intercept`` (1,), ``clip`` (1,);
        mlp: ``quantiles`` (n_quantiles, d), then per network k ``w1_k`` (d, h), ``b1_k``
        (h,), ``w2_k`` (h,), ``b2_k`` (1,).
    info : dict
        How it was fitted (rows, hyper-parameters, out-of-fold flagged shares), for the card.
    """

    name: str
    columns: tuple[str, ...]
    threshold: float
    model: str
    params: dict[str, FloatArray]
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        x: pd.DataFrame,
        is_piano: npt.ArrayLike,
        *,
        groups: npt.ArrayLike,
        model: str = "logistic",
        c: float = 0.1,
        alpha: float = 0.01,
        hidden: int = 64,
        seeds: Sequence[int] = (0, 1, 2),
        n_quantiles: int = 200,
        quantile: float = 0.99,
        n_folds: int = 5,
        clip: float = 10.0,
        name: str = "acoustic",
    ) -> AcousticHead:
        """Fit on descriptor rows ``x`` labelled 1 (a solo piano) or 0 (anything else).

        The threshold is the ``quantile`` of the out-of-fold probabilities of the piano
        rows, the folds grouped by ``groups`` (a passage is never scored by a model that
        heard it), so about ``1 - quantile`` of new piano recordings like these are flagged.
        ``c`` is the logistic regression's inverse penalty; ``alpha``, ``hidden`` and
        ``seeds`` the networks' L2 penalty, width and seeds.
        """
        from sklearn.model_selection import GroupKFold

        if model not in _MODELS:
            raise ParameterError(f"model must be one of {_MODELS}, not {model!r}")
        yv = np.asarray(is_piano, dtype=int)
        g = np.asarray(groups)
        if not 0 < quantile < 1:
            raise ParameterError(f"quantile must be in (0, 1), got {quantile}")
        if len(x) != len(yv) or len(yv) != len(g):
            raise ParameterError(f"{len(x)} rows, {len(yv)} labels and {len(g)} groups differ")
        if set(np.unique(yv)) != {0, 1}:
            raise ParameterError("the labels need both pianos (1) and other inputs (0)")
        arr = np.asarray(x, dtype=np.float64)
        kw: dict[str, Any] = {"c": c, "clip": clip}
        if model == "mlp":
            kw = {"alpha": alpha, "hidden": hidden, "seeds": tuple(seeds)}
            kw["n_quantiles"] = n_quantiles
        oof = np.full(len(yv), np.nan)
        for a, b in GroupKFold(n_splits=n_folds).split(arr, yv, g):
            oof[b] = cls._fit_arrays(arr[a], yv[a], model, kw).probability_array(arr[b])
        out = cls._fit_arrays(arr, yv, model, kw)
        out.name = name
        out.columns = tuple(str(col) for col in x.columns)
        out.threshold = float(np.quantile(oof[yv == 1], quantile))
        out.info = {
            "model": model,
            **{k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()},
            "n_piano": int((yv == 1).sum()),
            "n_other": int((yv == 0).sum()),
            "quantile": quantile,
            "oof_flagged_piano": round(float(np.mean(oof[yv == 1] > out.threshold)), 4),
            "oof_flagged_other": round(float(np.mean(oof[yv == 0] > out.threshold)), 4),
        }
        return out._as_stored()

    @classmethod
    def _fit_arrays(
        cls, arr: FloatArray, y: npt.NDArray[np.int_], model: str, kw: Mapping[str, Any]
    ) -> AcousticHead:
        """Fit the classifier of ``model`` for "not a piano" (1 - y); no threshold yet."""
        arr = np.where(np.isfinite(arr), arr, np.nanmedian(arr, axis=0))
        if model == "logistic":
            from sklearn.linear_model import LogisticRegression

            center = np.median(arr, axis=0)
            q1, q3 = np.percentile(arr, [25, 75], axis=0)
            scale = (q3 - q1) / 1.349
            sd = arr.std(axis=0)
            scale = np.where(scale > 1e-12, scale, np.where(sd > 1e-12, sd, 1.0))
            params = {"center": center, "scale": scale, "clip": np.array([kw["clip"]])}
            z = np.clip((arr - center) / scale, -kw["clip"], kw["clip"])
            lr = LogisticRegression(C=kw["c"], max_iter=5000).fit(z, 1 - y)
            params |= {"coef": lr.coef_[0], "intercept": lr.intercept_.astype(np.float64)}
            return cls("", (), 0.5, model, params)
        from sklearn.neural_network import MLPClassifier
        from sklearn.preprocessing import QuantileTransformer

        n_q = int(min(kw["n_quantiles"], len(arr)))
        qt = QuantileTransformer(n_quantiles=n_q, output_distribution="normal").fit(arr)
        params = {"quantiles": qt.quantiles_.astype(np.float64)}
        head = cls("", (), 0.5, model, params)
        q = head._normal_scores(arr)  # as stored and evaluated, not sklearn's own transform
        for k, seed in enumerate(kw["seeds"]):
            net = MLPClassifier((kw["hidden"],), alpha=kw["alpha"], max_iter=500,
                                random_state=seed).fit(q, 1 - y)  # fmt: skip
            params |= {
                f"w1_{k}": net.coefs_[0], f"b1_{k}": net.intercepts_[0],
                f"w2_{k}": net.coefs_[1][:, 0], f"b2_{k}": net.intercepts_[1],
            }  # fmt: skip
        return head

    def _as_stored(self) -> AcousticHead:
        """Round like the stored file, so a loaded head scores exactly as the fitted one."""
        return type(self).from_dict(self.to_dict())

    def _normal_scores(self, arr: FloatArray) -> FloatArray:
        """Each descriptor through its training quantiles to a standard-normal score.

        scikit-learn's ``QuantileTransformer(output_distribution="normal")`` transform:
        interpolation both ways (ties in the quantiles), the ends pinned, ``norm.ppf``.
        """
        from scipy.stats import norm

        quantiles = self.params["quantiles"]
        refs = np.linspace(0, 1, len(quantiles))
        out = np.empty_like(arr)
        for j in range(arr.shape[1]):
            col, qj = arr[:, j], quantiles[:, j]
            v = 0.5 * (np.interp(col, qj, refs) - np.interp(-col, -qj[::-1], -refs[::-1]))
            v[col + _BOUNDS > qj[-1]] = 1.0
            v[col - _BOUNDS < qj[0]] = 0.0
            out[:, j] = v
        lo = norm.ppf(_BOUNDS - np.spacing(1))
        return np.asarray(np.clip(norm.ppf(out), lo, -lo), dtype=np.float64)

    def probability_array(self, arr: FloatArray) -> FloatArray:
        """Probability that each row (descriptors in :attr:`columns` order) is not a piano."""
        if self.model == "logistic":
            p = self.params
            center = p["center"]
            z = (np.where(np.isfinite(arr), arr, center) - center) / p["scale"]
            z = np.clip(z, -p["clip"][0], p["clip"][0])
            return _sigmoid(z @ p["coef"] + p["intercept"][0])
        median = self.params["quantiles"][len(self.params["quantiles"]) // 2]
        q = self._normal_scores(np.where(np.isfinite(arr), arr, median))
        k = sum(1 for name in self.params if name.startswith("w1_"))
        probs = [
            _sigmoid(
                np.maximum(q @ self.params[f"w1_{i}"] + self.params[f"b1_{i}"], 0.0)
                @ self.params[f"w2_{i}"]
                + self.params[f"b2_{i}"][0]
            )
            for i in range(k)
        ]
        return np.asarray(np.mean(probs, axis=0), dtype=np.float64)

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
        return self.probability_array(self._array(x))

    def score(self, x: pd.DataFrame | Mapping[str, float]) -> FloatArray:
        """``probability / threshold``: above 1 flags the row."""
        return self.probability(x) / self.threshold

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (numbers to 7 significant digits, matrices as row lists)."""
        return {
            "name": self.name,
            "model": self.model,
            "columns": list(self.columns),
            "threshold": _round(self.threshold),
            "params": {
                k: [_round_list(r) for r in v] if v.ndim == 2 else _round_list(v)
                for k, v in self.params.items()
            },
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "acoustic check") -> AcousticHead:
        """Rebuild from :meth:`to_dict`; :class:`SchemaError` naming ``where`` if malformed."""
        try:
            cols = tuple(str(c) for c in d["columns"])
            model = str(d["model"])
            if model not in _MODELS:
                raise ValueError(f"unknown model {model!r}")
            params = {str(k): np.asarray(v, dtype=np.float64) for k, v in d["params"].items()}
            need = _NEEDS[model]
            if not cols or any(k not in params for k in need):
                raise ValueError(f"a {model} head needs columns and {need}")
            width = params["quantiles" if model == "mlp" else "center"].shape[-1]
            if width != len(cols) or not all(np.isfinite(v).all() for v in params.values()):
                raise ValueError("parameters do not match the columns or are not finite")
            threshold = float(d["threshold"])
            if not threshold > 0:
                raise ValueError("a threshold <= 0")
            return cls(str(d.get("name", "acoustic")), cols, threshold, model, params,
                       dict(d.get("info", {})))  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise SchemaError(f"{where}: malformed acoustic check: {e}") from None


@dataclass
class AcousticCheck:
    """Heads (another instrument, two performances at once...): the largest score counts.

    Attributes
    ----------
    heads : tuple of AcousticHead
    """

    heads: tuple[AcousticHead, ...]

    @classmethod
    def fit(
        cls,
        x: pd.DataFrame,
        is_piano: npt.ArrayLike,
        *,
        groups: npt.ArrayLike,
        **head_options: Any,
    ) -> AcousticCheck:
        """Fit one head on every column of ``x`` (options of :meth:`AcousticHead.fit`)."""
        return cls((AcousticHead.fit(x, is_piano, groups=groups, **head_options),))

    @property
    def columns(self) -> tuple[str, ...]:
        """Every descriptor some head reads."""
        return tuple(dict.fromkeys(c for h in self.heads for c in h.columns))

    @property
    def info(self) -> dict[str, Any]:
        """Each head's fitting record, by name."""
        return {h.name: h.info for h in self.heads}

    def scores(self, x: pd.DataFrame | Mapping[str, float]) -> dict[str, FloatArray]:
        """Each head's score (``probability / threshold``) per row."""
        return {h.name: h.score(x) for h in self.heads}

    def score(self, x: pd.DataFrame | Mapping[str, float]) -> FloatArray:
        """Return the largest head score per row: above 1 flags the row."""
        return np.asarray(np.max(np.stack(list(self.scores(x).values())), axis=0))

    def flagged(self, x: pd.DataFrame | Mapping[str, float]) -> npt.NDArray[np.bool_]:
        """Whether each row is flagged (score above 1)."""
        return np.asarray(self.score(x) > 1.0)

    def reason(self, x: Mapping[str, float]) -> str | None:
        """Name of the head that flags one row (the highest), or None when none does."""
        scores = {k: float(v[0]) for k, v in self.scores(x).items()}
        name = max(scores, key=lambda k: scores[k])
        return name if scores[name] > 1.0 else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": _KIND,
            "schema_version": _SCHEMA,
            "heads": [h.to_dict() for h in self.heads],
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
        heads = d.get("heads")
        if not isinstance(heads, list) or not heads:
            raise SchemaError(f"{where}: malformed acoustic check: no heads")
        return cls(tuple(AcousticHead.from_dict(h, where=where) for h in heads))

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


def _sigmoid(v: npt.ArrayLike) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(v, -50, 50))), dtype=np.float64)


def _round(v: float) -> float:
    return float(f"{float(v):.7g}")


def _round_list(a: npt.ArrayLike | Sequence[float]) -> list[float]:
    return [_round(v) for v in np.asarray(a, dtype=np.float64).ravel()]
