"""``pianoeval label`` and ``pianoeval anchors``: the labeling app and its data (issue 20).

The commands live in two modules so the app and the data tools can grow apart:
:mod:`pianoeval.cli.label_app` (``label serve``, ``label add-rater``) and
:mod:`pianoeval.cli.label_data` (``label qc``, ``label export``, Label Studio interop,
``anchors build``) and :mod:`pianoeval.cli.label_pairwise` (``label pairwise-scores``).
Each registers its commands on the groups defined here.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    help="The labeling app: serve a queue to raters, check their agreement, export labels.",
    no_args_is_help=True,
)
anchors_app = typer.Typer(
    help="Anchors: low/mid/high example clips per dimension shown beside each slider.",
    no_args_is_help=True,
)

# imported for their side effect: they add their commands to the groups above
from pianoeval.cli import label_app as _label_app  # noqa: E402, F401
from pianoeval.cli import label_data as _label_data  # noqa: E402, F401
from pianoeval.cli import label_pairwise as _label_pairwise  # noqa: E402, F401
