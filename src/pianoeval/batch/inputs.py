"""Turn what a user names (files, folders, glob patterns, manifests) into the files a batch reads.

Conventions
-----------
- A **file** is kept as given, whatever its suffix: the task reports what it cannot read.
- A **folder** is searched recursively, in sorted order, for the suffixes asked for;
  hidden files and folders are skipped (:func:`pianoeval._paths.expand_inputs`).
- A **glob pattern** (a spec holding ``*``, ``?`` or ``[`` that names no existing file) is
  expanded by :mod:`pathlib` (``**`` recurses), relative to the current folder unless it
  is absolute; the files matched with a wanted suffix are kept, sorted, and a folder
  matched is searched like a folder given by name. Hidden names match only where the
  pattern spells their dot.
- A **manifest** (a ``.jsonl`` file) is read with :func:`pianoeval.manifest.read_manifest`
  (every row validated, media not checked); each row gives its ``midi_uri`` or
  ``audio_uri`` (the first whose suffix is wanted, or the field named by ``uri_field``),
  resolved against the manifest's folder, else against the data root
  (:func:`pianoeval.data.root.find_data_root`) when the file is only there; a file found
  in neither place is kept (its task reports it). Rows that share a file give it once:
  a batch works on whole files, not on the ``[t0, t1]`` segments of the rows.

The same file named twice (by two specs) is read twice only if it is named by two
different spellings; an exact repeat is dropped, so a folder and a glob over it do not
double the work. Every spec that matches nothing is reported, all of them at once
(:class:`NoInputError`), never silently skipped.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pianoeval._typing import PathLike
from pianoeval.errors import FileProblemError

__all__ = [
    "MANIFEST_SUFFIXES",
    "InputSet",
    "NoInputError",
    "collect_inputs",
    "expand_inputs",
    "is_glob",
]

#: Specs with these suffixes are read as manifests (one Segment per line).
MANIFEST_SUFFIXES = frozenset({".jsonl"})

_GLOB_CHARS = frozenset("*?[")


class NoInputError(FileProblemError):
    """A spec (folder, glob pattern, manifest) that names no file of the kinds wanted."""


@dataclass
class InputSet:
    """The files a batch reads, and the specs that gave none.

    Attributes
    ----------
    files : list of Path
        In the order the specs were given; each folder's and glob's files sorted.
    problems : list of FileProblemError
        One per spec that matched nothing (or a folder that cannot be listed), naming it.
    """

    files: list[Path] = field(default_factory=list)
    problems: list[FileProblemError] = field(default_factory=list)


def is_glob(spec: PathLike) -> bool:
    """Whether ``spec`` is a glob pattern: it holds ``*``, ``?`` or ``[`` and is no file.

    Examples
    --------
    >>> is_glob("takes/*.mid"), is_glob("take.mid")
    (True, False)
    """
    text = os.fspath(spec)
    if not _GLOB_CHARS.intersection(text):
        return False
    try:
        return not Path(text).exists()
    except (OSError, ValueError):
        return True


def _glob(pattern: str) -> list[Path]:
    """Expand a pattern; hidden names are matched only where the pattern spells the dot."""
    p = Path(pattern)
    base = Path(p.anchor) if p.is_absolute() else Path()
    parts = p.relative_to(base).parts
    fixed = 0
    while fixed < len(parts) and not _GLOB_CHARS.intersection(parts[fixed]):
        fixed += 1
    allow_hidden = any(part.startswith(".") for part in parts[fixed:])
    found = []
    for match in base.glob(str(Path(*parts))):
        tail = match.relative_to(base).parts[fixed:]
        if allow_hidden or not any(part.startswith(".") for part in tail):
            found.append(match)
    return sorted(found)


def _manifest_files(
    manifest: Path, wanted: Collection[str], uri_field: str | None, data_root: PathLike | None
) -> list[Path]:
    from pianoeval.manifest import read_manifest, uri_to_path

    fields = (uri_field,) if uri_field else ("midi_uri", "audio_uri")
    root: Path | None = None
    out: list[Path] = []
    seen: set[Path] = set()
    # media are checked here, against the data root too, not by the reader
    for seg in read_manifest(manifest, check_media=False):
        for name in fields:
            uri = getattr(seg, name, None)
            if not uri:
                continue
            if uri_field is None and Path(uri).suffix.lower() not in wanted:
                continue
            path = uri_to_path(uri, manifest.parent)
            if not path.exists() and not Path(uri).is_absolute() and "://" not in uri:
                if root is None:
                    root = _data_root(data_root)
                if root is not None and (root / uri).exists():
                    path = root / uri
            if path not in seen:
                seen.add(path)
                out.append(path)
            break
    return out


def _data_root(data_root: PathLike | None) -> Path | None:
    from pianoeval.data.root import find_data_root
    from pianoeval.errors import DataRootError

    try:
        return find_data_root(data_root)
    except DataRootError:
        return None


def collect_inputs(
    specs: Iterable[PathLike],
    suffixes: Collection[str],
    *,
    uri_field: str | None = None,
    data_root: PathLike | None = None,
) -> InputSet:
    """Expand files, folders, glob patterns and manifests; collect what matched nothing.

    Parameters
    ----------
    specs : iterable of path-like
        What the user named, in order.
    suffixes : collection of str
        Lower-case suffixes with the dot (``pianoeval.constants.MIDI_SUFFIXES``...).
    uri_field : str, optional
        The manifest field to read (``"midi_uri"``, ``"audio_uri"``); default the first of
        ``midi_uri``, ``audio_uri`` whose suffix is wanted.
    data_root : path-like, optional
        Where relative manifest URIs are looked for when they are not beside the manifest
        (default: :func:`pianoeval.data.root.find_data_root`'s answer, when there is one).

    Returns
    -------
    InputSet

    Raises
    ------
    ManifestError
        If a manifest is not valid (every problem listed).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("a.mid", "b.mid", "c.txt"):
    ...     _ = (d / name).write_bytes(b"x")
    >>> got = collect_inputs([d / "*.mid", d / "*.wav"], {".mid"})
    >>> [f.name for f in got.files], len(got.problems)
    (['a.mid', 'b.mid'], 1)
    """
    from pianoeval._paths import expand_inputs as expand_folders

    wanted = {s.lower() for s in suffixes}
    out = InputSet()
    seen: set[Path] = set()

    def add(paths: Iterable[Path]) -> None:
        for p in paths:
            if p not in seen:
                seen.add(p)
                out.files.append(p)

    for raw in specs:
        text = os.fspath(raw)
        if is_glob(text):
            matched = _glob(text)
            files = [p for p in matched if p.is_file() and p.suffix.lower() in wanted]
            folders = [p for p in matched if p.is_dir()]
            if folders:
                found, _ = expand_folders(folders, wanted, kind=NoInputError)
                files = sorted({*files, *found})
            if not files:
                kinds = ", ".join(sorted(wanted))
                out.problems.append(
                    NoInputError(text, f"the pattern matches no file of the kinds read ({kinds})")
                )
            add(files)
            continue
        p = Path(text)
        if p.suffix.lower() in MANIFEST_SUFFIXES and p.is_file():
            files = _manifest_files(p, wanted, uri_field, data_root)
            if not files:
                fields = uri_field or "midi_uri/audio_uri"
                out.problems.append(
                    NoInputError(p, f"the manifest has no row with a {fields} of the kinds read")
                )
            add(files)
            continue
        found, problems = expand_folders([p], wanted, kind=NoInputError)
        out.problems.extend(problems)
        add(found)
    return out


def expand_inputs(
    specs: Iterable[PathLike],
    suffixes: Collection[str],
    *,
    uri_field: str | None = None,
    data_root: PathLike | None = None,
) -> list[Path]:
    """Return the files that files, folders, glob patterns and manifests name.

    Like :func:`collect_inputs`, but a spec that matches nothing is an error.

    Parameters
    ----------
    specs, suffixes, uri_field, data_root
        As in :func:`collect_inputs`.

    Returns
    -------
    list of Path

    Raises
    ------
    NoInputError
        Naming every spec that matched nothing (one line each), or saying that no spec
        was given.
    ManifestError
        If a manifest is not valid.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "take.mid").write_bytes(b"x")
    >>> [p.name for p in expand_inputs([d], {".mid"})]
    ['take.mid']
    >>> expand_inputs([d / "*.wav"], {".wav"})
    Traceback (most recent call last):
    ...
    pianoeval.batch.inputs.NoInputError: ...*.wav: the pattern matches no file of the kinds ...
    """
    specs = list(specs)
    if not specs:
        raise NoInputError("", "no input named: give files, folders, glob patterns or manifests")
    got = collect_inputs(specs, suffixes, uri_field=uri_field, data_root=data_root)
    if len(got.problems) == 1:
        raise got.problems[0]
    if got.problems:
        lines = "; ".join(str(p) for p in got.problems)
        raise NoInputError(
            os.fspath(got.problems[0].path), f"{len(got.problems)} inputs matched nothing: {lines}"
        )
    return got.files
