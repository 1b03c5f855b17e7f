"""Label Studio both ways: a queue as tasks and a labeling config; annotations back in.

Task
    Let a team that already runs Label Studio rate a queue there, and bring the answers back
    into the answer store (so QC sees them beside the app's) or straight into a manifest.

Tasks (:func:`queue_to_tasks`)
    One task per queue row: ``data.audio`` (the media the rater hears), ``data.segment_id``,
    ``data.t0``/``data.t1`` (seconds within ``data.audio``), ``data.source_t0``/``source_t1``
    (the span in the source), ``data.dataset``, ``data.license``. Label Studio plays whole
    files, so with a ``media_dir`` every clip is cut to exactly its span first (audio
    cropped, MIDI-only rows rendered); without one, audio rows point at their source. A
    queue row's ``active.predicted`` (``{"<taxonomy>.<dim>": label}``, from ``pianoeval
    select``) becomes a Label Studio ``predictions`` entry, so the sliders start at the
    model's values.

Labeling config (:func:`labeling_config`)
    ``<Audio name="audio" value="$audio"/>`` and, per dimension, a header with its low and
    high descriptors and a control named after the dimension:

    - ``widget="slider"`` (default): ``<Number ... min="0" max="1" step="0.01"
      slider="true"/>``, Label Studio's documented Number tag with its slider look; the
      value ``v`` is the slider position between the low (0) and high (1) descriptors.
    - ``widget="rating"``: ``<Rating ... maxRating="7"/>``; a rating ``r`` of ``n`` is the
      slider position ``(r - 1) / (n - 1)``.

    On import a slider position becomes a label on the dimension's taxonomy range,
    ``lo + v * (hi - lo)`` (the scale the answer store and manifests hold), so a 7-point
    rating ``r`` of a ``percepiano19`` dimension is the label ``r / 7``, PercePiano's own
    convention; predictions (labels) go out the inverse way.

    plus ``<Choices name="unsure" choice="multiple">`` (one choice per dimension) and a
    ``<TextArea name="note">``.

Import (:func:`annotations_to_rows`, :func:`import_into_store`, :func:`import_to_manifest`)
    Every non-cancelled annotation's ``result`` items of type ``number`` or ``rating`` become
    long answer rows (the store's export-row columns). The rater is the annotation's
    ``completed_by`` (a user id, or a user object with an email): ``ls:<email>`` or
    ``ls:user<id>``. An answer equal to the task's prediction in an annotation made from
    that prediction (``parent_prediction`` set) counts as a confirmed pre-fill
    (``source='prefill_confirmed'``, hence ``model_verified`` on export).
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pianoeval.errors import ParameterError, SchemaError

if TYPE_CHECKING:
    from pianoeval.label.store import AnswerStore, Rater
    from pianoeval.manifest import Segment

__all__ = [
    "annotations_to_rows",
    "crop_audio",
    "import_into_store",
    "import_to_manifest",
    "labeling_config",
    "load_ls_export",
    "queue_dims",
    "queue_to_tasks",
    "write_ls_project",
]

Widget = Literal["slider", "rating"]

#: Names of the fixed controls of the config (a dimension may not use them).
AUDIO_NAME = "audio"
UNSURE_NAME = "unsure"
NOTE_NAME = "note"


def _dimension(name: str, taxonomy: str | None) -> Any:
    from pianoeval.dims import resolve_dimension

    return resolve_dimension(name, taxonomy)


def queue_dims(queue_rows: Sequence[Segment], *, taxonomy: str = "percepiano19") -> list[str]:
    """Return the dimensions to rate: the union of the rows' ``dims``, else the whole taxonomy."""
    from pianoeval.dims import get_taxonomy

    names = list(dict.fromkeys(d for s in queue_rows for d in s.dims))
    return names or get_taxonomy(taxonomy).names


