"""Anchors: a low, a mid and a high example clip per dimension, shown beside each slider.

Task
    Raters place a clip on a scale more consistently when they can hear what the ends and
    the middle of that scale sound like. :func:`build_anchors` picks those examples from
    labelled data and writes them as ``anchors.json``, which the labeling app reads.

How examples are picked (per dimension)
    - **Human labels** (``label_source`` human or model_verified): among the segments with
      high agreement, those whose ``label_std`` is at most the dimension's median
      ``label_std`` (``agreement='median'``, or a number: the largest std allowed), the
      segments nearest the 10th, 50th and 90th percentiles of the label (percentiles of the
      high-agreement segments). Low, mid and high come from distinct excerpts
      (``groups['excerpt']``, else distinct segments) where possible.
    - **Calibrated pseudo-labels** where a dimension has no human labels (``source='auto'``,
      fewer than ``min_candidates`` labelled segments) or when asked (``source='pseudo'``):
      ``pseudo_calibrated`` (``{"<taxonomy>.<dim>": value}``, the execution16 proxies mapped
      onto the human scale), the same percentiles; no agreement filter (there is one value).
      Anchors of the ``execution16`` taxonomy itself (``taxonomy='execution16'``) take its
      ``pseudo_labels`` directly.
    - **Hand-picked**: ``picks={(dim, level): segment_id}`` replaces any pick.

Format (``anchors.json``)
    ``{dim: {"low"|"mid"|"high": {"clip_uri", "t0", "t1", "desc", ...}}}``: ``clip_uri`` a
    ``file://`` URI or a path relative to the file's folder (:func:`write_anchors` writes
    clips inside that folder so), ``t0``/``t1`` seconds within it, ``desc`` one editable
    sentence. Extra
    keys are kept and allowed by :func:`read_anchors`: ``segment_id``, ``value`` (the label),
    ``percentile``, ``source`` (human, pseudo, picked) and ``license`` (the clip's licence,
    from the row's provenance; licence hygiene travels with the clip).

Media
    Audio rows point at their source with the segment's ``t0``/``t1``. MIDI-only rows are
    rendered with FluidSynth (:mod:`pianoeval.render`, fixed gain, no normalisation:
    loudness is a label) to exactly ``t0``-``t1`` into ``media_dir`` (:func:`render_clip`),
    and point at the WAV with ``t0 = 0``; with ``render=False`` they point at the MIDI and
    the app renders on demand.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pianoeval.errors import ParameterError, PianoEvalError, PianoEvalWarning, SchemaError

if TYPE_CHECKING:
    from pianoeval.dims import Dimension
    from pianoeval.manifest import Segment

__all__ = [
    "LEVELS",
    "PERCENTILES",
    "build_anchors",
    "default_desc",
    "parse_pick",
    "read_anchors",
    "render_clip",
    "write_anchors",
]

LEVELS = ("low", "mid", "high")
#: Target percentile of each level.
PERCENTILES = {"low": 10.0, "mid": 50.0, "high": 90.0}
Source = Literal["auto", "human", "pseudo"]


def render_clip(
    midi_path: str | Path,
    t0: float,
    t1: float,
    out_dir: str | Path,
    name: str,
    *,
    soundfont: str = "fluidr3_gm",
) -> Path:
    """Render ``t0``-``t1`` of a MIDI file to a WAV in ``out_dir``; return its path.

    The file name carries a hash of the MIDI's bytes, the span and the SoundFont, so a
    clip is rendered once and reused. Rendering is :func:`pianoeval.render.render_midi`
    (fixed gain, no normalisation), cut to exactly ``[t0, t1)``.

    Raises
    ------
    MidiError, SoundFontNotFoundError, BackendUnavailableError
        From the renderer.
    """
    import soundfile as sf

    from pianoeval.render import render_midi

    midi = Path(midi_path)
    h = hashlib.sha256()
    try:
        h.update(midi.read_bytes())
    except OSError as e:
        from pianoeval.errors import MidiError

        raise MidiError(midi, f"cannot read the MIDI file ({e.strerror or e})") from None
    h.update(f"{t0:.6f}-{t1:.6f}-{soundfont}".encode())
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "clip"
    out = Path(out_dir) / f"{safe}_{h.hexdigest()[:10]}.wav"
    if out.is_file():
        return out
    y, sr = render_midi(midi, soundfont=soundfont)
    clip = y[round(t0 * sr) : round(t1 * sr)]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.wav")
    sf.write(tmp, clip, sr, subtype="PCM_16")
    tmp.replace(out)
    return out


def default_desc(dim: Dimension, level: str, value: float, percentile: float) -> str:
    """One sentence describing an anchor from the dimension's descriptors and its label.

    Examples
    --------
    >>> from pianoeval.dims import get_taxonomy
    >>> default_desc(get_taxonomy("percepiano19")["articulation_length"], "high", 0.84, 90)
    'A passage with clearly long articulation length (label 0.84, 90th percentile).'
    """
    where = f"(label {value:.2f}, {_ordinal(round(percentile))} percentile)"
    what = dim.name.replace("_", " ")
    if level == "low":
        return f"A passage with clearly {dim.low} {what} {where}."
    if level == "high":
        return f"A passage with clearly {dim.high} {what} {where}."
    return f"A passage with {what} midway between {dim.low} and {dim.high} {where}."


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def parse_pick(text: str) -> tuple[str, str, str]:
    """Parse ``dim:level=segment_id`` (the ``--pick`` option) into its three parts."""
    m = re.fullmatch(r"\s*([^:=\s]+)\s*:\s*(low|mid|high)\s*=\s*(\S.*?)\s*", text)
    if not m:
        raise ParameterError(
            f"pick {text!r} is not dim:level=segment_id with level low, mid or high"
        )
    return m.group(1), m.group(2), m.group(3)


def _candidates(
    rows: Sequence[Segment], dim: Dimension, kind: str
) -> list[tuple[Segment, float, float | None]]:
    out: list[tuple[Segment, float, float | None]] = []
    for seg in rows:
        if kind == "human":
            sources = seg.label_sources()
            for name in (dim.name, dim.qualified_name):
                value = seg.labels.get(name)
                if value is not None and sources.get(name) in ("human", "model_verified"):
                    if seg.taxonomy not in (None, dim.taxonomy) and name == dim.name:
                        continue
                    std = (seg.label_std or {}).get(name)
                    out.append((seg, float(value), std))
                    break
        else:
            value = (seg.pseudo_calibrated or {}).get(dim.qualified_name)
            if value is None and dim.taxonomy == seg.pseudo_taxonomy:
                value = (seg.pseudo_labels or {}).get(dim.name)  # anchors of execution16 itself
            if value is not None and math.isfinite(value):
                out.append((seg, float(value), None))
    return out


def _excerpt(seg: Segment) -> str:
    return seg.groups.get("excerpt") or seg.segment_id


def _pick_levels(
    cands: list[tuple[Segment, float, float | None]],
) -> dict[str, tuple[Segment, float, float]]:
    values = np.array([v for _, v, _ in cands])
    picks: dict[str, tuple[Segment, float, float]] = {}
    used: set[str] = set()
    used_segments: set[str] = set()
    for level in LEVELS:
        target = float(np.percentile(values, PERCENTILES[level]))
        order = np.argsort(np.abs(values - target), kind="stable")
        fresh = [i for i in order if _excerpt(cands[i][0]) not in used]
        pool = fresh or [i for i in order if cands[i][0].segment_id not in used_segments]
        i = int((pool or list(order))[0])
        seg, v, _ = cands[i]
        pct = 100.0 * (float((values < v).mean()) + 0.5 * float((values == v).mean()))
        picks[level] = (seg, v, pct)
        used.add(_excerpt(seg))
        used_segments.add(seg.segment_id)
    return picks


def _clip(
    seg: Segment,
    *,
    base_dir: Path,
    render: bool,
    media_dir: Path | None,
    soundfont: str,
) -> tuple[str, float, float]:
    from pianoeval.manifest.uri import path_to_uri, uri_to_path

    if seg.audio_uri:
        return path_to_uri(uri_to_path(seg.audio_uri, base_dir).resolve()), seg.t0, seg.t1
    if not seg.midi_uri:
        raise SchemaError(f"segment {seg.segment_id!r} has no audio_uri or midi_uri")
    midi = uri_to_path(seg.midi_uri, base_dir).resolve()
    if not render:
        return path_to_uri(midi), seg.t0, seg.t1
    if media_dir is None:
        raise ParameterError("MIDI-only anchors need a media_dir to render their clips into")
    wav = render_clip(midi, seg.t0, seg.t1, media_dir, seg.segment_id, soundfont=soundfont)
    return path_to_uri(wav.resolve()), 0.0, seg.t1 - seg.t0


def build_anchors(
    manifest_rows: Sequence[Segment],
    *,
    dims: Sequence[str] | None = None,
    taxonomy: str = "percepiano19",
    source: Source = "auto",
    agreement: float | Literal["median"] = "median",
    picks: Mapping[tuple[str, str], str] | None = None,
    render: bool = True,
    media_dir: str | Path | None = None,
    base_dir: str | Path | None = None,
    soundfont: str = "fluidr3_gm",
    min_candidates: int = 3,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Pick low/mid/high anchors per dimension (see the module docstring).

    Parameters
    ----------
    manifest_rows : sequence of Segment
        Labelled (or pseudo-labelled) segments.
    dims : sequence of str, optional
        Dimensions of ``taxonomy`` (default: every dimension of it).
    taxonomy : str
        The taxonomy the anchors are for (``percepiano19``).
    source : {'auto', 'human', 'pseudo'}
        Human labels, calibrated pseudo-labels, or human where there are enough.
    agreement : 'median' or float
        The high-agreement filter on ``label_std`` (human labels only).
    picks : mapping, optional
        ``{(dim, level): segment_id}`` hand-picked anchors, replacing the automatic ones.
    render : bool
        Render MIDI-only clips into ``media_dir`` (else point at the MIDI).
    media_dir : path-like, optional
        Where rendered clips go.
    base_dir : path-like, optional
        The manifest's folder (relative URIs resolve against it; default the current one).
    soundfont : str
        SoundFont of the renders.
    min_candidates : int
        With ``source='auto'``, a dimension with fewer human-labelled segments uses
        pseudo-labels.

    Returns
    -------
    dict
        ``{dim: {level: {"clip_uri", "t0", "t1", "desc", "segment_id", "value",
        "percentile", "source", "license"}}}``.

    Raises
    ------
    ParameterError
        Bad ``source``/``agreement``; a pick naming an unknown dimension, level or segment;
        no dimension with anything to pick from.

    Warns
    -----
    PianoEvalWarning
        For a dimension with nothing to pick from (left out).
    """
    from pianoeval.dims import get_taxonomy

    if source not in ("auto", "human", "pseudo"):
        raise ParameterError(f"source must be auto, human or pseudo, got {source!r}")
    if agreement != "median" and not (isinstance(agreement, int | float) and agreement >= 0):
        raise ParameterError(f"agreement must be 'median' or a std >= 0, got {agreement!r}")
    tax = get_taxonomy(taxonomy)
    names = list(dims) if dims is not None else tax.names
    dimensions = [tax[n.split(".", 1)[1] if n.startswith(f"{taxonomy}.") else n] for n in names]
    by_id = {s.segment_id: s for s in manifest_rows}
    picks = dict(picks or {})
    for (pd_name, level), pick_id in picks.items():
        if pd_name not in tax:
            raise ParameterError(f"pick {pd_name}:{level}: {taxonomy} has no dimension {pd_name!r}")
        if level not in LEVELS:
            raise ParameterError(f"pick {pd_name}:{level}: level must be low, mid or high")
        if pick_id not in by_id:
            raise ParameterError(f"pick {pd_name}:{level}: no segment {pick_id!r} in the manifest")
        if pd_name not in {d.name for d in dimensions}:
            dimensions.append(tax[pd_name])
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    media = Path(media_dir) if media_dir is not None else None

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for dim in dimensions:
        human = _candidates(manifest_rows, dim, "human")
        if source == "human" or (source == "auto" and len(human) >= min_candidates):
            kind, cands = "human", human
            stds = [s for _, _, s in cands if s is not None]
            if stds:
                limit = float(np.median(stds)) if agreement == "median" else float(agreement)
                cands = [c for c in cands if c[2] is not None and c[2] <= limit]
        else:
            kind, cands = "pseudo", _candidates(manifest_rows, dim, "pseudo")
        chosen: dict[str, tuple[Segment, float, float, str]] = {}
        if cands:
            for level, (seg, v, pct) in _pick_levels(cands).items():
                chosen[level] = (seg, v, pct, kind)
        all_values = np.array([v for _, v, _ in cands]) if cands else np.array([])
        for level in LEVELS:
            picked_id = picks.get((dim.name, level))
            if picked_id is None:
                continue
            seg = by_id[picked_id]
            value = seg.labels.get(dim.name) if seg.taxonomy in (None, taxonomy) else None
            if value is None:
                value = seg.labels.get(dim.qualified_name)
            if value is None:
                value = (seg.pseudo_calibrated or {}).get(dim.qualified_name)
            v = float(value) if value is not None else float("nan")
            pct = (
                100.0 * float((all_values < v).mean()) if all_values.size and math.isfinite(v)
                else float("nan")
            )  # fmt: skip
            chosen[level] = (seg, v, pct, "picked")
        if not chosen:
            warnings.warn(
                f"no {source if source != 'auto' else 'human or pseudo'} labels of "
                f"{dim.qualified_name} to pick anchors from: left out",
                PianoEvalWarning,
                stacklevel=2,
            )
            continue
        entry: dict[str, dict[str, Any]] = {}
        for level in LEVELS:
            if level not in chosen:
                continue
            seg, v, pct, how = chosen[level]
            uri, t0, t1 = _clip(seg, base_dir=base, render=render, media_dir=media,
                                soundfont=soundfont)  # fmt: skip
            desc = (
                default_desc(dim, level, v, pct) if math.isfinite(v) and math.isfinite(pct)
                else f"Hand-picked {level} example of {dim.name}."
            )  # fmt: skip
            entry[level] = {
                "clip_uri": uri,
                "t0": float(t0),
                "t1": float(t1),
                "desc": desc,
                "segment_id": seg.segment_id,
                "value": v if math.isfinite(v) else None,
                "percentile": round(pct, 1) if math.isfinite(pct) else None,
                "source": how,
                "license": seg.license,
            }
        out[dim.name] = entry
    if not out:
        raise ParameterError("no dimension has labels or pseudo-labels to pick anchors from")
    return out


