"""Row-level checks of a manifest, reporting every problem with file, line and field.

Parsing (JSON, types) is pydantic's job, in strict JSON mode so that a wrong JSON type is
reported instead of coerced (``"t0": "0"`` and ``"t0": false`` are errors, ``"t0": 0`` is
not). The checks here are the ones that need more than one field, the dimension registry,
the rest of the file or the file system.

Rows declare ``schema_version``; :func:`parse_line` dispatches on it (one module per schema
generation: :mod:`~pianoeval.manifest.v1`, :mod:`~pianoeval.manifest.v2`) and
:func:`migrate` brings an older row up to :data:`LATEST_VERSION`, so every reader sees
the latest :class:`~pianoeval.manifest.v2.Segment`.
"""

from __future__ import annotations

import errno
import itertools
import json
import math
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pianoeval._typing import PathLike
from pianoeval.dims import Dimension, get_taxonomy, resolve_dimension
from pianoeval.errors import ParameterError, SchemaError
from pianoeval.manifest import v1, v2
from pianoeval.manifest.uri import UnsupportedURIError, uri_to_path

LATEST_VERSION = v2.SCHEMA_VERSION
#: Schema generation -> function that brings one of its rows (a JSON object) to the latest.
MIGRATIONS: dict[int, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    v1.SCHEMA_VERSION: v2.migrate,
    v2.SCHEMA_VERSION: dict,
}
SUPPORTED_VERSIONS = tuple(MIGRATIONS)
#: Problems listed in a :class:`ManifestError` message; the rest are counted.
MAX_PROBLEMS_SHOWN = 1000
_EPS = 1e-9
_TIME_SIGNATURE = re.compile(r"[1-9][0-9]*/[1-9][0-9]*")
#: Fields of v2.Segment typed as tuples (JSON arrays).
_TUPLE_FIELDS = ("bars", "score_bars")
_DECLARED_VERSION = re.compile(r'\s*\{\s*"schema_version"\s*:\s*([0-9]{1,9})\s*[,}]')

Bad = Callable[[str, str], None]


@dataclass(frozen=True)
class Problem:
    """One problem found in a manifest: where it is and what is wrong."""

    path: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.reason}"


class ManifestError(SchemaError):
    """A manifest has problems; ``problems`` lists all of them, in file order.

    The message lists the first :data:`MAX_PROBLEMS_SHOWN` and counts the rest.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        n = len(problems)
        head = f"{n} problem{'s' if n != 1 else ''} in manifest"
        shown = [f"  {p}" for p in problems[:MAX_PROBLEMS_SHOWN]]
        if n > MAX_PROBLEMS_SHOWN:
            shown.append(f"  ... and {n - MAX_PROBLEMS_SHOWN} more")
        super().__init__(head + ":\n" + "\n".join(shown))


def migrate(row: Mapping[str, Any]) -> dict[str, Any]:
    """Bring a manifest row (a JSON object) of any supported generation to the latest.

    Parameters
    ----------
    row : mapping
        A row as read from JSONL; without ``schema_version`` it is taken as the latest.

    Returns
    -------
    dict
        The row in the latest generation (not validated: validate it as a
        :class:`~pianoeval.manifest.v2.Segment`).

    Raises
    ------
    SchemaError
        If ``schema_version`` is not a supported generation.

    Examples
    --------
    >>> row = migrate({"schema_version": 1, "source": "human", "labels": {"timing": 0.5}})
    >>> row["schema_version"], row["label_source"]
    (2, {'timing': 'human'})
    """
    version = row.get("schema_version", LATEST_VERSION)
    problem = _version_problem(version)
    if problem is not None:
        raise SchemaError(f"schema_version: {problem}")
    return MIGRATIONS[version](row)


def _json_kind(value: Any) -> str:
    """Describe a JSON value by its type, as a reader of the manifest would see it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return f"the string {text if len(text) <= 60 else text[:57] + '...'}"
    if isinstance(value, (int, float)):
        return f"the number {json.dumps(value)}"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _version_problem(version: Any) -> str | None:
    if isinstance(version, bool) or not isinstance(version, int):
        return f"schema_version must be an integer, found {_json_kind(version)}"
    if version not in MIGRATIONS:
        known = ", ".join(map(str, SUPPORTED_VERSIONS))
        return f"unsupported version {version} (known: {known})"
    return None


