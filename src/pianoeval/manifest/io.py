"""Reading and writing manifests: validated reads, atomic writes, append-only label updates.

Writes never leave a half-written manifest behind: rows go to a temporary file in the same
folder, which is flushed, synced and renamed over the target (``os.replace`` is atomic on
POSIX), so a crash leaves either the old file or the new one. Appending takes an exclusive
lock and writes whole lines only; updating labels rewrites the file atomically and keeps
every other row byte for byte.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pianoeval._typing import PathLike
from pianoeval.errors import SchemaError
from pianoeval.manifest.v2 import Segment
from pianoeval.manifest.validate import (
    LATEST_VERSION,
    ManifestError,
    Problem,
    migrate,
    os_error_problem,
    validate_lines,
)


def _read_text_lines(path: Path) -> list[str]:
    """Read a manifest's lines, or raise a one-problem ManifestError saying why not.

    Lines are split at line feeds only: JSON text may hold U+2028 or U+0085 raw (we write with
    ``ensure_ascii=False``), which ``str.splitlines`` would take for line ends.
    """

    def fail(reason: str) -> ManifestError:
        return ManifestError([Problem(str(path), 0, "-", reason)])

    try:
        with open(path, encoding="utf-8", newline="") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise fail("manifest file does not exist") from None
    except IsADirectoryError:
        raise fail("is a directory, not a manifest file") from None
    except UnicodeDecodeError as e:
        raise fail(f"not UTF-8 text: {e.reason}") from None
    except OSError as e:
        raise fail(os_error_problem(e, path, "manifest")) from None
    except ValueError as e:  # embedded NUL in the path
        raise fail(f"unusable manifest path: {e}") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def validate_manifest(
    path: PathLike, *, check_media: bool = True, media_root: PathLike | None = None
) -> list[Problem]:
    """Check every row of a manifest and return ALL problems (empty when it is valid).

    Parameters
    ----------
    path : path-like
        A JSONL manifest.
    check_media : bool
        Also check that every referenced audio/MIDI/score file exists and is a file.
    media_root : path-like, optional
        Confine media to this folder: a URI that resolves outside it (symlinks followed)
        is a problem, whether or not ``check_media`` is set.

    Returns
    -------
    list of Problem
        In file order; a manifest that cannot be read at all gives one problem on line 0.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "m.jsonl").write_text('{"segment_id": "a", "t0": "0"}')
    >>> for p in validate_manifest(d / "m.jsonl"):
    ...     print(p.field, "|", p.reason)
    dataset | required field is missing
    t0 | Input should be a valid number, found the string "0"
    t1 | required field is missing
    provenance | required field is missing
    """
    p = Path(path)
    try:
        lines = _read_text_lines(p)
    except ManifestError as e:
        return e.problems
    _, problems = validate_lines(
        lines, path=str(p), base_dir=p.parent, check_media=check_media, media_root=media_root
    )
    return problems


def read_manifest(
    path: PathLike, *, check_media: bool = True, media_root: PathLike | None = None
) -> list[Segment]:
    """Read and validate a manifest; rows of older schema generations are migrated.

    Parameters
    ----------
    path : path-like
        A JSONL manifest.
    check_media : bool
        Also check that every referenced media file exists and is a file.
    media_root : path-like, optional
        Every media URI must resolve inside this folder.

    Returns
    -------
    list of Segment
        Latest-generation segments, in file order.

    Raises
    ------
    ManifestError
        Listing every problem (file, line, field, reason), if there is any.
    """
    p = Path(path)
    rows, problems = validate_lines(
        _read_text_lines(p),
        path=str(p),
        base_dir=p.parent,
        check_media=check_media,
        media_root=media_root,
    )
    if problems:
        raise ManifestError(problems)
    return [seg for _, seg in rows]


def _row_text(seg: Segment) -> str:
    return json.dumps(seg.to_json_dict(), ensure_ascii=False, separators=(",", ":"))


@contextlib.contextmanager
def atomic_write(path: PathLike, *, mode: str = "w") -> Iterator[Any]:
    """Open a temporary file beside ``path`` that replaces it only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    # mkstemp makes 0600 files: keep the target's mode, or give a new file the usual one
    try:
        mode_bits = target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode_bits = 0o666 & ~umask
    os.chmod(tmp, mode_bits)
    try:
        with os.fdopen(fd, mode, encoding="utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_manifest(path: PathLike, segments: Iterable[Segment]) -> int:
    """Write segments as a JSONL manifest, atomically; returns the number of rows.

    Raises
    ------
    SchemaError
        If two segments share a segment_id (nothing is written).
    """
    seen: set[str] = set()
    n = 0
    with atomic_write(path) as fh:
        for seg in segments:
            if seg.segment_id in seen:
                raise SchemaError(
                    f"{path}: duplicate segment_id {seg.segment_id!r}; nothing was written"
                )
            seen.add(seg.segment_id)
            fh.write(_row_text(seg) + "\n")
            n += 1
    return n


def append_segments(path: PathLike, segments: Iterable[Segment]) -> int:
    """Append rows to a manifest without touching the rows already there.

    The file is locked while appending, so concurrent writers do not interleave lines.

    Raises
    ------
    SchemaError
        If a new segment_id is already in the file or repeated in ``segments``
        (nothing is appended).
    """
    p = Path(path)
    new = list(segments)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "a+", encoding="utf-8") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            fh.seek(0)
            existing = fh.read()
            ids = _segment_ids(existing)
            for seg in new:
                if seg.segment_id in ids:
                    raise SchemaError(
                        f"{p}: segment_id {seg.segment_id!r} is already in the manifest; "
                        "nothing was appended"
                    )
                ids.add(seg.segment_id)
            text = "".join(_row_text(seg) + "\n" for seg in new)
            if existing and not existing.endswith("\n"):
                text = "\n" + text
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return len(new)


