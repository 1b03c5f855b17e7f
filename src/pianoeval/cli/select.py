"""``pianoeval select``: the next segments to label, written as a queue manifest.

The work is :func:`pianoeval.active.acquisition_scores` and
:func:`pianoeval.active.select_batch`; this module reads the pool manifest, computes the
MIDI rater's inputs of every candidate (its ``midi_uri`` cut to ``[t0, t1)``, aligned to its
``score_uri`` when it has one), rates them with their spread, and writes the picks. Rows
with a human (or human-verified) label are not candidates; they only count for the
near-duplicate rule. Rows with audio but no MIDI are skipped with a message: transcribe
them first and put the transcription in ``midi_uri``.

Each queue row is the pool row with one more field, ``active`` (a tool field; the schema
keeps fields it does not name): ``rank``, ``strategy``, ``score``, ``dimension``,
``reason``, ``rater`` and ``predicted``/``sigma`` (``{"percepiano19.<dim>": float}``), so
the labeling app can pre-fill the sliders.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from pianoeval.manifest import Segment

#: The field of a queue row that holds the selector's output.
QUEUE_FIELD = "active"


class Strategy(StrEnum):
    """Acquisition strategies (:data:`pianoeval.active.STRATEGIES`)."""

    mixed = "mixed"
    uncertainty = "uncertainty"
    disagreement = "disagreement"
    random = "random"


def _is_labelled(seg: Segment) -> bool:
    return any(s in ("human", "model_verified") for s in seg.label_sources().values())


def _absolute(seg: Segment, base: Path) -> dict[str, Any]:
    from pianoeval.manifest.uri import path_to_uri, uri_to_path

    row = seg.to_json_dict()
    for field in ("audio_uri", "midi_uri", "score_uri"):
        if row.get(field):
            row[field] = path_to_uri(uri_to_path(row[field], base).resolve())
    return row


def select(
    pool: Annotated[Path, typer.Option("--pool", help="Manifest of candidate segments (JSONL).")],
    k: Annotated[int, typer.Option("--k", min=1, help="How many segments to queue.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the queue manifest.")],
    rater_dir: Annotated[
        Path | None,
        typer.Option("--rater", help="MIDI rater bundle (default: the shipped one)."),
    ] = None,
    strategy: Annotated[
        Strategy, typer.Option("--strategy", help="Acquisition strategy.")
    ] = Strategy.mixed,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random strategy.")] = 0,
    no_media_check: Annotated[
        bool, typer.Option("--no-media-check", help="Do not check that media files exist.")
    ] = False,
) -> None:
    """Rank unlabelled segments by uncertainty and disagreement with the pseudo-labels."""
    from pianoeval._paths import check_input_file
    from pianoeval.active import (
        acquisition_scores,
        near_duplicate_key,
        pseudo_matrix,
        select_batch,
        uncertainty_scores,
    )
    from pianoeval.errors import PianoEvalError
    from pianoeval.manifest import Segment, read_manifest, write_manifest
    from pianoeval.manifest.uri import uri_to_path
    from pianoeval.model.symbolic import TAXONOMY, SymbolicRater
    from pianoeval.rater import DEFAULT_DIR
    from pianoeval.symbolic.midi import load_midi
    from pianoeval.symbolic.pseudo import cut_performance
    from pianoeval.symbolic.rater_inputs import rater_inputs

    bundle = DEFAULT_DIR if rater_dir is None else rater_dir
    if not (bundle / "rater.json").is_file():
        raise typer.BadParameter(
            f"{bundle}: not a MIDI rater bundle (no rater.json)", param_hint="--rater"
        )
    check_input_file(pool, what="manifest")
    segments = read_manifest(pool, check_media=not no_media_check)
    base = pool.parent
    labelled = [s for s in segments if _is_labelled(s)]
    unlabelled = [s for s in segments if not _is_labelled(s)]
    candidates = [s for s in unlabelled if s.midi_uri]
    skipped = [s.segment_id for s in unlabelled if not s.midi_uri]
    if skipped:
        typer.secho(
            f"skipped {len(skipped)} row(s) without MIDI (audio only: transcribe them and set "
            f"midi_uri): {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}",
            fg="yellow",
            err=True,
        )
    if not candidates:
        raise PianoEvalError(f"{pool}: no unlabelled rows with MIDI to choose from")

    rater = SymbolicRater.load(bundle)
    perfs = []
    for s in candidates:
        perf = load_midi(uri_to_path(s.midi_uri or "", base), require_notes=False)
        if s.t0 > 0 or s.t1 < perf.end_sec:
            perf = cut_performance(perf, s.t0, s.t1)
        perfs.append(perf)
    scores_paths = [uri_to_path(s.score_uri, base) if s.score_uri else None for s in candidates]
    x = rater_inputs(
        perfs,
        scores_paths if any(p is not None for p in scores_paths) else None,
        ids=[s.segment_id for s in candidates],
        jobs=1,
        progress=True,
    )
    values, sigma = rater.predict_with_spread(x)
    pseudo = pseudo_matrix([s.pseudo_calibrated for s in candidates], rater.dims, taxonomy=TAXONOMY)
    scores = acquisition_scores(
        strategy.value, sigma=sigma, predictions=values, pseudo=pseudo, seed=seed
    )
    picks = select_batch(
        scores,
        k=k,
        dims=rater.dims,
        datasets=[s.dataset for s in candidates],
        keys=[near_duplicate_key(s.groups) for s in candidates],
        labelled_keys={key for s in labelled if (key := near_duplicate_key(s.groups))},
        credit=uncertainty_scores(sigma),
    )
    same_folder = out.resolve().parent == base.resolve()
    queue = []
    for p in picks:
        seg = candidates[p.index]
        row = seg.to_json_dict() if same_folder else _absolute(seg, base)
        row[QUEUE_FIELD] = {
            "rank": p.rank,
            "strategy": strategy.value,
            "score": round(p.score, 4),
            "dimension": p.dimension,
            "reason": p.reason,
            "rater": str(bundle),
            "predicted": {
                f"{TAXONOMY}.{d}": round(float(v), 4)
                for d, v in zip(rater.dims, values[p.index], strict=True)
            },
            "sigma": {
                f"{TAXONOMY}.{d}": round(float(v), 4)
                for d, v in zip(rater.dims, sigma[p.index], strict=True)
            },
        }
        queue.append(Segment.model_validate(row))
    write_manifest(out, queue)
    if len(picks) < k:
        typer.secho(
            f"only {len(picks)} of {k} requested: the pool ran out (near-duplicates skipped)",
            fg="yellow",
            err=True,
        )
    typer.echo(f"queued {len(picks)} of {len(candidates)} candidates ({strategy.value}) -> {out}")
