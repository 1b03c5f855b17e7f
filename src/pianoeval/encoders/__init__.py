"""Encoders: audio and MIDI to fixed-width embeddings, behind one registry, cached per segment.

:data:`ENCODERS` names every encoder a rater can fuse (``"module:attribute"`` entries,
imported on first use, so ``import pianoeval.encoders`` pulls in neither torch nor
transformers):

=============  ==========================================================================
``mel_cnn``    the guide's small CNN on the ``[B, 1, 128, 128]`` mel, to 256-D. Trainable:
               it lives in the model (:class:`pianoeval.model.neural.MelCNN`), not here.
``transkun``   transkun's piano transcription transformer as an encoder: the context of
               the same forward pass that transcribes, pooled (:mod:`.transkun`).
``mert``       a MERT checkpoint in a local HubertModel-compatible folder
               (:class:`~pianoeval.encoders.mert.MertEncoder`).
``muq``        MuQ: not runnable here (:mod:`.muq` says exactly why).
``symbolic``   the performance features of the MIDI transcribed from the audio, or of a
               MIDI (:class:`~pianoeval.encoders.symbolic.SymbolicEncoder`).
``mel_stats``  loudness and spectral balance: mean and std of the fixed-reference mel
               (:class:`~pianoeval.encoders.mel_stats.MelStatsEncoder`).
=============  ==========================================================================

Every frozen encoder follows :class:`~pianoeval.encoders.base.FrozenEncoder` (``name``,
``dim``, ``sr``, ``version``, ``embed(y, sr)``, ``embed_file(path)``) and its outputs are
checked at the boundary. :func:`get_encoder` builds one by name (with its options);
:func:`embed_segments` embeds manifest rows through the content-addressed cache
(:mod:`.cache`); :data:`~pianoeval.encoders.pooling.POOLINGS` holds the poolings.

Examples
--------
>>> ENCODERS.names()
['mel_cnn', 'transkun', 'mert', 'muq', 'symbolic', 'mel_stats']
>>> get_encoder("mel_stats").dim
256
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pianoeval._registry import Registry
from pianoeval._typing import FloatArray, PathLike
from pianoeval.encoders.base import FrozenEncoder, validate_embedding, validate_waveform
from pianoeval.encoders.cache import (
    EmbeddingCache,
    default_cache_dir,
    embedding_key,
    load_embeddings,
    save_embeddings,
)
from pianoeval.encoders.pooling import POOLINGS, pooled_dim
from pianoeval.errors import ParameterError, SchemaError

if TYPE_CHECKING:
    from pianoeval.manifest import Segment

__all__ = [
    "ENCODERS",
    "POOLINGS",
    "TRAINABLE_ENCODERS",
    "EmbeddingCache",
    "FrozenEncoder",
    "default_cache_dir",
    "embed_segments",
    "embedding_key",
    "get_encoder",
    "load_embeddings",
    "pooled_dim",
    "save_embeddings",
    "segment_audio_path",
    "validate_embedding",
    "validate_waveform",
]

#: Encoders by name. Entries are a ready encoder object, or a class/factory that
#: :func:`get_encoder` calls with the options (``mert`` needs the checkpoint's path).
ENCODERS: Registry[Any] = Registry("encoder")
ENCODERS.register("mel_cnn", "pianoeval.model.neural:MelCNN")
ENCODERS.register("transkun", "pianoeval.encoders.transkun:ENCODER")
ENCODERS.register("mert", "pianoeval.encoders.mert:MertEncoder")
ENCODERS.register("muq", "pianoeval.encoders.muq:MuqEncoder")
ENCODERS.register("symbolic", "pianoeval.encoders.symbolic:SymbolicEncoder")
ENCODERS.register("mel_stats", "pianoeval.encoders.mel_stats:MelStatsEncoder")

#: Encoders trained with the head (nn.Modules of the model), never cached.
TRAINABLE_ENCODERS = frozenset({"mel_cnn"})


def get_encoder(name: str, **options: Any) -> FrozenEncoder:
    """Return the frozen encoder ``name``, built with ``options``.

    Parameters
    ----------
    name : str
        A name in :data:`ENCODERS` other than a trainable one (``mel_cnn``).
    **options
        Passed to the encoder's constructor (``path=...`` for ``mert``). A registered
        ready-made object is returned as is when no option is given, else its class is
        called with the options.

    Returns
    -------
    FrozenEncoder

    Raises
    ------
    ParameterError
        Unknown name, a trainable encoder, or options the encoder does not take.
    SchemaError
        If the registered entry does not follow the :class:`FrozenEncoder` contract.
    """
    if name in TRAINABLE_ENCODERS:
        raise ParameterError(
            f"encoder {name!r} is trainable: it is part of the model "
            "(pianoeval.model.neural), not a frozen encoder to embed with"
        )
    entry = ENCODERS.get(name)
    if isinstance(entry, FrozenEncoder) and not options:
        encoder: object = entry
    else:
        factory = type(entry) if isinstance(entry, FrozenEncoder) else entry
        if not callable(factory):
            raise SchemaError(f"encoder {name!r} is registered as {entry!r}, not an encoder")
        try:
            encoder = factory(**options)
        except TypeError as e:
            raise ParameterError(f"encoder {name!r}: bad options {sorted(options)}: {e}") from None
    if not isinstance(encoder, FrozenEncoder):
        raise SchemaError(f"encoder {name!r} gave a {type(encoder).__name__}, not a FrozenEncoder")
    if encoder.name != name:
        raise SchemaError(f"encoder registered as {name!r} calls itself {encoder.name!r}")
    return encoder


def segment_audio_path(segment: Segment, base_dir: PathLike | None) -> Path:
    """Return the audio file of a manifest row (``audio_uri`` resolved against ``base_dir``).

    Raises
    ------
    SchemaError
        If the row has no ``audio_uri``.
    """
    from pianoeval.manifest import uri_to_path

    if not segment.audio_uri:
        raise SchemaError(f"segment {segment.segment_id!r} has no audio_uri to embed")
    return uri_to_path(segment.audio_uri, base_dir)


# One encoder per worker process, set by the pool's initializer (loaded once per worker).
_WORKER_ENCODER: FrozenEncoder | None = None


def _init_worker(encoder: FrozenEncoder) -> None:
    global _WORKER_ENCODER  # per-process state of a pool worker
    _WORKER_ENCODER = encoder
    try:
        import torch

        torch.set_num_threads(1)  # one core per worker: the pool is the parallelism
    except ImportError:
        pass


def _embed_task(task: tuple[str, float, float]) -> FloatArray:
    assert _WORKER_ENCODER is not None
    path, t0, t1 = task
    return _WORKER_ENCODER.embed_file(path, t0=t0, t1=t1)


def embed_segments(
    segments: Iterable[Segment],
    encoder: FrozenEncoder | str,
    *,
    base_dir: PathLike | None,
    cache: bool | PathLike = True,
    jobs: int | None = None,
    progress: bool = True,
) -> FloatArray:
    """Embed manifest rows, each cut to ``[t0, t1]`` of its audio, through the cache.

    Parameters
    ----------
    segments : iterable of Segment
        Rows with an ``audio_uri``.
    encoder : FrozenEncoder or str
        An encoder, or a registered name built without options.
    base_dir : path-like or None
        Folder that relative ``audio_uri`` are resolved against (the manifest's folder).
    cache : bool or path-like
        True: the default cache folder (:func:`default_cache_dir`); a path: that folder;
        False: no cache. Cached rows are read, the others computed and stored one by one,
        so an interrupted run resumes where it stopped.
    jobs : int or None
        Worker processes for the rows not cached (None: one per CPU, at most 8); each
        worker gets its own copy of the encoder once. 1 computes in this process.
    progress : bool
        Show a progress bar.

    Returns
    -------
    np.ndarray [float32], shape=(n_segments, encoder.dim)
        Rows in the order of ``segments``.

    Raises
    ------
    SchemaError
        If a row has no ``audio_uri``, or the encoder breaks its contract.
    AudioError
        If a row's audio or span cannot be read.
    """
    from pianoeval._cache import check_cache_dir
    from pianoeval._parallel import pool_context, resolve_jobs
    from pianoeval.symbolic.transcribe.cache import audio_sha256

    enc = get_encoder(encoder) if isinstance(encoder, str) else encoder
    rows = list(segments)
    out = np.zeros((len(rows), enc.dim), dtype=np.float32)
    store: EmbeddingCache | None = None
    if cache is not False:
        folder = default_cache_dir() if cache is True else Path(cache)
        store = EmbeddingCache(check_cache_dir(folder))
    paths = [segment_audio_path(s, base_dir) for s in rows]
    settings = enc.settings()
    keys: list[str | None] = [None] * len(rows)
    todo: list[int] = []
    digests: dict[Path, str] = {}
    for i, (seg, path) in enumerate(zip(rows, paths, strict=True)):
        if store is None:
            todo.append(i)
            continue
        if path not in digests:
            from pianoeval.audio import audio_info

            audio_info(path)  # AudioError naming the file when it is missing or unreadable
            digests[path] = audio_sha256(path)
        key = embedding_key(
            audio_sha256=digests[path],
            t0=seg.t0,
            t1=seg.t1,
            encoder=enc.name,
            version=enc.version,
            settings=settings,
        )
        keys[i] = key
        hit = store.get(key)
        if hit is not None and hit.shape == (enc.dim,):
            out[i] = hit
        else:
            todo.append(i)

    def _store(i: int, vector: FloatArray, elapsed_sec: float) -> None:
        out[i] = validate_embedding(vector, encoder=enc.name, dim=enc.dim)
        key = keys[i]
        if store is not None and key is not None:
            store.put(
                key,
                out[i],
                {
                    "encoder": enc.name,
                    "version": enc.version,
                    "settings": settings,
                    "audio_path": str(paths[i]),
                    "t0": rows[i].t0,
                    "t1": rows[i].t1,
                    "elapsed_sec": elapsed_sec,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                },
            )

    bar = _progress(len(todo), enc.name, progress)
    tasks = [(str(paths[i]), rows[i].t0, rows[i].t1) for i in todo]
    n_jobs = resolve_jobs(jobs, len(todo))
    try:
        if n_jobs <= 1:
            for i, (path_str, t0, t1) in zip(todo, tasks, strict=True):
                start = time.perf_counter()
                vector = enc.embed_file(path_str, t0=t0, t1=t1)
                _store(i, vector, time.perf_counter() - start)
                bar.update(1)
        else:
            with ProcessPoolExecutor(
                n_jobs, mp_context=pool_context(), initializer=_init_worker, initargs=(enc,)
            ) as pool:
                start = time.perf_counter()
                for i, vector in zip(todo, pool.map(_embed_task, tasks), strict=True):
                    _store(i, vector, time.perf_counter() - start)
                    start = time.perf_counter()
                    bar.update(1)
    finally:
        bar.close()
    return out


class _NoBar:
    def update(self, n: int) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""


def _progress(total: int, name: str, enabled: bool) -> Any:
    if not enabled or total == 0:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"embed {name}", unit="seg")