def _segment_ids(text: str) -> set[str]:
    ids: set[str] = set()
    for line in text.splitlines():
        with contextlib.suppress(ValueError, RecursionError, AttributeError, TypeError):
            sid = json.loads(line).get("segment_id")
            if isinstance(sid, str):
                ids.add(sid)
    return ids


_MERGED = ("labels", "label_mask", "label_std", "label_source")


def update_labels(path: PathLike, updates: Mapping[str, Mapping[str, Any]]) -> int:
    """Set fields (labels, label_mask, label_std, label_source, n_raters...) of some rows.

    Only the named rows are re-serialised (in the latest schema generation: an older row
    is migrated first); every other line is written back unchanged, and the file is
    replaced atomically. Every updated row is validated before anything is written.

    Parameters
    ----------
    path : path-like
        The manifest.
    updates : mapping
        ``{segment_id: {field: value}}``; ``labels``/``label_mask``/``label_std``/
        ``label_source`` are merged into the row's dicts, other fields replaced. New
        labelled dimensions are added to ``dims``.

    Returns
    -------
    int
        Number of rows updated.

    Raises
    ------
    SchemaError
        If a segment_id is not in the manifest or an updated row is invalid.
    """
    p = Path(path)
    lines = _read_text_lines(p)
    pending = dict(updates)
    out: list[str] = []
    problems: list[Problem] = []
    for n, text in enumerate(lines, start=1):
        sid = None
        with contextlib.suppress(ValueError, RecursionError, AttributeError, TypeError):
            sid = json.loads(text).get("segment_id")
        if not isinstance(sid, str) or sid not in pending:
            out.append(text)
            continue
        row = json.loads(text)
        if row.get("schema_version", LATEST_VERSION) != LATEST_VERSION:
            try:
                row = migrate(row)  # writers emit the latest generation
            except SchemaError as e:
                problems.append(Problem(str(p), n, "schema_version", str(e)))
                pending.pop(sid)
                out.append(text)
                continue
        for field, value in pending.pop(sid).items():
            if field in _MERGED and isinstance(value, Mapping):
                row[field] = {**(row.get(field) or {}), **value}
                row["dims"] = list(dict.fromkeys([*row.get("dims", []), *value]))
            else:
                row[field] = value
        new_text = json.dumps(row, ensure_ascii=False, separators=(",", ":"))
        _, errs = validate_lines([new_text], path=str(p), base_dir=p.parent, check_media=False)
        problems += [Problem(e.path, n, e.field, e.reason) for e in errs]
        out.append(new_text)
    if pending:
        missing = ", ".join(map(repr, sorted(pending)))
        raise SchemaError(f"{p}: no row with segment_id {missing}; nothing was written")
    if problems:
        raise ManifestError(problems)
    with atomic_write(p) as fh:
        fh.write("\n".join(out) + "\n")
    return len(updates)


def export_labels(segments: Iterable[Segment], out: PathLike) -> int:
    """Write labels as segment ids + numbers only (no media, no paths), atomically.

    Each row keeps the segment's licence, dataset, taxonomy, source and the provenance of
    each label (``label_source``), so labels can be shared without redistributing any
    audio or MIDI (licence hygiene).
    """

    def rows() -> Iterator[str]:
        for seg in segments:
            labelled = seg.labelled_dims() or [d for d in seg.dims if seg.labels.get(d) is not None]
            if not labelled:
                continue
            row: dict[str, Any] = {
                "schema_version": seg.schema_version,
                "segment_id": seg.segment_id,
                "dataset": seg.dataset,
                "taxonomy": seg.taxonomy,
                "source": seg.source,
                "rater_id": seg.rater_id,
                "n_raters": seg.n_raters,
                "license": seg.license,
                "labels": {d: seg.labels[d] for d in labelled},
            }
            if seg.label_std:
                row["label_std"] = {d: seg.label_std[d] for d in labelled if d in seg.label_std}
            sources = seg.label_sources()
            row["label_source"] = {d: sources[d] for d in labelled if d in sources}
            yield json.dumps({k: v for k, v in row.items() if v is not None}, separators=(",", ":"))

    n = 0
    with atomic_write(out) as fh:
        for text in rows():
            fh.write(text + "\n")
            n += 1
    return n
