"""Build the acoustic out-of-distribution check: is this a solo piano recording? (issue 18).

The rater's OOD model reads what is played; a harpsichord or two pianists at once are
transcribed as a plausible piano performance and pass it. This script trains a
classifier on *acoustic* descriptors (:mod:`pianoeval.audio.acoustic`) with outlier
exposure: PercePiano's MIDI rendered as piano (positives) and as other General MIDI
instruments or two performances mixed (negatives), with and without recording-like
degradations, then measures it on what it never saw:

- pianos: the performer-test segments on csound's GM piano (a renderer held out of
  training), clean and recording-like, and the training pianos recording-like;
- instruments held out of the negatives: harpsichord, clavinet, dulcimer;
- duets made from the performer-test segments.

    .venv/bin/python benchmarks/acoustic_ood.py build      # features (cached, resumable)
    .venv/bin/python benchmarks/acoustic_ood.py fit --store  # fit, measure, ship
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from pianoeval._cache import cache_root
from pianoeval.audio.acoustic import (
    ACOUSTIC_COLUMNS,
    ACOUSTIC_PREFIX,
    RHYTHM_COLUMNS,
    TIMBRE_COLUMNS,
    acoustic_features,
)
from pianoeval.data.percepiano import percepiano_midi_paths
from pianoeval.data.root import find_data_root
from pianoeval.data.splits import group_of, load_split

SR = 22050
MAX_SEC = 20.0
TRAIN_FONTS = ("fluidr3_gm", "musescore_general", "timgm6mb")
HELD_OUT_FONT = "csound_gm"
#: General MIDI programs used as negatives (0-based): electric pianos, chromatic
#: percussion, organs, guitars, basses, strings, ensembles, brass, reeds, pipes, leads,
#: pads, ethnic plucked. The held-out instruments are never among them.
NEG_PROGRAMS = (
    4, 5, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 21, 22, 24, 25, 26, 27, 28, 29,
    32, 33, 40, 41, 42, 45, 46, 48, 49, 52, 56, 57, 60, 61, 64, 65, 68, 71, 73, 75, 80,
    81, 88, 89, 104, 105, 106, 107, 108,
)  # fmt: skip
#: Plucked and struck keyboards/strings closest to a piano: measured, never trained on.
HELD_OUT_PROGRAMS = {"harpsichord": 6, "clavinet": 7, "dulcimer": 15}
CACHE = cache_root() / "acoustic_ood"


_SYNTHS: dict[str, Any] = {}


def _render(pm: Any, font: str) -> np.ndarray:
    """Render with one FluidSynth per SoundFont, kept (loading an .sf3 takes seconds)."""
    import fluidsynth

    from pianoeval.render import get_soundfont

    if font not in _SYNTHS:
        synth = fluidsynth.Synth(samplerate=float(SR))
        synth.sfload(str(get_soundfont(font).path))
        _SYNTHS[font] = synth
    y = np.asarray(pm.fluidsynth(fs=SR, synthesizer=_SYNTHS[font], sfid=1))
    return y[: int(MAX_SEC * SR)].astype(np.float32)


def _load(path: Path, *, program: int = 0, semitones: int = 0, stretch: float = 1.0) -> Any:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(path))
    for inst in pm.instruments:
        inst.program, inst.is_drum = program, False
        for n in inst.notes:
            n.pitch = int(np.clip(n.pitch + semitones, 21, 108))
            n.start, n.end = n.start * stretch, n.end * stretch
        for c in inst.control_changes:
            c.time *= stretch
    return pm


def _augment(y: np.ndarray, rng: np.random.Generator, seed: int) -> np.ndarray:
    """Recording-like degradations drawn at random (room, tilt, noise, band limit, MP3)."""
    from pianoeval.render import Augment, apply_augment

    kw: dict[str, Any] = {"gain_db": float(rng.uniform(-12, 0))}
    if rng.random() < 0.7:
        kw |= {"reverb_rt60_sec": float(rng.uniform(0.2, 1.6)),
               "reverb_wet": float(rng.uniform(0.1, 0.5))}  # fmt: skip
    if rng.random() < 0.5:
        kw["tilt_db_per_octave"] = float(rng.uniform(-3, 3))
    if rng.random() < 0.6:
        kw["snr_db"] = float(rng.uniform(18, 45))
    if rng.random() < 0.3:
        kw["lowpass_hz"] = float(rng.choice([3500.0, 5000.0, 8000.0]))
    if rng.random() < 0.2:
        kw["highpass_hz"] = float(rng.choice([80.0, 150.0, 300.0]))
    if rng.random() < 0.5:
        kw["mp3_kbps"] = int(rng.choice([48, 64, 96, 128]))
    return apply_augment(y, SR, Augment(**kw, seed=seed), file_seed=seed)


def jobs(root: Path, seed: int = 0) -> list[dict[str, Any]]:
    """Every clip to render: a dict with key, split, label (1 piano, 0 not), kind, recipe."""
    midis = percepiano_midi_paths(root)
    test_ids = set(load_split("performer").test)
    ids = sorted(midis)
    train = [i for i in ids if i not in test_ids]
    test = [i for i in ids if i in test_ids]
    rng = np.random.default_rng(seed)
    out: list[dict[str, Any]] = []

    def add(split: str, label: int, kind: str, **recipe: Any) -> None:
        key = f"{split}/{kind}/{len(out)}"
        out.append({"key": key, "split": split, "label": label, "kind": kind, **recipe,
                    "seed": int(rng.integers(2**31))})  # fmt: skip

    for sid in train:
        add("train", 1, "piano", a=sid, font=str(rng.choice(TRAIN_FONTS)),
            program=int(rng.choice([0, 0, 0, 1])), aug=bool(rng.random() < 0.5))  # fmt: skip
    for _ in range(800):
        add("train", 0, "instrument", a=str(rng.choice(train)), font=str(rng.choice(TRAIN_FONTS)),
            program=int(rng.choice(NEG_PROGRAMS)), aug=bool(rng.random() < 0.5))  # fmt: skip
    for k in range(800):
        add("train", 0, "duet", **_duet(rng, train, k), font=str(rng.choice(TRAIN_FONTS)),
            aug=bool(rng.random() < 0.5))  # fmt: skip
    for sid in test:
        add("test", 1, "csound", a=sid, font=HELD_OUT_FONT, aug=False)
        add("test", 1, "csound+recording", a=sid, font=HELD_OUT_FONT, aug=True)
        add("test", 1, "seen+recording", a=sid, font=str(rng.choice(TRAIN_FONTS)), aug=True)
    for name, prog in HELD_OUT_PROGRAMS.items():
        for sid in rng.choice(test, 80, replace=False):
            add("test", 0, name, a=str(sid), font=str(rng.choice(TRAIN_FONTS)), program=prog,
                aug=bool(rng.random() < 0.5))  # fmt: skip
    for k in range(120):
        add("test", 0, "duet", **_duet(rng, test, k), font=str(rng.choice(TRAIN_FONTS)),
            aug=bool(rng.random() < 0.5))  # fmt: skip
    return out


def _duet(rng: np.random.Generator, ids: list[str], k: int) -> dict[str, Any]:
    """Two performances at once: two passages, or one passage against itself shifted."""
    a = str(rng.choice(ids))
    if k % 2 == 0:
        others = [i for i in ids if group_of(i, "excerpt") != group_of(a, "excerpt")]
        return {"a": a, "b": str(rng.choice(others)), "offset": float(rng.uniform(0, 2)),
                "gain_b": float(rng.uniform(-8, 0)), "semitones": 0, "stretch": 1.0}  # fmt: skip
    return {"a": a, "b": a, "offset": float(rng.uniform(1.0, 4.0)),
            "gain_b": float(rng.uniform(-8, 0)), "semitones": int(rng.choice([-7, -5, 5, 7, 12])),
            "stretch": float(rng.choice([0.75, 0.8, 1.25, 1.33]))}  # fmt: skip


def make_clip(job: dict[str, Any], midis: dict[str, Path]) -> np.ndarray:
    """Render one job's audio."""
    y = _render(_load(midis[job["a"]], program=job.get("program", 0)), job["font"])
    if job["kind"] == "duet":
        b = _render(
            _load(midis[job["b"]], semitones=job["semitones"], stretch=job["stretch"]), job["font"]
        )
        shift = int(job["offset"] * SR)
        b = np.concatenate([np.zeros(shift, np.float32), b])
        n = max(min(len(y), len(b)), int(4 * SR))
        y = (
            np.pad(y, (0, max(0, n - len(y))))[:n]
            + 10 ** (job["gain_b"] / 20) * np.pad(b, (0, max(0, n - len(b))))[:n]
        )
    y = y / max(1e-9, float(np.abs(y).max())) * 0.5
    if job["aug"]:
        y = _augment(y, np.random.default_rng(job["seed"]), job["seed"] % 100000)
    return y.astype(np.float32)


