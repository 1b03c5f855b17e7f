"""The ``mel_cnn`` row of the audio-rater benchmark: the guide's small CNN on the mel image.

What it measures: how well :class:`pianoeval.model.neural.MelCNN` (registry name
``mel_cnn``), trained end to end with a 2-layer MLP head on the 128x128 fixed-reference mel
(:func:`pianoeval.audio.mel_spectrogram`), rates PercePiano renders, under the protocol of
``benchmarks/audio_rater.py`` (``run_split``):

- for each split (performer, excerpt) and each of its folds, one model trains on the
  **FluidR3_GM** renders of the fold's training ids (never a validation or test id);
  early stopping (the epoch with the lowest masked MAE) uses an inner part of the
  training ids only: about 15 % of the training *groups* of the split's own grouping
  (performers or excerpts), seeded;
- the fold model rates the fold's validation ids and the test ids on the **MuseScore
  General** renders (``heldout/musescore_general``, a renderer held out of training) and on
  the FluidR3_GM renders (``seen/fluidr3_gm``, the training renderer, a reference);
- test prediction = mean of the fold models; scored with ``figures()`` of
  ``benchmarks/first_rater.py`` (through ``audio_rater.scored_figures``: bootstrap CIs on
  test), keys ``<split>/no_score/mel_cnn/heldout/musescore_general`` and
  ``<split>/no_score/mel_cnn/seen/fluidr3_gm``. One training serves both rows, so both
  carry the same ``seconds`` (the split's fold models: training and prediction).

Model: :class:`pianoeval.model.neural.FusionRater` with only the mel branch
(``use_mel=True``, no embedding inputs, no dataset embedding): MelCNN (16-32-64-128
channels) to a 256-D embedding, LayerNorm + Linear(256, 256), GELU, head Linear - GELU -
Dropout(0.2) - Linear to the 19 dimensions (output bias started at the training label
mean); masked MAE (:func:`pianoeval.model.losses.masked_mae`), AdamW (lr 1e-3, weight
decay 1e-2), batch 32, one seed.

Mel front end (DESIGN.md: the model sees the whole segment): each render is loaded at
22.05 kHz and the whole segment is fitted into the 128 frames (``window_sec`` = the
render's length, at least 1 s), as ``mel_stats`` does, so no crop drops music; dB against
the fixed full-scale reference, no per-clip normalisation (renders use calibrated gains).
The images are computed once per renderer into
``~/.cache/pianoeval/melcnn_bench/<renderer>.npz`` (float16), so reruns only train; each
finished fold's predictions go to ``melcnn_bench/folds/`` (keyed by split, fold, epochs and
seed), so a cut-short run resumes, and the result file is rewritten after each split.

    nice -n 15 .venv/bin/python benchmarks/mel_cnn_rater.py --splits performer excerpt \\
        --epochs 25 --seed 0
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from audio_rater import scored_figures

from pianoeval.data.percepiano import percepiano_midi_paths
from pianoeval.data.percepiano_table import percepiano_table
from pianoeval.data.root import find_data_root
from pianoeval.data.splits import Split, group_of, load_split

TRAIN = "fluidr3_gm"
HELDOUT = "musescore_general"
CACHE = Path.home() / ".cache" / "pianoeval" / "melcnn_bench"
MEL_VERSION = "whole-segment/1"  # window_sec = max(render length, 1 s); bump on a change
MIN_WINDOW_SEC = 1.0
INNER_FRACTION = 0.15


def mel_images(root: Path, renderer: str) -> dict[str, np.ndarray]:
    """``{segment id: [128, 128] float16 mel}`` of one renderer's renders (cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{renderer}.npz"
    if path.is_file():
        z = np.load(path, allow_pickle=False)
        if str(z["version"]) == MEL_VERSION:
            return dict(zip(z["ids"].tolist(), z["mels"], strict=True))
    from pianoeval.audio import load_audio, mel_spectrogram
    from pianoeval.audio.mel import DEFAULT_MEL_CONFIG
    from pianoeval.render import render_files

    t = time.perf_counter()
    midis = percepiano_midi_paths(root)
    ids = sorted(midis)
    renders = render_files([midis[i] for i in ids], soundfont=renderer, progress=False, jobs=1)
    out: dict[str, np.ndarray] = {}
    for sid, r in zip(ids, renders, strict=True):
        if r.audio_path is None:
            print(f"{renderer}: no render of {sid}: {r.error}", flush=True)
            continue
        y, sr = load_audio(r.audio_path, sr=DEFAULT_MEL_CONFIG.sr)
        config = replace(DEFAULT_MEL_CONFIG, window_sec=max(y.size / sr, MIN_WINDOW_SEC))
        out[sid] = mel_spectrogram(y, sr=sr, config=config)[0].astype(np.float16)
    keys = sorted(out)
    np.savez(
        path,
        ids=np.array(keys),
        mels=np.stack([out[k] for k in keys]),
        version=np.array(MEL_VERSION),
    )
    print(f"{renderer}: {len(out)} mel images ({time.perf_counter() - t:.0f} s)", flush=True)
    return out


