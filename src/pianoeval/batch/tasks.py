"""The batch tasks: rate, transcribe, render and embed one file, models loaded once.

Each task is a dataclass of JSON-ready options (picklable, sent to Dask workers) whose
:meth:`~pianoeval.batch.BatchTask.setup` loads what it needs once per process and whose
call returns a JSON-ready dict:

- :class:`EvaluateTask`: :func:`pianoeval.rater.evaluate` (the shipped raters, or the
  bundles named), the :class:`~pianoeval.rater.Rating` as JSON; with ``whole=True`` the
  whole-performance evaluation
  (:func:`~pianoeval.rater.performance.evaluate_performance`: windows, bars, advice);
- :class:`TranscribeTask`: audio to a MIDI file with sustain pedal (CC64) in ``out_dir``
  (:func:`pianoeval.symbolic.transcribe.transcribe`): its path, notes, pedal events, seconds;
- :class:`RenderTask`: a MIDI file to audio with FluidSynth (:func:`pianoeval.render.render_files`,
  through the render cache), optionally copied to ``out_dir``;
- :class:`EmbedTask`: what ``pianoeval embed`` computes for one row: a frozen encoder's
  vector of an audio file or its span, through the embedding cache.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pianoeval.batch.runner import BatchItem, BatchTask, item_path
from pianoeval.errors import FileProblemError, ParameterError

if TYPE_CHECKING:
    from pianoeval.encoders.base import FrozenEncoder
    from pianoeval.model.audio import AudioRater
    from pianoeval.model.symbolic import SymbolicRater
    from pianoeval.symbolic.midi import PerformanceMidi

__all__ = ["EmbedTask", "EvaluateTask", "RenderTask", "TranscribeTask", "output_path"]


def output_path(
    source: str | os.PathLike[str], out_dir: str | os.PathLike[str], suffix: str
) -> Path:
    """Return the file a task writes for ``source``: same stem, new suffix, in ``out_dir``.

    Examples
    --------
    >>> output_path("takes/etude.wav", "midi", ".mid").as_posix()
    'midi/etude.mid'
    """
    return Path(out_dir) / (Path(source).stem + suffix)


@dataclass
class EvaluateTask(BatchTask):
    """Rate one performance (MIDI or audio) with :func:`pianoeval.rater.evaluate`.

    With ``whole=True`` it is evaluated whole instead, as ``pianoeval evaluate`` does
    (:func:`~pianoeval.rater.performance.evaluate_performance`: scores over windows,
    per-bar feedback against the score, standouts, advice, timings).

    Parameters
    ----------
    score : str, optional
        One score for every input: a score MIDI (read once per process), or with
        ``whole=True`` also MusicXML (``.musicxml``, ``.xml``, ``.mxl``; read with each
        input, which it is aligned to bar by bar).
    backend : str
        Transcription backend for audio inputs.
    rater_dir, audio_rater_dir : str, optional
        Rater bundles (default: the shipped ones).
    use_audio_rater : bool
        False rates audio with the MIDI rater on its transcription.
    whole : bool
        True: :func:`~pianoeval.rater.performance.evaluate_performance` (the rating of
        schema 3 with windows, bars, advice and ``timings``); False:
        :func:`pianoeval.rater.evaluate` (one segment, as ``pianoeval analyze`` shows).
    """

    name: ClassVar[str] = "evaluate"

    score: str | None = None
    backend: str = "transkun"
    rater_dir: str | None = None
    audio_rater_dir: str | None = None
    use_audio_rater: bool = True
    whole: bool = False
    _rater: SymbolicRater | None = field(default=None, init=False, repr=False, compare=False)
    _audio: AudioRater | None = field(default=None, init=False, repr=False, compare=False)
    _score: PerformanceMidi | None = field(default=None, init=False, repr=False, compare=False)

    def setup(self) -> None:
        """Load the raters and the score; check the backend's name."""
        from pianoeval.rater.bundle import default_rater
        from pianoeval.symbolic.transcribe import BACKENDS

        BACKENDS.get(self.backend)  # ParameterError naming the known ones
        if self.rater_dir is not None:
            from pianoeval.model.symbolic import SymbolicRater

            self._rater = SymbolicRater.load(self.rater_dir)
        else:
            self._rater = default_rater()
        if self.audio_rater_dir is not None:
            from pianoeval.model.audio import AudioRater

            self._audio = AudioRater.load(self.audio_rater_dir)
        if self.score is not None and self.whole:
            from pianoeval._paths import check_input_file

            # read with each input (a NotatedScore for the bars); a missing one fails here,
            # once, for every input alike
            check_input_file(self.score)
        elif self.score is not None:
            from pianoeval.symbolic.midi import load_midi

            self._score = load_midi(self.score, require_notes=False)

    def __call__(self, item: BatchItem) -> dict[str, Any]:
        """Return the :class:`~pianoeval.rater.Rating` of one file as JSON."""
        if self.whole:
            from pianoeval.rater.performance import evaluate_performance

            whole = evaluate_performance(
                item_path(item),
                score=self.score,
                rater=self._rater,
                audio_rater=self._audio,
                backend=self.backend,
                use_audio_rater=self.use_audio_rater,
            )
            return whole.model_dump(mode="json")
        from pianoeval.rater.evaluate import evaluate

        rating = evaluate(
            item_path(item),
            score=self._score,
            rater=self._rater,
            backend=self.backend,
            audio_rater=self._audio,
            use_audio_rater=self.use_audio_rater,
        )
        return rating.model_dump(mode="json")


