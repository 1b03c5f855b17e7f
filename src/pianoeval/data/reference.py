"""What is usual: per-bar measurements and ratings of the labelled performances, as percentiles.

Feedback on a performance (:mod:`pianoeval.rater.feedback`) says a bar *stands out* when a
measurement (:func:`pianoeval.symbolic.align.bars.bar_measures`) or a window's rating lies
beyond the 10th/90th percentile of the same quantity over the labelled performances of the
same passage, where there are some, else over all of them. :func:`build_reference` computes
those percentiles from PercePiano (MIT): every labelled performance aligned to its
excerpt's score rendition (the score every rater figure used), bar by bar; the dynamics
against the markings of the excerpt's MusicXML (the renditions have none), globally.
Passages are recognised by :meth:`NotatedScore.fingerprint` of the rendition, so a user
who brings the same score gets that passage's own reference. The result is a small JSON of
numbers (no notes), shipped in the package (:data:`REFERENCE_FILE`).
"""

from __future__ import annotations

import functools
import json
import lzma
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from pianoeval._typing import PathLike

__all__ = ["LEVELS", "REFERENCE_FILE", "build_reference", "load_reference", "save_reference"]

#: Where the shipped reference lives (xz-compressed JSON).
REFERENCE_FILE = Path(__file__).resolve().parents[1] / "rater" / "weights" / "reference.json.xz"
#: The percentiles kept: a value below the first or above the second stands out.
LEVELS = (10.0, 90.0)
_KIND = "pianoeval.reference"
_SCHEMA_VERSION = 1
#: Fewest performances of a passage for its own percentiles (else the global ones serve).
MIN_PASSAGE_PERFORMANCES = 8


def _pct(values: list[float]) -> list[float] | None:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size < 3:
        return None
    return [round(float(x), 5) for x in np.percentile(v, LEVELS)]