def inner_split(split: Split, train: list[str], seed: int) -> tuple[list[str], list[str]]:
    """Split ``train`` into (fit, early-stopping) ids by the split's grouping."""
    groups = sorted({group_of(i, split.group_key) for i in train})
    rng = np.random.default_rng(seed)
    n_inner = max(1, round(INNER_FRACTION * len(groups)))
    inner = set(rng.choice(groups, size=n_inner, replace=False).tolist())
    fit = [i for i in train if group_of(i, split.group_key) not in inner]
    stop = [i for i in train if group_of(i, split.group_key) in inner]
    return fit, stop


def _tensor(mels: dict[str, np.ndarray], ids: list[str]) -> Any:
    import torch

    return torch.from_numpy(np.stack([mels[i] for i in ids]).astype(np.float32)).unsqueeze(1)


def _predict(model: Any, x: Any, batch: int = 64) -> np.ndarray:
    import torch

    model.eval()
    with torch.no_grad():
        outs = [model({"mel": x[s : s + batch]})["mean"] for s in range(0, len(x), batch)]
    return torch.cat(outs).numpy()


def train_fold(
    mels: dict[str, np.ndarray],
    y: pd.DataFrame,
    fit: list[str],
    stop: list[str],
    *,
    epochs: int,
    seed: int,
    batch: int = 32,
) -> tuple[Any, dict[str, Any]]:
    """Train one MelCNN rater on ``fit``; keep the epoch with the lowest MAE on ``stop``."""
    import torch

    from pianoeval.model.losses import masked_mae
    from pianoeval.model.neural import FusionRater

    torch.manual_seed(seed)
    model = FusionRater(inputs={}, n_outputs=y.shape[1], use_mel=True, dataset_dim=0)
    yf = y.loc[fit].to_numpy(np.float32)
    with torch.no_grad():
        model.head_mean.bias.copy_(torch.from_numpy(np.nanmean(yf, axis=0)))
    x_fit, x_stop = _tensor(mels, fit), _tensor(mels, stop)
    y_fit = torch.from_numpy(np.nan_to_num(yf))
    m_fit = torch.from_numpy(~np.isnan(yf)).float()
    ys = y.loc[stop].to_numpy(np.float32)
    y_stop, m_stop = torch.from_numpy(np.nan_to_num(ys)), torch.from_numpy(~np.isnan(ys)).float()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    gen = torch.Generator().manual_seed(seed)
    best, best_state, best_epoch, history = float("inf"), None, -1, []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(fit), generator=gen)
        for s in range(0, len(fit), batch):
            idx = order[s : s + batch]
            if len(idx) < 2:  # batch norm needs two rows
                continue
            loss = masked_mae(model({"mel": x_fit[idx]})["mean"], y_fit[idx], m_fit[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        val = float(masked_mae(torch.from_numpy(_predict(model, x_stop)), y_stop, m_stop))
        history.append(round(val, 5))
        if val < best:
            best, best_epoch = val, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    assert best_state is not None
    model.load_state_dict(best_state)
    return model, {"best_epoch": best_epoch + 1, "inner_mae": round(best, 5), "inner": history}


def run_split(
    split: Split,
    y: pd.DataFrame,
    mels: dict[str, dict[str, np.ndarray]],
    *,
    epochs: int,
    seed: int,
) -> tuple[dict[str, tuple[pd.DataFrame, pd.DataFrame]], list[dict[str, Any]]]:
    """Out-of-fold and test predictions (mean of the fold models) on each scored renderer."""
    have_train = set(mels[TRAIN]) & set(y.index)
    scored = {r: set(m) & set(y.index) for r, m in mels.items()}
    oof: dict[str, list[pd.DataFrame]] = {r: [] for r in mels}
    tests: dict[str, list[pd.DataFrame]] = {r: [] for r in mels}
    log = []
    for f in range(split.n_folds):
        t = time.perf_counter()
        train, val = split.fold(f)
        train = [i for i in train if i in have_train]
        fit, stop = inner_split(split, train, seed + f)
        done = CACHE / "folds" / f"{split.name}_f{f}_e{epochs}_s{seed}.pkl"
        if done.is_file():  # a finished fold of an earlier run with the same settings
            fold_preds, info = pd.read_pickle(done)
        else:
            model, info = train_fold(mels[TRAIN], y, fit, stop, epochs=epochs, seed=seed + f)
            fold_preds = {}
            for r, m in mels.items():
                v = [i for i in val if i in scored[r]]
                te = [i for i in split.test if i in scored[r]]
                fold_preds[r] = (
                    pd.DataFrame(_predict(model, _tensor(m, v)), v, y.columns) if v else None,
                    pd.DataFrame(_predict(model, _tensor(m, te)), te, y.columns) if te else None,
                )
            info.update(fold=f, n_fit=len(fit), n_stop=len(stop))
            info["seconds"] = round(time.perf_counter() - t, 1)
            done.parent.mkdir(parents=True, exist_ok=True)
            pd.to_pickle((fold_preds, info), done)
        for r, (v_df, te_df) in fold_preds.items():
            if v_df is not None:
                oof[r].append(v_df)
            if te_df is not None:
                tests[r].append(te_df)
        log.append(info)
        print(
            f"{split.name} fold {f}: fit {len(fit)}, stop {len(stop)}, best epoch "
            f"{info['best_epoch']}, inner MAE {info['inner_mae']}, {info['seconds']} s",
            flush=True,
        )
    out = {}
    for r in mels:
        o = pd.concat(oof[r]) if oof[r] else pd.DataFrame(columns=y.columns)
        te_df = sum(tests[r][1:], tests[r][0]) / len(tests[r]) if tests[r] else o.iloc[:0]
        out[r] = (o, te_df)
    return out, log


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--splits", nargs="*", default=["performer", "excerpt"])
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--name", default="mel_cnn_rater")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    root = find_data_root(args.data_root, dataset="percepiano")
    t0 = time.perf_counter()
    _, y = percepiano_table(root, progress=False)
    mels = {r: mel_images(root, r) for r in (TRAIN, HELDOUT)}
    print({r: len(m) for r, m in mels.items()}, f"({time.perf_counter() - t0:.0f} s)", flush=True)

    results: dict[str, Any] = {}
    folds: dict[str, Any] = {}
    for split_name in args.splits:
        split = load_split(split_name)
        preds, folds[split_name] = run_split(split, y, mels, epochs=args.epochs, seed=args.seed)
        seconds = round(sum(i["seconds"] for i in folds[split_name]), 1)
        for r, label in ((HELDOUT, f"heldout/{HELDOUT}"), (TRAIN, f"seen/{TRAIN}")):
            oof, test = preds[r]
            key = f"{split_name}/no_score/mel_cnn/{label}"
            results[key] = {
                "cv": scored_figures(y, oof, ci=False) if len(oof) else {},
                "test": scored_figures(y, test, ci=True) if len(test) else {},
                "train_conditions": [TRAIN],
                "seconds": seconds,
            }
            r_ = results[key]
            print(
                key,
                "cv",
                round(r_["cv"].get("mean_r2", float("nan")), 4),
                "pairwise",
                round(r_["cv"].get("pairwise_accuracy", float("nan")), 4),
                "test",
                round(r_["test"].get("mean_r2", float("nan")), 4),
                "pairwise",
                round(r_["test"].get("pairwise_accuracy", float("nan")), 4),
                f"{seconds} s",
                flush=True,
            )
        payload = {
            "config": {
                "train_renderer": TRAIN,
                "heldout_renderer": HELDOUT,
                "rows": {r: len(m) for r, m in mels.items()},
                "mel": f"{MEL_VERSION}: pianoeval.audio.mel_spectrogram, whole segment in 128 "
                "frames (window_sec = render length, >= 1 s), fixed full-scale dB reference",
                "model": "FusionRater(inputs={}, use_mel=True, dataset_dim=0): MelCNN "
                "(16, 32, 64, 128) -> 256 -> LayerNorm+Linear 256 -> GELU -> Linear 256 - GELU - "
                "Dropout 0.2 - Linear 19",
                "training": {
                    "loss": "masked_mae",
                    "optimizer": "AdamW lr 1e-3 wd 1e-2",
                    "batch": 32,
                    "epochs": args.epochs,
                    "seed": args.seed,
                    "early_stopping": f"best epoch on {INNER_FRACTION:.0%} of the training groups "
                    "(split's group key), seeded per fold",
                    "torch_threads": args.threads,
                },
                "folds": folds,
                "protocol": "fold models train on FluidR3_GM renders of the fold's training ids; "
                "heldout rows score MuseScore General renders, seen rows FluidR3_GM renders; test "
                "= mean of the fold models; seconds = the split's fold models (training and "
                "prediction), shared by both rows",
            },
            "results": results,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        # written after each split, so a cut-short run keeps what it finished
        out = write_result(args.name, payload)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
