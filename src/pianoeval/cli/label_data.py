"""Commands of ``pianoeval label`` (see :mod:`pianoeval.cli.label`); filled in by issue 20."""

from __future__ import annotations

from pianoeval.cli.label import anchors_app, app

__all__ = ["anchors_app", "app"]
