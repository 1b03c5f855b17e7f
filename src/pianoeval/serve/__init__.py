"""The inference service: a REST API and a web page over :func:`pianoeval.rater.evaluate`.

- :func:`create_app` (:mod:`.app`): the FastAPI app factory (raters loaded once, at start).
- :class:`ServeSettings` (:mod:`.config`): limits and resources, from arguments or env.
- :mod:`.router`: ``/healthz``, ``/v1/rater``, ``/v1/evaluate``, ``/v1/jobs``, the page.
- :mod:`.service`: uploads, checks, and the one call of the rating pipeline.
- :mod:`.jobs`: background jobs with progress; :mod:`.exceptions`: errors to JSON.

Needs the ``serve`` extra (``pip install 'pianoeval[serve]'``); ``pianoeval serve`` runs it.
See docs/serve.md.
"""

from __future__ import annotations

from pianoeval.serve.app import create_app
from pianoeval.serve.config import ServeSettings

__all__ = ["ServeSettings", "create_app"]
