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
- Pseudo-labels, refitted every round from the bought rows only
  (:func:`pianoeval.active.fit_proxy_choices`): for each execution16 dimension with a
  percepiano19 counterpart (a priori, DIMENSIONS.md), its a-priori ``midi.*`` candidate
  proxies (the alignment proxies would need a score alignment of every pool segment); the
  candidate with the largest |Spearman| with the bought labels is chosen, its sign taken
  from that correlation, and accepted when the 95 % Fisher-z interval of the Spearman
  excludes 0; robust-scale percentiles from the pool's proxies (unlabelled inputs, never
  the test rows); affine map to the human scale on the bought labels. Dimensions without
  an accepted proxy get no disagreement term that round. Nothing of the committed
  pseudo-label calibration (fitted with all PercePiano labels) is used.
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

from pianoeval.active import (
    acquisition_scores,
    apply_proxy_choices,
    fit_proxy_choices,
    near_duplicate_key,
    select_batch,
)
from pianoeval.active.scoring import uncertainty_scores
from pianoeval.data.percepiano import parse_name, percepiano_midi_paths
from pianoeval.data.percepiano_table import percepiano_table
from pianoeval.data.root import find_data_root
from pianoeval.data.splits import load_split
from pianoeval.metrics import mean_r2
from pianoeval.model.symbolic import SymbolicRater
from pianoeval.symbolic.midi import load_midi
from pianoeval.symbolic.pseudo import CANDIDATES, HUMAN_MATCH, midi_proxies

NAME = "active_learning"
STRATEGY_NAMES = ("uncertainty", "disagreement", "mixed", "random")


def midi_proxy_table(root: Path, ids: list[str]) -> pd.DataFrame:
    """The ``midi.*`` proxies of every segment (inputs only, no labels)."""
    paths = percepiano_midi_paths(root)
    rows = [midi_proxies(load_midi(paths[i], require_notes=False)) for i in ids]
    return pd.DataFrame(rows, index=ids, dtype=np.float64)


def candidate_proxies() -> dict[str, list[str]]:
    """The a-priori candidates per percepiano19 dimension (``midi.*`` only)."""
    return {
        HUMAN_MATCH[dim][0]: [c for c, _sign in cands if c.startswith("midi.")]
        for dim, cands in CANDIDATES.items()
        if dim in HUMAN_MATCH and any(c.startswith("midi.") for c, _ in cands)
    }


