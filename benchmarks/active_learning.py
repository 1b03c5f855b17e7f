"""Active-learning simulation on PercePiano (issue 18): does the selector beat random?

Protocol (docs/active-learning.md):

- Data: the 1189 labelled PercePiano segments with the MIDI rater's inputs
  (:func:`pianoeval.data.percepiano_table.percepiano_table`, aligned to the score).
- Scoring set: the excerpt split's test set, fixed, never bought. The pool is the rest.
- Each seed buys the same 100 random pool segments first (paired across strategies), then
  8 rounds of 50; after each purchase the rater is retrained on what was bought. Labels of
  the pool stay hidden until bought.
- Rater: :class:`~pianoeval.model.symbolic.SymbolicRater` reduced for speed (``gbdt`` and
  ``extra_trees`` with ``--rounds`` rounds each, default 100, plus the ridge member;
  ``n_threads=1``). Its spread is the member spread of
  :meth:`~pianoeval.model.symbolic.SymbolicRater.predict_with_spread` (no error model: a
  rater retrained every round has no out-of-fold errors to fit one on).
- Pseudo-labels: the committed pseudo-label calibration's MIDI proxies (``midi.*``; the
  alignment proxies would need a score alignment of every pool segment) scaled by its
  committed robust scaler, for every execution16 dimension that passed and has a
  percepiano19 counterpart. The pseudo -> human map is refitted every round, affine,
  on the bought labels only.
- Strategies: ``uncertainty``, ``disagreement``, ``mixed`` (0.5/0.5) and ``random``
  (:func:`pianoeval.active.acquisition_scores`), each picked with
  :func:`pianoeval.active.select_batch` (one dataset; dimensions credited by the
  uncertainty; near-duplicates = same excerpt and performer).
- Figures: test mean R2 (over the 19 dimensions) after each round; the area under the
  curve (trapezoid over the labelled count, divided by its span: the curve's mean R2);
  per strategy the paired difference of AUC to random over seeds with a 95 % Student-t
  interval (n - 1 degrees of freedom).

    nice .venv/bin/python benchmarks/active_learning.py                 # 5 seeds
    nice .venv/bin/python benchmarks/active_learning.py --seeds 0       # one seed (timing)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_result

from pianoeval.active import acquisition_scores, near_duplicate_key, select_batch
from pianoeval.active.scoring import uncertainty_scores
from pianoeval.data.percepiano import parse_name, percepiano_midi_paths
from pianoeval.data.percepiano_table import percepiano_table
from pianoeval.data.root import find_data_root
from pianoeval.data.splits import load_split
from pianoeval.metrics import mean_r2
from pianoeval.model.symbolic import SymbolicRater
from pianoeval.symbolic.midi import load_midi
from pianoeval.symbolic.pseudo import load_calibration, midi_proxies, robust_scale
from pianoeval.symbolic.pseudo.scaling import apply_human_map

NAME = "active_learning"
STRATEGY_NAMES = ("uncertainty", "disagreement", "mixed", "random")


def midi_pseudo(root: Path, ids: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Scaled execution16 pseudo-labels from MIDI proxies, columns named by human dim."""
    cal = load_calibration()
    specs: dict[str, dict[str, Any]] = {}
    for dim, e in cal.data["dims"].items():
        if e.get("status") != "passed" or not e.get("human"):
            continue
        spec = e if e["proxy"].startswith("midi.") else e.get("fallback")
        if spec and spec["proxy"].startswith("midi."):
            specs[dim] = {**spec, "human": e["human"].split(".", 1)[1]}
    paths = percepiano_midi_paths(root)
    rows = [midi_proxies(load_midi(paths[i], require_notes=False)) for i in ids]
    out = {}
    used = {}
    for dim, spec in specs.items():
        v = np.array([r.get(spec["proxy"], math.nan) for r in rows], dtype=np.float64)
        out[spec["human"]] = robust_scale(spec["sign"] * v, spec["p_lo"], spec["p_hi"])
        used[spec["human"]] = f"{dim} <- {spec['proxy']}"
    return pd.DataFrame(out, index=ids), used


