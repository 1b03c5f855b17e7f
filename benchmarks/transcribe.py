"""Benchmark: audio-to-MIDI transcription of rendered PercePiano performances, and its speed.

    .venv/bin/python benchmarks/transcribe.py [--data-root DIR] [--limit N]
        [--backends transkun,basic_pitch] [--soundfonts fluidr3_gm,musescore_general]
        [--compare-upstream N]     # + unmodified transkun on N segments per SoundFont
    .venv/bin/python benchmarks/transcribe.py --variants     # the transkun speed study

Default mode. The 193 test segments of the performer split
(``pianoeval.data.splits.load_split("performer").test``), their MIDI files rendered with
each SoundFont by :func:`pianoeval.render.render_files` (its default cache), each render
transcribed by each backend with :func:`pianoeval.symbolic.transcribe.transcribe` (cached
by content: a rerun only computes what is missing) on ``--threads`` (2) threads. Per
transcription against the true MIDI (mir_eval.transcription):

- onset F1: onsets within 50 ms, same pitch, offsets ignored;
- onset+offset F1: also the offset within max(50 ms, 20 % of the note's length) (mir_eval's
  default); offsets as played (the MIDI note-offs, not extended by the sustain pedal);
- sustain-pedal agreement, for backends that give pedal: the share of 10 ms frames (over
  the audio) in which both say the same about CC64 >= 64 (down) or not;
- real-time factor: wall-clock transcription time (audio loading included, model loading
  not) / audio duration. Transcriptions found in the cache keep the time measured when they
  were made.

Scores are means over segments; RTF is total time over total audio. Writes
``benchmarks/results/transcribe/<date>_<sha>.json`` with every segment's figures and the
cache key of its transcription (later benchmarks can reuse the transcriptions).

``--variants``. The transkun settings study behind the defaults (docs/transcription.md): each
variant transcribes the PercePiano example recording (a real piano, 14.4 s; its MIDI runs
0.27 s behind the recording) and eight renders of four segments outside the performer test
set (two SoundFonts), without the cache; onset F1 and wall and CPU time for each. Writes
``benchmarks/results/transcribe-variants/<date>_<sha>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import RESULTS, sha256_files, write_result

ONSET_TOLERANCE_SEC = 0.05
PEDAL_FRAME_SEC = 0.01
#: The example recording starts this much earlier than its MIDI (measured: onset F1 of the
#: unmodified transkun is flat at its maximum for shifts of 0.23-0.29 s).
EXAMPLE_MIDI_DELAY_SEC = 0.27
EXAMPLE_ID = "Beethoven_WoO80_var27_8bars_3_15"
#: Segments for the variant study: outside the performer test set, 6.6-29.7 s when rendered
#: (the 20th, 50th and 97th percentile lengths of the non-test performances, and a
#: Beethoven segment of median length), so chunking is exercised on short and long files.
DEV_SEGMENTS = (
    "Schubert_D960_mv3_8bars_0_25",
    "Schubert_D960_mv3_16bars_6_01",
    "Beethoven_WoO80_var18_8bars_24_12",
    "Schubert_D960_mv2_8bars_7_09",
)


# --- metrics ----------------------------------------------------------------------------


def _intervals_pitches(notes: np.ndarray, shift_sec: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    intervals = np.stack([notes["onset_sec"], notes["offset_sec"]], axis=1).astype(float)
    intervals = np.clip(intervals + shift_sec, 0.0, None)
    pitches_hz = 440.0 * 2.0 ** ((notes["pitch"].astype(float) - 69.0) / 12.0)
    return intervals, pitches_hz


def note_scores(ref: np.ndarray, est: np.ndarray, *, ref_shift_sec: float = 0.0) -> dict[str, Any]:
    """Onset and onset+offset precision, recall and F1 (mir_eval), notes as played."""
    import mir_eval

    if len(est) == 0 or len(ref) == 0:
        return {
            "onset_f1": 0.0,
            "onset_precision": 0.0,
            "onset_recall": 0.0,
            "onset_offset_f1": 0.0,
            "n_ref": len(ref),
            "n_est": len(est),
        }
    ri, rp = _intervals_pitches(ref, ref_shift_sec)
    ei, ep = _intervals_pitches(est)
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ri, rp, ei, ep, onset_tolerance=ONSET_TOLERANCE_SEC, offset_ratio=None
    )
    _, _, f_off, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ri, rp, ei, ep, onset_tolerance=ONSET_TOLERANCE_SEC
    )
    return {
        "onset_f1": f,
        "onset_precision": p,
        "onset_recall": r,
        "onset_offset_f1": f_off,
        "n_ref": len(ref),
        "n_est": len(est),
    }


def pedal_down_frames(events: np.ndarray, n_frames: int, *, shift_sec: float = 0.0) -> np.ndarray:
    """Whether CC64 >= 64 in each 10 ms frame (up before the first event)."""
    times = (np.arange(n_frames) + 0.5) * PEDAL_FRAME_SEC
    if len(events) == 0:
        return np.zeros(n_frames, dtype=bool)
    idx = np.searchsorted(events["time_sec"] + shift_sec, times, side="right") - 1
    down = np.asarray(events["value"]) >= 64
    return (idx >= 0) & down[np.clip(idx, 0, None)]


def pedal_agreement(ref: np.ndarray, est: np.ndarray, duration_sec: float, **kw: Any) -> float:
    n = max(1, round(duration_sec / PEDAL_FRAME_SEC))
    return float(np.mean(pedal_down_frames(ref, n, **kw) == pedal_down_frames(est, n)))


# --- data -------------------------------------------------------------------------------


def segment_midis(root: Path) -> dict[str, Path]:
    """PercePiano MIDI files by segment id (one file name has a leading space)."""
    return {p.stem.strip(): p for p in (root / "percepiano" / "midi").glob("*.mid")}


def render(paths: list[Path], soundfont: str) -> list[Any]:
    from pianoeval.render import render_files

    results = render_files(paths, soundfont=soundfont, progress=False)
    bad = [r for r in results if not r.ok]
    if bad:
        raise SystemExit(f"{len(bad)} renders failed, e.g. {bad[0].midi_path}: {bad[0].error}")
    return results


def _rtf(rows: list[dict[str, Any]], time_key: str) -> float:
    return float(sum(r[time_key] for r in rows) / sum(r["audio_sec"] for r in rows))


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    return round(float(np.mean([r[key] for r in rows])), 4)


def _log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, file=sys.stderr, flush=True)


# --- the benchmark ----------------------------------------------------------------------


def run_benchmark(args: argparse.Namespace) -> int:
    from pianoeval.data import find_data_root
    from pianoeval.data.splits import load_split
    from pianoeval.symbolic.midi import load_midi
    from pianoeval.symbolic.transcribe import get_backend, transcribe

    root = find_data_root(args.data_root, dataset="percepiano")
    midis = segment_midis(root)
    ids = sorted(load_split("performer").test)
    if args.limit:  # an even spread over the sorted ids, not the first N (one work)
        ids = [ids[i] for i in np.linspace(0, len(ids) - 1, args.limit).round().astype(int)]
    paths = [midis[i] for i in ids]
    refs = {i: load_midi(midis[i]) for i in ids}
    backends = args.backends.split(",")
    soundfonts = args.soundfonts.split(",")
    for name in backends:
        get_backend(name).check()

    rows: list[dict[str, Any]] = []
    for sf in soundfonts:
        renders = render(paths, sf)
        for name in backends:
            _log(f"{name} on {len(ids)} renders with {sf}")
            for k, (seg, res) in enumerate(zip(ids, renders, strict=True)):
                t = transcribe(res.audio_path, backend=name, threads=args.threads)
                ref = refs[seg]
                row: dict[str, Any] = {
                    "segment_id": seg,
                    "soundfont": sf,
                    "backend": name,
                    "audio_key": res.key,
                    "transcription_key": t.key,
                    "audio_sec": round(t.audio_sec, 3),
                    "elapsed_sec": round(t.elapsed_sec, 3),
                    "cpu_sec": round(float(t.meta.get("cpu_sec", float("nan"))), 3),
                    "load_average": t.meta.get("load_average"),
                    "cached": t.cached,
                    **{
                        k2: (round(v, 4) if isinstance(v, float) else v)
                        for k2, v in note_scores(ref.notes, t.notes).items()
                    },
                }
                if get_backend(name).gives_pedal:
                    row["pedal_agreement"] = round(
                        pedal_agreement(ref.sustain, t.sustain, t.audio_sec), 4
                    )
                rows.append(row)
                if (k + 1) % 10 == 0 or k + 1 == len(ids):
                    done = [r for r in rows if r["backend"] == name and r["soundfont"] == sf]
                    f1 = np.mean([r["onset_f1"] for r in done])
                    rtf = _rtf(done, "elapsed_sec")
                    _log(f"  {k + 1}/{len(ids)} onset F1 {f1:.3f} RTF {rtf:.3f}")

    comparison = (
        compare_upstream(ids, refs, rows, soundfonts, paths, args.compare_upstream, args.threads)
        if args.compare_upstream and "transkun" in backends
        else None
    )
    summary: dict[str, Any] = {}
    for name in backends:
        summary[name] = {}
        for sf in [*soundfonts, "all"]:
            rs = [r for r in rows if r["backend"] == name and sf in ("all", r["soundfont"])]
            entry: dict[str, Any] = {
                "n": len(rs),
                **{k: _mean(rs, k) for k in ("onset_f1", "onset_offset_f1")},
                **{k: _mean(rs, k) for k in ("onset_precision", "onset_recall")},
                "audio_sec": round(sum(r["audio_sec"] for r in rs), 1),
                "elapsed_sec": round(sum(r["elapsed_sec"] for r in rs), 1),
                "rtf": round(_rtf(rs, "elapsed_sec"), 4),
                "cpu_sec_per_audio_sec": round(_rtf(rs, "cpu_sec"), 4),
                "mean_load_average": round(
                    float(np.mean([r["load_average"] or np.nan for r in rs])), 2
                ),
                "n_cached": sum(r["cached"] for r in rs),
            }
            if all("pedal_agreement" in r for r in rs):
                entry["pedal_agreement"] = _mean(rs, "pedal_agreement")
            summary[name][sf] = entry

    settings = {name: get_backend(name).resolve_settings() for name in backends}
    versions = {name: get_backend(name).version() for name in backends}
    payload = {
        "data": {
            "segments": "performer split, test"
            + (f" (every ~{193 // args.limit}th, {len(ids)})" if args.limit else ""),
            "n_segments": len(ids),
            "midi_sha256": sha256_files(paths),
            "soundfonts": soundfonts,
        },
        "config": {
            "backends": backends,
            "settings": settings,
            "backend_versions": versions,
            "threads": args.threads,
            "onset_tolerance_sec": ONSET_TOLERANCE_SEC,
            "offset": "mir_eval default (max(50 ms, 20 % of the reference note))",
            "pedal_frame_sec": PEDAL_FRAME_SEC,
            "pedal_down": "CC64 >= 64",
            "load_average_at_end": os.getloadavg(),
        },
        "summary": summary,
        "upstream_comparison": comparison,
        "segments": rows,
    }
    if args.no_write:
        print(json.dumps(summary, indent=1))
        return 0
    out = write_result("transcribe", payload)
    print(json.dumps({**summary, "upstream_comparison": comparison}, indent=1))
    print(f"wrote {out.relative_to(RESULTS.parent.parent)}")
    return 0


def compare_upstream(
    ids: list[str],
    refs: dict[str, Any],
    rows: list[dict[str, Any]],
    soundfonts: list[str],
    paths: list[Path],
    n: int,
    threads: int,
) -> dict[str, Any]:
    """Unmodified transkun against the default on the same renders: paired onset F1 and RTF.

    ``n`` segments evenly spread over the sorted ids, each render of each SoundFont; the
    default's figures are its rows of this run (cached transcriptions keep their timing).
    """
    from pianoeval.audio import load_audio
    from pianoeval.symbolic.transcribe import get_backend

    backend = get_backend("transkun")
    pick = [ids[i] for i in np.linspace(0, len(ids) - 1, n).round().astype(int)]
    by_key = {(r["segment_id"], r["soundfont"]): r for r in rows if r["backend"] == "transkun"}
    pairs: list[dict[str, Any]] = []
    for sf in soundfonts:
        renders = dict(zip(ids, render(paths, sf), strict=True))
        for seg in pick:
            _log(f"upstream transkun: {seg} ({sf})")
            t0 = time.perf_counter()
            y, _ = load_audio(renders[seg].audio_path, sr=backend.sr, mono=False)
            out = _upstream(y, threads)
            wall = time.perf_counter() - t0
            mine = by_key[(seg, sf)]
            up = note_scores(refs[seg].notes, out.notes)
            pairs.append(
                {
                    "segment_id": seg,
                    "soundfont": sf,
                    "audio_sec": mine["audio_sec"],
                    "upstream_onset_f1": round(up["onset_f1"], 4),
                    "upstream_onset_offset_f1": round(up["onset_offset_f1"], 4),
                    "upstream_elapsed_sec": round(wall, 3),
                    "default_onset_f1": mine["onset_f1"],
                    "default_onset_offset_f1": mine["onset_offset_f1"],
                    "default_elapsed_sec": mine["elapsed_sec"],
                }
            )
    audio = sum(p["audio_sec"] for p in pairs)
    f_up = float(np.mean([p["upstream_onset_f1"] for p in pairs]))
    f_def = float(np.mean([p["default_onset_f1"] for p in pairs]))
    return {
        "n": len(pairs),
        "segments": pick,
        "upstream_onset_f1": round(f_up, 4),
        "default_onset_f1": round(f_def, 4),
        "onset_f1_drop": round(f_up - f_def, 4),
        "upstream_onset_offset_f1": _mean(pairs, "upstream_onset_offset_f1"),
        "default_onset_offset_f1": _mean(pairs, "default_onset_offset_f1"),
        "upstream_rtf": round(sum(p["upstream_elapsed_sec"] for p in pairs) / audio, 4),
        "default_rtf": round(sum(p["default_elapsed_sec"] for p in pairs) / audio, 4),
        "pairs": pairs,
    }


# --- the transkun variant study ---------------------------------------------------------

#: transkun's chunking, fp32, transkun's attention: the starting point of the variants.
_AS_SHIPPED = {"segments": "all", "hop_sec": 8.0, "pad_begin_sec": None, "precision": "fp32",
               "fast_attention": False}  # fmt: skip
_COVER_PAD1 = {"segments": "cover", "hop_sec": 8.0, "pad_begin_sec": 1.0, "precision": "fp32"}
#: Each variant: a name, what changed, and the transkun settings (None: transkun's own loop).
VARIANTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("upstream", "TransKun.transcribe as shipped (16 s segments every 8 s, fp32)", None),
    ("skip_padding", "pianoeval's loop, inference_mode, no segment in the trailing padding",
     {**_AS_SHIPPED, "segments": "audio"}),
    ("fast_attention", "+ 4-D attention (fused CPU kernel)",
     {**_AS_SHIPPED, "segments": "audio", "fast_attention": True}),
    ("cover", "+ stop once the audio is covered",
     {**_AS_SHIPPED, "segments": "cover", "fast_attention": True}),
    ("cover_pad1", "+ 1 s of leading zeros instead of 8 s", _COVER_PAD1),
    ("cover_pad0", "cover, no leading zeros", {**_COVER_PAD1, "pad_begin_sec": 0.0}),
    ("cover_pad1_hop12", "cover_pad1 with 12 s hops", {**_COVER_PAD1, "hop_sec": 12.0}),
    ("bf16_autocast", "cover_pad1 + backbone under bf16 autocast",
     {**_COVER_PAD1, "precision": "bf16_autocast"}),
    ("bf16", "cover_pad1 + transformer layers in bf16", {**_COVER_PAD1, "precision": "bf16"}),
    ("int8", "cover_pad1 + transformer Linear layers int8 (dynamic)",
     {**_COVER_PAD1, "quantize": True}),
    ("bf16_hop12", "bf16 with 12 s hops", {**_COVER_PAD1, "precision": "bf16", "hop_sec": 12.0}),
    ("bf16_1thread", "bf16 on 1 thread", {**_COVER_PAD1, "precision": "bf16", "_threads": 1}),
    ("bf16_compile", "bf16 + torch.compile of the transformer layers (compiling not timed)",
     {**_COVER_PAD1, "precision": "bf16", "compile": True}),
]  # fmt: skip


def _upstream(y: np.ndarray, threads: int) -> Any:
    """Run transkun's own TransKun.transcribe on a (channels, samples) waveform."""
    import torch

    from pianoeval.symbolic.transcribe.transkun import _torch_threads, events_to_output, load_model

    model = load_model(precision="fp32", fast_attention=False)
    model.backbone.useGradientCheckpoint = True  # as shipped; pianoeval turns it off
    try:
        with _torch_threads(threads), torch.no_grad():
            events = model.transcribe(torch.from_numpy(np.ascontiguousarray(y.T)))
    finally:
        model.backbone.useGradientCheckpoint = False
    return events_to_output(events)