def build(root: Path, shard: tuple[int, int]) -> None:
    """Compute and cache every job's descriptors (one .json per job; resumable)."""
    midis = percepiano_midi_paths(root)
    every = jobs(root)
    # kinds interleaved (each job at its relative place within its kind), so that a
    # partial build already holds some of every kind
    kinds: dict[str, list[int]] = {}
    for i, j in enumerate(every):
        kinds.setdefault(f"{j['split']}/{j['kind']}", []).append(i)
    rank = {i: k / len(ix) for ix in kinds.values() for k, i in enumerate(ix)}
    todo = sorted(every, key=lambda j: rank[every.index(j)])[shard[0] :: shard[1]]
    CACHE.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for i, job in enumerate(todo):
        f = CACHE / (job["key"].replace("/", "_") + ".json")
        if f.exists():
            continue
        feats = acoustic_features(make_clip(job, midis), SR)
        f.write_text(json.dumps({"job": job, "x": [feats[c] for c in ACOUSTIC_COLUMNS]}))
        if i % 50 == 0:
            print(f"{i}/{len(todo)} {time.perf_counter() - t0:.0f}s", flush=True)


def load_table() -> tuple[list[dict[str, Any]], np.ndarray]:
    """The cached jobs and their descriptor matrix."""
    rows = [json.loads(p.read_text()) for p in sorted(CACHE.glob("*.json"))]
    return [r["job"] for r in rows], np.array([r["x"] for r in rows], dtype=np.float64)


