"""The audio corpus: PercePiano rendered under named conditions, transcribed and embedded once.

Every audio figure in pianoeval is computed from this corpus. A *condition* is a renderer
(a SoundFont) and, optionally, the degradations real recordings bring (room, microphone
colour, noise, lossy compression, band limiting: :class:`pianoeval.render.Augment`). For
each labelled segment and condition :func:`build_condition` renders the MIDI (render
cache), runs transkun once for both its transcription and its pooled context
(:func:`pianoeval.encoders.transkun.transcribe_with_embedding`, both caches) and pools the
fixed-reference mel (``mel_stats``). All three caches are content-addressed, so an
interrupted build resumes where it stopped and a finished one costs seconds.

transkun needs about 0.3 s per second of audio on two cores, so a whole condition (6.0 h
of audio) takes hours: :func:`pack_condition` writes what took them (the transcribed MIDI
files, byte for byte, and the pooled vectors in float16) into one compressed ``.npz`` that
is committed under ``benchmarks/data/audio_corpus/`` and read back with
:func:`load_condition`, so training and benchmarks never need to rebuild it.

The true MIDI never enters an audio figure: the symbolic inputs of a condition are
computed from its transcriptions only.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pianoeval._typing import FloatArray, PathLike
from pianoeval.data.percepiano import load_released_labels, percepiano_midi_paths
from pianoeval.errors import ParameterError, SchemaError

__all__ = [
    "CONDITIONS",
    "CORPUS_DIR",
    "Condition",
    "CorpusCondition",
    "Record",
    "build_condition",
    "build_segment",
    "condition_ids",
    "get_condition",
    "load_condition",
    "load_record",
    "pack_condition",
    "read_records",
    "save_record",
]

#: Where the packed conditions are committed (beside the benchmarks that use them).
CORPUS_DIR = Path(__file__).resolve().parents[3] / "benchmarks" / "data" / "audio_corpus"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Condition:
    """A renderer and the degradations applied to its output.

    Attributes
    ----------
    name : str
        Registry key, also the packed file's stem.
    soundfont : str
        A key of :data:`pianoeval.render.SOUNDFONTS`.
    augment : dict
        Keyword arguments of :class:`pianoeval.render.Augment` (empty: clean audio).
    description : str
    """

    name: str
    soundfont: str
    augment: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def make_augment(self) -> Any:
        """Return the :class:`~pianoeval.render.Augment` of this condition (None: clean)."""
        if not self.augment:
            return None
        from pianoeval.render import Augment

        return Augment(**self.augment)


#: Degradations of a phone or room recording: the robustness condition of issue 17.
RECORDING_AUGMENT: dict[str, Any] = {
    "reverb_rt60_sec": 0.8,
    "reverb_wet": 0.3,
    "snr_db": 30.0,
    "mp3_kbps": 64,
}

CONDITIONS: dict[str, Condition] = {
    c.name: c
    for c in (
        Condition("fluidr3_gm", "fluidr3_gm", description="FluidR3_GM grand piano, dry"),
        Condition("musescore_general", "musescore_general", description="MuseScore General, dry"),
        Condition("timgm6mb", "timgm6mb", description="TimGM6mb piano (small GM set), dry"),
        Condition("csound_gm", "csound_gm", description="csound's GM bank piano, dry"),
        Condition(
            "fluidr3_gm+recording",
            "fluidr3_gm",
            RECORDING_AUGMENT,
            "FluidR3_GM with room reverb (RT60 0.8 s), noise at 30 dB SNR, 64 kbps MP3",
        ),
        Condition(
            "musescore_general+recording",
            "musescore_general",
            RECORDING_AUGMENT,
            "MuseScore General with room reverb (RT60 0.8 s), noise at 30 dB SNR, 64 kbps MP3",
        ),
        Condition(
            "timgm6mb+recording",
            "timgm6mb",
            RECORDING_AUGMENT,
            "TimGM6mb with room reverb (RT60 0.8 s), noise at 30 dB SNR, 64 kbps MP3",
        ),
    )
}


def get_condition(name: str) -> Condition:
    """Return a registered condition, or raise :class:`ParameterError` listing them."""
    try:
        return CONDITIONS[name]
    except KeyError:
        raise ParameterError(
            f"unknown audio corpus condition {name!r}; known: {', '.join(CONDITIONS)}"
        ) from None


def condition_ids(
    data_root: PathLike, *, test_first: Sequence[str] = ("performer", "excerpt")
) -> list[str]:
    """Return the labelled PercePiano ids with a MIDI file, the splits' test segments first.

    The performer split's test segments come first, then the excerpt split's, then the
    rest (each group sorted), so an interrupted build can already be scored on the tests.
    """
    from pianoeval.data.splits import load_split

    means, _ = load_released_labels(data_root)
    midis = percepiano_midi_paths(data_root)
    ids = sorted(i for i in means if i in midis)
    out: list[str] = []
    seen: set[str] = set()
    for name in test_first:
        test = set(load_split(name).test)
        out += [i for i in ids if i in test and i not in seen]
        seen |= test
    return out + [i for i in ids if i not in seen]


@dataclass
class Record:
    """One built segment: where its audio and transcription are and its pooled vectors."""

    segment_id: str
    audio_path: str
    midi_path: str
    audio_sec: float
    transkun: FloatArray
    mel_stats: FloatArray
    seconds: float


def build_segment(
    midi_path: PathLike,
    condition: Condition,
    *,
    segment_id: str | None = None,
    threads: int | None = 1,
) -> Record:
    """Render, transcribe and embed one segment's MIDI under a condition (all cached)."""
    from pianoeval.encoders.mel_stats import MelStatsEncoder
    from pianoeval.encoders.transkun import transcribe_with_embedding
    from pianoeval.render import render_files

    start = time.perf_counter()
    (render,) = render_files(
        [midi_path],
        soundfont=condition.soundfont,
        augment=condition.make_augment(),
        jobs=1,
        progress=False,
    )
    if not render.ok or render.audio_path is None:
        raise SchemaError(f"{midi_path}: render failed: {render.error}")
    transcription, vector = transcribe_with_embedding(render.audio_path, threads=threads)
    mel = MelStatsEncoder().embed_file(render.audio_path)
    return Record(
        segment_id=segment_id if segment_id is not None else Path(midi_path).stem,
        audio_path=str(render.audio_path),
        midi_path=transcription.midi_path,
        audio_sec=float(transcription.audio_sec),
        transkun=np.asarray(vector, dtype=np.float32),
        mel_stats=np.asarray(mel, dtype=np.float32),
        seconds=time.perf_counter() - start,
    )