def build_reference(data_root: PathLike | None = None, *, progress: bool = True) -> dict[str, Any]:
    """Compute the per-bar and per-rating percentiles of the labelled PercePiano performances.

    Parameters
    ----------
    data_root : path-like, optional
        Holds ``percepiano/`` (default: :func:`~pianoeval.data.root.find_data_root`).
    progress : bool
        A tqdm bar on stderr.

    Returns
    -------
    dict
        JSON-ready: ``bars`` (``all``: measure -> [p10, p90]; ``passages``: fingerprint ->
        ``{excerpt, n, bars: {bar: {measure: [p10, p90]}}}``), ``ratings`` (``all``: dimension
        -> [p10, p90] of the labels; ``passages``: fingerprint -> the same per passage),
        the number of performances, bars and failures, the licence.
    """
    from tqdm.auto import tqdm

    from pianoeval.data.percepiano import (
        load_released_labels,
        parse_name,
        percepiano_midi_paths,
        percepiano_score_paths,
    )
    from pianoeval.data.root import find_data_root
    from pianoeval.dims import get_taxonomy
    from pianoeval.errors import PianoEvalError
    from pianoeval.symbolic.align import align
    from pianoeval.symbolic.align.bars import BAR_MEASURES, bar_measures
    from pianoeval.symbolic.midi import load_midi

    root = find_data_root(data_root, dataset="percepiano")
    means, _ = load_released_labels(root)
    dims = [d.name for d in get_taxonomy("percepiano19")]
    midis = percepiano_midi_paths(root)
    xml = percepiano_score_paths(root, source="score_xml")
    rendition = percepiano_score_paths(root, source="midi")
    scores: dict[str, Any] = {}
    per_bar: dict[str, dict[int, dict[str, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    everything: dict[str, list[float]] = defaultdict(list)
    labels_of: dict[str, list[np.ndarray]] = defaultdict(list)
    excerpt_of: dict[str, str] = {}
    n_perf, failures = 0, list[str]()
    ids = sorted(i for i in means if i in midis)
    xml_scores: dict[str, Any] = {}
    for sid in tqdm(ids, desc="reference", disable=not progress):
        excerpt = parse_name(sid).excerpt
        if excerpt not in scores:
            scores[excerpt] = _first_score(rendition.get(excerpt), failures=failures)
            xml_scores[excerpt] = _first_score(xml.get(excerpt), failures=failures)
        score, notated = scores[excerpt], xml_scores[excerpt]
        if score is None:
            continue
        try:
            perf = load_midi(midis[sid])
            bars = bar_measures(align(perf, score, backend="chord_dtw"), perf, score)
        except PianoEvalError as e:
            failures.append(f"{sid}: {e}")
            continue
        fp = score.fingerprint()
        excerpt_of[fp] = excerpt
        labels_of[fp].append(np.asarray(means[sid], dtype=float))
        n_perf += 1
        for b in bars:
            for m in BAR_MEASURES:
                v = float(getattr(b, m))
                everything[m].append(v)
                per_bar[fp][b.bar][m].append(v)
        if notated is not None and notated.dynamics:
            # dynamics against the MusicXML's markings (the renditions carry none)
            try:
                marked = bar_measures(align(perf, notated, backend="chord_dtw"), perf, notated)
            except PianoEvalError as e:
                failures.append(f"{sid} (MusicXML): {e}")
                continue
            everything["dynamics_residual"] += [b.dynamics_residual for b in marked]
    passages: dict[str, Any] = {}
    for fp, by_bar in per_bar.items():
        n = len(labels_of[fp])
        if n < MIN_PASSAGE_PERFORMANCES:
            continue
        passages[fp] = {
            "excerpt": excerpt_of[fp],
            "n": n,
            "bars": {
                str(bar): {m: p for m, vals in ms.items() if (p := _pct(vals)) is not None}
                for bar, ms in sorted(by_bar.items())
            },
        }
    all_labels = np.concatenate([np.stack(v) for v in labels_of.values()])
    rating_passages = {
        fp: {d: _pct(list(np.stack(v)[:, j])) for j, d in enumerate(dims)}
        for fp, v in labels_of.items()
        if len(v) >= MIN_PASSAGE_PERFORMANCES
    }
    return {
        "schema_version": _SCHEMA_VERSION,
        "kind": _KIND,
        "levels": list(LEVELS),
        "source": "PercePiano labelled performances aligned to their excerpt's score "
        "rendition (dynamics: to its MusicXML), chord_dtw alignment",
        "licence": "MIT",
        "n_performances": n_perf,
        "n_bars": len(everything.get(BAR_MEASURES[0], [])),
        "n_failed": len(failures),
        "bars": {
            "all": {m: _pct(v) for m, v in everything.items()},
            "passages": passages,
        },
        "ratings": {
            "taxonomy": "percepiano19",
            "all": {d: _pct(list(all_labels[:, j])) for j, d in enumerate(dims)},
            "passages": rating_passages,
        },
    }


def _first_score(*paths: Path | None, failures: list[str]) -> Any:
    """Return the first of ``paths`` that reads as a score (MusicXML first: dynamics)."""
    from pianoeval.errors import PianoEvalError
    from pianoeval.symbolic.align.score import load_score

    for path in paths:
        if path is None:
            continue
        try:
            return load_score(path)
        except PianoEvalError as e:
            failures.append(str(e))
    return None


def save_reference(record: dict[str, Any], path: PathLike = REFERENCE_FILE) -> Path:
    """Write ``record`` as xz-compressed compact JSON."""
    p = Path(path)
    p.write_bytes(lzma.compress(json.dumps(record, separators=(",", ":")).encode()))
    return p


def load_reference(path: PathLike = REFERENCE_FILE) -> dict[str, Any]:
    """Read the reference (the shipped one by default), once per process and file.

    The record is shared between calls (reading it costs 20-35 ms, a sixth of a warm MIDI
    evaluation): do not modify it.

    Raises
    ------
    SchemaError
        If the file is missing, unreadable or not a reference (the message names it).
    """
    p = Path(path).resolve()
    return _load_reference(str(p), p.stat().st_mtime_ns if p.is_file() else 0)


@functools.lru_cache(maxsize=4)
def _load_reference(path: str, mtime_ns: int) -> dict[str, Any]:
    from pianoeval.errors import SchemaError

    del mtime_ns  # part of the cache key only: a rewritten file is read again
    p = Path(path)
    try:
        record = json.loads(lzma.decompress(p.read_bytes()))
    except FileNotFoundError:
        raise SchemaError(f"{p}: no reference file there") from None
    except (OSError, lzma.LZMAError, ValueError) as e:
        raise SchemaError(f"{p}: not a readable reference ({e})") from None
    if not isinstance(record, dict) or record.get("kind") != _KIND:
        raise SchemaError(f"{p}: not a pianoeval reference file")
    if record.get("schema_version") != _SCHEMA_VERSION:
        raise SchemaError(
            f"{p}: unsupported reference schema_version {record.get('schema_version')!r}"
        )
    return record
