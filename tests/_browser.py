"""What the browser tests share: Debian's chromium, its flags, the skip-or-fail rule, a port.

Browser tests run Playwright on Debian's chromium (never a downloaded browser). Without
it, or without the playwright package, they skip locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("PIANOEVAL_CHROMIUM", "/usr/bin/chromium"))

#: Flags that work as root in a container (docs: ENVIRONMENT.md, "Browser tests").
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: The labeling pages play audio without a click first.
AUTOPLAY_FLAGS = [*FLAGS, "--autoplay-policy=no-user-gesture-required"]


def need_browser() -> None:
    """Skip (or fail in CI) without the playwright package or Debian's chromium."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (dev extra)")
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install chromium chromium-driver)")
    if missing:
        msg = "browser tests need " + " and ".join(missing)
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
