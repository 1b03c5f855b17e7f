"""``pianoeval analyze``: performance features and the first rater's 19 scores.

MIDI is analysed directly; audio goes through a transcription backend first. With
``--score`` the score-relative features (tempo against the score, duration ratios, note
accuracy) are filled in. ``--example`` analyses the bundled example performance (made by
the project), so it runs without any data root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pianoeval.cli._common import FormatOption, OutputFormat, echo_json, print_table

MIDI_SUFFIXES = {".mid", ".midi"}
#: Said with every rating of transcribed audio (measured: docs/benchmarks.md, "First rater").
AUDIO_CAUTION = (
    "scores of transcribed audio are not reliable yet: the rater learned from recorded MIDI, "
    "and transcribed velocities and pedal differ from it (on rendered test audio its mean "
    "R2 fell from 0.52 with the true MIDI to below 0 with transkun's transcriptions; see "
    "docs/benchmarks.md#first-rater). The timing and pace features are reliable."
)
#: The features the table shows (JSON has all of them).
SUMMARY = (
    ("pace.perf_tempo_bpm", "tempo (bpm)", "{:.0f}"),
    ("timing.tempo_std", "tempo variability", "{:.3f}"),
    ("timing.async_mean_ms", "chord asynchrony (ms)", "{:.1f}"),
    ("articulation.legato_frac", "legato fraction", "{:.2f}"),
    ("articulation.staccato_frac", "staccato fraction", "{:.2f}"),
    ("dynamics.vel_mean", "mean velocity", "{:.0f}"),
    ("dynamics.vel_range", "velocity range", "{:.0f}"),
    ("voicing.top_minus_rest_vel", "melody over accompaniment (velocity)", "{:+.1f}"),
    ("pedal.on_frac", "sustain pedal down (fraction)", "{:.2f}"),
    ("pedal.presses_per_bar", "pedal changes per bar", "{:.2f}"),
    ("score.match_frac_score", "score notes matched", "{:.2f}"),
)


def analyze(
    inputs: Annotated[
        list[Path] | None, typer.Argument(help="Performance MIDI or audio files.")
    ] = None,
    score: Annotated[
        Path | None, typer.Option("--score", help="Score (MIDI) of the passage played.")
    ] = None,
    example: Annotated[
        bool, typer.Option("--example", help="Analyse the bundled example performance.")
    ] = False,
    backend: Annotated[
        str, typer.Option("--backend", help="Transcription backend for audio inputs.")
    ] = "transkun",
    fmt: Annotated[OutputFormat, FormatOption] = OutputFormat.table,
) -> None:
    """Print the feature summary and the first rater's 19 PercePiano scores."""
    from pianoeval.dims import get_taxonomy
    from pianoeval.rater import default_rater, rater_features
    from pianoeval.symbolic.midi import load_midi

    paths = list(inputs or [])
    if example:
        from pianoeval.examples import example_midi_path, example_score_path

        paths.append(example_midi_path())
        score = score or example_score_path()
    if not paths:
        raise typer.BadParameter("give at least one MIDI or audio file, or --example")
    rater = default_rater()
    tax = get_taxonomy("percepiano19")
    results: dict[str, Any] = {}
    for path in paths:
        if path.suffix.lower() in MIDI_SUFFIXES:
            perf = load_midi(path)
            source = "midi"
        else:
            from pianoeval.symbolic.transcribe import transcribe

            perf = transcribe(path, backend=backend).performance
            source = f"audio transcribed with {backend}"
        feats = rater_features(perf, score=score)
        values = rater.predict(feats)
        results[str(path)] = {
            "source": source,
            "caution": None if source == "midi" else AUDIO_CAUTION,
            "score": str(score) if score else None,
            "n_notes": perf.n_notes,
            "duration_sec": round(perf.end_sec, 3),
            "scores": {
                d.name: {"value": round(float(v), 4), "low": d.low, "high": d.high}
                for d, v in zip(tax, values, strict=True)
            },
            "features": {k: round(float(v), 6) for k, v in feats.items()},
        }
    if fmt is OutputFormat.json:
        echo_json(results)
        return
    for path_str, r in results.items():
        typer.echo(
            f"\n{path_str}: {r['n_notes']} notes, {r['duration_sec']:.1f} s ({r['source']})"
            + (f", score {r['score']}" if r["score"] else "")
        )
        if r["caution"]:
            typer.echo(f"caution: {r['caution']}")
        print_table(
            "performance features",
            ["feature", "value"],
            [
                [label, fmt_.format(r["features"][k])]
                for k, label, fmt_ in SUMMARY
                if k in r["features"]
            ],
        )
        print_table(
            "first rater (percepiano19, 1/7 = low end, 1 = high end)",
            ["dimension", "low end", "score", "", "high end"],
            [
                [name, s["low"], f"{s['value']:.2f}", _bar(s["value"]), s["high"]]
                for name, s in r["scores"].items()
            ],
        )


def _bar(value: float, width: int = 12) -> str:
    """Place a value of [1/7, 1] on a small text scale."""
    from pianoeval.constants import LABEL_CEILING, LABEL_FLOOR

    span = LABEL_CEILING - LABEL_FLOOR
    pos = round((min(max(value, LABEL_FLOOR), LABEL_CEILING) - LABEL_FLOOR) / span * (width - 1))
    return "·" * pos + "●" + "·" * (width - 1 - pos)
