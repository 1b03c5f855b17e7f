"""Build the shipped audio rater and write its model card from a committed benchmark result.

The shipped rater (``pianoeval-audio-v1``) trains on every full clean renderer of the
result (all labelled segments, no holdout) with the shipped configuration (transcription
features, velocities standardised per performance) and records in its bundle what
``benchmarks/audio_rater.py`` measured for that configuration on held-out renderers: each
held-out renderer's figures, their mean and worst, the passage baseline, the augmented
(recording-like) test audio, and whether each target of the issue holds. The caution
``analyze`` prints with audio ratings is written from the same numbers.

    .venv/bin/python benchmarks/ship_audio_rater.py benchmarks/results/audio_rater/X.json
    .venv/bin/python benchmarks/ship_audio_rater.py X.json --dry-run     # print the card only
    .venv/bin/python benchmarks/ship_audio_rater.py X.json --card-only   # rewrite the card only
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

#: The shipped configuration's row in the benchmark (features, velocity z, no score).
SHIPPED_ROW = "features"
#: Targets of the issue, on clean audio of held-out renderers.
TARGETS = {
    "performer_test_mean": 0.50,
    "above_excerpt_mean": 0.12,
    "worst_below_mean": 0.05,
    "excerpt_cv_mean": 0.55,
    "pairwise": 0.75,
    "augmented_drop": 0.03,
}


def _fig(results: dict[str, Any], key: str, part: str, field: str = "mean_r2") -> float | None:
    v = results.get(key, {}).get(part, {}).get(field)
    return None if v is None else round(float(v), 4)


def summarise(payload: dict[str, Any], *, row: str = SHIPPED_ROW) -> dict[str, Any]:
    """The shipped row's held-out figures per renderer, mean, worst, baselines and targets."""
    res = payload["results"]
    per: dict[str, dict[str, float | None]] = {}
    for h in payload["config"]["conditions"]:
        if f"performer/no_score/{row}/heldout/{h}" not in res:
            continue  # no other full renderer to train on: never held out
        per[h] = {
            "excerpt_cv": _fig(res, f"excerpt/no_score/{row}/heldout/{h}", "cv"),
            "excerpt_test": _fig(res, f"excerpt/no_score/{row}/heldout/{h}", "test"),
            "performer_cv": _fig(res, f"performer/no_score/{row}/heldout/{h}", "cv"),
            "performer_test": _fig(res, f"performer/no_score/{row}/heldout/{h}", "test"),
            "pairwise_excerpt_cv": _fig(
                res, f"excerpt/no_score/{row}/heldout/{h}", "cv", "pairwise_accuracy"
            ),
            "performer_test_with_score": _fig(res, f"performer/score/{row}/heldout/{h}", "test"),
        }
        aug = _fig(res, f"performer/no_score/{row}/heldout/{h}+recording", "test")
        if aug is not None:
            per[h]["performer_test_recording"] = aug

    def agg(field: str) -> tuple[float | None, float | None]:
        vals = [v[field] for v in per.values() if v.get(field) is not None]
        vals_f = [float(v) for v in vals if v is not None]
        if not vals_f:
            return None, None
        return round(sum(vals_f) / len(vals_f), 4), round(min(vals_f), 4)

    mean_worst = {f: agg(f) for f in next(iter(per.values()), {})}
    base_perf = _fig(res, "performer/no_score/excerpt-mean/excerpt-mean", "test")
    base_exc = _fig(res, "excerpt/no_score/excerpt-mean/excerpt-mean", "test")
    pt_mean, pt_worst = mean_worst.get("performer_test", (None, None))
    ecv_mean, _ = mean_worst.get("excerpt_cv", (None, None))
    pair_mean, _ = mean_worst.get("pairwise_excerpt_cv", (None, None))
    drops = [
        float(v["performer_test"]) - float(v["performer_test_recording"])  # type: ignore[arg-type]
        for v in per.values()
        if v.get("performer_test_recording") is not None and v.get("performer_test") is not None
    ]
    targets: dict[str, bool | None] = {
        "performer_test_mean_ge_0.50": None if pt_mean is None else pt_mean >= 0.50,
        "worst_within_0.05_of_mean": None
        if pt_mean is None or pt_worst is None
        else pt_mean - pt_worst <= 0.05,
        "above_excerpt_mean_by_0.12": None
        if pt_mean is None or base_perf is None
        else pt_mean - base_perf >= 0.12,
        "excerpt_cv_mean_ge_0.55": None if ecv_mean is None else ecv_mean >= 0.55,
        "pairwise_ge_75pct": None if pair_mean is None else pair_mean >= 0.75,
        "augmented_within_0.03": None if not drops else max(drops) <= 0.03,
    }
    return {
        "protocol": "each renderer held out in turn: fold models trained on the other "
        "renderers' transcribed renders score the held-out one; no score given",
        "row": row,
        "velocity": payload["config"].get("velocity", ["raw"])[0],
        "heldout": per,
        "mean": {f: mw[0] for f, mw in mean_worst.items()},
        "worst": {f: mw[1] for f, mw in mean_worst.items()},
        "excerpt_mean_baseline": {"performer_test": base_perf, "excerpt_test": base_exc},
        "augmented_drop_max": round(max(drops), 4) if drops else None,
        "targets": targets,
        "targets_met": all(v is True for v in targets.values()),
    }