def refit_pseudo(
    proxies: pd.DataFrame,
    y: pd.DataFrame,
    bought: list[str],
    pool: list[str],
    cand: list[str],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Calibrated pseudo-labels of ``cand`` from a proxy choice fitted on ``bought`` only.

    Returns the pseudo-labels (columns of ``y``, NaN where none) and the round's record
    (accepted ``{human dim: proxy}``, and every dimension's choice with its test).
    """
    choices = fit_proxy_choices(
        {c: proxies.loc[bought, c].to_numpy() for c in proxies.columns},
        {d: y.loc[bought, d].to_numpy() for d in y.columns},
        scale_proxies={c: proxies.loc[pool, c].to_numpy() for c in proxies.columns},
    )
    pseudo = apply_proxy_choices(choices, {c: proxies.loc[cand, c].to_numpy() for c in proxies})
    out = pd.DataFrame(np.nan, index=cand, columns=y.columns)
    for hdim, values in pseudo.items():
        out[hdim] = values
    record = {
        "n_bought": len(bought),
        "n_accepted": sum(c.accepted for c in choices),
        "accepted": {c.human: c.proxy for c in choices if c.accepted},
        "flipped": sorted(c.human for c in choices if c.accepted and c.flipped),
        "choices": {
            c.human: {
                "proxy": c.proxy,
                "sign": c.sign,
                "rho": round(c.rho, 4),
                "ci95": [round(v, 4) for v in c.ci95],
                "n": c.n,
                "accepted": c.accepted,
            }
            for c in choices
        },
    }
    return out, record


def auc(n_labelled: list[int], r2: list[float]) -> float:
    """Trapezoid area under R2 vs labelled count, divided by the span (a mean R2)."""
    xs, ys = np.asarray(n_labelled, float), np.asarray(r2, float)
    return float(np.sum((ys[1:] + ys[:-1]) / 2 * np.diff(xs)) / (xs[-1] - xs[0]))


def t_interval(diffs: list[float]) -> dict[str, float | int | None]:
    """Mean and 95 % Student-t interval of paired differences (null with one seed)."""
    from scipy.stats import t

    d = np.asarray(diffs, float)
    m = float(d.mean())
    if d.size < 2:
        return {"mean": m, "ci95_low": None, "ci95_high": None, "n": int(d.size)}
    half = float(t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return {"mean": m, "ci95_low": m - half, "ci95_high": m + half, "n": int(d.size)}


def run_seed(
    seed: int,
    x: pd.DataFrame,
    y: pd.DataFrame,
    proxies: pd.DataFrame,
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
        pseudo_rounds = []
        t0 = time.perf_counter()
        for rnd in range(args.rounds_al):
            have = set(bought)
            cand = [i for i in pool if i not in have]
            values, sigma = rater.predict_with_spread(x.loc[cand])
            cal, record = refit_pseudo(proxies, y, bought, pool, cand)
            pseudo_rounds.append(record)
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
            "pseudo_rounds": pseudo_rounds,
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
    proxies = midi_proxy_table(root, list(x.index))
    pseudo_dims = candidate_proxies()
    print(f"{len(pool)} pool, {len(test)} test, candidate proxies for {sorted(pseudo_dims)}")

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
        seeds[str(seed)] = run_seed(seed, x, y, proxies, pool, test, args)
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
            interval = (
                f"[{ci['ci95_low']:+.4f}, {ci['ci95_high']:+.4f}]"
                if ci["ci95_low"] is not None
                else "(one seed: no interval)"
            )
            print(f"{strategy} - random: {ci['mean']:+.4f} {interval}")
    result = {
        "config": _config(args, pool, test, pseudo_dims),
        "reused_seeds": reused,
        "seeds": {s: seeds[s] for s in sorted(seeds, key=int)},
        "summary": summary,
        "pseudo_accepted": accepted_counts(seeds, args.strategies),
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    out = write_result(NAME, _jsonable(result))
    png = RESULTS / NAME / (out.stem + ".png")
    plot(result, png)
    print(f"wrote {out} and {png}")


def accepted_counts(seeds: dict[str, Any], strategies: list[str]) -> list[dict[str, Any]]:
    """Per round: how often each ``human dim <- proxy`` was accepted over seeds x strategies."""
    curves = [seeds[s][st] for s in seeds for st in strategies]
    out = []
    for rnd in range(len(curves[0]["pseudo_rounds"])):
        recs = [c["pseudo_rounds"][rnd] for c in curves]
        counts: dict[str, int] = {}
        for r in recs:
            for hdim, proxy in r["accepted"].items():
                key = f"{hdim} <- {proxy}"
                counts[key] = counts.get(key, 0) + 1
        out.append(
            {
                "round": rnd,
                "n_bought": recs[0]["n_bought"],
                "n_curves": len(recs),
                "n_accepted_mean": float(np.mean([r["n_accepted"] for r in recs])),
                "n_accepted_min": min(r["n_accepted"] for r in recs),
                "n_accepted_max": max(r["n_accepted"] for r in recs),
                "counts": dict(sorted(counts.items())),
            }
        )
    return out


def _jsonable(obj: Any) -> Any:
    """Non-finite floats become None: the result must be strict JSON."""
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


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
        "pseudo_labels": {
            "candidates": pseudo_dims,
            "refit": "every round on the bought rows only: proxy with the largest |Spearman| "
            "with the bought labels, sign from that correlation, accepted when its 95 % "
            "Fisher-z interval (se sqrt(1.06 / (n - 3))) excludes 0; robust-scale "
            "percentiles (5, 95) on the pool's proxies; affine map on the bought labels",
            "committed_calibration_used": False,
        },
        "mixed_weight": 0.5,
        "auc": "trapezoid over labelled count / span (mean R2 of the curve)",
    }


if __name__ == "__main__":
    main()
