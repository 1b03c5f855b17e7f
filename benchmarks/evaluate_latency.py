"""Latency of rating a performance: a 20 s MIDI and a 20 s recording on 1 core, 5 minutes on 2.

Issue 19's targets: a 20 s MIDI clip rated warm on one core in at most 150 ms (p50 and p95),
a 20 s audio clip per stage, and a 5-minute recording end to end on two cores in at most
2 minutes, per stage.

Each part runs in its own child process, pinned before anything numeric is imported
(``os.sched_setaffinity``; OMP/MKL/OPENBLAS threads set to the number of cores, which also
fixes LightGBM's OpenMP threads; torch threads likewise):

* ``midi`` (core 0): the PercePiano performance segment whose music span is closest to
  ``--seconds`` among those with an excerpt score (``percepiano_score_paths``, canonical
  ``midi`` source). Four calls: :func:`pianoeval.rater.evaluate` and
  :func:`pianoeval.rater.evaluate_performance`, each with and without the score, each given
  the MIDI path (the file is read every call, as a user's request would be). ``--warmup``
  untimed calls, then ``--midi-runs`` timed ones: p50, p95, mean, and the medians of the
  ``timings`` stages. When a p50 or p95 is above the target, ``--profile-runs`` calls of each
  ``evaluate_performance`` configuration run under cProfile and the top functions are kept.
* ``audio`` (core 0): that segment rendered by FluidSynth (FluidR3_GM, 22050 Hz FLAC), rated
  with :func:`evaluate_performance` (audio rater, with the score) ``--audio-runs`` times after
  one warm-up; each call gets a fresh ``PIANOEVAL_CACHE`` so transkun really transcribes.
* ``long`` (cores 0-1): the bundled example performance repeated end to end to at least
  ``--long-seconds`` (its score repeated with it, so bars are measured), rendered the same
  way and rated once with :func:`evaluate_performance` after a warm-up on the 20 s clip,
  with a fresh cache.

The 1-minute load average is recorded around every part: the host may be shared.
Results go to ``benchmarks/results/evaluate_latency/<date>_<sha>.json``.

    .venv/bin/python benchmarks/evaluate_latency.py [--parts midi,audio,long] [--midi-runs 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_MIDI_SEC = 0.150
TARGET_LONG_SEC = 120.0
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_PART_CORES = {"midi": 1, "audio": 1, "long": 2}


def _pin(n_cores: int) -> None:
    """Pin this process to its first ``n_cores`` cores, before numpy/LightGBM/torch load."""
    os.sched_setaffinity(0, set(range(n_cores)))
    for var in _THREAD_VARS:
        os.environ[var] = str(n_cores)


def _stats(walls: list[float]) -> dict[str, Any]:
    import numpy as np

    a = np.asarray(walls)
    return {
        "n": len(walls),
        "p50_ms": round(float(np.percentile(a, 50)) * 1e3, 2),
        "p95_ms": round(float(np.percentile(a, 95)) * 1e3, 2),
        "mean_ms": round(float(a.mean()) * 1e3, 2),
        "min_ms": round(float(a.min()) * 1e3, 2),
        "max_ms": round(float(a.max()) * 1e3, 2),
    }


def _stage_medians(timings: list[dict[str, float]]) -> dict[str, float]:
    import numpy as np

    keys = list(dict.fromkeys(k for t in timings for k in t))
    return {k: round(float(np.median([t.get(k, 0.0) for t in timings])) * 1e3, 2) for k in keys}


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def pick_segment(data_root: Path, seconds: float) -> tuple[str, Path, Path, float]:
    """The performer segment with an excerpt score whose music span is closest to ``seconds``."""
    from pianoeval.data.percepiano import parse_name, percepiano_midi_paths, percepiano_score_paths
    from pianoeval.rater.evaluate import music_span_sec
    from pianoeval.symbolic.midi import load_midi

    scores = percepiano_score_paths(data_root)
    best: tuple[float, str, Path, Path, float] | None = None
    for sid, path in percepiano_midi_paths(data_root).items():
        name = parse_name(sid)
        if name.is_score_rendition or name.excerpt not in scores:
            continue
        span = music_span_sec(load_midi(path))
        cand = (abs(span - seconds), sid, path, scores[name.excerpt], span)
        if best is None or cand[:2] < best[:2]:
            best = cand
    if best is None:
        raise SystemExit(f"no PercePiano segment with a score under {data_root}")
    return best[1], best[2], best[3], round(best[4], 3)


def _render(midi: Path, out: Path) -> float:
    """Render ``midi`` with FluidR3_GM to a 22050 Hz FLAC; return its length in seconds."""
    import soundfile as sf

    from pianoeval.render import DEFAULT_SR
    from pianoeval.render.synth import render_performance
    from pianoeval.symbolic.midi import load_midi

    y = render_performance(load_midi(midi), soundfont="fluidr3_gm", sr=DEFAULT_SR)
    sf.write(out, y, DEFAULT_SR)
    return round(len(y) / DEFAULT_SR, 3)


def _repeat_midi(src: Path, out: Path, *, period_sec: float, times: int) -> None:
    """Write ``src`` played ``times`` times, one every ``period_sec`` (tempo and metre kept)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(src))
    tempi = pm.get_tempo_changes()[1]
    new = pretty_midi.PrettyMIDI(initial_tempo=float(tempi[0]), resolution=pm.resolution)
    new.time_signature_changes = list(pm.time_signature_changes)
    for inst in pm.instruments:
        dst = pretty_midi.Instrument(program=inst.program, is_drum=inst.is_drum, name=inst.name)
        for k in range(times):
            off = k * period_sec
            dst.notes += [
                pretty_midi.Note(velocity=n.velocity, pitch=n.pitch, start=n.start + off,
                                 end=n.end + off)
                for n in inst.notes
            ]  # fmt: skip
            dst.control_changes += [
                pretty_midi.ControlChange(number=c.number, value=c.value, time=c.time + off)
                for c in inst.control_changes
            ]
        new.instruments.append(dst)
    new.write(str(out))


