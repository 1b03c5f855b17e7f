"""transkun's piano-trained transformer as a frozen encoder: one pass transcribes and embeds.

transkun (Yan & Duan; :mod:`pianoeval.symbolic.transcribe.transkun`) decodes notes and
pedals from the output of its transformer backbone: a context vector of
:data:`~pianoeval.symbolic.transcribe.transkun.CONTEXT_DIM` = 256 values for every frame
(1024 samples at 44.1 kHz, 23.2 ms) and every one of its 90 symbols (sustain pedal, soft
pedal, MIDI pitches 21-108, in that order). The backbone was trained on MAESTRO's
Disklavier recordings, so the context already knows what a piano note, its loudness
relative to its neighbours and its pedalling sound like.

This encoder captures that tensor in the SAME forward pass that transcribes (a forward hook
on the backbone, :func:`~pianoeval.symbolic.transcribe.transkun.transcribe_chunks`): the
transcription is exactly what :func:`pianoeval.symbolic.transcribe.transcribe` gives, and
the embedding costs only the pooling. Across transkun's 16 s segments (every 8 s) each
audio frame is counted once: a segment gives the frames before the next segment's start,
the last segment all the rest; frames centred in the zero padding are left out.

Pooling (``pooling=``), streamed segment by segment (nothing of size frames x symbols is
kept):

- ``"mean_std"`` (default, 512 values): over every (frame, symbol) pair of the clip, i.e.
  over the time axis and the 90-symbol axis together, the mean of each of the 256 context
  channels, then their standard deviation (population, ddof=0): ``[mean(256), std(256)]``.
  The mean + std pooling won in ``reference/audio-experiments-report.md``.
- ``"pitch_mean"`` (23 040 values): the mean over frames of each symbol's context, symbol
  by symbol in the order above: ``[90, 256]`` flattened row-major.

Loudness: transkun normalises the gain of every 16 s segment (zero mean, unit standard
deviation of the framed waveform) before its mel front end, so the embedding is nearly
invariant to a gain change (a clip at -12 dB gives the same vector to about 1e-3; tested).
Dynamics as a level must come from elsewhere: the fixed-reference mel
(:mod:`pianoeval.audio.mel`) or level features; the relative dynamics inside a clip
(velocities, balance) remain in the context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pianoeval._typing import FloatArray, PathLike
from pianoeval.encoders.base import FrozenEncoder, validate_embedding
from pianoeval.errors import ParameterError
from pianoeval.symbolic.transcribe.base import BackendOutput

if TYPE_CHECKING:
    from pianoeval.symbolic.transcribe import Transcription
from pianoeval.symbolic.transcribe.transkun import (
    BACKEND,
    CONTEXT_DIM,
    CONTEXT_SYMBOLS,
    context_sink,
)

__all__ = [
    "ENCODER",
    "POOLINGS",
    "ContextPooler",
    "TranskunEncoder",
    "transcribe_and_embed",
    "transcribe_and_embed_file",
    "transcribe_with_embedding",
]

#: Bump when the same audio and settings could give another vector.
WRAPPER_VERSION = "1"
#: The poolings this encoder offers and their widths.
POOLINGS: dict[str, int] = {
    "mean_std": 2 * CONTEXT_DIM,
    "pitch_mean": len(CONTEXT_SYMBOLS) * CONTEXT_DIM,
}


def _check_pooling(pooling: str) -> str:
    if pooling not in POOLINGS:
        raise ParameterError(
            f"transkun encoder pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}"
        )
    return pooling


class ContextPooler:
    """Accumulate transkun's context block by block; pool it at the end.

    Call the instance with each block (a float32 tensor ``(n_symbols, n_frames, D)``, as
    :func:`~pianoeval.symbolic.transcribe.transkun.transcribe_chunks` passes them), then
    :meth:`result`. Sums are kept in float64.

    Parameters
    ----------
    pooling : {"mean_std", "pitch_mean"}
    """

    def __init__(self, pooling: str = "mean_std") -> None:
        self.pooling = _check_pooling(pooling)
        self.n_frames = 0
        self._sum: Any = None  # [P, D] sum over frames, float64
        self._sum_sq: Any = None  # [D] sum over frames and symbols of squares, float64

    def __call__(self, block: Any) -> None:
        """Add a block of context, shape ``(n_symbols, n_frames, D)``."""
        x = block.double()
        part = x.sum(dim=1)
        sq = x.square().sum(dim=(0, 1))
        self._sum = part if self._sum is None else self._sum + part
        self._sum_sq = sq if self._sum_sq is None else self._sum_sq + sq
        self.n_frames += int(block.shape[1])

    def result(self) -> FloatArray:
        """Return the pooled vector (zeros when no frame was seen: audio shorter than a frame).

        Returns
        -------
        np.ndarray [float32], shape=(POOLINGS[pooling],)
        """
        if self._sum is None or self.n_frames == 0:
            return np.zeros(POOLINGS[self.pooling], dtype=np.float32)
        per_symbol = self._sum.numpy() / self.n_frames  # [P, D]
        if self.pooling == "pitch_mean":
            return np.ascontiguousarray(per_symbol.reshape(-1), dtype=np.float32)
        n = self.n_frames * per_symbol.shape[0]
        mean = self._sum.numpy().sum(axis=0) / n
        var = np.maximum(self._sum_sq.numpy() / n - mean**2, 0.0)
        return np.concatenate([mean, np.sqrt(var)]).astype(np.float32)


def transcribe_and_embed(
    y: npt.ArrayLike,
    sr: int,
    *,
    pooling: str = "mean_std",
    threads: int | None = None,
    **options: Any,
) -> tuple[BackendOutput, FloatArray]:
    """Transcribe a waveform with transkun and embed it, in one forward pass.

    Parameters
    ----------
    y : np.ndarray [float], shape=(n_samples,) or (n_channels, n_samples)
        Waveform, channels first, not normalised (as
        :meth:`~pianoeval.symbolic.transcribe.base.TranscriptionBackend.transcribe_array`).
    sr : int
        Its rate in Hz (resampled to 44.1 kHz).
    pooling : {"mean_std", "pitch_mean"}
        Module docstring.
    threads : int, optional
        CPU threads (default 2).
    **options
        transkun backend settings (``TranskunBackend.defaults``).

    Returns
    -------
    output : BackendOutput
        The same notes and pedals as ``BACKEND.transcribe_array(y, sr, **options)``.
    embedding : np.ndarray [float32], shape=(POOLINGS[pooling],)

    Raises
    ------
    ParameterError
        For a bad waveform, rate, pooling or option.
    BackendUnavailableError
        If transkun or torch is missing.
    """
    pooler = ContextPooler(pooling)
    output = BACKEND.transcribe_array_with_context(y, sr, pooler, threads=threads, **options)
    return output, pooler.result()


def transcribe_and_embed_file(
    path: PathLike,
    *,
    t0: float | None = None,
    t1: float | None = None,
    pooling: str = "mean_std",
    threads: int | None = None,
    **options: Any,
) -> tuple[BackendOutput, FloatArray]:
    """Read an audio file as ``transcribe()`` does, then transcribe and embed it in one pass.

    The file is read at its own rate with every channel (transkun averages the channels'
    power spectra itself), level untouched, then :func:`transcribe_and_embed`.

    Returns
    -------
    output : BackendOutput
    embedding : np.ndarray [float32]
    """
    from pianoeval.audio import load_audio

    y, sr = load_audio(path, sr=None, mono=False, t0=t0, t1=t1, silence_dbfs=None)
    return transcribe_and_embed(y, sr, pooling=pooling, threads=threads, **options)


def transcribe_with_embedding(
    path: PathLike,
    *,
    cache_dir: PathLike | None = None,
    embedding_cache: bool | PathLike = True,
    pooling: str = "mean_std",
    threads: int | None = None,
    **options: Any,
) -> tuple[Transcription, FloatArray]:
    """Transcribe an audio file and embed it through both caches, with one transkun pass.

    :func:`pianoeval.symbolic.transcribe.transcribe` runs as usual (its cache, its MIDI
    file, its warnings) with :func:`~pianoeval.symbolic.transcribe.transkun.context_sink`
    set, so a transcription that runs the model also pools its context. The embedding is
    stored under the key :func:`pianoeval.encoders.embed_segments` uses for the whole file
    (``t0 = t1 = None``), so later calls and ``embed_segments`` hit. When the transcription
    comes from its cache and the embedding does not, the file is embedded (one more pass).

    Parameters
    ----------
    path : path-like
        An audio file :func:`pianoeval.audio.load_audio` reads.
    cache_dir : path-like, optional
        The transcription cache (default: ``transcribe()``'s).
    embedding_cache : bool or path-like
        True: the default embedding cache; a path: that folder; False: none.
    pooling : {"mean_std", "pitch_mean"}
    threads : int, optional
    **options
        transkun backend settings.

    Returns
    -------
    transcription : Transcription
    embedding : np.ndarray [float32], shape=(POOLINGS[pooling],)
    """
    import time

    from pianoeval._cache import check_cache_dir
    from pianoeval.encoders.cache import EmbeddingCache, default_cache_dir, embedding_key
    from pianoeval.symbolic.transcribe import transcribe
    from pianoeval.symbolic.transcribe.cache import audio_sha256

    encoder = TranskunEncoder(pooling=pooling, threads=threads, **options)
    store: EmbeddingCache | None = None
    key = ""
    hit: FloatArray | None = None
    if embedding_cache is not False:
        folder = default_cache_dir() if embedding_cache is True else embedding_cache
        store = EmbeddingCache(check_cache_dir(folder))
        from pianoeval.audio import audio_info

        audio_info(path)  # AudioError naming the file before hashing it
        key = embedding_key(
            audio_sha256=audio_sha256(path),
            t0=None,
            t1=None,
            encoder=encoder.name,
            version=encoder.version,
            settings=encoder.settings(),
        )
        hit = store.get(key)
    pooler = ContextPooler(pooling)
    start = time.perf_counter()
    with context_sink(pooler if hit is None else None):
        result = transcribe(
            path, backend="transkun", cache_dir=cache_dir, threads=threads, **encoder.options
        )
    if hit is not None:
        return result, hit
    if result.cached:  # no model ran: embed the file (the same reading as transcribe's)
        embedding = encoder.embed_file(path)
    else:
        embedding = validate_embedding(pooler.result(), encoder=encoder.name, dim=encoder.dim)
    if store is not None:
        store.put(
            key,
            embedding,
            {
                "encoder": encoder.name,
                "version": encoder.version,
                "settings": encoder.settings(),
                "audio_path": str(path),
                "t0": None,
                "t1": None,
                "elapsed_sec": time.perf_counter() - start,
                "one_pass": not result.cached,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )
    return result, embedding


class TranskunEncoder(FrozenEncoder):
    """transkun's backbone context, pooled (module docstring); the ``"transkun"`` encoder.

    Parameters
    ----------
    pooling : {"mean_std", "pitch_mean"}
        ``"mean_std"``: 512 values; ``"pitch_mean"``: 23 040.
    threads : int, optional
        CPU threads (default 2).
    **options
        transkun backend settings (``TranskunBackend.defaults``); they enter
        :meth:`settings` and so every cache key.

    Examples
    --------
    >>> TranskunEncoder().dim
    512
    >>> TranskunEncoder(pooling="pitch_mean").dim
    23040
    """

    name = "transkun"
    sr = BACKEND.sr

    def __init__(
        self, *, pooling: str = "mean_std", threads: int | None = None, **options: Any
    ) -> None:
        self.pooling = _check_pooling(pooling)
        self.threads = threads
        self.options = BACKEND.resolve_settings(**options)
        self.dim = POOLINGS[pooling]
        #: ``transkun-encoder/<ours>+<backend version>+pool=<pooling>``.
        self.version = f"transkun-encoder/{WRAPPER_VERSION}+{BACKEND.version()}+pool={pooling}"

    def settings(self) -> dict[str, Any]:
        """Return the pooling and the resolved backend settings."""
        return {"pooling": self.pooling, **self.options}

    def _embed(self, y: FloatArray, sr: int) -> FloatArray:
        return self.transcribe_and_embed(y, sr)[1]

    def embed_file(
        self, path: PathLike, *, t0: float | None = None, t1: float | None = None
    ) -> FloatArray:
        """Embed an audio file, or its span ``[t0, t1]`` in seconds, as it is transcribed.

        Unlike the generic :meth:`FrozenEncoder.embed_file` (mono, read at :attr:`sr`), the
        file is read as :func:`pianoeval.symbolic.transcribe.transcribe` reads it (its own
        rate, every channel), so the cached vector is the one a one-pass
        :func:`transcribe_and_embed_file` of the same file gives.
        """
        _, embedding = transcribe_and_embed_file(
            path, t0=t0, t1=t1, pooling=self.pooling, threads=self.threads, **self.options
        )
        return validate_embedding(embedding, encoder=self.name, dim=self.dim)

    def transcribe_and_embed(self, y: npt.ArrayLike, sr: int) -> tuple[BackendOutput, FloatArray]:
        """:func:`transcribe_and_embed` with this encoder's pooling and settings.

        Returns
        -------
        output : BackendOutput
        embedding : np.ndarray [float32], shape=(dim,)
        """
        output, embedding = transcribe_and_embed(
            y, sr, pooling=self.pooling, threads=self.threads, **self.options
        )
        return output, validate_embedding(embedding, encoder=self.name, dim=self.dim)


#: The registered instance (mean + std pooling, default backend settings).
ENCODER = TranskunEncoder()
