"""Score alignment and pseudo-labels: alignment quality, proxy validation, calibration.

    .venv/bin/python benchmarks/pseudo_labels.py [--data-root DIR] [--work DIR] [--jobs 2]
        [--asap-sample 50] [--reuse] [--fresh] [--no-write-calibration]
        [--score-source midi|score_midi|score_xml]

1. Builds the PercePiano and ASAP manifests in --work (kept there; never in the repo).
2. Aligns all 1189 labelled PercePiano segments to their excerpt's score (the row's
   score_uri: the canonical Score rendition in midi/, pianoeval.data.percepiano), one at a
   time in this process (imports warmed up first), and a seeded sample of ASAP performances
   to their midi_score.mid (anchored at every 8th annotated downbeat). --score-source
   replaces the PercePiano rows' scores by another source of the lookup (score_midi: what
   the 2026-11-22 result used), to measure what the score source changes.
3. Computes the proxies of every PercePiano segment and every ASAP window (stored in the
   content-addressed store --work/proxy_cache as each performance finishes: a rerun
   resumes; --fresh starts over), fits the pseudo-label calibration (scalers on PercePiano +
   ASAP, each weighted equally; validation and calibration on the committed excerpt split)
   and writes it to src/pianoeval/symbolic/pseudo/pseudo_calibration.json.
4. Writes both manifests with pseudo-labels to --work and records everything in
   benchmarks/results/pseudo_labels/<date>_<sha>.json; prints the Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _common import git_sha, sha256_files, write_result

from pianoeval.data import find_data_root
from pianoeval.data.percepiano import MEAN_LABELS
from pianoeval.data.pseudo_fit import fit_pseudo_calibration
from pianoeval.data.pseudo_labels import ProxyResult, compute_proxies, write_pseudo_labels
from pianoeval.data.splits import load_split
from pianoeval.manifest import read_manifest, uri_to_path
from pianoeval.symbolic.pseudo import CALIBRATION_PATH, PseudoCalibration


def _summary(values: list[float]) -> dict[str, float]:
    arr = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if arr.size == 0:
        return {}
    return {
        "mean": round(float(arr.mean()), 4),
        "median": round(float(np.median(arr)), 4),
        "p5": round(float(np.percentile(arr, 5)), 4),
        "p95": round(float(np.percentile(arr, 95)), 4),
        "min": round(float(arr.min()), 4),
        "max": round(float(arr.max()), 4),
    }


def align_percepiano(manifest: Path) -> dict[str, Any]:
    from pianoeval.symbolic.align import align, load_score, note_accuracy
    from pianoeval.symbolic.midi import load_midi

    segs = read_manifest(manifest, check_media=False)
    rows, failures, sources = [], [], {}
    first = next(s for s in segs if s.score_uri)
    align(  # imports (partitura, parangonar, torch)
        uri_to_path(first.midi_uri or "", manifest.parent),
        uri_to_path(first.score_uri or "", manifest.parent),
    )
    for seg in segs:
        midi = uri_to_path(seg.midi_uri or "", manifest.parent)
        if seg.score_uri is None:
            failures.append((seg.segment_id, "no score"))
            continue
        score_path = uri_to_path(seg.score_uri, manifest.parent)
        sources[score_path.parent.name] = sources.get(score_path.parent.name, 0) + 1
        t = time.perf_counter()
        try:
            perf, score = load_midi(midi), load_score(score_path)
            t_load = time.perf_counter()
            al = align(perf, score)
        except Exception as e:  # recorded, not fatal: the figure is the failure rate
            failures.append((seg.segment_id, f"{type(e).__name__}: {e}"))
            continue
        t_end = time.perf_counter()
        acc = note_accuracy(al)
        rows.append(
            {**acc, "align_sec": t_end - t_load, "total_sec": t_end - t, "work": seg.groups["work"]}
        )
    keys = ("match_rate", "missing_rate", "extra_rate", "wrong_pitch_rate", "f_measure")
    by_work = {
        w: {k: _summary([r[k] for r in rows if r["work"] == w])["mean"] for k in keys}
        | {"n": sum(r["work"] == w for r in rows)}
        for w in sorted({r["work"] for r in rows})
    }
    return {
        "n_segments": len(segs),
        "n_aligned": len(rows),
        "failures": failures,
        "score_source": sources,
        **{k: _summary([r[k] for r in rows]) for k in keys},
        "n_match_rate_below_0.8": sum(r["match_rate"] < 0.8 for r in rows),
        "align_sec": _summary([r["align_sec"] for r in rows]),
        "load_and_align_sec": _summary([r["total_sec"] for r in rows]),
        "by_work": by_work,
    }


def align_asap_sample(asap_root: Path, n: int, seed: int) -> dict[str, Any]:
    from pianoeval.data.asap import load_asap_metadata, read_annotations
    from pianoeval.errors import PianoEvalError
    from pianoeval.symbolic.align import align, anchors_from_downbeats, load_score, note_accuracy
    from pianoeval.symbolic.midi import load_midi

    perfs = load_asap_metadata(asap_root)
    random.Random(seed).shuffle(perfs)
    rows, skipped = [], []
    for p in perfs:
        if len(rows) >= n:
            break
        try:
            s_ann, p_ann = (
                read_annotations(p.score_annotations_path),
                read_annotations(p.annotations_path),
            )
            if s_ann.n_bars != p_ann.n_bars:
                skipped.append((p.name, "bar counts differ (repeats)"))
                continue
            t = time.perf_counter()
            perf = load_midi(p.midi_path)
            score = load_score(p.score_midi_path, downbeats_sec=s_ann.downbeats_sec)
            t_load = time.perf_counter()
            anchors = anchors_from_downbeats(p_ann.downbeats_sec, s_ann.downbeats_sec, every=8)
            al = align(perf, score, anchors=anchors)
            t_end = time.perf_counter()
        except PianoEvalError as e:
            skipped.append((p.name, str(e)))
            continue
        acc = note_accuracy(al)
        rows.append(
            {
                "name": p.name,
                "n_perf_notes": perf.n_notes,
                "n_score_notes": score.n_notes,
                **{k: round(v, 4) for k, v in acc.items()},
                "load_sec": round(t_load - t, 3),
                "align_sec": round(t_end - t_load, 3),
            }
        )
    keys = ("match_rate", "missing_rate", "extra_rate", "wrong_pitch_rate", "f_measure")
    return {
        "n": len(rows),
        "seed": seed,
        "skipped": skipped,
        **{k: _summary([r[k] for r in rows]) for k in keys},
        "n_match_rate_below_0.8": sum(r["match_rate"] < 0.8 for r in rows),
        "notes_per_performance": _summary([float(r["n_perf_notes"]) for r in rows]),
        "load_sec": _summary([r["load_sec"] for r in rows]),
        "align_sec": _summary([r["align_sec"] for r in rows]),
        "align_ms_per_note": _summary([1000 * r["align_sec"] / r["n_perf_notes"] for r in rows]),
        "performances": rows,
    }


def proxies_cached(
    manifest: Path, cache: Path, *, fresh: bool, jobs: int
) -> tuple[ProxyResult, int]:
    """Compute the proxies, resuming from the content-addressed store (``--fresh``: emptied)."""
    if fresh:
        shutil.rmtree(cache, ignore_errors=True)
    segs = read_manifest(manifest, check_media=False)
    result = compute_proxies(segs, base_dir=manifest.parent, jobs=jobs, progress=True, cache=cache)
    return result, result.n_cached


def validation_table(cal: dict[str, Any]) -> str:
    lines = [
        "| execution16 | proxy | human (sign) | rho train [95 % CI] | rho test | status | "
        "calibration | test R2 | test Spearman | test within-excerpt | conf |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def f(x: Any) -> str:
        return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.2f}"

    for dim, e in cal["dims"].items():
        proxy = f"{'−' if e.get('sign', 1) < 0 else '+'}{e['proxy']}" if "proxy" in e else "–"
        human = (
            f"{e['human'].split('.')[1]} ({'−' if e['human_sign'] < 0 else '+'})"
            if e.get("human")
            else "–"
        )
        chosen = next((c for c in e["candidates"] if c["proxy"] == e.get("proxy")), {})
        ci = chosen.get("rho_train_ci95") or [None, None]
        rho_tr = f"{f(e.get('rho_train'))} [{f(ci[0])}, {f(ci[1])}]" if e.get("human") else "–"
        c = e.get("calibration", {})
        t = c.get("test", {})
        lines.append(
            f"| {dim} | {proxy} | {human} | {rho_tr} | {f(e.get('rho_test'))} | {e['status']} | "
            f"{c.get('kind', '–')} | {f(t.get('r2'))} | {f(t.get('spearman'))} | "
            f"{f(t.get('within_excerpt_spearman'))} | {f(e.get('conf'))} |"
        )
    return "\n".join(lines)


def candidates_table(cal: dict[str, Any]) -> str:
    lines = [
        "| execution16 | candidate | rho train | rho test | rho all |",
        "|---|---|---|---|---|",
    ]
    for dim, e in cal["dims"].items():
        for c in e["candidates"]:
            if "rho_train" not in c:
                continue
            sign = "−" if c["sign"] < 0 else "+"
            lines.append(
                f"| {dim} | {sign}{c['proxy']} | {c['rho_train']:.3f} | {c['rho_test']:.3f} | "
                f"{c['rho_all']:.3f} |"
            )
    return "\n".join(lines)


def coverage(manifest: Path) -> dict[str, Any]:
    segs = read_manifest(manifest, check_media=False)
    dims: dict[str, list[float]] = {}
    confs: dict[str, list[float]] = {}
    for s in segs:
        for d, v in (s.pseudo_labels or {}).items():
            dims.setdefault(d, []).append(v)
            confs.setdefault(d, []).append((s.pseudo_conf or {}).get(d, math.nan))
    return {
        "n_rows": len(segs),
        "n_with_labels": sum(bool(s.pseudo_labels) for s in segs),
        "per_dim": {
            d: {
                "n": len(v),
                "mean": round(statistics.fmean(v), 4),
                "share_clipped": round(float(np.mean([(x in (0.0, 1.0)) for x in v])), 4),
                "mean_conf": round(statistics.fmean(confs[d]), 4),
            }
            for d, v in sorted(dims.items())
        },
    }


def with_score_source(manifest: Path, root: Path, source: str) -> Path:
    """Write a copy of the PercePiano manifest whose rows use another score source."""
    from pianoeval.data.percepiano import parse_name, percepiano_score_paths
    from pianoeval.manifest import path_to_uri, write_manifest

    scores = percepiano_score_paths(root, source=source)
    out = manifest.with_name(f"percepiano_{source}.jsonl")
    rows = [
        s.model_copy(
            update={"score_uri": path_to_uri(scores[parse_name(s.segment_id).excerpt], out.parent)}
        )
        for s in read_manifest(manifest, check_media=False)
    ]
    write_manifest(out, rows)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--work", default="/tmp/pianoeval_pseudo_labels")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--asap-sample", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse", action="store_true", help="reuse the manifests in --work")
    ap.add_argument("--fresh", action="store_true", help="ignore the proxy caches in --work")
    ap.add_argument("--no-write-calibration", action="store_true")
    ap.add_argument(
        "--score-source",
        default="midi",
        choices=["midi", "score_midi", "score_xml"],
        help="PercePiano score source (default: the canonical midi/ Score rendition)",
    )
    args = ap.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)

    from pianoeval.data.asap import build_asap_manifest
    from pianoeval.data.percepiano import build_percepiano_manifest

    root = find_data_root(args.data_root, dataset="percepiano")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    pp_manifest, asap_manifest = work / "percepiano.jsonl", work / "asap.jsonl"
    timings: dict[str, float] = {}
    if not (args.reuse and pp_manifest.is_file()):
        build_percepiano_manifest(root, pp_manifest, progress=False)
    if args.score_source != "midi":
        pp_manifest = with_score_source(pp_manifest, root, args.score_source)
    if not (args.reuse and asap_manifest.is_file()):
        t = time.perf_counter()
        build_asap_manifest(root, asap_manifest, progress=False, jobs=args.jobs)
        timings["asap_manifest_sec"] = round(time.perf_counter() - t, 1)

    print("aligning PercePiano ...", flush=True)
    t = time.perf_counter()
    pp_align = align_percepiano(pp_manifest)
    timings["percepiano_alignment_sec"] = round(time.perf_counter() - t, 1)
    print("aligning an ASAP sample ...", flush=True)
    t = time.perf_counter()
    asap_align = align_asap_sample(root / "asap", args.asap_sample, args.seed)
    timings["asap_alignment_sample_sec"] = round(time.perf_counter() - t, 1)

    print("proxies ...", flush=True)
    pp_proxies, pp_cached = proxies_cached(
        pp_manifest, work / "proxy_cache", fresh=args.fresh, jobs=args.jobs
    )
    asap_proxies, asap_cached = proxies_cached(
        asap_manifest, work / "proxy_cache", fresh=False, jobs=args.jobs
    )

    pp_segs = read_manifest(pp_manifest, check_media=False)
    split = load_split("excerpt")
    cal = fit_pseudo_calibration(
        pp_proxies.values,
        {s.segment_id: s.labels for s in pp_segs},
        {s.segment_id: s.groups["excerpt"] for s in pp_segs},
        test_ids=split.test,
        folds=split.folds,
        pool=[pp_proxies.values, asap_proxies.values],
        pool_description="PercePiano's labelled segments and every ASAP window, each dataset "
        "weighted equally",
    )
    date = time.strftime("%Y-%m-%d")
    cal = {
        "schema_version": cal.pop("schema_version"),
        "version": f"{date}_{git_sha()}",
        "fitted_by": "benchmarks/pseudo_labels.py",
        **cal,
    }
    calibration = PseudoCalibration(cal)
    if not args.no_write_calibration:
        calibration.save(CALIBRATION_PATH)

    print("writing pseudo-labelled manifests ...", flush=True)
    reports = {}
    for name, manifest, proxies in (
        ("percepiano", pp_manifest, pp_proxies),
        ("asap", asap_manifest, asap_proxies),
    ):
        out = work / f"{name}_pseudo.jsonl"
        rep = write_pseudo_labels(
            manifest, out, calibration=calibration, proxies=proxies, progress=False
        )
        reports[name] = {
            "manifest": str(out),
            "n_rows": rep.n_rows,
            "n_labelled": rep.n_labelled,
            "status_counts": rep.status_counts,
            "dims": rep.dims,
            "coverage": coverage(out),
        }

    payload = {
        "data": {
            "labels_sha256": sha256_files([root / "percepiano" / MEAN_LABELS]),
            "asap_metadata_sha256": sha256_files([root / "asap" / "metadata.csv"]),
            "n_percepiano": len(pp_segs),
            "n_asap_rows": len(asap_proxies.values),
        },
        "config": {
            "jobs": args.jobs,
            "asap_sample": args.asap_sample,
            "seed": args.seed,
            "split": "excerpt",
            "percepiano_score_source": args.score_source,
            "threshold": cal["threshold"],
            "scaling": cal["scaling"],
        },
        "timings": {
            **timings,
            "percepiano_proxies_sec": round(pp_proxies.seconds, 1),
            "percepiano_proxies_rows_from_cache": pp_cached,
            "asap_proxies_sec": round(asap_proxies.seconds, 1),
            "asap_proxies_rows_from_cache": asap_cached,
        },
        "alignment": {"percepiano": pp_align, "asap_sample": asap_align},
        "validation": {
            d: {
                k: e.get(k)
                for k in (
                    "status",
                    "proxy",
                    "sign",
                    "human",
                    "human_sign",
                    "rho_train",
                    "rho_test",
                    "rho_all",
                    "conf",
                    "fallback",
                    "calibration",
                    "candidates",
                )
            }
            for d, e in cal["dims"].items()
        },
        "calibration_version": cal["version"],
        "manifests": reports,
    }
    out = write_result("pseudo_labels", _clean(payload))
    print(validation_table(cal))
    print()
    print(candidates_table(cal))
    print()
    print(json.dumps({k: v for k, v in pp_align.items() if k != "failures"}, indent=1))
    print(json.dumps({k: v for k, v in asap_align.items() if k != "performances"}, indent=1))
    print(json.dumps(payload["timings"], indent=1))
    print(f"wrote {out}")


def _clean(obj: Any) -> Any:
    """JSON-ready: NaN/inf become null, numpy scalars plain numbers, tuples lists."""
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


if __name__ == "__main__":
    main()
