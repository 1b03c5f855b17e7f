"""basic-pitch (Spotify, ICASSP 2022) through ONNX Runtime: the fast backend, notes only.

basic-pitch 0.4.0 ships its model in four formats; this backend runs the ONNX one
(``basic_pitch/saved_models/icassp_2022/nmp.onnx``) with ``onnxruntime``, so TensorFlow,
which the package declares but which cannot be installed here, is never needed (the package
is installed with ``--no-deps``; see ``scripts/setup.sh``).

What runs is basic-pitch's own inference, on an array instead of a file: the audio (mono,
22050 Hz) gets basic-pitch's half-overlap of zeros in front, is cut into its 2 s windows
(``basic_pitch.inference.window_audio_file``), all windows go through the model in one
batch, the outputs are unwrapped (``unwrap_output``) and turned into note events by
``basic_pitch.note_creation.model_output_to_notes`` with the package's default thresholds.
Two differences from ``basic_pitch.inference.predict``: pitch bends are not computed (a
piano has none, and basic-pitch writes some for piano notes), and velocities are
``round(127 * amplitude)`` clipped to 1-127 (basic-pitch can write velocity 0). There is no
pedal.

Importing ``basic_pitch`` logs warnings for every model format whose runtime is missing
(TensorFlow, CoreML, TFLite) and may configure the root logger; the import here silences
those warnings and leaves logging as it found it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from pianoeval.errors import ParameterError
from pianoeval.symbolic.midi import NOTE_DTYPE, PEDAL_DTYPE
from pianoeval.symbolic.transcribe.base import BackendOutput, TranscriptionBackend

__all__ = ["BACKEND", "BasicPitchBackend"]

#: Output names of the ONNX graph, in basic-pitch's order (``Model.predict``).
_ONNX_OUTPUTS = {
    "note": "StatefulPartitionedCall:1",
    "onset": "StatefulPartitionedCall:2",
    "contour": "StatefulPartitionedCall:0",
}
_ONNX_INPUT = "serving_default_input_2:0"
#: Frames of overlap between windows, as ``basic_pitch.inference.run_inference``.
_N_OVERLAPPING_FRAMES = 30
#: Windows per model call: bounds memory on long files (each window is 2 s).
_BATCH_WINDOWS = 64


@contextlib.contextmanager
def _quiet_import() -> Iterator[None]:
    """Silence basic-pitch's import-time warnings without touching the logging setup."""
    root = logging.getLogger()
    guard = logging.NullHandler()  # logging.warning() configures the root logger when bare
    root.addHandler(guard)
    previous = root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pkg_resources' deprecation notice (resampy)
            yield
    finally:
        logging.disable(previous)
        root.removeHandler(guard)


def _modules() -> tuple[Any, ...]:
    """Import basic_pitch, its constants, inference and note_creation, and onnxruntime."""
    names = (
        "basic_pitch",
        "basic_pitch.constants",
        "basic_pitch.inference",
        "basic_pitch.note_creation",
        "onnxruntime",
    )
    with _quiet_import():
        return tuple(importlib.import_module(name) for name in names)


@functools.lru_cache(maxsize=4)
def _session(threads: int | None) -> Any:
    """Load the ONNX model once per thread count."""
    basic_pitch, _, _, _, ort = _modules()
    path = basic_pitch.build_icassp_2022_model_path(basic_pitch.FilenameSuffix.onnx)
    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