def labeling_config(
    dims: Sequence[str], *, taxonomy: str = "percepiano19", widget: Widget = "slider",
    rating_points: int = 7,
) -> str:  # fmt: skip
    """Return the Label Studio labeling config (XML) for rating ``dims`` of an audio clip.

    Parameters
    ----------
    dims : sequence of str
        Dimension names (plain, of ``taxonomy``, or qualified).
    taxonomy : str
        Where plain names are looked up (for the descriptors).
    widget : {'slider', 'rating'}
        A Number slider on ``[0, 1]`` or a Rating of ``rating_points`` stars.
    rating_points : int
        Points of the Rating widget (at least 2).

    Examples
    --------
    >>> print(labeling_config(["timing"]).splitlines()[1])
      <Audio name="audio" value="$audio" />
    """
    if widget not in ("slider", "rating"):
        raise ParameterError(f"widget must be 'slider' or 'rating', got {widget!r}")
    if rating_points < 2:
        raise ParameterError(f"rating_points must be >= 2, got {rating_points}")
    if not dims:
        raise ParameterError("no dimensions to rate")
    view = ET.Element("View")
    ET.SubElement(view, "Audio", name=AUDIO_NAME, value="$audio")
    ET.SubElement(view, "Header", value="$segment_id", size="5")
    for name in dims:
        if name in (AUDIO_NAME, UNSURE_NAME, NOTE_NAME):
            raise ParameterError(f"a dimension may not be called {name!r}")
        dim = _dimension(name, taxonomy)
        box = ET.SubElement(view, "View")
        ET.SubElement(box, "Header", value=f"{name}: {dim.low} (low) - {dim.high} (high)", size="6")
        if widget == "slider":
            ET.SubElement(
                box, "Number", name=name, toName=AUDIO_NAME, min="0", max="1", step="0.01",
                slider="true",
            )  # fmt: skip
        else:
            ET.SubElement(box, "Rating", name=name, toName=AUDIO_NAME, maxRating=str(rating_points))
    ET.SubElement(view, "Header", value="unsure about:", size="6")
    unsure = ET.SubElement(
        view, "Choices", name=UNSURE_NAME, toName=AUDIO_NAME, choice="multiple", showInline="true"
    )
    for name in dims:
        ET.SubElement(unsure, "Choice", value=name)
    ET.SubElement(view, "TextArea", name=NOTE_NAME, toName=AUDIO_NAME, placeholder="note")
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def _to_slider(label: float, name: str, taxonomy: str | None) -> float:
    from pianoeval.dims import get_taxonomy

    lo, hi = get_taxonomy(_dimension(name, taxonomy).taxonomy).value_range
    return min(max((label - lo) / (hi - lo), 0.0), 1.0)


def _predictions(
    seg: Segment, dims: Sequence[str], taxonomy: str, widget: Widget, points: int
) -> list[dict[str, Any]]:
    active = (seg.model_extra or {}).get("active")
    predicted = active.get("predicted") if isinstance(active, Mapping) else None
    if not isinstance(predicted, Mapping):
        return []
    result = []
    for name in dims:
        dim = _dimension(name, taxonomy)
        value = predicted.get(dim.qualified_name, predicted.get(name))
        if not isinstance(value, int | float) or not math.isfinite(value):
            continue
        v = _to_slider(float(value), name, taxonomy)
        if widget == "slider":
            item = {"type": "number", "value": {"number": round(v, 4)}}
        else:
            item = {"type": "rating", "value": {"rating": 1 + round(v * (points - 1))}}
        result.append({"from_name": name, "to_name": AUDIO_NAME, **item})
    if not result:
        return []
    model = active.get("rater", "pianoeval") if isinstance(active, Mapping) else "pianoeval"
    return [{"model_version": str(model), "result": result}]