#: The heads: (name, descriptors read, the negatives it learns from).
HEADS = (("instrument", TIMBRE_COLUMNS, "instrument"), ("duet", RHYTHM_COLUMNS, "duet"))


#: Candidate models of each head, chosen on the training clips alone (out of fold).
CANDIDATES: dict[str, dict[str, Any]] = {
    **{f"logistic C={c}": {"model": "logistic", "c": c} for c in (0.03, 0.1, 0.3, 1.0)},
    "mlp 64, alpha 0.01, 3 seeds": {"model": "mlp", "alpha": 0.01, "seeds": (0, 1, 2)},
}


def fit(*, store: bool) -> dict[str, Any]:
    """Fit each head on the training clips (model chosen on them), measure on the test clips."""
    import pandas as pd

    from pianoeval.calibration.acoustic import AcousticCheck, AcousticHead

    all_jobs, x = load_table()
    frame = pd.DataFrame(x, columns=[f"{ACOUSTIC_PREFIX}{c}" for c in ACOUSTIC_COLUMNS])
    split = np.array([j["split"] for j in all_jobs])
    kind = np.array([j["kind"] for j in all_jobs])
    aug = np.array([bool(j["aug"]) for j in all_jobs])
    label = np.array([j["label"] for j in all_jobs])
    groups = np.array([group_of(j["a"], "excerpt") for j in all_jobs])
    tr = split == "train"
    heads, tried = [], {}
    for name, columns, negatives in HEADS:
        rows = tr & ((kind == "piano") | (kind == negatives))
        cols = [f"{ACOUSTIC_PREFIX}{c}" for c in columns]
        fitted = {}
        for cand, options in CANDIDATES.items():  # the most negatives flagged out of fold
            fitted[cand] = AcousticHead.fit(
                frame.loc[rows, cols], label[rows], groups=groups[rows], name=name, **options
            )
            print(f"{name} {cand}: out of fold {fitted[cand].info}", flush=True)
        best = max(CANDIDATES, key=lambda k: fitted[k].info["oof_flagged_other"])
        heads.append(fitted[best])
        tried[name] = {"chosen": best, **{k: h.info for k, h in fitted.items()}}
    check = AcousticCheck(tuple(heads))
    te = ~tr
    score = check.score(frame[te])
    by_head = check.scores(frame[te])
    rows: dict[str, Any] = {}
    for k in sorted(set(kind[te])):
        for part, sel in (
            ("all", np.ones(te.sum(), bool)),
            ("clean", ~aug[te]),
            ("degraded", aug[te]),
        ):
            m = (kind[te] == k) & sel
            if m.any():
                rows.setdefault(k, {})[part] = {
                    "n": int(m.sum()),
                    "flagged": round(float(np.mean(score[m] > 1.0)), 4),
                    "median_score": round(float(np.median(score[m])), 3),
                    **{
                        f"flagged_by_{h}": round(float(np.mean(v[m] > 1.0)), 4)
                        for h, v in by_head.items()
                    },
                }
    for k, v in rows.items():
        print(
            f"{k:20s} " + "  ".join(f"{p}: {d['flagged']:.3f} (n {d['n']})" for p, d in v.items())
        )
    if store:
        from pianoeval.model.audio import AudioRater
        from pianoeval.rater.audio import AUDIO_DIR

        AudioRater.load(AUDIO_DIR).write_acoustic_check(AUDIO_DIR, check)
        print(f"stored in {AUDIO_DIR}")
    return {
        "heads": tried,
        "thresholds": {h.name: h.threshold for h in check.heads},
        "test": rows,
        "n_train": {k: int(((kind == k) & tr).sum()) for k in sorted(set(kind[tr]))},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["build", "fit"])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--store", action="store_true", help="fit: write it into the audio bundle")
    args = ap.parse_args()
    root = find_data_root(args.data_root, dataset="percepiano")
    if args.action == "build":
        k, n = (int(v) for v in args.shard.split("/"))
        build(root, (k, n))
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import write_result

    t0 = time.perf_counter()
    payload = fit(store=args.store)
    out = write_result(
        "acoustic_ood",
        {
            "metric": "share of clips flagged (score > 1) by the acoustic check",
            "protocol": "train: PercePiano minus the performer-test segments on FluidR3_GM, "
            "MuseScore General, TimGM6mb (half degraded); test: the performer-test segments on "
            "csound's GM piano (held out), degraded training pianos, instruments never among "
            "the negatives, duets of test segments",
            **payload,
            "work_sec": round(time.perf_counter() - t0, 1),
        },
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
