"""Interactions per rated segment in the labeling app (issue 20: at most 10 beyond listening).

Runs the flow of ``tests/label/test_label_browser.py`` (its own functions, loaded from the
file): a real ``pianoeval label serve`` process, Debian chromium driven by Playwright, a rater
logging in and rating a 2 s segment with 6 dimensions by keyboard only (a digit per
dimension while it plays, Enter once it has been heard to the end). The page counts every
trusted keydown and click, split into listening (play, replay, loop, speed, seek) and the
rest; the rest is what the target bounds.

Writes ``benchmarks/results/label/interactions.json`` with the command line, the counts,
the keys pressed and the versions.

    .venv/bin/python benchmarks/label_interactions.py
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import RESULTS, git_sha, machine

HERE = Path(__file__).resolve().parent
FLOW = HERE.parent / "tests" / "label" / "test_label_browser.py"


def load_flow() -> Any:
    """Import the browser test module by path (the flow is defined once, there)."""
    sys.path.insert(0, str(FLOW.parents[1]))  # its shared browser helpers (tests/_browser.py)
    spec = importlib.util.spec_from_file_location("label_browser_flow", FLOW)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure() -> dict[str, Any]:
    """Rate segment "a" (warm-up: 3 dims, one suggestion) then count segment "b" (6 dims)."""
    from playwright.sync_api import sync_playwright

    flow = load_flow()
    with tempfile.TemporaryDirectory() as tmp:
        server = flow.Server(flow.make_world(Path(tmp) / "world"))
        server.start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(flow.CHROMIUM), args=flow.FLAGS)
                page = browser.new_context().new_page()
                flow.log_in(page, server, server.world["tokens"]["ana"])
                flow.wait_segment(page, "a")
                flow.keyboard_only_segment(page, len(flow.THREE))
                flow.wait_segment(page, "b")
                counts = flow.keyboard_only_segment(page, len(flow.SIX))
                browser.close()
        finally:
            server.stop()
    return {
        "n_dims": len(flow.SIX),
        "segment_sec": 2.0,
        "interactions_beyond_listening": counts["other"],
        "listening_interactions": counts["listening"],
        "keys": counts["keys"],
        "target_max": flow.MAX_INTERACTIONS,
        "target_met": counts["other"] <= flow.MAX_INTERACTIONS,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure and write the result JSON; exit 1 when the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "label" / "interactions.json", help="Result file."
    )
    args = parser.parse_args(argv)
    from pianoeval._versions import versions

    result = {
        "schema_version": 1,
        "benchmark": "label_interactions",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "git_sha": git_sha(),
        "machine": machine(),
        "versions": versions(),
        **measure(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"{result['interactions_beyond_listening']} interactions beyond listening "
          f"(target <= {result['target_max']}): {args.out}")  # fmt: skip
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