def build_condition(
    data_root: PathLike,
    condition: str | Condition,
    *,
    ids: Sequence[str] | None = None,
    shard: tuple[int, int] = (0, 1),
    threads: int | None = 1,
    store: PathLike | None = None,
    on_record: Callable[[int, int, Record], None] | None = None,
) -> list[Record]:
    """Build (or read from the caches) every segment of a condition; see the module docstring.

    Parameters
    ----------
    data_root : path-like
        The data root holding ``percepiano/``.
    condition : str or Condition
    ids : sequence of str, optional
        Segment ids (default :func:`condition_ids`, performer test first).
    shard : (k, n)
        Build only ``ids[k::n]``: run ``n`` processes with ``k = 0 .. n-1`` to use ``n``
        cores with one transkun thread each.
    threads : int, optional
        transkun threads per process.
    store : path-like, optional
        A folder keeping one small record file per built segment (:func:`save_record`):
        segments already there are read back without touching audio, so resuming is
        instant and :func:`read_records` can pack a build that is still running.
    on_record : callable, optional
        Called with ``(i, total, record)`` after each segment (progress, logging).
    """
    cond = get_condition(condition) if isinstance(condition, str) else condition
    k, n = shard
    if not 0 <= k < n:
        raise ParameterError(f"shard must be (k, n) with 0 <= k < n, not {shard!r}")
    all_ids = list(ids) if ids is not None else condition_ids(data_root)
    mine = all_ids[k::n]
    midis = percepiano_midi_paths(data_root)
    out: list[Record] = []
    folder = Path(store) if store is not None else None
    for i, sid in enumerate(mine):
        saved = folder / f"{sid}.npz" if folder is not None else None
        if saved is not None and saved.is_file():
            rec = load_record(saved)
        else:
            if sid not in midis:
                raise ParameterError(f"{sid}: no PercePiano MIDI file for this segment")
            rec = build_segment(midis[sid], cond, segment_id=sid, threads=threads)
            if saved is not None:
                save_record(rec, saved)
        out.append(rec)
        if on_record is not None:
            on_record(i, len(mine), rec)
    return out


def save_record(record: Record, path: PathLike) -> None:
    """Write one record (vectors, audio length and the transcribed MIDI bytes), atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(
        buf,
        segment_id=np.asarray(record.segment_id),
        audio_path=np.asarray(record.audio_path),
        midi=np.frombuffer(Path(record.midi_path).read_bytes(), dtype=np.uint8),
        transkun=record.transkun,
        mel_stats=record.mel_stats,
        audio_sec=np.asarray(record.audio_sec),
        seconds=np.asarray(record.seconds),
    )
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(p)


def load_record(path: PathLike) -> Record:
    """Read a record written by :func:`save_record`; its MIDI goes next to it as ``.mid``."""
    p = Path(path)
    with np.load(p, allow_pickle=False) as z:
        midi = p.with_suffix(".mid")
        data = z["midi"].tobytes()
        if not (midi.is_file() and midi.read_bytes() == data):
            midi.write_bytes(data)
        return Record(
            segment_id=str(z["segment_id"]),
            audio_path=str(z["audio_path"]),
            midi_path=str(midi),
            audio_sec=float(z["audio_sec"]),
            transkun=z["transkun"].astype(np.float32),
            mel_stats=z["mel_stats"].astype(np.float32),
            seconds=float(z["seconds"]),
        )


def read_records(store: PathLike) -> list[Record]:
    """Every record in a build's store folder, sorted by segment id."""
    return [load_record(p) for p in sorted(Path(store).glob("*.npz"))]


