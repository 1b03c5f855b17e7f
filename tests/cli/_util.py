"""Helpers shared by the CLI tests."""

from __future__ import annotations

import hashlib
from pathlib import Path


def snapshot(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below ``folder`` (to show a command left it untouched)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def flat(text: str) -> str:
    """The output without rich's box and line breaks."""
    return " ".join(text.replace("│", " ").split())
