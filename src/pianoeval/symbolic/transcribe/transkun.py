"""transkun (Yan & Duan): the accurate backend, notes with velocities plus sustain and soft pedal.

transkun 2.0.1 ships its weights (``transkun/pretrained/2.0.pt``, 56 MB) and model
configuration in the package; nothing is downloaded. The package declares torchaudio as a
dependency and uses exactly one function of it, ``torchaudio.functional.melscale_fbanks``,
once, when the model is built; no torchaudio works with torch 2.13, so the model is built
inside :func:`~pianoeval.symbolic.transcribe._torchaudio_compat.torchaudio_shim`, which
provides that one function when (and only while) ``import torchaudio`` fails. transkun's
command line (``transkun``) decodes audio with pydub and ffmpeg and is not used: audio is
read by :func:`pianoeval.audio.load_audio` and passed as an array.

How a file is transcribed
-------------------------
The model hears 16 s segments (other lengths lose most of the recall). transkun's own
``TransKun.transcribe`` pads the audio with ``segment - hop`` seconds of zeros at both ends
and transcribes segments every ``hop`` seconds (8 s) from the start of the padding to the
end of the padding, merging events across segments. :func:`transcribe_chunks` is that loop
(rewritten from transkun's MIT-licensed code, same merging) with three settings:

- ``hop_sec``: seconds between segment starts (transkun: 8);
- ``pad_begin_sec``: zeros before the audio (transkun: ``16 - hop``);
- ``segments``: which segments run: ``"all"`` (transkun's loop, including segments that
  start inside the trailing padding and hear only zeros), ``"audio"`` (segments that start
  before the end of the audio; identical output, since a segment of zeros adds nothing) or
  ``"cover"`` (stop after the first segment that reaches the end of the audio).

And settings for the arithmetic of the transformer backbone, where most of the time goes:

- ``precision``: ``"fp32"``; ``"bf16"`` (the six transformer layers stored and run in
  bfloat16, native on CPUs with AVX512-BF16/AMX; the stream between layers, the mel front
  end, the interval scorer and the CRF decoding stay in float32); or ``"bf16_autocast"``
  (the whole backbone under ``torch.autocast``);
- ``quantize``: dynamic int8 quantisation of the backbone's ``nn.Linear`` layers;
- ``fast_attention``: attention inputs shaped so torch runs its fused CPU kernel;
- ``compile``: ``torch.compile`` of the transformer layers.

The defaults are the measured winners (docs/transcription.md has the table).

Pedal
-----
transkun transcribes the sustain (CC64) and soft (CC67) pedals as intervals, like notes;
each becomes a pedal-down event with the value transkun predicts for it and a release (0)
at its end, as ``transkun.Data.writeMidi`` writes them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from pianoeval.errors import ParameterError
from pianoeval.symbolic.midi import NOTE_DTYPE, PEDAL_DTYPE, SOFT_CC, SUSTAIN_CC
from pianoeval.symbolic.transcribe.base import BackendOutput, TranscriptionBackend

__all__ = [
    "BACKEND",
    "CONTEXT_DIM",
    "CONTEXT_SYMBOLS",
    "SEGMENT_SEC",
    "ContextSink",
    "TranskunBackend",
    "context_sink",
    "load_model",
    "transcribe_chunks",
]

#: Length of the segments the model hears, in seconds (transkun's configuration).
SEGMENT_SEC = 16.0
SEGMENT_POLICIES = ("all", "audio", "cover")
PRECISIONS = ("fp32", "bf16", "bf16_autocast")
#: Width of the backbone's per-frame, per-symbol context (``baseSize * scoringExpansionFactor``).
CONTEXT_DIM = 256
#: The symbols the context has one row for, in order: sustain, soft pedal, MIDI pitches 21-108.
CONTEXT_SYMBOLS: tuple[int, ...] = (-64, -67, *range(21, 109))

#: Receives the backbone's context, frame block by frame block: a float32 tensor of shape
#: ``(n_symbols, n_frames, CONTEXT_DIM)`` (every audio frame exactly once, in time order).
ContextSink = Callable[[Any], None]

#: The sink of the transcription running in this context (set by
#: :meth:`TranskunBackend.transcribe_array_with_context`).
_CONTEXT_SINK: ContextVar[ContextSink | None] = ContextVar("transkun_context_sink", default=None)


@contextlib.contextmanager
def context_sink(sink: ContextSink | None) -> Iterator[None]:
    """Pass the backbone's context of every transkun transcription run in the block to ``sink``.

    Works through any caller, :func:`pianoeval.symbolic.transcribe.transcribe` included
    (a cache hit runs no model and so calls nothing). The sink gets what ``on_context`` of
    :func:`transcribe_chunks` gets. None: no sink inside the block.

    Examples
    --------
    >>> with context_sink(print):
    ...     _CONTEXT_SINK.get() is print
    True
    >>> _CONTEXT_SINK.get() is None
    True
    """
    token = _CONTEXT_SINK.set(sink)
    try:
        yield
    finally:
        _CONTEXT_SINK.reset(token)


@functools.lru_cache(maxsize=4)
def load_model(
    *,
    precision: str = "bf16",
    quantize: bool = False,
    fast_attention: bool = True,
    compile_layers: bool = False,
) -> Any:
    """Build transkun's pretrained model once per configuration, in eval mode.

    Parameters
    ----------
    precision : {"fp32", "bf16", "bf16_autocast"}
        ``"bf16"`` stores the six transformer layers in bfloat16 and runs them in it (their
        input and output, the stream between layers, stay float32); ``"bf16_autocast"``
        runs the whole backbone (convolutions and position embeddings too) under CPU
        autocast. Everything else stays float32.
    quantize : bool
        Quantise the transformer layers' ``nn.Linear`` to int8 (dynamic quantisation);
        needs ``precision="fp32"``.
    fast_attention : bool
        Give ``scaled_dot_product_attention`` 4-D inputs (batch dimensions merged), which
        lets PyTorch use its fused CPU attention kernel; transkun passes 5-D tensors, which
        fall back to the unfused reference implementation. Same arithmetic.
    compile_layers : bool
        ``torch.compile`` the transformer layers (one compilation per process, about
        1-2 minutes on 2 cores; needs a C++ compiler).

    Returns
    -------
    transkun.ModelTransformer.TransKun
    """
    import importlib
    import importlib.resources
    import types

    import torch

    from pianoeval.symbolic.transcribe._torchaudio_compat import torchaudio_shim

    model_module = _import_transkun()
    layers_module = importlib.import_module("transkun.LayersTransformer")
    files = importlib.resources.files("transkun") / "pretrained"
    conf = model_module.ModelConfig()
    conf.__dict__.update(json.loads((files / "2.0.conf").read_text())["Model"]["config"])
    with torchaudio_shim():
        model = model_module.TransKun(conf=conf)
    with importlib.resources.as_file(files / "2.0.pt") as weights:
        checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    state = checkpoint.get("best_state_dict", checkpoint.get("state_dict"))
    model.load_state_dict(state, strict=False)  # as transkun's own loader
    model.eval()
    backbone = model.backbone
    # The backbone wraps every layer in torch.utils.checkpoint (a training memory saver);
    # at inference it only adds overhead and warnings.
    backbone.useGradientCheckpoint = False
    if fast_attention:
        for module in backbone.modules():
            if isinstance(module, layers_module.MultiHeadAttentionKernel):
                module.forward = types.MethodType(_attention_forward, module)
    helpers = _torch_helpers()
    if quantize:
        quantize_dynamic: Any = torch.ao.quantization.quantize_dynamic
        backbone.encoderLayers = quantize_dynamic(
            backbone.encoderLayers, {torch.nn.Linear}, dtype=torch.qint8
        )
    if precision == "bf16":
        backbone.encoderLayers = torch.nn.ModuleList(
            helpers.Bfloat16Layer(layer) for layer in backbone.encoderLayers
        )
    elif precision == "bf16_autocast":
        model.backbone = helpers.Autocast(backbone)
    if compile_layers:  # `backbone` is the backbone itself, also under Autocast
        for i, layer in enumerate(backbone.encoderLayers):
            backbone.encoderLayers[i] = torch.compile(layer, dynamic=False)
    return model


def _import_transkun() -> Any:
    """Import ``transkun.ModelTransformer`` (and torch), quietly.

    Its CRF module compiles a function with ``torch.jit.script``, which torch 2.13 reports
    as deprecated on every import; that is transkun's business, not the caller's.
    """
    import importlib
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="torch.jit")
        return importlib.import_module("transkun.ModelTransformer")


def _attention_forward(self: Any, query: Any, key: Any = None, value: Any = None) -> Any:
    """``MultiHeadAttentionKernel.forward`` of transkun (kernel=None), with 4-D attention.

    transkun splits heads into ``(..., heads, length, head_dim)`` tensors with two leading
    batch dimensions; PyTorch's fused CPU attention only takes 4-D inputs, so the batch
    dimensions are merged before the call and split again after it.
    """
    import torch.nn.functional as F  # noqa: N812 - torch's convention

    key = query if key is None else key
    value = key if value is None else value
    q = query @ self.q_proj_weight
    k = key @ self.k_proj_weight
    v = value @ self.v_proj_weight
    n_heads, head_dim = self.num_heads, self.head_dim

    def split_heads(t: Any) -> Any:
        t = t.unflatten(-1, (n_heads, head_dim)).transpose(-2, -3)
        return t.reshape(-1, n_heads, t.shape[-2], head_dim)

    lead, length = q.shape[:-2], q.shape[-2]
    fetched = F.scaled_dot_product_attention(split_heads(q), split_heads(k), split_heads(v))
    fetched = fetched.reshape(*lead, n_heads, length, head_dim).transpose(-2, -3)
    return self.out_proj(fetched.flatten(-2, -1))


@functools.cache
def _torch_helpers() -> Any:
    """Small nn.Modules, made on first use so that importing this module stays torch-free."""
    import types

    import torch

    class Bfloat16Layer(torch.nn.Module):
        """Hold a layer in bfloat16; take and return float32."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner.to(torch.bfloat16)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.inner(x.to(torch.bfloat16))
            return out.float()

    class Autocast(torch.nn.Module):
        """Run a module under CPU autocast (bfloat16) and return float32."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out: torch.Tensor = self.inner(*args, **kwargs)
            return out.float()

    return types.SimpleNamespace(Bfloat16Layer=Bfloat16Layer, Autocast=Autocast)


def transcribe_chunks(
    model: Any,
    y: npt.NDArray[np.float32],
    *,
    hop_sec: float,
    pad_begin_sec: float | None,
    segments: str,
    on_context: ContextSink | None = None,
) -> tuple[list[Any], int]:
    """Transcribe a waveform segment by segment, as ``TransKun.transcribe`` does.

    Parameters
    ----------
    model : transkun.ModelTransformer.TransKun
    y : np.ndarray [float32], shape=(n_channels, n_samples)
        At the model's rate (44100 Hz).
    hop_sec : float
        Seconds between segment starts.
    pad_begin_sec : float or None
        Zeros before the audio, in seconds; None: ``SEGMENT_SEC - hop_sec`` (transkun's).
    segments : {"all", "audio", "cover"}
        Which segments run (module docstring).
    on_context : callable, optional
        Called with the backbone's output (the per-frame, per-symbol context the note and
        pedal decoding reads; captured by a forward hook in the same pass, so the notes do
        not change) as float32 tensors of shape ``(n_symbols, n_frames, CONTEXT_DIM)``.
        Frame ``k`` of a segment starting at padded sample ``i`` is centred on sample
        ``i + k * hopSize``; only frames centred inside the audio are passed, each once: a
        segment gives the frames before the next segment's start, the last segment all the
        rest.

    Returns
    -------
    notes : list of transkun.Data.Note
        Pitch > 0 for notes, -64 / -67 for sustain / soft pedal intervals.
    n_segments : int
        Segments the model ran on.
    """
    import importlib

    import torch
    import torch.nn.functional as F  # noqa: N812 - torch's convention

    resolve_overlapping = importlib.import_module("transkun.Data").resolveOverlapping
    make_frame = importlib.import_module("transkun.Util").makeFrame

    fs, hop_size = model.fs, model.hopSize
    x = torch.from_numpy(np.ascontiguousarray(y))
    pad_end_sec = SEGMENT_SEC - hop_sec
    pad_begin = pad_end_sec if pad_begin_sec is None else pad_begin_sec
    n_begin = math.ceil(pad_begin * fs)
    audio_end = n_begin + x.shape[-1]
    x = F.pad(x, (n_begin, math.ceil(pad_end_sec * fs)))
    n_sample = x.shape[-1]
    step = math.ceil(hop_sec * fs / hop_size) * hop_size
    segment_size = math.ceil(SEGMENT_SEC * fs)
    last_frame_idx = round(segment_size / hop_size)
    start_pos = [math.floor(pad_begin * fs / hop_size)] * len(model.targetMIDIPitch)
    events_by_type: dict[int, list[Any]] = defaultdict(list)
    n_segments = 0
    captured: list[Any] = []
    # Frames (global index g: centred on padded sample g * hop_size) inside the audio.
    frames_in_audio: tuple[int, int] = (-(-n_begin // hop_size), -(-audio_end // hop_size))
    given = frames_in_audio[0]  # the next frame to give on_context
    previous: tuple[Any, int] | None = None  # the last segment's context and first frame

    def give(ctx: Any, first: int, stop: int) -> int:
        """Pass frames [given, stop) of a segment whose frame 0 is frame ``first``."""
        stop = min(stop, first + int(ctx.shape[-2]), frames_in_audio[1])
        if on_context is not None and stop > given:
            on_context(ctx[:, given - first : stop - first].float())
        return max(stop, given)

    hook = (
        model.backbone.register_forward_hook(lambda _m, _i, out: captured.append(out[0]))
        if on_context is not None
        else None
    )
    try:
        for i in range(0, n_sample, step):
            if segments != "all" and i >= audio_end:
                break  # only zeros from here on
            chunk = x[:, i : min(i + segment_size, n_sample)]
            if chunk.shape[-1] < segment_size:
                chunk = F.pad(chunk, (0, segment_size - chunk.shape[-1]))
            frames = make_frame(chunk, hop_size, model.windowSize)
            events, last_p = model.transcribeFrames(
                frames.unsqueeze(0),
                forcedStartPos=start_pos,
                velocityCriteron="hamming",
                onsetBound=None,
                lastFrameIdx=last_frame_idx,
            )
            if captured:
                if previous is not None:
                    given = give(*previous, i // hop_size)
                previous = (captured.pop(), i // hop_size)
            n_segments += 1
            start_pos = [max(k - int(step / hop_size), 0) for k in last_p]
            _merge_events(events[0], events_by_type, i / fs - pad_begin)
            if segments == "cover" and i + segment_size >= audio_end:
                break
    finally:
        if hook is not None:
            hook.remove()
    if previous is not None:
        give(*previous, frames_in_audio[1])
    for same in events_by_type.values():
        if same:
            same[-1].hasOffset = True  # events still open at the end close there
    notes = [e for same in events_by_type.values() for e in same if e.hasOffset]
    return resolve_overlapping(notes), n_segments


def _merge_events(
    events: list[Any], events_by_type: dict[int, list[Any]], begin_sec: float
) -> None:
    """Add one segment's events (times from ``begin_sec``) to the events of every kind so far."""
    for e in events:
        e.start = max(e.start + begin_sec, 0.0)
        e.end = max(e.end + begin_sec, e.start)
        same = events_by_type[e.pitch]
        if same and e.start < same[-1].end:  # overlaps the last event of its kind
            if e.hasOnset:
                same[-1] = e
            else:  # the continuation of an event: extend it
                same[-1].hasOffset = e.hasOffset
                same[-1].end = max(e.end, same[-1].end)
            continue
        if e.hasOnset:
            same.append(e)


