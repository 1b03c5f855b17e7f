"""Rating recordings: audio raters on held-out renderers, beside the baselines and the MIDI rater.

Every audio figure comes from the audio corpus (``benchmarks/audio_corpus.py``: PercePiano
rendered per SoundFont, transcribed by transkun, pooled vectors of the same pass) and is
measured on a **renderer held out of training**: for a held-out renderer ``h``, each fold
model trains on the transcribed renders of every *other* clean renderer (the fold's
training segments) and scores ``h``'s renders of the fold's validation and test
segments. The true MIDI never enters an audio row.

Rows (``--variants``):

- ``train-mean``: each fold's mean training label;
- ``excerpt-mean``: the passage's mean label, what knowing the piece alone gives: the mean
  over the fold's training performances of the same excerpt, or, for an excerpt the fold
  never saw (excerpt split), over the *other* scored performances of that excerpt (an
  oracle that knows the passage's true mean);
- ``features``: the MIDI rater's recipe on the performance features of the transcription;
- ``transkun``: the projected transkun embedding alone; ``mel_stats`` likewise;
- ``fusion``: features + projected transkun + projected mel_stats (:class:`AudioRater`);
- ``midi``: the MIDI rater on the true MIDI (the reference the audio rows chase).

Audio rows read the transcription with its velocities standardised per performance
(``--velocity z``, what the shipped rater does); ``--velocity z raw`` adds the same rows on
the velocities as transcribed (``features+rawvel``, held-out rows), side by side.

Columns: excerpt-split CV (out of fold) and test, performer-split CV and test, with R2
without the Score renditions, pairwise accuracy (within excerpt), per-dimension R2 with
bootstrap CIs over excerpts. Audio rows are scored without a score (``--with-score`` adds
the same rows when the excerpt's score is given).

    .venv/bin/python benchmarks/audio_rater.py                 # all clean renderers packed
    .venv/bin/python benchmarks/audio_rater.py --velocity z raw --with-score --seen-renderer
    .venv/bin/python benchmarks/audio_rater.py --markdown benchmarks/results/audio_rater/X.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from first_rater import figures

from pianoeval.data.audio_corpus import CORPUS_DIR, load_condition
from pianoeval.data.audio_table import audio_table
from pianoeval.data.percepiano import parse_name
from pianoeval.data.percepiano_table import percepiano_table
from pianoeval.data.root import find_data_root
from pianoeval.data.splits import Split, load_split
from pianoeval.metrics import bootstrap_r2
from pianoeval.model.audio import DEFAULT_PROJECTIONS, AudioRater
from pianoeval.symbolic.rater_inputs import performance_only_columns

CLEAN = ("fluidr3_gm", "musescore_general", "timgm6mb", "csound_gm")
VARIANTS = ("train-mean", "excerpt-mean", "features", "transkun", "mel_stats", "fusion", "midi")


def variant_inputs(variant: str, x: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """The columns of ``x`` a variant sees and its projections."""
    emb = [c for c in x.columns if str(c).startswith("emb.")]
    feats = [c for c in x.columns if c not in set(emb)]
    if variant in ("features", "midi"):
        return x[feats], {}
    if variant in ("transkun", "mel_stats"):
        cols = [c for c in emb if str(c).startswith(f"emb.{variant}.")]
        return x[cols], {variant: DEFAULT_PROJECTIONS[variant]}
    if variant == "fusion":
        return x, dict(DEFAULT_PROJECTIONS)
    raise ValueError(variant)


def baseline(variant: str, y: pd.DataFrame, train: list[str], rows: list[str]) -> pd.DataFrame:
    """train-mean or excerpt-mean predictions of ``rows`` from the ``train`` labels."""
    tr = y.loc[train]
    if variant == "train-mean":
        return pd.DataFrame([tr.mean()] * len(rows), index=rows)
    exc_tr = tr.groupby([parse_name(i).excerpt for i in train]).mean()
    out = []
    for i in rows:
        e = parse_name(i).excerpt
        if e in exc_tr.index:
            out.append(exc_tr.loc[e])
        else:  # unseen passage: the oracle mean of the other scored performances of it
            same = [j for j in rows if j != i and parse_name(j).excerpt == e]
            out.append(y.loc[same].mean() if same else tr.mean())
    return pd.DataFrame(out, index=rows)


def stack(tables: dict[str, pd.DataFrame], conds: list[str], ids: list[str]) -> pd.DataFrame:
    """Rows of ``ids`` from each condition in ``conds`` (one row per segment and condition)."""
    parts = [tables[c].loc[[i for i in ids if i in tables[c].index]] for c in conds]
    return pd.concat(parts)


def run_split(
    split: Split,
    y: pd.DataFrame,
    variant: str,
    *,
    tables: dict[str, pd.DataFrame],
    heldout: str | None,
    train_conds: list[str],
    rater_kwargs: dict[str, Any],
    velocity: str = "z",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Out-of-fold and test predictions (test: mean of the fold models) of one variant."""
    scored = tables[heldout] if heldout is not None else tables["midi"]
    have = set(scored.index)
    test = [i for i in split.test if i in have]
    oof, tests = [], []
    for f in range(split.n_folds):
        train, val = split.fold(f)
        val = [i for i in val if i in have]
        if variant in ("train-mean", "excerpt-mean"):
            tr = [i for i in train if i in y.index]
            if val:
                oof.append(baseline(variant, y, tr, val))
            if test:
                tests.append(baseline(variant, y, tr, test))
            continue
        x_tr = stack(tables, train_conds, train)
        if x_tr.empty:
            continue
        x_in, proj = variant_inputs(variant, x_tr)
        model = AudioRater(projections=proj, velocity=velocity, dims=list(y.columns),
                           **rater_kwargs)  # fmt: skip
        model.fit(x_in, y.loc[x_tr.index])
        cols = list(x_in.columns)
        if val:
            oof.append(
                pd.DataFrame(model.predict(scored.loc[val, cols]), index=val, columns=y.columns)
            )
        if test:
            pred = model.predict(scored.loc[test, cols])
            tests.append(pd.DataFrame(pred, index=test, columns=y.columns))
    oof_df = pd.concat(oof) if oof else pd.DataFrame(columns=y.columns)
    test_df = sum(tests[1:], tests[0]) / len(tests) if tests else pd.DataFrame(columns=y.columns)
    return oof_df, test_df