def parse_line(text: str, *, path: str, line: int) -> tuple[v2.Segment | None, list[Problem]]:
    """Parse one JSONL line into a (latest-generation) Segment, or return what prevents it."""

    def fail(field: str, reason: str) -> tuple[None, list[Problem]]:
        return None, [Problem(path, line, field, reason)]

    # Fast path: a valid latest-generation row (most rows) is parsed once. A Segment takes
    # schema_version 2 only, so an older row always goes the long way below; rows that
    # say up front they are older (as our writers put it) skip the attempt.
    declared = _DECLARED_VERSION.match(text)
    if declared is None or int(declared.group(1)) == LATEST_VERSION:
        try:
            return v2.Segment.model_validate_json(text, strict=True), []
        except ValidationError:
            pass
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return fail("-", f"bad JSON: {e.msg} at column {e.colno}")
    except RecursionError:
        return fail("-", "bad JSON: nested too deeply to read")
    if not isinstance(obj, dict):
        return fail("-", f"a row must be a JSON object, got {type(obj).__name__}")
    problem = _version_problem(obj.get("schema_version", LATEST_VERSION))
    if problem is not None:
        return fail("schema_version", problem)
    if obj.get("schema_version", LATEST_VERSION) != LATEST_VERSION:
        obj = migrate(obj)
    # Python-mode strict validation is JSON-mode strict but for arrays, which it wants as
    # tuples where the field is one: hand it those (their items stay strictly typed).
    for name in _TUPLE_FIELDS:
        if isinstance(obj.get(name), list):
            obj[name] = tuple(obj[name])
    try:
        return v2.Segment.model_validate(obj, strict=True), []
    except ValidationError as e:
        return None, [_pydantic_problem(err, path, line) for err in e.errors()]


def _pydantic_problem(err: Any, path: str, line: int) -> Problem:
    loc = ".".join(str(p) for p in err["loc"]) or "-"
    if err["type"] == "missing":
        return Problem(path, line, loc, "required field is missing")
    return Problem(path, line, loc, f"{err['msg']}, found {_json_kind(err.get('input'))}")


def check_segment(
    seg: v2.Segment,
    *,
    path: str,
    line: int,
    base_dir: Path | None,
    check_media: bool,
    media_root: PathLike | None = None,
) -> list[Problem]:
    """All the checks of one parsed row that need more than its own field types.

    Parameters
    ----------
    seg : Segment
        The parsed row.
    path, line : str, int
        Where it comes from (for the problems).
    base_dir : Path or None
        The manifest's folder (relative URIs are resolved against it).
    check_media : bool
        Check that every media URI names a readable file.
    media_root : path-like, optional
        Every media URI must resolve (symlinks followed) inside this folder.
    """
    out: list[Problem] = []

    def bad(field: str, reason: str) -> None:
        out.append(Problem(path, line, field, reason))

    _check_times(seg, bad)
    _check_labels(seg, bad)
    _check_pseudo(seg, bad)
    if seg.flags is not None:
        for i, flag in enumerate(seg.flags):
            if not flag.strip():
                bad(f"flags[{i}]", "a flag must be a non-empty name")
        if len(set(seg.flags)) != len(seg.flags):
            bad("flags", "a flag is listed twice")
    if seg.alignment is not None:
        _check_alignment(seg.alignment, bad)
    _check_uris(seg, bad, base_dir=base_dir, check_media=check_media, media_root=media_root)
    return out


def _check_times(seg: v2.Segment, bad: Bad) -> None:
    if seg.t1 <= seg.t0:
        bad("t1", f"t1 ({seg.t1:g}) must be greater than t0 ({seg.t0:g})")
    if not (math.isfinite(seg.t0) and math.isfinite(seg.t1)):
        bad("t1", "t0 and t1 must be finite")
    for field in ("bars", "score_bars"):
        bars = getattr(seg, field)
        if bars is not None and bars[1] < bars[0]:
            bad(field, f"bar range {list(bars)} ends before it starts")
    s0, s1 = seg.score_t0, seg.score_t1
    if (s0 is None) != (s1 is None):
        given, missing = ("score_t0", "score_t1") if s1 is None else ("score_t1", "score_t0")
        bad(missing, f"{given} is given without {missing}: give both or neither")
    elif s0 is not None and s1 is not None:
        if not (math.isfinite(s0) and math.isfinite(s1)) or s0 < 0:
            bad("score_t0", "score_t0 and score_t1 must be finite, and score_t0 >= 0")
        elif s1 <= s0:
            bad("score_t1", f"score_t1 ({s1:g}) must be greater than score_t0 ({s0:g})")


