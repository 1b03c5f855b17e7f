"""Recital scaling: time and peak memory of the rater's features on 15/30/60-minute recitals.

A full recital must rate in near-linear time and memory (issue 16): on a synthetic recital
of about 7 notes a second, 60 minutes must peak under 1 GB without a score and under 2 GB
with one, take at most 5x the time of 15 minutes, and finish in under 2 minutes with a
score.

The recital is made in code (:func:`make_recital`): sections in changing keys and tempi,
a melody over an accompaniment in broken chords with a block chord on each
downbeat, the sustain pedal changed with every bar. The score is that music as written
(a score MIDI at the section tempi, 4/4); the performance plays it with smooth rubato,
onset jitter, chord asynchrony, a dynamics curve, varied durations, and a few missed,
extra and wrong notes.

Each size is measured in a fresh subprocess doing what the rater does
(:func:`pianoeval.symbolic.rater_inputs.rater_features`: ``extract_features(perf,
score=score)`` plus ``extract_features(score, score=score)``; without a score only the
first). Peak memory is the child's peak resident set size (``ru_maxrss``), imports
included; time is the wall time of the feature computation (MIDI reading included,
imports not).

    nice -n 5 .venv/bin/python benchmarks/recital_scaling.py
    nice -n 5 .venv/bin/python benchmarks/recital_scaling.py --src /tmp/before/src \
        --label before --merge RESULT.json     # the same on another checkout's src/
    .venv/bin/python benchmarks/recital_scaling.py --markdown RESULT.json   # docs table
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

SIZES_MIN = (15, 30, 60)
#: Targets from the issue.
TARGETS = {
    "peak_mb_no_score_60": 1024.0,
    "peak_mb_score_60": 2048.0,
    "time_ratio_60_15": 5.0,
    "seconds_score_60": 120.0,
}
SEED = 16

#: Chord progressions (scale degrees as root offsets in semitones, major/minor quality).
_PROGRESSION = ((0, "M"), (5, "M"), (7, "M"), (0, "M"), (9, "m"), (2, "m"), (7, "M"), (0, "M"))
_MAJOR_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])
#: Rhythm of the melody in each bar (beats): 6 notes, so a bar holds 17 notes in all.
_MELODY_BEATS = (1.0, 0.5, 0.5, 1.0, 0.5, 0.5)


def make_recital(minutes: float, seed: int = SEED) -> tuple[Any, Any]:
    """Return ``(performance, score)`` pretty_midi objects of a synthetic recital.

    Parameters
    ----------
    minutes : float
        Length of the score at its notated tempi.
    seed : int
        Seed of every random choice (the same seed gives the same files).
    """
    import pretty_midi

    rng = np.random.default_rng(seed)
    score_notes: list[tuple[float, float, int, int]] = []  # onset, offset, pitch, velocity
    tempo_changes: list[tuple[float, float]] = []  # (score sec, bpm)
    t = 0.0
    section = 0
    while t < minutes * 60.0:
        bpm = float(rng.choice([84.0, 96.0, 104.0, 112.0, 120.0]))
        beat = 60.0 / bpm
        key = int(rng.integers(0, 12))
        tempo_changes.append((t, bpm))
        for bar in range(16):  # a section is 16 bars of 4/4
            root, quality = _PROGRESSION[bar % len(_PROGRESSION)]
            third = 4 if quality == "M" else 3
            chord = [36 + (key + root) % 12 + k for k in (0, third, 7)]
            bar_t = t + bar * 4 * beat
            for p in chord:  # block chord on the downbeat, held for the bar
                score_notes.append((bar_t, bar_t + 4 * beat, p + 12, 70))
            for b in range(4):  # broken chord in eighths in the left hand
                for half in range(2):
                    on = bar_t + (b + 0.5 * half) * beat
                    p = chord[(2 * b + half) % 3] + 12 * (1 + (half + b) % 2)
                    score_notes.append((on, on + 0.5 * beat, p, 55))
            degree = int(rng.integers(0, 7))
            pos = 0.0
            for length in _MELODY_BEATS:  # the melody: a random walk on the scale
                degree = int(np.clip(degree + rng.integers(-2, 3), 0, 13))
                p = 72 + key % 12 + int(_MAJOR_SCALE[degree % 7]) + 12 * (degree // 7)
                on = bar_t + pos * beat
                score_notes.append((on, on + length * beat, p, 80))
                pos += length
        t += 16 * 4 * beat
        section += 1
    score = np.array(score_notes, dtype=np.float64)
    score = score[score[:, 0] < minutes * 60.0]  # the last section stops at the length asked
    score = score[np.lexsort((score[:, 2], score[:, 0]))]

    # the performance: a smooth tempo curve, jitter, asynchrony, dynamics, mistakes
    s_on, s_off = score[:, 0], score[:, 1]
    grid = np.linspace(0.0, s_off.max() + 1.0, int(s_off.max() / 2.0) + 2)
    rate = 1.0 + 0.08 * np.sin(grid / 7.0) + 0.04 * np.sin(grid / 1.9 + 1.0)
    perf_time = np.concatenate([[0.0], np.cumsum(np.diff(grid) * rate[:-1])])

    def warp(x: np.ndarray) -> np.ndarray:
        return np.interp(x, grid, perf_time)

    p_on = warp(s_on) + rng.normal(0.0, 0.012, len(s_on))
    p_on += (score[:, 2] < 60) * rng.uniform(0.0, 0.025, len(s_on))  # left hand a bit late
    p_dur = (warp(s_off) - warp(s_on)) * rng.uniform(0.7, 1.05, len(s_on))
    dyn = 1.0 + 0.25 * np.sin(s_on / 11.0)
    vel = np.clip(score[:, 3] * dyn + rng.normal(0, 6, len(s_on)), 15, 120)
    pitch = score[:, 2].copy()
    keep = rng.random(len(s_on)) > 0.01  # 1 % missed
    wrong = rng.random(len(s_on)) < 0.005  # 0.5 % wrong pitch
    pitch[wrong] += rng.choice([-2.0, -1.0, 1.0, 2.0], int(wrong.sum()))
    n_extra = int(0.01 * len(s_on))  # 1 % extra notes
    x_on = rng.uniform(0.0, float(p_on.max()), n_extra)
    perf = np.concatenate(
        [
            np.stack([p_on, p_dur, pitch, vel], axis=1)[keep],
            np.stack(
                [x_on, np.full(n_extra, 0.12), rng.integers(40, 90, n_extra), np.full(n_extra, 50)],
                axis=1,
            ),
        ]
    )
    perf[:, 0] = np.maximum(perf[:, 0], 0.0)

    pm_perf = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(program=0)
    for on, dur, p, v in perf:
        inst.notes.append(pretty_midi.Note(int(v), int(p), float(on), float(on + max(dur, 0.03))))
    # sustain pedal: down just after each performed downbeat, up just before the next
    bar_starts = np.unique(s_on[(score[:, 3] == 70)])
    for b0, b1 in itertools.pairwise(bar_starts):
        down, up = warp(np.array([b0]))[0] + 0.06, warp(np.array([b1]))[0] - 0.04
        inst.control_changes.append(pretty_midi.ControlChange(64, 100, float(down)))
        inst.control_changes.append(pretty_midi.ControlChange(64, 0, float(up)))
    pm_perf.instruments.append(inst)

    pm_score = pretty_midi.PrettyMIDI(initial_tempo=tempo_changes[0][1])
    # pretty_midi writes one tempo; rebuild the tempo map through its private tick scale
    ticks_per_beat = pm_score.resolution
    tick_scales = []
    tick = 0.0
    for k, (sec, bpm) in enumerate(tempo_changes):
        if k:
            prev_sec, prev_bpm = tempo_changes[k - 1]
            tick += (sec - prev_sec) * prev_bpm / 60.0 * ticks_per_beat
        tick_scales.append((round(tick), 60.0 / (bpm * ticks_per_beat)))
    pm_score._tick_scales = tick_scales
    pm_score._update_tick_to_time(round(tick) + 100 * ticks_per_beat * 64)
    pm_score.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    s_inst = pretty_midi.Instrument(program=0)
    for on, off, p, v in score:
        s_inst.notes.append(pretty_midi.Note(int(v), int(p), float(on), float(off)))
    pm_score.instruments.append(s_inst)
    return pm_perf, pm_score


_CHILD = r"""
import json, resource, sys, time
t_import = time.perf_counter()
import pianoeval
from pianoeval.symbolic.features import extract_features
t0 = time.perf_counter()
perf, score = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
feats = extract_features(perf, score=score)
if score is not None:
    extract_features(score, score=score)