class BasicPitchBackend(TranscriptionBackend):
    """basic-pitch 0.4.0 on ONNX Runtime (notes, no pedal; about 15x faster than real time).

    Options (:meth:`resolve_settings`), basic-pitch's defaults:

    - ``onset_threshold`` (0.5), ``frame_threshold`` (0.3): activation thresholds.
    - ``minimum_note_length_ms`` (127.7): shorter notes are dropped.
    - ``melodia_trick`` (True): basic-pitch's note-tracking post-processing.
    - ``infer_onsets`` (True): add onsets where frame activations jump.
    """

    name: ClassVar[str] = "basic_pitch"
    distribution: ClassVar[str] = "basic-pitch"
    supported_version: ClassVar[str] = "0.4.0"
    sr: ClassVar[int] = 22050
    mono: ClassVar[bool] = True
    gives_pedal: ClassVar[bool] = False
    modules: ClassVar[tuple[str, ...]] = ("basic_pitch", "onnxruntime", "resampy")
    defaults: ClassVar[dict[str, Any]] = {
        "onset_threshold": 0.5,
        "frame_threshold": 0.3,
        "minimum_note_length_ms": 127.7,
        "melodia_trick": True,
        "infer_onsets": True,
    }
    description: ClassVar[str] = "basic-pitch (Spotify) via ONNX Runtime: fast, notes only"

    def _check_settings(self, settings: dict[str, Any]) -> None:
        for key in ("onset_threshold", "frame_threshold"):
            if not 0.0 < settings[key] < 1.0:
                raise ParameterError(f"basic_pitch {key} must be in (0, 1), got {settings[key]}")
        if settings["minimum_note_length_ms"] < 0:
            raise ParameterError("basic_pitch minimum_note_length_ms must be >= 0")

    def _load_dependencies(self) -> None:
        _modules()

    def _prepare(self, settings: dict[str, Any], threads: int | None) -> None:
        _session(threads)

    def _run(
        self, y: npt.NDArray[np.float32], settings: dict[str, Any], threads: int | None
    ) -> BackendOutput:
        return self._infer(y, settings, _session(threads))

    def _transcribe(self, y: npt.NDArray[np.float32], settings: dict[str, Any]) -> BackendOutput:
        return self._infer(y, settings, _session(None))

    def _infer(
        self, y: npt.NDArray[np.float32], settings: dict[str, Any], session: Any
    ) -> BackendOutput:
        from pianoeval.symbolic.transcribe.base import empty_output

        _, consts, inference, note_creation, _ = _modules()
        overlap_len = _N_OVERLAPPING_FRAMES * consts.FFT_HOP
        hop_size = consts.AUDIO_N_SAMPLES - overlap_len
        padded = np.concatenate([np.zeros(overlap_len // 2, dtype=np.float32), y])
        windows = np.stack([w for w, _ in inference.window_audio_file(padded, hop_size)])
        outputs: dict[str, list[npt.NDArray[np.float32]]] = {k: [] for k in _ONNX_OUTPUTS}
        for start in range(0, len(windows), _BATCH_WINDOWS):
            batch = windows[start : start + _BATCH_WINDOWS].astype(np.float32)
            values = session.run(list(_ONNX_OUTPUTS.values()), {_ONNX_INPUT: batch})
            for k, v in zip(_ONNX_OUTPUTS, values, strict=True):
                outputs[k].append(v)
        unwrapped = {
            k: inference.unwrap_output(np.concatenate(v), len(y), _N_OVERLAPPING_FRAMES)
            for k, v in outputs.items()
        }
        if any(v.shape[0] < 2 for v in unwrapped.values()):
            # under one model frame (a few samples): basic-pitch's onset inference would
            # reduce an empty array; nothing can sound in it
            return empty_output()
        frames_per_sec = consts.AUDIO_SAMPLE_RATE / consts.FFT_HOP
        min_note_len = int(np.round(settings["minimum_note_length_ms"] / 1000 * frames_per_sec))
        _, events = note_creation.model_output_to_notes(
            unwrapped,
            onset_thresh=settings["onset_threshold"],
            frame_thresh=settings["frame_threshold"],
            infer_onsets=settings["infer_onsets"],
            min_note_len=min_note_len,
            include_pitch_bends=False,
            melodia_trick=settings["melodia_trick"],
        )
        if not events:
            return empty_output()
        notes = np.array(
            [
                (float(start), float(end), int(pitch), int(np.clip(np.round(127 * amp), 1, 127)))
                for start, end, pitch, amp, _ in events
                if end > start
            ],
            dtype=NOTE_DTYPE,
        )
        none = np.zeros(0, dtype=PEDAL_DTYPE)
        return BackendOutput(notes=notes, sustain=none, soft=none.copy())


#: The registered instance.
BACKEND = BasicPitchBackend()