def _check_labels(seg: v2.Segment, bad: Bad) -> None:
    """Dimensions known; labels, masks, spreads and provenance only for the row's dims."""
    dims = set(seg.dims)
    for i, name in enumerate(seg.dims):
        _check_dim(name, seg.taxonomy, f"dims[{i}]", bad)
    if len(dims) != len(seg.dims):
        bad("dims", "a dimension is listed twice")
    for field, keys in (
        ("labels", seg.labels),
        ("label_mask", seg.label_mask),
        ("label_std", seg.label_std or {}),
        ("label_source", seg.label_source or {}),
    ):
        for name in keys:
            if name not in dims:
                bad(f"{field}.{name}", f"{name!r} is not in this row's dims")

    for name, value in seg.labels.items():
        if value is None or name not in dims:
            continue
        _check_value(value, _check_dim(name, seg.taxonomy, None, None), f"labels.{name}", bad)

    for name in seg.dims:
        mask = seg.label_mask.get(name)
        has_label = seg.labels.get(name) is not None
        if mask is None:
            continue
        if mask not in (0, 1):
            bad(f"label_mask.{name}", f"mask must be 0 or 1, got {mask}")
        elif mask == 1 and not has_label:
            bad(f"label_mask.{name}", "mask is 1 but there is no label")
        elif mask == 0 and has_label:
            bad(f"label_mask.{name}", f"mask is 0 but a label ({seg.labels[name]}) is given")

    for name, std in (seg.label_std or {}).items():
        if not math.isfinite(std) or std < 0:
            bad(f"label_std.{name}", f"standard deviation must be >= 0, got {std}")

    for name in seg.label_source or {}:
        if name in dims and seg.labels.get(name) is None:
            bad(f"label_source.{name}", "provenance is given but there is no label")


def _check_value(value: float, dim: Dimension | None, field: str, bad: Bad) -> None:
    lo, hi = get_taxonomy(dim.taxonomy).value_range if dim is not None else (0.0, 1.0)
    if not math.isfinite(value) or value < lo - _EPS or value > hi + _EPS:
        bad(field, f"label {value!r} outside [{lo:.4g}, {hi:.4g}]")


def _check_pseudo(seg: v2.Segment, bad: Bad) -> None:
    for field, values in (("pseudo_labels", seg.pseudo_labels), ("pseudo_conf", seg.pseudo_conf)):
        for name, value in (values or {}).items():
            _check_dim(name, seg.pseudo_taxonomy, f"{field}.{name}", bad)
            if not math.isfinite(value) or not 0.0 <= value <= 1.0:
                bad(f"{field}.{name}", f"value {value!r} outside [0, 1]")
    for name, value in (seg.pseudo_calibrated or {}).items():
        field = f"pseudo_calibrated.{name}"
        dim = _check_dim(name, None, field, bad)
        if dim is not None:
            _check_value(value, dim, field, bad)
    meta = seg.pseudo_meta
    if meta is not None and meta.alignment_f_measure is not None:
        f = meta.alignment_f_measure
        if not (math.isfinite(f) and 0.0 <= f <= 1.0):
            bad("pseudo_meta.alignment_f_measure", f"F-measure {f!r} outside [0, 1]")


def _check_alignment(alignment: v2.Alignment, bad: Bad) -> None:
    for field in ("beats_sec", "downbeats_sec"):
        times = getattr(alignment, field)
        if not all(math.isfinite(t) for t in times):
            bad(f"alignment.{field}", "times must be finite")
        elif any(b < a for a, b in itertools.pairwise(times)):
            bad(f"alignment.{field}", "times must not decrease")
    ts = alignment.time_signature
    if ts is not None and not _TIME_SIGNATURE.fullmatch(ts):
        bad("alignment.time_signature", f"expected a time signature like '3/4', found {ts!r}")


def _check_uris(
    seg: v2.Segment,
    bad: Bad,
    *,
    base_dir: Path | None,
    check_media: bool,
    media_root: PathLike | None,
) -> None:
    if seg.audio_uri is None and seg.midi_uri is None:
        bad("audio_uri", "a segment needs a source: audio_uri and/or midi_uri")
    root = os.path.realpath(media_root) if media_root is not None else None
    for field in ("audio_uri", "midi_uri", "score_uri"):
        uri = getattr(seg, field)
        if uri is None:
            continue
        if not uri.strip():
            bad(field, "empty URI: give a file:// URI or a path relative to the manifest")
            continue
        try:
            p = uri_to_path(uri, base_dir)
        except UnsupportedURIError as e:
            bad(field, str(e))
            continue
        problem = _path_problem(p, root)
        if problem is None and check_media:
            problem = media_problem(p)
        if problem is not None:
            bad(field, problem)