def scored_figures(y: pd.DataFrame, pred: pd.DataFrame, *, ci: bool) -> dict[str, Any]:
    out = figures(y, pred, pairwise=True)
    if ci and len(pred) > 10:
        ref = y.loc[pred.index]
        b = bootstrap_r2(
            ref.to_numpy(),
            pred[ref.columns].to_numpy(),
            [parse_name(i).excerpt for i in pred.index],
            n_boot=1000,
        )
        out["mean_r2_ci95"] = [round(b.mean_low, 4), round(b.mean_high, 4)]
        out["r2_ci95"] = {
            d: [round(float(lo), 4), round(float(hi), 4)]
            for d, lo, hi in zip(ref.columns, b.low, b.high, strict=True)
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--conditions", nargs="*", default=list(CLEAN))
    ap.add_argument(
        "--augmented",
        nargs="*",
        default=["+recording"],
        help="suffixes of augmented conditions scored like their clean renderer",
    )
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--splits", nargs="*", default=["excerpt", "performer"])
    ap.add_argument(
        "--velocity",
        nargs="+",
        choices=["z", "raw"],
        default=["z"],
        help="how transcribed velocities enter the audio rows (z: standardised per "
        "performance; raw: the held-out features rows again, named features+rawvel)",
    )
    ap.add_argument("--with-score", action="store_true", help="also rate audio with the score")
    ap.add_argument(
        "--seen-renderer",
        action="store_true",
        help="also train and score on the same renderer (reference rows)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="LightGBM threads (1: OpenMP spin-waits badly on a busy 2-core host)",
    )
    ap.add_argument("--rounds", type=int, default=None, help="override tree rounds (quick runs)")
    ap.add_argument("--name", default="audio_rater")
    ap.add_argument(
        "--reuse",
        type=Path,
        nargs="+",
        default=[],
        help="earlier results of this script: rows with the same setup are copied, not "
        "recomputed, and rows this run does not make are carried over (same code and "
        "packs; lets a run add the conditions built since, or merge runs of different "
        "--splits made in parallel)",
    )
    args = ap.parse_args()
    root = find_data_root(args.data_root, dataset="percepiano")
    t0 = time.perf_counter()
    rater_kwargs: dict[str, Any] = {"n_threads": args.threads}
    if args.rounds:
        rater_kwargs.update(n_rounds=args.rounds, extra_trees_rounds=args.rounds)

    x_midi, y = percepiano_table(root, jobs=args.jobs, progress=False)
    x_midi0, _ = percepiano_table(root, with_scores=False, jobs=args.jobs, progress=False)
    corpora = {c: load_condition(c) for c in args.conditions if (CORPUS_DIR / f"{c}.npz").is_file()}
    aug = {
        f"{c}{s}": load_condition(f"{c}{s}")
        for c in corpora
        for s in args.augmented
        if (CORPUS_DIR / f"{c}{s}.npz").is_file()
    }
    score_modes = [False, True] if args.with_score else [False]
    tables: dict[tuple[bool, str], dict[str, pd.DataFrame]] = {}
    for ws in score_modes:
        for vel in args.velocity:
            tables[ws, vel] = {
                name: audio_table(root, corp, with_scores=ws, velocity=vel, jobs=args.jobs)
                for name, corp in {**corpora, **aug}.items()
            }
            tables[ws, vel]["midi"] = (
                x_midi if ws else x_midi0[performance_only_columns(x_midi0.columns)]
            )
    n_rows = {c: len(t) for c, t in tables[False, args.velocity[0]].items()}
    print("rows:", n_rows, f"({time.perf_counter() - t0:.0f} s)", flush=True)
    full = [c for c in corpora if n_rows[c] >= len(y)]

    results: dict[str, Any] = {}
    reused: dict[str, Any] = {}
    for path in args.reuse:
        for key, row in json.loads(path.read_text())["results"].items():
            reused[key] = {"reused_from": str(path), **row}
    for split_name in args.splits:
        split = load_split(split_name)
        for ws, vel, variant in (
            (ws, vel, v) for ws in score_modes for vel in args.velocity for v in args.variants
        ):
            tab = tables[ws, vel]
            audio_row = variant not in ("midi", "train-mean", "excerpt-mean")
            if not audio_row and vel != args.velocity[0]:
                continue  # velocity modes change audio rows only
            if variant in ("transkun", "mel_stats") and (ws or vel == "raw"):
                continue  # they see no symbolic column: the no-score rows say it all
            if vel == "raw" and variant != "features":
                continue  # the velocity comparison is made on the features row
            runs: list[tuple[str, str | None, list[str]]] = []
            if variant == "midi":
                runs = [("midi", None, ["midi"])]
            elif variant in ("train-mean", "excerpt-mean"):
                runs = [(variant, "midi", [])]
            else:
                for h in corpora:
                    if args.seen_renderer and h in full and vel != "raw":
                        runs.append((f"seen/{h}", h, [h]))
                    others = [c for c in full if c != h]
                    if others:
                        runs.append((f"heldout/{h}", h, others))
                        for s in args.augmented:
                            # augmented conditions hold the performer-test segments only
                            if f"{h}{s}" in tab and split_name == "performer":
                                runs.append((f"heldout/{h}{s}", f"{h}{s}", others))
            for label, h, train_conds in runs:
                name = f"{variant}+rawvel" if audio_row and vel == "raw" else variant
                key = f"{split_name}/{'score' if ws else 'no_score'}/{name}/{label}"
                setup = {"train_conditions": train_conds, "projections": DEFAULT_PROJECTIONS,
                         "rater_kwargs": rater_kwargs,
                         **({"velocity": vel} if audio_row else {})}  # fmt: skip
                old = reused.get(key, {})
                if old and all(old.get(k) == v for k, v in setup.items()):
                    results[key] = old
                    continue
                t = time.perf_counter()
                oof, test = run_split(
                    split,
                    y,
                    variant,
                    tables=tab,
                    heldout=h,
                    train_conds=train_conds,
                    rater_kwargs=rater_kwargs,
                    velocity=vel,
                )
                results[key] = {
                    "cv": scored_figures(y, oof, ci=False) if len(oof) else {},
                    "test": scored_figures(y, test, ci=True) if len(test) else {},
                    **setup,
                    "seconds": round(time.perf_counter() - t, 1),
                }
                r = results[key]
                print(
                    key,
                    "cv",
                    round(r["cv"].get("mean_r2", float("nan")), 4),
                    "test",
                    round(r["test"].get("mean_r2", float("nan")), 4),
                    f"{r['seconds']} s",
                    flush=True,
                )

    for key, row in reused.items():  # rows this run did not compute are carried over
        results.setdefault(key, row)
    payload = {
        "config": {
            "conditions": {c: corpora[c].meta["condition"] for c in corpora},
            "augmented": {c: a.meta["condition"] for c, a in aug.items()},
            "rows": n_rows,
            "full_conditions": full,
            "projections": DEFAULT_PROJECTIONS,
            "rater_kwargs": rater_kwargs,
            "velocity": args.velocity,
            "protocol": "held-out renderer: fold models train on every other full clean "
            "renderer's transcribed renders and score the held-out one",
        },
        "results": results,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    out = write_result(args.name, payload)
    print(f"wrote {out}")
    print(markdown(payload))


def markdown(payload: dict[str, Any]) -> str:
    """The side-by-side table of docs/benchmarks.md."""
    res = payload["results"]
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for key, r in res.items():
        split, mode, variant, label = key.split("/", 3)
        rows.setdefault((mode, variant, label), {})[split] = r

    def cell(r: dict[str, Any] | None, part: str, field: str = "mean_r2") -> str:
        v = (r or {}).get(part, {}).get(field)
        return (
            "" if v is None else f"{v:.3f}" if field != "pairwise_accuracy" else f"{100 * v:.1f} %"
        )

    lines = [
        "| input | row | trained on | excerpt CV | excerpt test | performer CV | performer test "
        "| performer test 95 % CI | pairwise (excerpt CV) | performer test w/o Score |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (mode, variant, label), by in rows.items():
        ex, pf = by.get("excerpt"), by.get("performer")
        trained = ", ".join((ex or pf or {}).get("train_conditions", [])) or "-"
        ci = (pf or {}).get("test", {}).get("mean_r2_ci95")
        lines.append(
            f"| {'score' if mode == 'score' else 'no score'} | {variant} ({label}) | {trained} | "
            f"{cell(ex, 'cv')} | {cell(ex, 'test')} | {cell(pf, 'cv')} | {cell(pf, 'test')} | "
            f"{'' if ci is None else f'{ci[0]:.3f} to {ci[1]:.3f}'} | "
            f"{cell(ex, 'cv', 'pairwise_accuracy')} | "
            f"{cell(pf, 'test', 'mean_r2_without_score_renditions')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--markdown":
        print(markdown(json.loads(Path(sys.argv[2]).read_text())))
    else:
        main()
