"""Build and pack the audio corpus: PercePiano rendered, transcribed and embedded per condition.

``build`` renders every labelled segment under a condition (pianoeval.data.audio_corpus
.CONDITIONS), runs transkun once for its transcription and pooled context, pools the
fixed-reference mel, and keeps one record per segment in ``--store`` (resumable: run it
again and it continues; run ``--shard k/n`` in n processes to use n cores). ``pack`` writes
the records of a condition into ``benchmarks/data/audio_corpus/<condition>.npz``, the file
that is committed and that every audio benchmark reads.

    # the whole corpus, clean renderers first (hours: transkun is ~0.3x real time)
    for c in fluidr3_gm musescore_general timgm6mb; do
      .venv/bin/python benchmarks/audio_corpus.py build --condition $c --shard 0/2 &
      .venv/bin/python benchmarks/audio_corpus.py build --condition $c --shard 1/2; wait
      .venv/bin/python benchmarks/audio_corpus.py pack --condition $c
    done
    # the recording condition on the performer test segments only
    .venv/bin/python benchmarks/audio_corpus.py build --condition fluidr3_gm+recording --test-only
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pianoeval._cache import cache_root
from pianoeval.data.audio_corpus import (
    CORPUS_DIR,
    build_condition,
    condition_ids,
    get_condition,
    pack_condition,
    read_records,
)
from pianoeval.data.root import find_data_root
from pianoeval.data.splits import load_split


def default_store(condition: str) -> Path:
    return cache_root() / "audio_corpus" / condition


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["build", "pack"])
    ap.add_argument("--condition", required=True)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--store", type=Path, default=None, help="record folder (default: cache)")
    ap.add_argument("--shard", default="0/1", help="k/n: build ids[k::n]")
    ap.add_argument("--threads", type=int, default=1, help="transkun threads per process")
    ap.add_argument("--test-only", action="store_true", help="only the performer test segments")
    ap.add_argument("--out", type=Path, default=None, help="pack: output file")
    args = ap.parse_args()
    cond = get_condition(args.condition)
    store = args.store or default_store(cond.name)

    if args.action == "pack":
        records = read_records(store)
        if not records:
            raise SystemExit(f"{store}: no records to pack")
        out = pack_condition(records, cond, args.out or CORPUS_DIR / f"{cond.name}.npz")
        print(f"packed {len(records)} segments of {cond.name} into {out} "
              f"({out.stat().st_size / 1e6:.2f} MB)")  # fmt: skip
        return

    root = find_data_root(args.data_root, dataset="percepiano")
    ids = condition_ids(root)
    if args.test_only:
        test = set(load_split("performer").test)
        ids = [i for i in ids if i in test]
    k, n = (int(v) for v in args.shard.split("/"))
    start = time.perf_counter()
    audio = 0.0

    def log(i: int, total: int, rec: object) -> None:
        nonlocal audio
        audio += rec.audio_sec  # type: ignore[attr-defined]
        if i % 10 == 0 or i + 1 == total:
            el = time.perf_counter() - start
            print(f"{cond.name} shard {k}/{n}: {i + 1}/{total} segments, {audio / 60:.1f} min "
                  f"audio, {el / 60:.1f} min elapsed", flush=True)  # fmt: skip

    build_condition(root, cond, ids=ids, shard=(k, n), threads=args.threads, store=store,
                    on_record=log)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