@dataclass
class TranscribeTask(BatchTask):
    """Transcribe one audio file to ``out_dir/<stem>.mid`` (notes, sustain pedal as CC64).

    Parameters
    ----------
    out_dir : str
        Where the MIDI files go (created when missing).
    backend : str
        ``"transkun"`` (notes and pedal) or ``"basic_pitch"`` (notes only).
    force : bool
        Replace a MIDI file that is already there (else that input fails).
    threads : int, optional
        The model's CPU threads (default: the batch's threads per worker).
    cache_dir : str, optional
        Transcription cache (default: ``$PIANOEVAL_CACHE/transcribe``).
    """

    name: ClassVar[str] = "transcribe"

    out_dir: str = "."
    backend: str = "transkun"
    force: bool = False
    threads: int | None = None
    cache_dir: str | None = None

    def setup(self) -> None:
        """Check the backend is installed and load its model (kept for every file)."""
        from pianoeval.symbolic.transcribe import get_backend

        impl = get_backend(self.backend)
        impl.prepare(threads=self.threads)
        Path(self.out_dir).mkdir(parents=True, exist_ok=True)

    def __call__(self, item: BatchItem) -> dict[str, Any]:
        """Write the MIDI file; return its path, note and pedal counts and the seconds taken."""
        from pianoeval.symbolic.transcribe import transcribe

        path = item_path(item)
        out = output_path(path, self.out_dir, ".mid")
        if out.exists() and not self.force:
            raise FileProblemError(out, "already exists (pass --force to replace it)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            t = transcribe(
                path,
                backend=self.backend,
                cache_dir=self.cache_dir,
                out_path=out,
                threads=self.threads,
            )
        return {
            "midi_path": str(out),
            "backend": t.backend,
            "n_notes": int(t.performance.n_notes),
            "n_sustain_events": len(t.sustain),
            "audio_sec": round(float(t.audio_sec), 3),
            "seconds": round(float(t.elapsed_sec), 3),
            "cached": bool(t.cached),
            "warnings": sorted({str(w.message) for w in caught}),
        }


