"""Labeling QC checked on PercePiano's raw ratings (issue 20).

    .venv/bin/python benchmarks/label_qc_percepiano.py [--data-root DIR]

Runs :func:`pianoeval.label.qc.qc_report` on PercePiano's per-rater answers
(:func:`pianoeval.label.qc.percepiano_answer_rows`: answer r at (r - 1) / 6, repeated
submissions as re-rates) and compares its ICC(1,1) and ICC(1,k) per dimension with the
reliability table of docs/data.md (the committed ``benchmarks/results/reliability`` result):
both go through ``icc_oneway`` on the same answers, so they must agree to 1e-9. Adds
Krippendorff's alpha (interval) and the rater figures QC's default thresholds are set by.
Writes benchmarks/results/label/qc_percepiano.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, git_sha, machine, sha256_files

from pianoeval.data import find_data_root
from pianoeval.data.percepiano import RAW_RATINGS, load_raw_ratings
from pianoeval.label.qc import percepiano_answer_rows, qc_report

TOLERANCE = 1e-9


def main() -> None:
    import datetime as dt
    import sys

    from pianoeval._versions import versions

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args()
    root = find_data_root(args.data_root, dataset="percepiano")
    reference_path = sorted((RESULTS / "reliability").glob("*.json"))[-1]
    reference = {
        d["dimension"]: d
        for d in json.loads(reference_path.read_text(encoding="utf-8"))["results"]["dimensions"]
    }

    t = time.perf_counter()
    report = qc_report(percepiano_answer_rows(load_raw_ratings(root)))
    seconds = round(time.perf_counter() - t, 2)

    rows = []
    for d in report.dimensions:
        ref = reference[d.dim]
        rows.append(
            {
                "dimension": d.dim,
                "icc1": d.icc1,
                "icc1_docs": ref["icc1"],
                "icc1k": d.icc1k,
                "icc1k_docs": ref["icc1k"],
                "alpha": d.alpha,
                "n_segments": d.n_segments,
            }
        )
    max_diff = max(
        max(abs(r["icc1"] - r["icc1_docs"]), abs(r["icc1k"] - r["icc1k_docs"])) for r in rows
    )

    def spread(name: str) -> dict[str, float]:
        v = np.array([getattr(r, name) for r in report.raters], dtype=np.float64)
        v = v[np.isfinite(v)]
        q = np.percentile(v, [0, 5, 50, 95, 100])
        return {
            "n": int(v.size),
            **dict(zip(["min", "p5", "median", "p95", "max"], q.tolist(), strict=True)),
        }

    record = {
        "schema_version": 1,
        "benchmark": "label_qc_percepiano",
        "date": dt.date.today().isoformat(),
        "git_sha": git_sha(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "versions": versions(),
        "data": {"raw_ratings_sha256": sha256_files([root / "percepiano" / RAW_RATINGS])},
        "reference": str(reference_path.relative_to(RESULTS.parent.parent)),
        "seconds": seconds,
        "results": {
            "max_abs_diff_icc_vs_docs": max_diff,
            "tolerance": TOLERANCE,
            "agree": bool(max_diff <= TOLERANCE),
            "n_raters": report.n_raters,
            "n_segments": report.n_segments,
            "n_answers": report.n_answers,
            "mean": {
                "icc1": report.mean("icc1"),
                "icc1k": report.mean("icc1k"),
                "alpha": report.mean("alpha"),
            },
            "dimensions": rows,
            "raters": {
                "agreement_r": spread("agreement_r"),
                "agreement_mae": spread("agreement_mae"),
                "rerate_diff": spread("rerate_diff"),
                "n_flagged_default_thresholds": len(report.flagged),
                "flags": {r.rater_id: r.flags for r in report.flagged},
            },
        },
    }
    out = RESULTS / "label" / "qc_percepiano.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")

    print("| dimension | ICC(1,1) QC | ICC(1,1) docs | ICC(1,k) QC | ICC(1,k) docs | alpha |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['dimension']} | {r['icc1']:.3f} | {r['icc1_docs']:.3f} | {r['icc1k']:.3f} "
            f"| {r['icc1k_docs']:.3f} | {r['alpha']:.3f} |"
        )
    print(
        f"| **mean** | {report.mean('icc1'):.3f} | | {report.mean('icc1k'):.3f} | "
        f"| {report.mean('alpha'):.3f} |"
    )
    print(f"max |QC - docs| = {max_diff:.2e}; flagged {len(report.flagged)} of {report.n_raters}")
    print(f"wrote {out}")
    if max_diff > TOLERANCE:
        raise SystemExit(f"QC's ICCs differ from docs/data.md's by {max_diff:.2e} > {TOLERANCE}")


if __name__ == "__main__":
    main()