def _check_anchors(data: Any, where: str) -> dict[str, dict[str, dict[str, Any]]]:
    if not isinstance(data, dict):
        raise SchemaError(f"{where}: expected a JSON object {{dim: {{low|mid|high: ...}}}}")
    for dim, levels in data.items():
        if not isinstance(levels, dict) or not levels:
            raise SchemaError(f"{where}: {dim}: expected an object with low, mid and/or high")
        for level, a in levels.items():
            at = f"{where}: {dim}.{level}"
            if level not in LEVELS:
                raise SchemaError(f"{at}: level must be one of {', '.join(LEVELS)}")
            if not isinstance(a, dict):
                raise SchemaError(f"{at}: expected an object with clip_uri, t0, t1, desc")
            missing = [k for k in ("clip_uri", "t0", "t1", "desc") if k not in a]
            if missing:
                raise SchemaError(f"{at}: missing {', '.join(missing)}")
            if not isinstance(a["clip_uri"], str) or not a["clip_uri"]:
                raise SchemaError(f"{at}.clip_uri: expected a non-empty string")
            if not isinstance(a["desc"], str):
                raise SchemaError(f"{at}.desc: expected a string")
            for k in ("t0", "t1"):
                v = a[k]
                if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                    raise SchemaError(f"{at}.{k}: expected a finite number, found {v!r}")
            if a["t0"] < 0 or a["t1"] <= a["t0"]:
                raise SchemaError(f"{at}: need 0 <= t0 < t1, found t0={a['t0']}, t1={a['t1']}")
            lic = a.get("license")
            if lic is not None and not (isinstance(lic, str) and lic):
                raise SchemaError(f"{at}.license: expected a non-empty string")
    return data


def write_anchors(anchors: Mapping[str, Any], path: str | Path, *, relative: bool = True) -> Path:
    """Validate and write ``anchors.json`` atomically (indented, editable by hand).

    With ``relative``, a ``clip_uri`` inside the file's folder (the rendered clips) is
    written as a path relative to it, so the folder can move as a whole; the labeling app
    resolves relative clip URIs against the anchors file's folder.
    """
    from pianoeval.manifest import atomic_write
    from pianoeval.manifest.uri import path_to_uri, uri_to_path

    p = Path(path)
    data = json.loads(json.dumps(anchors))
    _check_anchors(data, str(p))
    if relative:
        base = p.parent.resolve()
        for levels in data.values():
            for a in levels.values():
                try:
                    clip = uri_to_path(a["clip_uri"], base)
                except PianoEvalError:
                    continue
                a["clip_uri"] = path_to_uri(clip, base)
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(p) as fh:
        fh.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return p


def read_anchors(path: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Read and validate ``anchors.json``; a bad file raises :class:`SchemaError` naming it."""
    from pianoeval.label._files import read_json

    return _check_anchors(read_json(path, "anchors file"), str(path))
