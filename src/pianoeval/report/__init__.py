"""Reports of ratings: a rating as one self-contained HTML page (:func:`rating_html`)."""

from __future__ import annotations

from pianoeval.report.html import rating_html

__all__ = ["rating_html"]