def _fresh_cache(tmp: Path, tag: str) -> None:
    os.environ["PIANOEVAL_CACHE"] = str(tmp / f"cache_{tag}")


def part_midi(args: argparse.Namespace, seg: dict[str, Any]) -> dict[str, Any]:
    import cProfile
    import pstats

    from pianoeval.rater import default_rater, evaluate
    from pianoeval.rater.performance import evaluate_performance

    rater = default_rater()
    midi, score = Path(seg["midi"]), Path(seg["score"])
    calls = {
        "evaluate/no_score": lambda: evaluate(midi, rater=rater),
        "evaluate/score": lambda: evaluate(midi, score=score, rater=rater),
        "evaluate_performance/no_score": lambda: evaluate_performance(midi, rater=rater),
        "evaluate_performance/score": lambda: evaluate_performance(midi, score=score, rater=rater),
    }
    out: dict[str, Any] = {"load_avg_before": _loadavg(), "calls": {}}
    for name, call in calls.items():
        for _ in range(args.warmup):
            call()
        walls, timings = [], []
        score_used = None
        for _ in range(args.midi_runs):
            t0 = time.perf_counter()
            r = call()
            walls.append(time.perf_counter() - t0)
            timings.append(dict(r.timings))
            score_used = r.score is not None and r.score.used
        entry = {**_stats(walls), "score_used": score_used}
        if timings[0]:
            entry["stage_median_ms"] = _stage_medians(timings)
        out["calls"][name] = entry
        print(name, entry, flush=True)
    out["load_avg_after"] = _loadavg()
    target_ms = TARGET_MIDI_SEC * 1e3
    slow = [n for n, e in out["calls"].items() if max(e["p50_ms"], e["p95_ms"]) > target_ms]
    if slow and args.profile_runs:
        out["profile"] = {}
        for name in ("evaluate_performance/no_score", "evaluate_performance/score"):
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(args.profile_runs):
                calls[name]()
            prof.disable()
            st = pstats.Stats(prof)
            total = max(st.total_tt, 1e-12)  # type: ignore[attr-defined]
            rows = []
            for (file, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
                rows.append({
                    "function": f"{_short(file)}:{line}({func})",
                    "calls_per_run": round(nc / args.profile_runs, 1),
                    "cum_ms_per_run": round(ct / args.profile_runs * 1e3, 2),
                    "self_ms_per_run": round(tt / args.profile_runs * 1e3, 2),
                    "cum_share": round(ct / total, 4),
                })  # fmt: skip
            out["profile"][name] = {
                "runs": args.profile_runs,
                "profiled_ms_per_run": round(total / args.profile_runs * 1e3, 2),
                "top_cumulative": sorted(rows, key=lambda r: -r["cum_ms_per_run"])[:45],
                "top_self": sorted(rows, key=lambda r: -r["self_ms_per_run"])[:25],
            }
    return out


def _short(file: str) -> str:
    for marker in ("site-packages/", "src/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def _audio_rating(path: Path, score: Path | None, rater: Any, audio: Any) -> dict[str, Any]:
    from pianoeval.rater.performance import evaluate_performance

    t0 = time.perf_counter()
    r = evaluate_performance(path, score=score, rater=rater, audio_rater=audio)
    wall = time.perf_counter() - t0
    assert r.input.transcription is not None
    assert not r.input.transcription.cached, "the transcription came from a cache"
    stages = {k: round(v, 3) for k, v in r.timings.items()}
    if "transcribe" in stages:
        stages["read_besides_transcribe"] = round(stages["read"] - stages["transcribe"], 3)
    return {
        "wall_sec": round(wall, 3),
        "stages_sec": stages,
        "model_id": r.model_id,
        "score_used": r.score is not None and r.score.used,
        "n_windows": len(r.windows),
        "n_bars": len(r.bars),
        "music_sec": r.input.music_sec,
    }


def _audio_setup(n_threads: int) -> tuple[Any, Any]:
    import torch

    from pianoeval.rater import default_rater
    from pianoeval.rater.audio import default_audio_rater

    torch.set_num_threads(n_threads)
    audio = default_audio_rater()
    if audio is None:
        raise SystemExit("no audio rater installed")
    return default_rater(), audio


def part_audio(args: argparse.Namespace, seg: dict[str, Any], tmp: Path) -> dict[str, Any]:
    import numpy as np

    clip = tmp / "clip20.flac"
    audio_sec = _render(Path(seg["midi"]), clip)
    rater, audio = _audio_setup(1)
    score = Path(seg["score"])
    _fresh_cache(tmp, "warm")
    _audio_rating(clip, score, rater, audio)  # transkun and the raters loaded and run once
    out: dict[str, Any] = {"audio_sec": audio_sec, "load_avg_before": _loadavg(), "runs": []}
    for k in range(args.audio_runs):
        _fresh_cache(tmp, f"run{k}")
        run = _audio_rating(clip, score, rater, audio)
        out["runs"].append(run)
        print("audio", run, flush=True)
    out["load_avg_after"] = _loadavg()
    keys = list(out["runs"][0]["stages_sec"])
    out["median_stages_sec"] = {
        k: round(float(np.median([r["stages_sec"].get(k, 0.0) for r in out["runs"]])), 3)
        for k in keys
    }
    out["median_wall_sec"] = round(float(np.median([r["wall_sec"] for r in out["runs"]])), 3)
    return out


def part_long(args: argparse.Namespace, seg: dict[str, Any], tmp: Path) -> dict[str, Any]:
    import math

    from pianoeval.examples import example_midi_path, example_score_path
    from pianoeval.symbolic.midi import load_midi

    # the example (16 bars of 3/4 at 96 bpm: exactly 30 s of score) every `period` seconds
    perf_end = load_midi(example_midi_path()).end_sec
    period = float(math.ceil(perf_end))
    times = math.ceil(args.long_seconds / period)
    long_midi, long_score = tmp / "long.mid", tmp / "long_score.mid"
    _repeat_midi(example_midi_path(), long_midi, period_sec=period, times=times)
    _repeat_midi(example_score_path(), long_score, period_sec=30.0, times=times)
    long_audio = tmp / "long.flac"
    t0 = time.perf_counter()
    audio_sec = _render(long_midi, long_audio)
    render_sec = time.perf_counter() - t0
    rater, audio = _audio_setup(_PART_CORES["long"])
    clip = tmp / "clip20_warm.flac"
    _render(Path(seg["midi"]), clip)
    _fresh_cache(tmp, "long_warm")
    _audio_rating(clip, Path(seg["score"]), rater, audio)  # warm the process
    _fresh_cache(tmp, "long")
    before = _loadavg()
    run = _audio_rating(long_audio, long_score, rater, audio)
    print("long", run, flush=True)
    return {
        "source": f"bundled example performance x{times}, one every {period:.0f} s, with its "
        "score repeated (30 s each)",
        "audio_sec": audio_sec,
        "render_sec": round(render_sec, 3),
        "load_avg_before": before,
        "load_avg_after": _loadavg(),
        "run": run,
    }


def _child(args: argparse.Namespace) -> int:
    part = args.child
    _pin(_PART_CORES[part])
    seg = json.loads(args.segment_json)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        _fresh_cache(tmp, "setup")
        if part == "midi":
            res = part_midi(args, seg)
        elif part == "audio":
            res = part_audio(args, seg, tmp)
        else:
            res = part_long(args, seg, tmp)
    res["cores"] = sorted(os.sched_getaffinity(0))
    res["threads"] = {v: os.environ[v] for v in _THREAD_VARS}
    Path(args.child_out).write_text(json.dumps(res), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--parts", default="midi,audio,long")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the short clip")
    ap.add_argument("--data-root", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--midi-runs", type=int, default=50)
    ap.add_argument("--profile-runs", type=int, default=20)
    ap.add_argument("--audio-runs", type=int, default=3)
    ap.add_argument("--long-seconds", type=float, default=300.0)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--child", choices=sorted(_PART_CORES), help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    ap.add_argument("--segment-json", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return _child(args)

    from _common import sha256_files, write_result

    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - set(_PART_CORES)
    if unknown:
        raise SystemExit(f"unknown parts {sorted(unknown)}; use {sorted(_PART_CORES)}")
    sid, midi, score, span = pick_segment(args.data_root, args.seconds)
    seg = {"segment_id": sid, "midi": str(midi), "score": str(score), "music_sec": span}
    print("segment", seg, flush=True)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        for part in parts:
            out = Path(tmp_dir) / f"{part}.json"
            cmd = [sys.executable, __file__, "--child", part, "--child-out", str(out),
                   "--segment-json", json.dumps(seg), "--warmup", str(args.warmup),
                   "--midi-runs", str(args.midi_runs), "--profile-runs", str(args.profile_runs),
                   "--audio-runs", str(args.audio_runs),
                   "--long-seconds", str(args.long_seconds)]  # fmt: skip
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True)
            results[part] = json.loads(out.read_text(encoding="utf-8"))
            results[part]["part_wall_sec"] = round(time.perf_counter() - t0, 1)
    payload = {
        "config": {
            "parts": parts,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "midi_runs": args.midi_runs,
            "profile_runs": args.profile_runs,
            "audio_runs": args.audio_runs,
            "long_seconds": args.long_seconds,
            "soundfont": "fluidr3_gm",
            "cores": {p: _PART_CORES[p] for p in parts},
        },
        "segment": {
            "segment_id": sid,
            "score": score.name,
            "music_sec": span,
            "midi_sha256": sha256_files([midi]),
        },
        "targets": {
            "midi_p50_p95_ms": TARGET_MIDI_SEC * 1e3,
            "long_end_to_end_sec": TARGET_LONG_SEC,
        },
        "note": "timed on a shared 2-core host running a background corpus job: see load_avg_*",
        **results,
    }
    print(json.dumps(payload, indent=1)[:4000])
    if not args.no_write:
        print("wrote", write_result("evaluate_latency", payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