@dataclass
class CorpusCondition:
    """A packed condition read back: transcriptions and pooled vectors per segment.

    Attributes
    ----------
    name : str
    ids : list of str
    midi : dict of str to bytes
        The transcribed MIDI file of each segment, byte for byte.
    transkun : np.ndarray [float32], shape=(n, 512)
    mel_stats : np.ndarray [float32], shape=(n, 256)
    audio_sec : np.ndarray [float64], shape=(n,)
    meta : dict
        Condition, settings and versions the pack was made with.
    """

    name: str
    ids: list[str]
    midi: dict[str, bytes]
    transkun: FloatArray
    mel_stats: FloatArray
    audio_sec: FloatArray
    meta: dict[str, Any]

    def subset(self, ids: Sequence[str]) -> CorpusCondition:
        """Return the condition restricted to ``ids`` (those it has, in its order)."""
        want = set(ids)
        keep = [k for k, i in enumerate(self.ids) if i in want]
        return CorpusCondition(
            name=self.name,
            ids=[self.ids[k] for k in keep],
            midi={self.ids[k]: self.midi[self.ids[k]] for k in keep},
            transkun=self.transkun[keep],
            mel_stats=self.mel_stats[keep],
            audio_sec=self.audio_sec[keep],
            meta=self.meta,
        )

    def write_midi(self, folder: PathLike) -> dict[str, Path]:
        """Write the transcriptions as ``<folder>/<id>.mid`` (reused when identical)."""
        out_dir = Path(folder)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for sid in self.ids:
            p = out_dir / f"{sid}.mid"
            data = self.midi[sid]
            if not (p.is_file() and p.read_bytes() == data):
                p.write_bytes(data)
            paths[sid] = p
        return paths


def pack_condition(
    records: Sequence[Record], condition: str | Condition, out_path: PathLike
) -> Path:
    """Write records into one compressed ``.npz`` (MIDI bytes, float16 vectors, JSON meta)."""
    from pianoeval._versions import versions
    from pianoeval.encoders.transkun import TranskunEncoder

    cond = get_condition(condition) if isinstance(condition, str) else condition
    recs = sorted(records, key=lambda r: r.segment_id)
    ids = [r.segment_id for r in recs]
    if len(set(ids)) != len(ids):
        raise ParameterError(f"{out_path}: duplicate segment ids in the records")
    blobs = [Path(r.midi_path).read_bytes() for r in recs]
    offsets = np.cumsum([0, *(len(b) for b in blobs)]).astype(np.int64)
    v = versions()
    meta = {
        "schema_version": SCHEMA_VERSION,
        "condition": {
            "name": cond.name,
            "soundfont": cond.soundfont,
            "augment": cond.augment,
            "description": cond.description,
        },
        "transkun_settings": TranskunEncoder().settings(),
        "versions": {k: v.get(k) for k in ("pianoeval", "transkun", "torch", "fluidsynth")},
        "n": len(ids),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        ids=np.asarray(ids),
        midi=np.frombuffer(b"".join(blobs), dtype=np.uint8),
        midi_offsets=offsets,
        transkun=np.stack([r.transkun for r in recs]).astype(np.float16),
        mel_stats=np.stack([r.mel_stats for r in recs]).astype(np.float16),
        audio_sec=np.asarray([r.audio_sec for r in recs], dtype=np.float64),
        meta=np.asarray(json.dumps(meta, sort_keys=True)),
    )
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(out)
    return out


def load_condition(name_or_path: str | PathLike) -> CorpusCondition:
    """Read a packed condition by name (from :data:`CORPUS_DIR`) or path."""
    p = Path(name_or_path)
    if not p.suffix:
        p = CORPUS_DIR / f"{name_or_path}.npz"
    if not p.is_file():
        raise ParameterError(
            f"{p}: no packed audio corpus condition here; build it with "
            "`python benchmarks/audio_corpus.py build --condition NAME` then `pack`"
        )
    try:
        with np.load(p, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            ids = [str(i) for i in z["ids"]]
            raw = z["midi"].tobytes()
            off = z["midi_offsets"]
            midi = {sid: raw[off[i] : off[i + 1]] for i, sid in enumerate(ids)}
            transkun = z["transkun"].astype(np.float32)
            mel = z["mel_stats"].astype(np.float32)
            sec = z["audio_sec"].astype(np.float64)
    except (OSError, ValueError, KeyError) as exc:
        raise SchemaError(f"{p}: not a packed audio corpus condition ({exc})") from exc
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise SchemaError(f"{p}: schema_version {meta.get('schema_version')!r}, expected 1")
    return CorpusCondition(
        name=meta["condition"]["name"],
        ids=ids,
        midi=midi,
        transkun=transkun,
        mel_stats=mel,
        audio_sec=sec,
        meta=meta,
    )