@dataclass
class RenderTask(BatchTask):
    """Render one MIDI file to audio with FluidSynth (cached; dry, calibrated gain).

    Parameters
    ----------
    out_dir : str, optional
        Also copy the render to ``out_dir/<stem>.flac`` (else it stays in the cache).
    cache_dir : str, optional
        Render cache (default: ``$PIANOEVAL_CACHE/render``).
    soundfont : str
        A SoundFont name or a ``.sf2``/``.sf3`` path.
    sr : int
        Output rate in Hz.
    tail_sec : float
        Seconds kept after the last sounding note.
    augment : dict, optional
        :class:`pianoeval.render.Augment` options (room, gain, tilt, noise).
    force : bool
        Replace a file already in ``out_dir``.
    """

    name: ClassVar[str] = "render"

    out_dir: str | None = None
    cache_dir: str | None = None
    soundfont: str = "fluidr3_gm"
    sr: int = 22050
    tail_sec: float = 1.0
    augment: dict[str, Any] | None = None
    force: bool = False

    def setup(self) -> None:
        """Check FluidSynth and the SoundFont, and the settings."""
        from pianoeval.render import get_soundfont
        from pianoeval.render.synth import import_fluidsynth, validate_render_args

        validate_render_args(self.sr, self.tail_sec, None)
        import_fluidsynth()
        get_soundfont(self.soundfont).check()
        if self.out_dir is not None:
            Path(self.out_dir).mkdir(parents=True, exist_ok=True)

    def __call__(self, item: BatchItem) -> dict[str, Any]:
        """Render (or find in the cache) one file; return where the audio is."""
        from pianoeval.render import Augment, render_files

        path = item_path(item)
        out = None if self.out_dir is None else output_path(path, self.out_dir, ".flac")
        if out is not None and out.exists() and not self.force:
            raise FileProblemError(out, "already exists (pass --force to replace it)")
        (res,) = render_files(
            [path],
            self.cache_dir,
            soundfont=self.soundfont,
            sr=self.sr,
            tail_sec=self.tail_sec,
            augment=Augment(**self.augment) if self.augment else None,
            jobs=1,
            progress=False,
        )
        if not res.ok or res.audio_path is None:
            message = res.error or "render failed"
            raise FileProblemError(path, message.removeprefix(f"{path}: "))
        if out is not None:
            shutil.copyfile(res.audio_path, out)
        return {
            "audio_path": str(out) if out is not None else res.audio_path,
            "cache_path": res.audio_path,
            "key": res.key,
            "sr": self.sr,
            "duration_sec": round(res.duration_sec, 4),
            "n_clipped": res.n_clipped,
            "cached": res.cached,
        }


@dataclass
class EmbedTask(BatchTask):
    """Embed one audio file, or a span of it, with a frozen encoder (cached).

    An item is a path (the whole file) or a mapping with ``path`` and optionally ``t0``,
    ``t1`` (seconds) and ``segment_id`` (a manifest row, as ``pianoeval embed`` reads it).

    Parameters
    ----------
    encoder : str
        A name in :data:`pianoeval.encoders.ENCODERS`.
    options : dict
        The encoder's options (``pianoeval embed -o KEY=VALUE``).
    cache : bool or str
        True: the default embedding cache; a folder: that one; False: none.
    """

    name: ClassVar[str] = "embed"

    encoder: str = "mel_stats"
    options: dict[str, Any] = field(default_factory=dict)
    cache: bool | str = True
    _enc: FrozenEncoder | None = field(default=None, init=False, repr=False, compare=False)

    def setup(self) -> None:
        """Build the encoder (weights loaded once)."""
        from pianoeval.encoders import get_encoder

        self._enc = get_encoder(self.encoder, **self.options)

    def __call__(self, item: BatchItem) -> dict[str, Any]:
        """Return the embedding (a list of floats) of one file or span."""
        from pianoeval.encoders import embed_segments
        from pianoeval.manifest import Provenance, Segment

        if self._enc is None:
            raise ParameterError("EmbedTask used before setup()")
        path = item_path(item)
        spec = item if isinstance(item, Mapping) else {}
        t0 = spec.get("t0")
        t1 = spec.get("t1")
        if t0 is None or t1 is None:
            from pianoeval.audio import audio_info

            t0, t1 = 0.0, float(audio_info(path).duration_sec)
        seg = Segment(
            segment_id=str(spec.get("segment_id", Path(path).stem)),
            dataset="user",
            audio_uri=str(Path(path).absolute()),
            t0=float(t0),
            t1=float(t1),
            provenance=Provenance(license="user"),
        )
        (vector,) = embed_segments([seg], self._enc, base_dir=None, cache=self.cache, jobs=1,
                                   progress=False)  # fmt: skip
        return {
            "segment_id": seg.segment_id,
            "encoder": self._enc.name,
            "t0": seg.t0,
            "t1": seg.t1,
            "dim": int(vector.shape[0]),
            "embedding": [float(x) for x in vector],
        }
