"""Out-of-distribution score of the shipped raters: threshold and flagged fractions.

Fits :class:`pianoeval.calibration.OODModel` for the shipped audio rater (on the
transcriptions of the FluidR3_GM and MuseScore General renders it learned from, velocities
standardised as it reads them, plus transkun's pooled context) and for the shipped MIDI
rater (PercePiano performance MIDI), each part (with score, no score), leaving the
performer split's test segments out; the threshold is the 99 % quantile of out-of-fold
distances of the training rows (grouped by excerpt), chosen without any test row. Then it
reports the fraction flagged of:

- ``csound_gm`` test audio: a piano the audio rater never heard (the target: <= 5 %);
- ``musescore_general+recording`` test audio: reverb, noise and 64 kbps MP3;
- the training renderers' own performer-test renders (new performers, known pianos);
- the performer-test MIDI (MIDI rater).

Variants of the input space and of the covariance are reported beside the chosen one
(features only; all eigenpairs; a kNN distance); the test rows only describe them, the
choice is made in docs/calibration.md on size and on the training rows' own criteria.

    .venv/bin/python benchmarks/ood.py            # measure, write the result
    .venv/bin/python benchmarks/ood.py --store    # also fit on every training row and
                                                  # write ood.json into the shipped bundles
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

from pianoeval.calibration.ood import OODModel
from pianoeval.data.audio_corpus import CORPUS_DIR
from pianoeval.data.root import find_data_root
from pianoeval.data.splits import load_split
from pianoeval.rater.audio import AUDIO_DIR
from pianoeval.rater.bundle import DEFAULT_DIR
from pianoeval.symbolic.rater_inputs import performance_only_columns
from pianoeval.train.ood import (
    AUDIO_OOD_CONDITIONS,
    AUDIO_OOD_ENCODERS,
    OODFit,
    _groups,
    audio_ood_columns,
    fit_audio_ood,
    fit_symbolic_ood,
    ood_training_tables,
    store_audio_ood,
)

HELD_OUT = ("csound_gm", "musescore_general+recording")


def frac(model: OODModel, x: pd.DataFrame) -> dict[str, Any]:
    s = model.score(x)
    return {
        "n": len(s),
        "flagged": round(float((s > 1).mean()), 4),
        "score_median": round(float(np.median(s)), 4),
        "score_p95": round(float(np.quantile(s, 0.95)), 4),
        "score_max": round(float(s.max()), 4),
    }


def knn_flagged(
    train: pd.DataFrame, tests: dict[str, pd.DataFrame], k: int = 5
) -> dict[str, float]:
    """kNN variant: mean distance to the k nearest training rows in the whitened space."""
    from sklearn.model_selection import GroupKFold
    from sklearn.neighbors import NearestNeighbors

    def whiten(m: OODModel, x: pd.DataFrame) -> np.ndarray:
        c = m._standardise(x[m.columns].to_numpy(dtype=np.float64)) - m.location
        return (c @ m.components.T) / np.sqrt(m.eigenvalues)

    groups = _groups(list(train.index))
    oof = np.empty(len(train))
    for tr, te in GroupKFold(5).split(train, groups=groups):
        m = OODModel._fit_arrays(train.iloc[tr].to_numpy(np.float64), list(train.columns),
                                 n_components=40, clip=10.0)  # fmt: skip
        nn = NearestNeighbors(n_neighbors=k).fit(whiten(m, train.iloc[tr]))
        oof[te] = nn.kneighbors(whiten(m, train.iloc[te]))[0].mean(axis=1)
    thr = float(np.quantile(oof, 0.99))
    m = OODModel._fit_arrays(train.to_numpy(np.float64), list(train.columns),
                             n_components=40, clip=10.0)  # fmt: skip
    nn = NearestNeighbors(n_neighbors=k).fit(whiten(m, train))
    return {
        name: round(float((nn.kneighbors(whiten(m, x))[0].mean(axis=1) > thr).mean()), 4)
        for name, x in tests.items()
    }


def audio_report(root: Path, jobs: int) -> tuple[dict[str, Any], OODFit]:
    from pianoeval.model.audio import AudioRater

    audio = AudioRater.load(AUDIO_DIR)
    assert audio.rater is not None
    assert audio.rater.no_score is not None
    test = set(load_split("performer").test)
    t0 = time.perf_counter()
    fit = fit_audio_ood(audio, root, holdout="performer", jobs=jobs)
    fit_sec = time.perf_counter() - t0
    xs, x0 = ood_training_tables(audio, root, AUDIO_OOD_CONDITIONS, jobs=jobs)
    held = {c: ood_training_tables(audio, root, [c], jobs=jobs) for c in HELD_OUT
            if (CORPUS_DIR / f"{c}.npz").is_file()}  # fmt: skip

    def test_rows(x: pd.DataFrame) -> pd.DataFrame:
        return x.loc[[str(i) in test for i in x.index]]

    def train_rows(x: pd.DataFrame) -> pd.DataFrame:
        return x.loc[[str(i) not in test for i in x.index]]

    out: dict[str, Any] = {"fit_sec": round(fit_sec, 1), "model": fit.summary(), "parts": {}}
    variants: dict[str, Any] = {}
    for part, model, table, k in (
        ("with_score", fit.with_score, xs, 0),
        ("no_score", fit.no_score, x0, 1),
    ):
        assert model is not None
        sets = {
            **{c: test_rows(h[k]) for c, h in held.items()},
            "training_renderers_performer_test": test_rows(table),
        }
        out["parts"][part] = {name: frac(model, x) for name, x in sets.items()}
        rater = audio.rater if part == "with_score" else audio.rater.no_score
        tr = train_rows(table)
        groups = _groups(list(tr.index))
        cols_all = audio_ood_columns(rater, table, AUDIO_OOD_ENCODERS)
        v: dict[str, Any] = {}
        for name, cols, n_comp in (
            ("features + transkun context, 40 eigenpairs (chosen)", cols_all, 40),
            ("features only, 40 eigenpairs", rater.feature_columns, 40),
            ("features + transkun context, all eigenpairs", cols_all, None),
            ("features only, all eigenpairs", rater.feature_columns, None),
        ):
            m = OODModel.fit(tr[cols], groups=groups, n_components=n_comp)
            v[name] = {
                "threshold_distance": round(m.threshold, 4),
                "json_kb": round(len(json.dumps(m.to_dict(), separators=(",", ":"))) / 1e3),
                **{s: frac(m, x[cols])["flagged"] for s, x in sets.items()},
            }
        v["kNN (k=5) in the whitened 40-eigenpair space, features + transkun context"] = (
            knn_flagged(tr[cols_all], {s: x[cols_all] for s, x in sets.items()})
        )
        variants[part] = v
        print(part, out["parts"][part], flush=True)
    out["variants"] = variants
    return out, fit


def midi_report(root: Path, jobs: int) -> tuple[dict[str, Any], OODFit]:
    from pianoeval.data.percepiano_table import percepiano_table
    from pianoeval.model.symbolic import SymbolicRater

    rater = SymbolicRater.load(DEFAULT_DIR)
    assert rater.no_score is not None
    test = set(load_split("performer").test)
    fit = fit_symbolic_ood(rater, root, holdout="performer", jobs=jobs)
    x, _ = percepiano_table(root, jobs=jobs)
    x0, _ = percepiano_table(root, with_scores=False, jobs=jobs)
    x0 = x0[performance_only_columns(x0.columns)]
    out: dict[str, Any] = {"model": fit.summary(), "parts": {}}
    for part, model, table in (("with_score", fit.with_score, x), ("no_score", fit.no_score, x0)):
        assert model is not None
        out["parts"][part] = {
            "performer_test_midi": frac(model, table.loc[[str(i) in test for i in table.index]])
        }
        print("midi", part, out["parts"][part], flush=True)
    return out, fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument(
        "--store",
        action="store_true",
        help="also fit on every training row and write ood.json into the shipped bundles",
    )
    args = ap.parse_args()
    root = find_data_root(args.data_root, dataset="percepiano")
    audio, _ = audio_report(root, args.jobs)
    midi, _ = midi_report(root, args.jobs)
    payload = {
        "config": {
            "detector": "robust z (median/IQR, clip 10), Ledoit-Wolf Mahalanobis, 40 eigenpairs",
            "threshold": "99 % quantile of out-of-fold training distances, 5 folds by excerpt",
            "audio_training_rows": list(AUDIO_OOD_CONDITIONS),
            "audio_encoders": list(AUDIO_OOD_ENCODERS),
            "holdout": "performer split test segments",
        },
        "audio": audio,
        "midi": midi,
    }
    path = write_result("ood", payload)
    print(f"wrote {path}")
    if args.store:
        from pianoeval.model.audio import AudioRater
        from pianoeval.model.symbolic import SymbolicRater

        audio_rater = AudioRater.load(AUDIO_DIR)
        assert audio_rater.rater is not None
        fit_audio_ood(audio_rater, root, jobs=args.jobs).attach(audio_rater.rater)
        store_audio_ood(audio_rater, AUDIO_DIR)
        rater = SymbolicRater.load(DEFAULT_DIR)
        fit_symbolic_ood(rater, root, jobs=args.jobs).attach(rater)
        rater.write_ood(DEFAULT_DIR)
        print(f"stored ood.json in {AUDIO_DIR / 'model'} and {DEFAULT_DIR} (and no_score/)")


if __name__ == "__main__":
    main()