def run_variants(args: argparse.Namespace) -> int:
    from pianoeval.audio import load_audio
    from pianoeval.data import find_data_root
    from pianoeval.symbolic.midi import load_midi
    from pianoeval.symbolic.transcribe import get_backend
    from pianoeval.symbolic.transcribe.transkun import SEGMENT_SEC, load_model

    root = find_data_root(args.data_root, dataset="percepiano")
    midis = segment_midis(root)
    backend = get_backend("transkun")
    items: list[tuple[str, np.ndarray, Any, float]] = []  # tag, audio at 44.1 kHz, ref, shift
    example_wav = root / "percepiano" / "examples" / f"{EXAMPLE_ID}.wav"
    y, _ = load_audio(example_wav, sr=backend.sr, mono=False)
    items.append(("example", y, load_midi(midis[EXAMPLE_ID]), -EXAMPLE_MIDI_DELAY_SEC))
    for sf in ("fluidr3_gm", "musescore_general"):
        for seg, res in zip(
            DEV_SEGMENTS, render([midis[s] for s in DEV_SEGMENTS], sf), strict=True
        ):
            y, _ = load_audio(res.audio_path, sr=backend.sr, mono=False)
            items.append((f"{seg}/{sf}", y, load_midi(midis[seg]), 0.0))
    chosen = args.only.split(",") if args.only else None
    rows: list[dict[str, Any]] = []
    if args.resume and args.resume.exists():  # rows of variants finished by an earlier run
        rows = [json.loads(line) for line in args.resume.read_text().splitlines() if line]
    for name, _what, settings in VARIANTS:
        if (chosen and name not in chosen) or any(r["variant"] == name for r in rows):
            continue
        opts = dict(settings or {})
        threads = opts.pop("_threads", args.threads)
        if settings is not None:  # load (and compile) outside the timing
            full = backend.resolve_settings(**opts)
            model = load_model(
                precision=full["precision"],
                quantize=full["quantize"],
                fast_attention=full["fast_attention"],
                compile_layers=full["compile"],
            )
            if full["compile"]:
                backend.transcribe_array(
                    items[0][1][:, : int(SEGMENT_SEC * backend.sr)],
                    backend.sr,
                    threads=threads,
                    **opts,
                )
            del model
        for tag, y, ref, shift in items:
            w0, c0 = time.perf_counter(), time.process_time()
            if settings is None:
                out = _upstream(y, threads)
            else:
                out = backend.transcribe_array(y, backend.sr, threads=threads, **opts)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            scores = note_scores(ref.notes, out.notes, ref_shift_sec=shift)
            rows.append(
                {
                    "variant": name,
                    "item": tag,
                    "audio_sec": y.shape[-1] / backend.sr,
                    "wall_sec": wall,
                    "cpu_sec": cpu,
                    "load1": os.getloadavg()[0],
                    "onset_f1": scores["onset_f1"],
                    "onset_offset_f1": scores["onset_offset_f1"],
                    "pedal_agreement": pedal_agreement(
                        ref.sustain, out.sustain, y.shape[-1] / backend.sr, shift_sec=shift
                    ),
                }
            )
        vr = [r for r in rows if r["variant"] == name]
        _log(f"{name}: " + json.dumps(_variant_summary(vr)))
        if args.resume:
            with args.resume.open("a") as fh:
                fh.writelines(json.dumps(r) + "\n" for r in vr)
    summary = {
        name: _variant_summary([r for r in rows if r["variant"] == name])
        for name, _, _ in VARIANTS
        if any(r["variant"] == name for r in rows)
    }
    payload = {
        "data": {
            "example": EXAMPLE_ID,
            "example_midi_delay_sec": EXAMPLE_MIDI_DELAY_SEC,
            "dev_segments": list(DEV_SEGMENTS),
            "soundfonts": ["fluidr3_gm", "musescore_general"],
        },
        "config": {
            "threads": args.threads,
            "variants": [{"name": n, "what": w, "settings": s} for n, w, s in VARIANTS],
        },
        "summary": summary,
        "rows": rows,
    }
    print(json.dumps(summary, indent=1))
    if not args.no_write:
        out = write_result("transcribe-variants", payload)
        print(f"wrote {out.relative_to(RESULTS.parent.parent)}")
    return 0