seconds = time.perf_counter() - t0
print(json.dumps({
    "seconds": seconds,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    "pianoeval": pianoeval.__file__,
    "match_frac_perf": feats.get("score.match_frac_perf"),
}))
"""


def measure(perf: Path, score: Path | None, src: Path | None) -> dict[str, Any]:
    """Run the rater's features on one file pair in a fresh Python; return time and memory."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src) + os.pathsep + env.get("PYTHONPATH", "")
    args = [sys.executable, "-c", _CHILD, str(perf)] + ([str(score)] if score else [])
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"child failed on {perf.name}:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(sizes: tuple[int, ...], src: Path | None, workdir: Path) -> list[dict[str, Any]]:
    """Measure every size without and with a score."""
    rows = []
    for minutes in sizes:
        pm_perf, pm_score = make_recital(minutes)
        perf_path = workdir / f"recital_{minutes}min.mid"
        score_path = workdir / f"recital_{minutes}min_score.mid"
        pm_perf.write(str(perf_path))
        pm_score.write(str(score_path))
        n_notes = sum(len(i.notes) for i in pm_perf.instruments)
        n_score = sum(len(i.notes) for i in pm_score.instruments)
        for with_score in (False, True):
            m = measure(perf_path, score_path if with_score else None, src)
            row = {
                "minutes": minutes,
                "with_score": with_score,
                "n_notes": n_notes,
                "n_score_notes": n_score,
                "notes_per_sec": round(n_notes / (60.0 * minutes), 2),
                "seconds": round(m["seconds"], 2),
                "peak_mb": round(m["peak_mb"], 1),
                "match_frac_perf": m["match_frac_perf"],
                "module": m["pianoeval"],
            }
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    return rows


