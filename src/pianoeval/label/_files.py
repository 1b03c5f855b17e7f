"""Reading the labeling tools' JSON files with errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pianoeval.errors import SchemaError


def read_json(path: str | Path, what: str) -> Any:
    """Parse the JSON file ``path`` (``what`` it is, for the messages); SchemaError otherwise."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(f"{p}: {what} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SchemaError(f"{p}: cannot read the {what} ({e})") from None
    except json.JSONDecodeError as e:
        raise SchemaError(f"{p}: not JSON ({e.msg}, line {e.lineno})") from None