def _variant_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ex = [r for r in rows if r["item"] == "example"]
    dev = [r for r in rows if r["item"] != "example"]
    out: dict[str, Any] = {}
    for label, rs in (("example", ex), ("dev", dev)):
        if not rs:
            continue
        audio = sum(r["audio_sec"] for r in rs)
        out[label] = {
            "rtf": round(sum(r["wall_sec"] for r in rs) / audio, 3),
            "cpu_sec_per_audio_sec": round(sum(r["cpu_sec"] for r in rs) / audio, 3),
            "onset_f1": round(float(np.mean([r["onset_f1"] for r in rs])), 4),
            "onset_offset_f1": round(float(np.mean([r["onset_offset_f1"] for r in rs])), 4),
            "pedal_agreement": round(float(np.mean([r["pedal_agreement"] for r in rs])), 4),
            "load1": round(float(np.mean([r["load1"] for r in rs])), 2),
        }
    return out


def markdown_variants(payload: dict[str, Any]) -> str:
    """The variant table of docs/transcription.md from a ``--variants`` result."""
    what = {v["name"]: v["what"] for v in payload["config"]["variants"]}
    lines = [
        "| variant | what | example F1 | renders F1 | renders onset+offset F1 | "
        "example RTF | renders RTF | renders CPU s per audio s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, e in payload["summary"].items():
        ex, dev = e.get("example", {}), e.get("dev", {})
        lines.append(
            f"| `{name}` | {what.get(name, '')} | {ex.get('onset_f1', float('nan')):.4f} | "
            f"{dev.get('onset_f1', float('nan')):.4f} | "
            f"{dev.get('onset_offset_f1', float('nan')):.4f} | "
            f"{ex.get('rtf', float('nan')):.3f} | {dev.get('rtf', float('nan')):.3f} | "
            f"{dev.get('cpu_sec_per_audio_sec', float('nan')):.3f} |"
        )
    return "\n".join(lines)


def markdown(payload: dict[str, Any]) -> str:
    """The tables of docs/benchmarks.md ("Transcription") from a result payload."""
    if payload.get("benchmark") == "transcribe-variants":
        return markdown_variants(payload)
    lines = [
        "| backend | SoundFont | onset F1 | onset+offset F1 | precision | recall | "
        "sustain-pedal agreement | RTF | CPU s per audio s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for backend, per_sf in payload["summary"].items():
        for sf, e in per_sf.items():
            pedal = f"{e['pedal_agreement']:.3f}" if "pedal_agreement" in e else "–"
            lines.append(
                f"| {backend} | {sf} | {e['onset_f1']:.3f} | {e['onset_offset_f1']:.3f} | "
                f"{e['onset_precision']:.3f} | {e['onset_recall']:.3f} | {pedal} | "
                f"{e['rtf']:.3f} | {e['cpu_sec_per_audio_sec']:.3f} |"
            )
    c = payload.get("upstream_comparison")
    if c:
        lines += [
            "",
            f"| transkun on the same {c['n']} renders | onset F1 | onset+offset F1 | RTF |",
            "| --- | --- | --- | --- |",
            f"| unmodified (`TransKun.transcribe`, fp32) | {c['upstream_onset_f1']:.4f} | "
            f"{c['upstream_onset_offset_f1']:.4f} | {c['upstream_rtf']:.3f} |",
            f"| pianoeval default | {c['default_onset_f1']:.4f} | "
            f"{c['default_onset_offset_f1']:.4f} | {c['default_rtf']:.3f} |",
            f"| drop (unmodified − default) / speed-up | {c['onset_f1_drop']:+.4f} | "
            f"{c['upstream_onset_offset_f1'] - c['default_onset_offset_f1']:+.4f} | "
            f"{c['upstream_rtf'] / c['default_rtf']:.2f}x |",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--backends", default="transkun,basic_pitch")
    parser.add_argument("--soundfonts", default="fluidr3_gm,musescore_general")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="only N segments, evenly spread")
    parser.add_argument(
        "--compare-upstream",
        type=int,
        default=0,
        metavar="N",
        help="also run unmodified transkun on N evenly spread segments per SoundFont",
    )
    parser.add_argument("--variants", action="store_true", help="run the transkun speed study")
    parser.add_argument("--only", default=None, help="with --variants: comma-separated names")
    parser.add_argument(
        "--resume", type=Path, default=None, help="with --variants: JSONL of finished variants"
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not write JSON")
    parser.add_argument(
        "--markdown", type=Path, default=None, metavar="RESULT", help="print a result's tables"
    )
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return 0
    return run_variants(args) if args.variants else run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