class TranskunBackend(TranscriptionBackend):
    """transkun 2.0.1 (notes, velocities, sustain and soft pedal), sped up for CPU.

    Options (:meth:`resolve_settings`); the defaults are the measured winners:

    - ``hop_sec`` (8.0): seconds between 16 s segments; 0 < hop <= 16.
    - ``pad_begin_sec`` (1.0; None: transkun's ``16 - hop_sec``): zeros before the audio.
    - ``segments`` ("cover"): ``"all"``, ``"audio"`` or ``"cover"`` (module docstring).
    - ``precision`` ("bf16"): ``"fp32"``, ``"bf16"`` (transformer layers in bfloat16) or
      ``"bf16_autocast"`` (the whole backbone under ``torch.autocast``).
    - ``quantize`` (False): dynamic int8 quantisation of the backbone's linear layers.
    - ``fast_attention`` (True): 4-D attention inputs, so torch uses its fused CPU kernel.
    - ``compile`` (False): ``torch.compile`` the transformer layers (needs a C++ compiler).

    ``threads`` (an argument of :func:`~pianoeval.symbolic.transcribe.transcribe`, not a
    setting) defaults to 2.
    """

    name: ClassVar[str] = "transkun"
    distribution: ClassVar[str] = "transkun"
    supported_version: ClassVar[str] = "2.0.1"
    sr: ClassVar[int] = 44100
    mono: ClassVar[bool] = False  # the model averages the channels' power spectra itself
    gives_pedal: ClassVar[bool] = True
    modules: ClassVar[tuple[str, ...]] = ("transkun", "torch")
    defaults: ClassVar[dict[str, Any]] = {
        "hop_sec": 8.0,
        "pad_begin_sec": 1.0,
        "segments": "cover",
        "precision": "bf16",
        "quantize": False,
        "fast_attention": True,
        "compile": False,
    }
    description: ClassVar[str] = "transkun 2.0.1 (PyTorch): accurate, notes and pedal"
    #: Threads when the caller does not say: the reference machine's 2 cores.
    default_threads: ClassVar[int] = 2

    def _check_settings(self, settings: dict[str, Any]) -> None:
        hop = settings["hop_sec"]
        if not 0.0 < hop <= SEGMENT_SEC:
            raise ParameterError(f"transkun hop_sec must be in (0, {SEGMENT_SEC:g}], got {hop}")
        pad = settings["pad_begin_sec"]
        if pad is not None:
            if isinstance(pad, bool) or not isinstance(pad, int | float) or not 0 <= pad < 16:
                raise ParameterError(
                    f"transkun pad_begin_sec must be in [0, 16) or None, got {pad!r}"
                )
            settings["pad_begin_sec"] = float(pad)
        settings["hop_sec"] = float(hop)
        if settings["segments"] not in SEGMENT_POLICIES:
            raise ParameterError(
                f"transkun segments must be one of {', '.join(SEGMENT_POLICIES)}, "
                f"got {settings['segments']!r}"
            )
        if settings["precision"] not in PRECISIONS:
            raise ParameterError(
                f"transkun precision must be one of {', '.join(PRECISIONS)}, "
                f"got {settings['precision']!r}"
            )
        if settings["quantize"] and settings["precision"] != "fp32":
            raise ParameterError("transkun quantize=True needs precision='fp32'")

    def _load_dependencies(self) -> None:
        _import_transkun()

    def _prepare(self, settings: dict[str, Any], threads: int | None) -> None:
        self._model(settings)

    def _model(self, settings: dict[str, Any]) -> Any:
        return load_model(
            precision=settings["precision"],
            quantize=settings["quantize"],
            fast_attention=settings["fast_attention"],
            compile_layers=settings["compile"],
        )

    def _run(
        self, y: npt.NDArray[np.float32], settings: dict[str, Any], threads: int | None
    ) -> BackendOutput:
        with _torch_threads(threads or self.default_threads):
            return self._transcribe(y, settings)

    def _transcribe(self, y: npt.NDArray[np.float32], settings: dict[str, Any]) -> BackendOutput:
        import torch

        model = self._model(settings)
        audio = y if y.ndim == 2 else y[np.newaxis, :]
        with torch.inference_mode():
            events, _ = transcribe_chunks(
                model,
                audio,
                hop_sec=settings["hop_sec"],
                pad_begin_sec=settings["pad_begin_sec"],
                segments=settings["segments"],
                on_context=_CONTEXT_SINK.get(),
            )
        return events_to_output(events)

    def transcribe_array_with_context(
        self,
        y: npt.ArrayLike,
        sr: int,
        on_context: ContextSink,
        *,
        threads: int | None = None,
        **options: Any,
    ) -> BackendOutput:
        """Transcribe like :meth:`transcribe_array` and pass the backbone's context on.

        One forward pass: the context the notes are decoded from is handed to
        ``on_context`` as it is computed (:func:`transcribe_chunks`), and the returned
        transcription is the one :meth:`transcribe_array` gives for the same input.

        Parameters
        ----------
        y : np.ndarray [float], shape=(n_samples,) or (n_channels, n_samples)
        sr : int
        on_context : callable
            Receives float32 tensors ``(n_symbols, n_frames, CONTEXT_DIM)``, every audio
            frame once, in time order.
        threads : int, optional
        **options
            Backend settings.

        Returns
        -------
        BackendOutput
        """
        with context_sink(on_context):
            return self.transcribe_array(y, sr, threads=threads, **options)


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Set torch's intra-op threads for the block, then restore them."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def events_to_output(events: list[Any]) -> BackendOutput:
    """Turn transkun's events into notes and pedal events.

    Parameters
    ----------
    events : list of transkun.Data.Note
        ``pitch > 0`` for notes; ``-64`` / ``-67`` for sustain / soft pedal intervals, whose
        ``velocity`` is the pedal value.

    Returns
    -------
    BackendOutput
    """
    notes = np.array(
        [
            (float(e.start), float(e.end), int(e.pitch), int(np.clip(e.velocity, 1, 127)))
            for e in events
            if e.pitch > 0 and e.end > e.start
        ],
        dtype=NOTE_DTYPE,
    )

    def pedal(cc: int) -> npt.NDArray[np.void]:
        rows: list[tuple[float, int]] = []
        for e in sorted((e for e in events if e.pitch == -cc), key=lambda e: e.start):
            rows.append((float(e.start), int(np.clip(e.velocity, 0, 127))))
            rows.append((float(e.end), 0))
        return np.array(rows, dtype=PEDAL_DTYPE)

    return BackendOutput(notes=notes, sustain=pedal(SUSTAIN_CC), soft=pedal(SOFT_CC))


#: The registered instance.
BACKEND = TranskunBackend()