def checks(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets against one run's rows."""

    def get(minutes: int, with_score: bool, key: str) -> float | None:
        for r in rows:
            if r["minutes"] == minutes and r["with_score"] == with_score:
                return float(r[key])
        return None

    out: dict[str, Any] = {}
    no60, sc60 = get(60, False, "peak_mb"), get(60, True, "peak_mb")
    t15, t60 = get(15, True, "seconds"), get(60, True, "seconds")
    t15n, t60n = get(15, False, "seconds"), get(60, False, "seconds")
    if no60 is not None:
        out["peak_mb_no_score_60"] = {"value": no60, "max": TARGETS["peak_mb_no_score_60"]}
    if sc60 is not None:
        out["peak_mb_score_60"] = {"value": sc60, "max": TARGETS["peak_mb_score_60"]}
    if t15 and t60:
        out["time_ratio_60_15_score"] = {
            "value": round(t60 / t15, 2),
            "max": TARGETS["time_ratio_60_15"],
        }
    if t15n and t60n:
        out["time_ratio_60_15_no_score"] = {
            "value": round(t60n / t15n, 2),
            "max": TARGETS["time_ratio_60_15"],
        }
    if t60 is not None:
        out["seconds_score_60"] = {"value": t60, "max": TARGETS["seconds_score_60"]}
    for v in out.values():
        v["ok"] = v["value"] <= v["max"]
    return out


def markdown(result: dict[str, Any]) -> str:
    """The docs table: after (and before, when recorded) per size and score."""
    lines = [
        "| minutes | notes | score | seconds | peak MB | seconds before | peak MB before |",
        "| ---: | ---: | :---: | ---: | ---: | ---: | ---: |",
    ]
    before = {(r["minutes"], r["with_score"]): r for r in result.get("before", {}).get("rows", [])}
    for r in result["rows"]:
        b = before.get((r["minutes"], r["with_score"]), {})
        lines.append(
            f"| {r['minutes']} | {r['n_notes']:,} | {'yes' if r['with_score'] else 'no'} | "
            f"{r['seconds']:.1f} | {r['peak_mb']:.0f} | "
            f"{b.get('seconds', float('nan')):.1f} | {b.get('peak_mb', float('nan')):.0f} |"
        )
    lines.append("")
    for name, c in result.get("checks", {}).items():
        lines.append(f"- {name}: {c['value']} (limit {c['max']}): {'met' if c['ok'] else 'MISSED'}")
    return "\n".join(lines)


def main() -> None:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default=",".join(map(str, SIZES_MIN)), help="minutes, comma list")
    ap.add_argument("--src", type=Path, help="measure this src/ folder instead of the installed")
    ap.add_argument("--label", default="after", help="'after' or 'before' (with --merge)")
    ap.add_argument("--merge", type=Path, help="add this run to an existing result JSON")
    ap.add_argument("--markdown", type=Path, help="print the docs table of a result JSON")
    args = ap.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return
    sizes = tuple(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        rows = run(sizes, args.src, Path(tmp))
    run_record = {
        "rows": rows,
        "checks": checks(rows),
        "src": str(args.src) if args.src else "installed",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    if args.merge:
        data = json.loads(args.merge.read_text())
        data[args.label] = run_record
        args.merge.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(args.merge)
        return
    payload = {
        "machine_note": "2-core VM shared by five engineers at the time: timings are noisy",
        "seed": SEED,
        "targets": TARGETS,
        **run_record,
    }
    print(write_result("recital_scaling", payload))


if __name__ == "__main__":
    main()