def calibrate_pseudo(pseudo: pd.DataFrame, y: pd.DataFrame, bought: list[str]) -> pd.DataFrame:
    """Affine pseudo -> human map per dimension, fitted on the bought rows only."""
    out = pd.DataFrame(np.nan, index=pseudo.index, columns=y.columns)
    for dim in pseudo.columns:
        x_b = pseudo.loc[bought, dim].to_numpy()
        y_b = y.loc[bought, dim].to_numpy()
        ok = np.isfinite(x_b) & np.isfinite(y_b)
        if ok.sum() < 10 or np.ptp(x_b[ok]) == 0:
            continue
        slope, intercept = np.polyfit(x_b[ok], y_b[ok], 1)
        cal = {"kind": "affine", "slope": float(slope), "intercept": float(intercept)}
        out[dim] = apply_human_map(cal, pseudo[dim].to_numpy())
    return out


def auc(n_labelled: list[int], r2: list[float]) -> float:
    """Trapezoid area under R2 vs labelled count, divided by the span (a mean R2)."""
    xs, ys = np.asarray(n_labelled, float), np.asarray(r2, float)
    return float(np.sum((ys[1:] + ys[:-1]) / 2 * np.diff(xs)) / (xs[-1] - xs[0]))


def t_interval(diffs: list[float]) -> dict[str, float]:
    """Mean and 95 % Student-t interval of paired differences."""
    from scipy.stats import t

    d = np.asarray(diffs, float)
    m = float(d.mean())
    if d.size < 2:
        return {"mean": m, "ci95_low": math.nan, "ci95_high": math.nan, "n": int(d.size)}
    half = float(t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return {"mean": m, "ci95_low": m - half, "ci95_high": m + half, "n": int(d.size)}


def run_seed(
    seed: int,
    x: pd.DataFrame,
    y: pd.DataFrame,
    pseudo: pd.DataFrame,
    pool: list[str],
    test: list[str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """All strategies for one seed (the same initial purchase)."""
    rng = np.random.default_rng(seed)
    initial = sorted(rng.choice(pool, size=args.initial, replace=False).tolist())
    keys = {i: near_duplicate_key(_groups(i)) for i in pool}

    def fit(bought: list[str]) -> SymbolicRater:
        return SymbolicRater(
            n_rounds=args.rounds,
            extra_trees_rounds=args.rounds,
            seeds=(seed,),
            n_threads=1,
        ).fit(x.loc[bought], y.loc[bought])

    def test_r2(rater: SymbolicRater) -> float:
        return mean_r2(y.loc[test].to_numpy(), rater.predict(x.loc[test]))

    first = fit(initial)
    r2_0 = test_r2(first)
    curves: dict[str, Any] = {}
    for strategy in args.strategies:
        bought, rater, r2s, ns = list(initial), first, [r2_0], [len(initial)]
        t0 = time.perf_counter()
        for rnd in range(args.rounds_al):
            have = set(bought)
            cand = [i for i in pool if i not in have]
            values, sigma = rater.predict_with_spread(x.loc[cand])
            cal = calibrate_pseudo(pseudo, y, bought).loc[cand]
            scores = acquisition_scores(
                strategy,
                sigma=sigma,
                predictions=values,
                pseudo=cal[list(y.columns)].to_numpy(),
                seed=seed * 1000 + rnd,
            )
            picks = select_batch(
                scores,
                k=args.batch,
                dims=list(y.columns),
                keys=[keys[i] for i in cand],
                labelled_keys={k for i in bought if (k := keys[i]) is not None},
                credit=uncertainty_scores(sigma),
            )
            bought += [cand[p.index] for p in picks]
            rater = fit(bought)
            r2s.append(test_r2(rater))
            ns.append(len(bought))
        curves[strategy] = {
            "n_labelled": ns,
            "test_mean_r2": r2s,
            "auc": auc(ns, r2s),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(f"seed {seed} {strategy}: AUC {curves[strategy]['auc']:.4f} "
              f"final {r2s[-1]:.4f} ({curves[strategy]['seconds']} s)", flush=True)  # fmt: skip
    return curves


def _groups(segment_id: str) -> dict[str, str]:
    n = parse_name(segment_id)
    return {"excerpt": n.excerpt, "performer": n.performer}


def plot(result: dict[str, Any], out: Path) -> None:
    """Mean test R2 per round and strategy (band: min-max over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for strategy in result["config"]["strategies"]:
        curves = [s[strategy] for s in result["seeds"].values()]
        ns = curves[0]["n_labelled"]
        r2 = np.array([c["test_mean_r2"] for c in curves])
        ax.plot(ns, r2.mean(axis=0), marker="o", ms=3, label=strategy)
        ax.fill_between(ns, r2.min(axis=0), r2.max(axis=0), alpha=0.15)
    ax.set_xlabel("labelled segments")
    ax.set_ylabel("test mean R2 (excerpt split)")
    ax.set_title(f"Active learning on PercePiano ({len(result['seeds'])} seeds)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main() -> None:
    """Run the simulation and write the JSON and the plot."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--strategies", nargs="+", default=list(STRATEGY_NAMES))
    p.add_argument("--initial", type=int, default=100)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--rounds-al", type=int, default=8, help="purchase rounds")
    p.add_argument("--rounds", type=int, default=100, help="boosting rounds per tree member")
    p.add_argument(
        "--reuse",
        type=Path,
        nargs="*",
        default=[],
        help="earlier result JSONs of the same configuration: their seeds are taken, not rerun",
    )
    args = p.parse_args()

    t_start = time.perf_counter()
    root = find_data_root(args.data_root, dataset="percepiano")
    x, y = percepiano_table(root, jobs=1, progress=False)
    split = load_split("excerpt")
    test = sorted(set(split.test) & set(x.index))
    pool = sorted(set(x.index) - set(test))
    pseudo, pseudo_dims = midi_pseudo(root, list(x.index))
    print(f"{len(pool)} pool, {len(test)} test, pseudo-labels for {sorted(pseudo_dims)}")

    seeds: dict[str, Any] = {}
    reused: dict[str, str] = {}
    for path in args.reuse:
        earlier = json.loads(path.read_text(encoding="utf-8"))
        if _comparable(earlier["config"]) != _comparable(_config(args, pool, test, pseudo_dims)):
            raise SystemExit(f"{path}: another configuration, cannot reuse its seeds")
        for seed, curves in earlier["seeds"].items():
            if int(seed) in args.seeds and seed not in seeds:
                seeds[seed], reused[seed] = curves, path.name
    for seed in args.seeds:
        if str(seed) in seeds:
            print(f"seed {seed}: reused from {reused[str(seed)]}")
            continue
        t0 = time.perf_counter()
        seeds[str(seed)] = run_seed(seed, x, y, pseudo, pool, test, args)
        print(f"seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)

    summary: dict[str, Any] = {}
    for strategy in args.strategies:
        aucs = [seeds[s][strategy]["auc"] for s in seeds]
        summary[strategy] = {"auc_mean": float(np.mean(aucs)), "auc_per_seed": aucs}
        if strategy != "random" and "random" in args.strategies:
            diffs = [seeds[s][strategy]["auc"] - seeds[s]["random"]["auc"] for s in seeds]
            summary[strategy]["auc_minus_random"] = {
                **t_interval(diffs),
                "per_seed": diffs,
                "interval": "paired Student-t 95 % over seeds",
            }
            ci = summary[strategy]["auc_minus_random"]
            print(f"{strategy} - random: {ci['mean']:+.4f} "
                  f"[{ci['ci95_low']:+.4f}, {ci['ci95_high']:+.4f}]")  # fmt: skip
    result = {
        "config": _config(args, pool, test, pseudo_dims),
        "reused_seeds": reused,
        "seeds": {s: seeds[s] for s in sorted(seeds, key=int)},
        "summary": summary,
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    out = write_result(NAME, result)
    png = RESULTS / NAME / (out.stem + ".png")
    plot(result, png)
    print(f"wrote {out} and {png}")


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "seeds"}


def _config(
    args: argparse.Namespace, pool: list[str], test: list[str], pseudo_dims: dict[str, str]
) -> dict[str, Any]:
    return {
        "dataset": "percepiano",
        "scoring_set": "excerpt split test",
        "n_pool": len(pool),
        "n_test": len(test),
        "initial": args.initial,
        "batch": args.batch,
        "rounds": args.rounds_al,
        "seeds": args.seeds,
        "strategies": args.strategies,
        "rater": {
            "n_rounds": args.rounds,
            "extra_trees_rounds": args.rounds,
            "ridge": "default",
            "n_threads": 1,
            "spread": "member spread (predict_with_spread, no error model)",
        },
        "pseudo_labels": pseudo_dims,
        "pseudo_calibration": "affine, refitted each round on the bought labels",
        "mixed_weight": 0.5,
        "auc": "trapezoid over labelled count / span (mean R2 of the curve)",
    }


if __name__ == "__main__":
    main()
