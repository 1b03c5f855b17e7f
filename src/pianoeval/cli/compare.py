"""``pianoeval compare``: two takes of one piece side by side.

The work is :func:`pianoeval.rater.compare.compare_performances`; this module prints the
dimensions, stretches and bars that differ beyond their intervals, or writes the JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pianoeval.cli._common import FormatOption, OutputFormat, echo_json, print_table, write_text


def compare(
    a: Annotated[Path, typer.Argument(help="First take (audio or MIDI).", show_default=False)],
    b: Annotated[Path, typer.Argument(help="Second take (audio or MIDI).", show_default=False)],
    score: Annotated[
        Path | None,
        typer.Option("--score", help="Score of the piece (MIDI or MusicXML): bars line up."),
    ] = None,
    fmt: Annotated[OutputFormat, FormatOption] = OutputFormat.table,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here (with --format json).")
    ] = None,
    backend: Annotated[
        str, typer.Option("--backend", help="Transcription backend for recordings.")
    ] = "transkun",
) -> None:
    """Compare two takes of the same piece: which dimensions and bars differ."""
    import json

    from pianoeval.rater.compare import compare_performances

    for p, hint in ((a, "A"), (b, "B")):
        if not p.is_file():
            raise typer.BadParameter(f"{p}: no such file", param_hint=hint)
    if score is not None and not score.is_file():
        raise typer.BadParameter(f"{score}: no such score file", param_hint="--score")
    c = compare_performances(a, b, score=score, backend=backend)
    if fmt is OutputFormat.json:
        payload = c.model_dump(mode="json")
        if out is None:
            echo_json(payload)
        else:
            write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", out)
        return
    typer.echo(f"A: {a}\nB: {b}\naligned by {c.aligned_by}")
    for line in c.summary:
        typer.echo(f"  {line}")
    print_table(
        "dimensions (overall)",
        ["dimension", "A", "B", "differs"],
        [
            [d.name, _show(d.a, d.a_interval), _show(d.b, d.b_interval), "yes" if d.differs else ""]
            for d in c.dimensions
        ],
    )
    if c.windows:
        print_table(
            "stretches that differ beyond their intervals",
            ["where", "dimension", "A", "B"],
            [[d.where, d.name, f"{d.a:.2f}", f"{d.b:.2f}"] for d in c.windows],
        )
    if c.bars:
        print_table(
            "bars that differ (A vs B)",
            ["bar", "measurements"],
            [
                [x.bar, "; ".join(f"{m} {v[0]:.2f} vs {v[1]:.2f}" for m, v in x.measures.items())]
                for x in c.bars
            ],
        )


def _show(value: float, interval: list[float] | None) -> str:
    if interval is None:
        return f"{value:.2f}"
    return f"{value:.2f} ({interval[0]:.2f}-{interval[1]:.2f})"
