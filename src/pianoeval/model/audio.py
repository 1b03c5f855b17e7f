"""The audio rater: transcription features plus projected pooled audio vectors, rated by trees.

A recording reaches the rater as three things from one transkun pass and one mel
spectrogram (:mod:`pianoeval.data.audio_table` for the corpus, :func:`audio_inputs` for a
file): the performance features of its transcription, transkun's pooled context
(``emb.transkun.*``, 512 values) and the fixed-reference mel statistics
(``emb.mel_stats.*``, 256 values: loudness and spectral balance, which transkun normalises
away). Each pooled vector is standardised and projected on its first principal components
(:class:`Projection`, fitted on the training rows), and the result is rated by the same
member blend as the MIDI rater (:class:`~pianoeval.model.symbolic.SymbolicRater`: two
LightGBM models and a ridge regression per dimension), with and without a score.

The projection keeps the trees fast (a few dozen columns instead of 768) and drops the
directions in which all clips agree (pooled transkun vectors have cosine ~0.99 between
clips: what differs between performances lives in a few directions).

A bundle is a folder: ``audio_rater.json`` (schema, inputs, projections as numbers,
SHA-256 of the inner bundle's ``rater.json``) and ``model/``, a symbolic rater bundle
over the projected columns (with its own no-score fallback). Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pianoeval._typing import PathLike
from pianoeval._version import __version__
from pianoeval.errors import ParameterError, SchemaError
from pianoeval.model.symbolic import DEFAULT_INTERVAL_LEVEL, CalibratedPrediction, SymbolicRater

if TYPE_CHECKING:
    import pandas as pd

    from pianoeval.calibration.acoustic import AcousticCheck
    from pianoeval.symbolic.midi import PerformanceMidi

__all__ = [
    "AUDIO_MODEL_ID",
    "DEFAULT_PROJECTIONS",
    "VELOCITY_MODES",
    "AudioRater",
    "Projection",
    "is_audio_bundle",
]

AUDIO_SCHEMA_VERSION = 1
AUDIO_MODEL_ID = "pianoeval-audio-v1"
BUNDLE_FILE = "audio_rater.json"
#: Principal components kept per pooled vector (chosen on CV folds: docs/benchmarks.md).
DEFAULT_PROJECTIONS: dict[str, int] = {"transkun": 32, "mel_stats": 16}
#: How transcribed velocities reach the features: as transcribed ("raw"), or standardised
#: per performance ("z", :func:`pianoeval.symbolic.midi.normalise_velocities`).
VELOCITY_MODES = ("raw", "z")


@dataclass
class Projection:
    """Standardise an encoder's ``emb.<encoder>.*`` columns and project on principal axes.

    Attributes
    ----------
    encoder : str
    columns : list of str
        The input columns, in order.
    mean, scale : np.ndarray, shape=(d,)
        Standardisation (scale floors at 1e-6 so constant columns stay finite).
    components : np.ndarray, shape=(k, d)
        Principal axes of the standardised training rows.
    """

    encoder: str
    columns: list[str]
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    components: npt.NDArray[np.float64]

    @classmethod
    def fit(cls, x: pd.DataFrame, encoder: str, k: int) -> Projection:
        """Fit on the ``emb.<encoder>.*`` columns of ``x`` (k at most min(rows, dims))."""
        cols = [c for c in x.columns if str(c).startswith(f"emb.{encoder}.")]
        if not cols:
            raise ParameterError(f"no emb.{encoder}.* columns to project")
        arr = x[cols].to_numpy(dtype=np.float64)
        mean = arr.mean(axis=0)
        scale = np.maximum(arr.std(axis=0), 1e-6)
        z = (arr - mean) / scale
        k = int(min(k, *z.shape))
        if k < 1:
            raise ParameterError(f"a projection needs k >= 1, not {k}")
        _, _, vt = np.linalg.svd(z, full_matrices=False)
        comps = vt[:k]
        # fix each axis's sign (largest loading positive) so refits agree
        signs = np.sign(comps[np.arange(k), np.abs(comps).argmax(axis=1)])
        return cls(encoder, cols, mean, scale, comps * signs[:, None])

    @property
    def output_columns(self) -> list[str]:
        """``pca.<encoder>.00`` ... one per component."""
        return [f"pca.{self.encoder}.{i:02d}" for i in range(len(self.components))]

    def transform(self, x: pd.DataFrame) -> pd.DataFrame:
        """Return the projected columns of ``x`` (same index)."""
        import pandas as pd

        missing = [c for c in self.columns if c not in x.columns]
        if missing:
            raise ParameterError(
                f"{len(missing)} {self.encoder} embedding columns missing (e.g. {missing[:2]})"
            )
        z = (x[self.columns].to_numpy(dtype=np.float64) - self.mean) / self.scale
        return pd.DataFrame(z @ self.components.T, index=x.index, columns=self.output_columns)

    def to_dict(self) -> dict[str, Any]:
        """Serialise as JSON-ready lists."""
        return {
            "encoder": self.encoder,
            "columns": self.columns,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "components": self.components.tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Projection:
        """Read what :meth:`to_dict` wrote."""
        return cls(
            encoder=str(d["encoder"]),
            columns=[str(c) for c in d["columns"]],
            mean=np.asarray(d["mean"], dtype=np.float64),
            scale=np.asarray(d["scale"], dtype=np.float64),
            components=np.asarray(d["components"], dtype=np.float64),
        )


def is_audio_bundle(path: PathLike) -> bool:
    """Whether ``path`` is a folder written by :meth:`AudioRater.save`."""
    return (Path(path) / BUNDLE_FILE).is_file()


class AudioRater:
    """Rate recordings from their transcription features and projected pooled vectors.

    Parameters
    ----------
    projections : mapping of str to int, optional
        Components kept per encoder (default :data:`DEFAULT_PROJECTIONS`); encoders
        absent from it are not used.
    velocity : {"raw", "z"}
        How the transcription's velocities enter its features (:data:`VELOCITY_MODES`):
        "z" standardises them per performance (:meth:`prepare`), so the rater reads
        relative dynamics, which survive a change of piano, not absolute levels, which do
        not. The rater's inputs must be computed from :meth:`prepare`'s output.
    **rater_kwargs
        Passed to both :class:`~pianoeval.model.symbolic.SymbolicRater` (with score and
        without).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> x = pd.DataFrame(rng.normal(size=(40, 6)), columns=["a.x", "a.y",
    ...                  "emb.transkun.000", "emb.transkun.001", "emb.transkun.002", "b.z"])
    >>> y = np.clip(0.5 + 0.1 * x[["a.x"]].to_numpy(), 0.2, 0.9)
    >>> r = AudioRater(projections={"transkun": 2}, dims=["d1"], n_rounds=10).fit(x, y)
    >>> r.predict(x.iloc[:3]).shape
    (3, 1)
    """

    def __init__(
        self,
        *,
        projections: Mapping[str, int] | None = None,
        velocity: str = "raw",
        **rater_kwargs: Any,
    ) -> None:
        if velocity not in VELOCITY_MODES:
            raise ParameterError(f"velocity must be one of {VELOCITY_MODES}, not {velocity!r}")
        self.velocity = velocity
        self.projection_sizes = dict(DEFAULT_PROJECTIONS if projections is None else projections)
        for enc, k in self.projection_sizes.items():
            if not isinstance(k, int) or k < 1:
                raise ParameterError(f"projection of {enc!r} needs k >= 1, not {k!r}")
        self.rater_kwargs = dict(rater_kwargs)
        self.projections: list[Projection] = []
        self.rater: SymbolicRater | None = None
        self.metadata: dict[str, Any] = {}
        #: "Is this a solo piano?" on acoustic descriptors (``acoustic_check.json``), when set:
        #: its score joins the OOD model's (:func:`pianoeval.rater.audio.audio_predict_calibrated`).
        self.acoustic: AcousticCheck | None = None

    @property
    def dims(self) -> list[str]:
        """Output dimensions."""
        if self.rater is None:
            raise ParameterError("the audio rater is not fitted: call fit() or load()")
        return self.rater.dims

    @property
    def is_fitted(self) -> bool:
        """Whether the rater has its projections and models."""
        return self.rater is not None and self.rater.is_fitted

    def prepare(self, perf: PerformanceMidi) -> PerformanceMidi:
        """Return the transcription as the rater's features must see it (see ``velocity``)."""
        if self.velocity == "z":
            from pianoeval.symbolic.midi import normalise_velocities

            return normalise_velocities(perf)
        return perf

    def transform(self, x: pd.DataFrame) -> pd.DataFrame:
        """Replace the ``emb.*`` columns by the projections (other columns kept)."""
        import pandas as pd

        keep = x[[c for c in x.columns if not str(c).startswith("emb.")]]
        return pd.concat([keep, *(p.transform(x) for p in self.projections)], axis=1)

    def fit(
        self,
        x: pd.DataFrame,
        y: npt.ArrayLike | pd.DataFrame,
        *,
        x_no_score: pd.DataFrame | None = None,
        y_no_score: npt.ArrayLike | pd.DataFrame | None = None,
        progress: bool | str = False,
    ) -> AudioRater:
        """Fit the projections on ``x``'s rows, then the rater (and its no-score fallback).

        Parameters
        ----------
        x : pandas.DataFrame
            Features (with score, or performance-only) and ``emb.*`` columns.
        y : array-like or DataFrame
        x_no_score, y_no_score : optional
            Performance-only rows (and labels; default ``y``) for the fallback used when
            no score is given.
        progress : bool or str
        """
        self.projections = [Projection.fit(x, enc, k) for enc, k in self.projection_sizes.items()]
        self.rater = SymbolicRater(**self.rater_kwargs).fit(self.transform(x), y, progress=progress)
        if x_no_score is not None:
            self.rater.no_score = SymbolicRater(**self.rater_kwargs).fit(
                self.transform(x_no_score),
                y if y_no_score is None else y_no_score,
                progress=progress,
            )
        return self

    def predict(self, x: Mapping[str, float] | pd.DataFrame) -> npt.NDArray[np.float64]:
        """Rate one input mapping (1-d result) or a table (one row per item)."""
        import pandas as pd

        if self.rater is None:
            raise ParameterError("the audio rater is not fitted: call fit() or load()")
        single = isinstance(x, Mapping)
        frame = pd.DataFrame([dict(x)]) if isinstance(x, Mapping) else x
        out = np.asarray(self.rater.predict(self.transform(frame)), dtype=np.float64)
        return out[0] if single else out

    def predict_calibrated(
        self, x: Mapping[str, float] | pd.DataFrame, *, level: float = DEFAULT_INTERVAL_LEVEL
    ) -> CalibratedPrediction:
        """Rate with spread, calibrated scores and intervals (the inner rater's calibration).

        See :meth:`~pianoeval.model.symbolic.SymbolicRater.predict_calibrated`; the
        calibration lives in the inner bundle (``model/calibration.json``).
        """
        import pandas as pd

        if self.rater is None:
            raise ParameterError("the audio rater is not fitted: call fit() or load()")
        single = isinstance(x, Mapping)
        frame = pd.DataFrame([dict(x)]) if isinstance(x, Mapping) else x
        pred = self.rater.predict_calibrated(self.transform(frame), level=level)
        if not single:
            return pred
        return CalibratedPrediction(
            raw=pred.raw[0], value=pred.value[0], sigma=pred.sigma[0], low=pred.low[0],
            high=pred.high[0], calibrated=pred.calibrated[0], level=pred.level,
        )  # fmt: skip

    def write_calibration(self, path: PathLike, *, info: Mapping[str, Any] | None = None) -> Path:
        """Store the inner rater's calibrations in the saved bundle ``path``, models untouched.

        Writes ``model/calibration.json`` (and the fallback's) through
        :meth:`SymbolicRater.write_calibration` and updates the checksum of
        ``model/rater.json`` in ``audio_rater.json``.
        """
        if self.rater is None:
            raise ParameterError("the audio rater is not fitted: call fit() or load()")
        base = Path(path)
        try:
            record = json.loads((base / BUNDLE_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SchemaError(f"{base}: no {BUNDLE_FILE} (not an audio rater bundle)") from None
        self.rater.write_calibration(base / "model", info=info)
        inner = (base / "model" / "rater.json").read_bytes()
        record["model_sha256"] = hashlib.sha256(inner).hexdigest()
        (base / BUNDLE_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        return base

    def save(self, path: PathLike) -> Path:
        """Write the bundle folder (``audio_rater.json`` and ``model/``)."""
        if self.rater is None:
            raise ParameterError("cannot save an unfitted audio rater")
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        self.rater.metadata = {**self.rater.metadata, "model_id": self.model_id}
        self.rater.save(out / "model")
        inner = hashlib.sha256((out / "model" / "rater.json").read_bytes()).hexdigest()
        record = {
            "schema_version": AUDIO_SCHEMA_VERSION,
            "kind": "audio",
            "model_id": self.model_id,
            "pianoeval_version": __version__,
            "velocity": self.velocity,
            "projections": [p.to_dict() for p in self.projections],
            "model_sha256": inner,
            **{k: v for k, v in self.metadata.items() if k != "model_id"},
        }
        record.update(self._save_acoustic(out))
        (out / BUNDLE_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        return out

    def _save_acoustic(self, out: Path) -> dict[str, str]:
        """Write (or remove a stale) ``acoustic_check.json``; return its checksum entry."""
        from pianoeval.calibration.acoustic import ACOUSTIC_CHECK_FILE

        target = out / ACOUSTIC_CHECK_FILE
        if self.acoustic is None:
            target.unlink(missing_ok=True)
            return {}
        self.acoustic.save(target)
        return {"acoustic_check_sha256": hashlib.sha256(target.read_bytes()).hexdigest()}

    def write_acoustic_check(self, path: PathLike, check: AcousticCheck | None) -> Path:
        """Store ``check`` (None: remove it) in the saved bundle ``path``, models untouched."""
        base = Path(path)
        try:
            record = json.loads((base / BUNDLE_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SchemaError(f"{base}: no {BUNDLE_FILE} (not an audio rater bundle)") from None
        self.acoustic = check
        record.pop("acoustic_check_sha256", None)
        record.update(self._save_acoustic(base))
        (base / BUNDLE_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        return base

    @property
    def model_id(self) -> str:
        """The bundle's model id (:data:`AUDIO_MODEL_ID` unless set in metadata)."""
        return str(self.metadata.get("model_id", AUDIO_MODEL_ID))

    @classmethod
    def load(cls, path: PathLike) -> AudioRater:
        """Read a bundle written by :meth:`save` (checksums verified)."""
        base = Path(path)
        try:
            record = json.loads((base / BUNDLE_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SchemaError(f"{base}: no {BUNDLE_FILE} (not an audio rater bundle)") from None
        except json.JSONDecodeError as e:
            raise SchemaError(f"{base / BUNDLE_FILE}: not valid JSON ({e})") from None
        if record.get("schema_version") != AUDIO_SCHEMA_VERSION:
            raise SchemaError(
                f"{base}: audio rater schema_version {record.get('schema_version')!r} unsupported"
            )
        inner = base / "model" / "rater.json"
        if not inner.is_file():
            raise SchemaError(f"{base}: model/rater.json is missing")
        if hashlib.sha256(inner.read_bytes()).hexdigest() != record.get("model_sha256"):
            raise SchemaError(f"{base}: checksum of model/rater.json does not match {BUNDLE_FILE}")
        velocity = record.get("velocity", "raw")  # bundles before velocity modes: raw
        if velocity not in VELOCITY_MODES:
            raise SchemaError(f"{base}: unknown velocity mode {velocity!r} in {BUNDLE_FILE}")
        rater = cls(
            projections={p["encoder"]: len(p["components"]) for p in record["projections"]},
            velocity=velocity,
        )
        rater.projections = [Projection.from_dict(p) for p in record["projections"]]
        rater.rater = SymbolicRater.load(base / "model")
        rater.acoustic = _load_acoustic(base, record.get("acoustic_check_sha256"))
        known = {
            "schema_version", "kind", "projections", "model_sha256", "pianoeval_version",
            "velocity", "acoustic_check_sha256",
        }  # fmt: skip
        rater.metadata = {k: v for k, v in record.items() if k not in known}
        return rater

    @property
    def encoders(self) -> Sequence[str]:
        """The encoders whose pooled vectors the rater needs."""
        return [p.encoder for p in self.projections]


def _load_acoustic(base: Path, sha: Any) -> AcousticCheck | None:
    """Read the bundle's acoustic check, its checksum verified (None when it has none)."""
    from pianoeval.calibration.acoustic import ACOUSTIC_CHECK_FILE, AcousticCheck

    target = base / ACOUSTIC_CHECK_FILE
    if sha is None:
        return None
    if not target.is_file():
        raise SchemaError(f"{base}: {ACOUSTIC_CHECK_FILE} is missing ({BUNDLE_FILE} names it)")
    if hashlib.sha256(target.read_bytes()).hexdigest() != sha:
        raise SchemaError(f"{base}: checksum of {ACOUSTIC_CHECK_FILE} does not match {BUNDLE_FILE}")
    return AcousticCheck.load(target)