def queue_to_tasks(
    queue_rows: Sequence[Segment],
    *,
    base_dir: str | Path | None = None,
    dims: Sequence[str] | None = None,
    taxonomy: str = "percepiano19",
    widget: Widget = "slider",
    rating_points: int = 7,
    media_dir: str | Path | None = None,
    url_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """Return the queue as Label Studio tasks (a JSON-ready list).

    Parameters
    ----------
    queue_rows : sequence of Segment
    base_dir : path-like, optional
        The queue manifest's folder (relative media URIs resolve against it).
    dims : sequence of str, optional
        The dimensions of the config (default :func:`queue_dims`); predictions for them only.
    taxonomy, widget, rating_points
        As in :func:`labeling_config`.
    media_dir : path-like, optional
        Cut every clip to exactly ``t0``-``t1`` here (Label Studio plays whole files): audio
        rows cropped (:func:`crop_audio`), MIDI-only rows rendered with FluidSynth
        (:func:`pianoeval.label.anchors.render_clip`). Without it audio rows point at their
        source with the span in ``data`` and MIDI-only rows are refused.
    url_prefix : str, optional
        ``data.audio`` becomes ``url_prefix`` + the file's path relative to ``media_dir``
        (rendered) or ``base_dir`` (audio rows), e.g. Label Studio's local-files route
        ``/data/local-files/?d=``; without it, the absolute path.

    Raises
    ------
    ParameterError
        A MIDI-only row and no ``media_dir``; a row without any media.
    """
    from pianoeval.manifest.uri import uri_to_path

    base = Path(base_dir) if base_dir is not None else Path.cwd()
    names = list(dims) if dims is not None else queue_dims(queue_rows, taxonomy=taxonomy)
    tasks = []
    for seg in queue_rows:
        if seg.audio_uri and media_dir is not None:
            root = Path(media_dir).resolve()
            path = crop_audio(uri_to_path(seg.audio_uri, base), seg.t0, seg.t1, root,
                              seg.segment_id)  # fmt: skip
        elif seg.audio_uri:
            path = uri_to_path(seg.audio_uri, base).resolve()
            root = base.resolve()
        elif seg.midi_uri:
            if media_dir is None:
                raise ParameterError(
                    f"segment {seg.segment_id!r} has MIDI only: give media_dir (--media-dir) "
                    "to render its clip for Label Studio"
                )
            from pianoeval.label.anchors import render_clip

            root = Path(media_dir).resolve()
            path = render_clip(
                uri_to_path(seg.midi_uri, base), seg.t0, seg.t1, root, seg.segment_id
            )
        else:
            raise ParameterError(f"segment {seg.segment_id!r} has no audio_uri or midi_uri")
        if url_prefix is not None:
            rel = path.relative_to(root) if path.is_relative_to(root) else path
            audio = url_prefix + rel.as_posix()
        else:
            audio = str(path)
        cut = media_dir is not None
        data = {
            "audio": audio,
            "segment_id": seg.segment_id,
            # a rendered or cropped clip is cut already: it plays from 0
            "t0": 0.0 if cut else seg.t0,
            "t1": seg.t1 - seg.t0 if cut else seg.t1,
            "source_t0": seg.t0,
            "source_t1": seg.t1,
            "dataset": seg.dataset,
            "license": seg.license,
        }
        task: dict[str, Any] = {"data": data}
        preds = _predictions(seg, names, taxonomy, widget, rating_points)
        if preds:
            task["predictions"] = preds
        tasks.append(task)
    return tasks


def crop_audio(
    audio_path: str | Path, t0: float, t1: float, out_dir: str | Path, name: str
) -> Path:
    """Cut ``[t0, t1)`` of an audio file into a WAV in ``out_dir``; return its path.

    The samples are copied as they are (no resampling, no gain). The file name carries a
    hash of the source's path, size, modification time and the span, so a clip is cut once.

    Raises
    ------
    AudioError
        The source cannot be read (the message names it).
    """
    import hashlib
    import re

    import soundfile as sf

    from pianoeval.errors import AudioError

    src = Path(audio_path).resolve()
    try:
        st = src.stat()
        info = sf.info(str(src))
    except (OSError, RuntimeError) as e:  # soundfile raises LibsndfileError (a RuntimeError)
        raise AudioError(src, f"cannot read the audio file ({e})") from None
    key = f"{src}|{st.st_size}|{st.st_mtime_ns}|{t0:.6f}|{t1:.6f}".encode()
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "clip"
    out = Path(out_dir) / f"{safe}_{hashlib.sha256(key).hexdigest()[:10]}.wav"
    if out.is_file():
        return out
    start, stop = round(t0 * info.samplerate), round(t1 * info.samplerate)
    y, sr = sf.read(str(src), start=start, stop=min(stop, info.frames), always_2d=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.wav")
    sf.write(tmp, y, sr, subtype="FLOAT" if info.subtype == "FLOAT" else "PCM_16")
    tmp.replace(out)
    return out


def write_ls_project(
    queue_rows: Sequence[Segment], out_dir: str | Path, **kwargs: Any
) -> tuple[Path, Path]:
    """Write ``tasks.json`` and ``labeling_config.xml`` into ``out_dir``; return both paths.

    ``kwargs`` go to :func:`queue_to_tasks` (``media_dir`` defaults to ``out_dir/media``).
    """
    from pianoeval.manifest import atomic_write

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("media_dir", out / "media")
    taxonomy = kwargs.get("taxonomy", "percepiano19")
    dims = kwargs.get("dims") or queue_dims(queue_rows, taxonomy=taxonomy)
    kwargs["dims"] = dims
    tasks = queue_to_tasks(queue_rows, **kwargs)
    config = labeling_config(
        dims,
        taxonomy=taxonomy,
        widget=kwargs.get("widget", "slider"),
        rating_points=kwargs.get("rating_points", 7),
    )
    tasks_path, config_path = out / "tasks.json", out / "labeling_config.xml"
    with atomic_write(tasks_path) as fh:
        fh.write(json.dumps(tasks, indent=1, ensure_ascii=False) + "\n")
    with atomic_write(config_path) as fh:
        fh.write(config)
    return tasks_path, config_path


def load_ls_export(path: str | Path) -> list[dict[str, Any]]:
    """Read a Label Studio JSON export (a list of tasks), naming the file on any problem."""
    from pianoeval.label._files import read_json

    p = Path(path)
    data = read_json(p, "Label Studio export")
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise SchemaError(f"{p}: expected a JSON list of tasks (Label Studio's JSON export)")
    return data


def _rater_key(completed_by: Any) -> str:
    if isinstance(completed_by, Mapping):
        email = completed_by.get("email")
        if email:
            return f"ls:{email}"
        completed_by = completed_by.get("id")
    if completed_by is None or completed_by == "":
        raise SchemaError("an annotation has no completed_by (rater)")
    return f"ls:user{completed_by}"


def _slider_value(item: Mapping[str, Any], points: int, where: str) -> float:
    kind = item.get("type")
    value = item.get("value")
    if not isinstance(value, Mapping):
        raise SchemaError(f"{where}: result without a value object")
    if kind == "number":
        v = value.get("number")
    elif kind == "rating":
        r = value.get("rating")
        v = None if not isinstance(r, int | float) else (float(r) - 1.0) / (points - 1)
    else:
        raise SchemaError(f"{where}: result type {kind!r} is not number or rating")
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
        raise SchemaError(f"{where}: value {value!r} is not a finite number")
    if not 0.0 <= float(v) <= 1.0:
        raise SchemaError(f"{where}: value {float(v)} outside the slider's [0, 1]")
    return float(v)


def _slider_to_label(v: float, name: str, taxonomy: str | None, where: str) -> float:
    from pianoeval.dims import get_taxonomy

    try:
        dim = _dimension(name, taxonomy)
    except ParameterError as e:
        raise SchemaError(f"{where}: {e}") from None
    lo, hi = get_taxonomy(dim.taxonomy).value_range
    return lo + v * (hi - lo)


def annotations_to_rows(
    tasks: Iterable[Mapping[str, Any]],
    *,
    taxonomy: str = "percepiano19",
    rating_points: int = 7,
    source: str = "LS export",
) -> list[dict[str, Any]]:
    """Turn Label Studio tasks with annotations into long answer rows (store export columns).

    Parameters
    ----------
    tasks : iterable of mapping
        :func:`load_ls_export`'s list.
    taxonomy : str
        Where the control names (plain dimension names) are looked up, for their label range.
    rating_points : int
        Points of a Rating widget (to map ratings onto ``[0, 1]``).
    source : str
        Named in error messages (the export's file name).

    Returns
    -------
    list of dict
        ``rater_id`` (the LS rater key), ``rater_name``, ``segment_id``, ``dim``, ``value``,
        ``unsure``, ``source``, ``model_verified``, ``note``, ``created``, ``updated``;
        ``value`` on the label scale.
    """
    rows: list[dict[str, Any]] = []
    for t_index, task in enumerate(tasks):
        data = task.get("data")
        seg_id = data.get("segment_id") if isinstance(data, Mapping) else None
        if not isinstance(seg_id, str) or not seg_id:
            raise SchemaError(f"{source}: task {t_index} has no data.segment_id")
        predicted: dict[str, float] = {}
        for pred in task.get("predictions") or []:
            for item in pred.get("result", []) if isinstance(pred, Mapping) else []:
                try:
                    predicted[item["from_name"]] = _slider_value(item, rating_points, source)
                except (KeyError, TypeError, SchemaError):
                    continue
        for a_index, ann in enumerate(task.get("annotations") or []):
            if not isinstance(ann, Mapping) or ann.get("was_cancelled"):
                continue
            where = f"{source}: task {seg_id!r} annotation {a_index}"
            try:
                rater = _rater_key(ann.get("completed_by"))
            except SchemaError as e:
                raise SchemaError(f"{where}: {e}") from None
            from_prediction = ann.get("parent_prediction") is not None
            unsure: set[str] = set()
            note = None
            answers: list[tuple[str, float]] = []
            for item in ann.get("result") or []:
                if not isinstance(item, Mapping):
                    raise SchemaError(f"{where}: a result item is not an object")
                name = item.get("from_name")
                if name == UNSURE_NAME:
                    unsure.update((item.get("value") or {}).get("choices") or [])
                elif name == NOTE_NAME:
                    text = (item.get("value") or {}).get("text") or []
                    note = "\n".join(text) if isinstance(text, list) else str(text)
                elif item.get("type") in ("number", "rating"):
                    answers.append((str(name), _slider_value(item, rating_points, where)))
            created = ann.get("created_at")
            updated = ann.get("updated_at", created)
            for dim, value in answers:
                confirmed = from_prediction and dim in predicted and (
                    abs(predicted[dim] - value) < 1e-9
                )  # fmt: skip
                rows.append(
                    {
                        "rater_id": rater,
                        "rater_name": rater,
                        "segment_id": seg_id,
                        "dim": dim,
                        "value": _slider_to_label(value, dim, taxonomy, where),
                        "unsure": dim in unsure,
                        "source": "prefill_confirmed" if confirmed else "rater",
                        "model_verified": confirmed,
                        "note": note,
                        "created": created,
                        "updated": updated,
                    }
                )
    return rows


def import_into_store(
    store: AnswerStore,
    admin: Rater,
    tasks: Iterable[Mapping[str, Any]],
    *,
    taxonomy: str = "percepiano19",
    rating_points: int = 7,
    source: str = "LS export",
) -> dict[str, int]:
    """Save Label Studio annotations into the answer store; return counts.

    Each Label Studio rater becomes a store rater named by their key (``ls:<email>``),
    created on first import and reused after (found by name), so
    importing the same export twice replaces answers instead of duplicating raters. Values
    are saved on the label scale, as the labeling app saves them.

    Returns
    -------
    dict
        ``{"answers": n, "raters": n, "new_raters": n, "notes": n}``.
    """
    from pianoeval.label.store import LabelPermissionError, Rater

    rows = annotations_to_rows(tasks, taxonomy=taxonomy, rating_points=rating_points, source=source)
    everyone = store.raters()
    if not any(r.id == admin.id and r.is_admin for r in everyone):
        raise LabelPermissionError(f"importing needs an admin; rater {admin.id} is not one")
    known = {r.name: r.id for r in everyone}
    raters: dict[str, Rater] = {}
    new = 0
    notes: dict[tuple[str, str], str] = {}
    for row in rows:
        key = row["rater_id"]
        if key not in raters:
            if key in known:
                raters[key] = Rater(id=known[key], name=key, is_admin=False)
            else:
                rater_id, _token = store.add_rater(key)
                raters[key] = Rater(id=rater_id, name=key, is_admin=False)
                new += 1
        store.save_answer(
            raters[key],
            row["segment_id"],
            row["dim"],
            row["value"],
            unsure=row["unsure"],
            confirmed_prefill=row["model_verified"],
        )
        if row["note"]:
            notes[(key, row["segment_id"])] = row["note"]
    for (key, seg_id), text in notes.items():
        store.save_note(raters[key], seg_id, text)
    return {"answers": len(rows), "raters": len(raters), "new_raters": new, "notes": len(notes)}


def import_to_manifest(
    tasks: Iterable[Mapping[str, Any]],
    queue_rows: Sequence[Segment],
    *,
    taxonomy: str = "percepiano19",
    rating_points: int = 7,
    source: str = "LS export",
    **kwargs: Any,
) -> list[Segment]:
    """Label Studio annotations straight to manifest rows (:func:`export_manifest` rules)."""
    from pianoeval.label.export import export_manifest

    rows = annotations_to_rows(tasks, taxonomy=taxonomy, rating_points=rating_points, source=source)
    return export_manifest(rows, queue_rows, **kwargs)