def _path_problem(p: Path, root: str | None) -> str | None:
    """Say why ``p`` cannot be a media path regardless of what is on disk, or where it goes."""
    if "\0" in str(p):
        return "a URI cannot contain a NUL character"
    if root is None:
        return None
    real = os.path.realpath(p)
    if os.path.commonpath([real, root]) != root:
        return f"outside the media root {root}: resolves to {_shorten(real)}"
    return None


def media_problem(path: Path) -> str | None:
    """Say why ``path`` is not a usable media file, or None when it is one.

    Parameters
    ----------
    path : Path
        The resolved media path of a URI.

    Returns
    -------
    str or None
        ``missing media: ...``, ``symlink loop ...``, ``... is a directory ...``, ``path too
        long ...``, ``permission denied ...``; None for a regular file.

    Examples
    --------
    >>> media_problem(Path("/"))
    'media path / is a directory, not a file'
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"missing media: {path} does not exist"
    except OSError as e:
        return os_error_problem(e, path, "media")
    except ValueError as e:  # embedded NUL and the like
        return f"unusable media path {str(path)[:80]!r}: {e}"
    if stat.S_ISDIR(st.st_mode):
        return f"media path {path} is a directory, not a file"
    if not stat.S_ISREG(st.st_mode):
        return f"media path {path} is not a regular file"
    return None


def _shorten(text: str) -> str:
    return text if len(text) <= 120 else text[:100] + "..."


def os_error_problem(e: OSError, path: Path, what: str) -> str:
    """One line saying why the OS refused ``path`` (loop, name too long, no access, ...)."""
    shown = _shorten(str(path))
    if e.errno == errno.ELOOP:
        return f"symlink loop: {what} path {shown} cannot be resolved"
    if e.errno == errno.ENAMETOOLONG:
        return (
            f"{what} path (or a name in it) too long for this system "
            f"({len(str(path))} characters): {shown}"
        )
    if e.errno == errno.ENOTDIR:
        return f"missing {what}: a parent of {shown} is not a folder"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied: {what} path {shown}"
    return f"cannot read {what} path {shown}: {e.strerror or e}"


def _check_dim(name: str, taxonomy: str | None, field: str | None, bad: Bad | None) -> Any:
    try:
        return resolve_dimension(name, taxonomy)
    except ParameterError as e:
        if bad is not None and field is not None:
            bad(field, f"unknown dimension: {e}")
        return None


def iter_rows(lines: Iterable[str], *, path: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for every non-blank line (1-based numbers)."""
    for n, text in enumerate(lines, start=1):
        if text.strip():
            yield n, text


def validate_lines(
    lines: Iterable[str],
    *,
    path: str,
    base_dir: Path | None,
    check_media: bool = True,
    media_root: PathLike | None = None,
) -> tuple[list[tuple[int, v2.Segment]], list[Problem]]:
    """Parse and check every line; return the good rows and ALL problems."""
    rows: list[tuple[int, v2.Segment]] = []
    problems: list[Problem] = []
    first_seen: dict[str, int] = {}
    for n, text in iter_rows(lines, path=path):
        seg, errs = parse_line(text, path=path, line=n)
        problems += errs
        if seg is None:
            continue
        problems += check_segment(
            seg,
            path=path,
            line=n,
            base_dir=base_dir,
            check_media=check_media,
            media_root=media_root,
        )
        if seg.segment_id in first_seen:
            problems.append(
                Problem(
                    path,
                    n,
                    "segment_id",
                    f"duplicate segment_id {seg.segment_id!r} "
                    f"(first on line {first_seen[seg.segment_id]})",
                )
            )
        else:
            first_seen[seg.segment_id] = n
        rows.append((n, seg))
    return rows, problems


__all__ = [
    "LATEST_VERSION",
    "MAX_PROBLEMS_SHOWN",
    "SUPPORTED_VERSIONS",
    "ManifestError",
    "Problem",
    "check_segment",
    "media_problem",
    "migrate",
    "os_error_problem",
    "parse_line",
    "validate_lines",
]