def caution(summary: dict[str, Any], renderers: list[str]) -> str | None:
    """What ``analyze`` says with every audio rating, from the measured figures."""
    if summary["targets_met"]:
        return None
    m, w = summary["mean"], summary["worst"]
    base = summary["excerpt_mean_baseline"]["performer_test"]
    parts = [
        "recordings are rated from transkun's transcription by a rater trained on "
        f"{len(renderers)} rendered piano{'s' if len(renderers) > 1 else ''} "
        f"({', '.join(renderers)}); on a piano it had not "
        f"heard, its mean R2 was {m['performer_test']:.2f} on unseen performers (worst "
        f"{w['performer_test']:.2f}; knowing the passage alone gives {base:.2f}) and "
        f"{m['excerpt_test']:.2f} on unseen passages"
    ]
    drop = summary.get("augmented_drop_max")
    if drop is not None:
        how = "within 0.01" if drop < 0.01 else f"{drop:.2f} lower"
        parts.append(f" ({how} with room reverb, noise and MP3 compression)")
    parts.append(
        " (docs/benchmarks.md#audio-rater). Treat these scores as rough; a MIDI file of the "
        "performance is rated better (0.48-0.52)."
    )
    return "".join(parts)


def write_card(summary: dict[str, Any], text: str | None, full: list[str]) -> None:
    """Put the card into the shipped bundle's ``audio_rater.json``; models stay as they are."""
    from pianoeval.rater.audio import AUDIO_DIR

    path = Path(AUDIO_DIR) / "audio_rater.json"
    record = json.loads(path.read_text())
    trained = list(record.get("training_data", {}).get("conditions", []))
    if sorted(trained) != sorted(full):
        raise SystemExit(
            f"the shipped rater was trained on {trained}, the result's full conditions are "
            f"{full}: rebuild it (without --card-only)"
        )
    record["benchmark"] = summary
    if text is None:
        record.pop("caution", None)
    else:
        record["caution"] = text
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"card of {path} rewritten (models and calibration kept)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("result", type=Path, help="a benchmarks/audio_rater.py result")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--dry-run", action="store_true", help="print the card, build nothing")
    ap.add_argument(
        "--card-only",
        action="store_true",
        help="rewrite the shipped bundle's card (benchmark, caution) from the result and keep "
        "its models and calibration (the result's full conditions must be the bundle's)",
    )
    args = ap.parse_args()
    payload = json.loads(args.result.read_text())
    summary = summarise(payload)
    full = list(payload["config"]["full_conditions"])
    summary["result"] = str(args.result)
    text = caution(summary, full)
    print(json.dumps(summary, indent=1))
    print("caution:", text)
    if args.dry_run:
        return
    if args.card_only:
        write_card(summary, text, full)
        return
    from pianoeval.data.root import find_data_root
    from pianoeval.rater.audio import AUDIO_DIR
    from pianoeval.train.audio import train_audio_rater

    root = find_data_root(args.data_root, dataset="percepiano")
    train_audio_rater(
        root,
        AUDIO_DIR,
        conditions=full,
        velocity=summary["velocity"],
        projections={},
        benchmark=summary,
        caution=text,
    )
    print(f"trained on {', '.join(full)}; saved to {AUDIO_DIR}")


if __name__ == "__main__":
    sys.exit(main())
