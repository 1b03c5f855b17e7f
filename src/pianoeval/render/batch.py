"""Rendering many files: cached, on all cores, one failure never stopping the batch.

The parent process hashes every MIDI file and looks its render up in the cache
(:mod:`.cache`): a warm batch never starts a worker or loads a SoundFont. Misses go to a
pool of worker processes, longest files first; each worker keeps one FluidSynth
synthesiser with its SoundFonts loaded (:func:`pianoeval.render.synth.get_synth`) and
resets it between files, writes each render into the cache itself and returns only a
small result. A file that cannot be rendered (no notes, corrupt, unreadable) becomes a
:class:`RenderResult` with its error; configuration problems (a missing SoundFont, no
FluidSynth, bad settings) raise before anything starts.

Workers start from a clean process (``forkserver``, :func:`pianoeval._parallel.pool_context`),
never as forks of the caller: a caller that already runs threads (torch after a
transcription) once made forked workers hang on a lock copied mid-use. Each worker loads
its SoundFonts once (an .sf3 takes a few seconds); scripts that call this need the usual
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pianoeval._parallel import pool_context, resolve_jobs
from pianoeval._typing import PathLike
from pianoeval.errors import ParameterError, PianoEvalError
from pianoeval.render.augment import Augment
from pianoeval.render.cache import RENDERER_VERSION, RenderCache, default_cache_dir, render_key
from pianoeval.render.soundfonts import (
    DEFAULT_SOUNDFONT,
    SoundFont,
    get_soundfont,
    soundfont_sha256,
)
from pianoeval.render.synth import (
    DEFAULT_SR,
    DEFAULT_TAIL_SEC,
    import_fluidsynth,
    midi_seed,
    render_performance,
    render_settings,
    validate_render_args,
)


@dataclass(frozen=True)
class RenderResult:
    """What happened to one MIDI file of a batch.

    Attributes
    ----------
    midi_path : str
    audio_path : str or None
        The cached FLAC (None when the render failed).
    error : str or None
        Why the render failed (None on success).
    cached : bool
        True when the render came from the cache, False when it was rendered now.
    duration_sec : float
        Length of the audio (0 when the render failed).
    key : str or None
        Cache key (None when the file could not be read).
    n_clipped : int
        Samples clipped to full scale when the render was written.
    """

    midi_path: str
    audio_path: str | None
    error: str | None
    cached: bool
    duration_sec: float
    key: str | None = None
    n_clipped: int = 0

    @property
    def ok(self) -> bool:
        """Whether the file was rendered (now or before)."""
        return self.error is None


@dataclass
class RenderReport:
    """The outcome of :func:`render_manifest`.

    Attributes
    ----------
    manifest_path, out_manifest_path : str
    n_rows : int
        Rows in the input manifest.
    n_written : int
        Rows written to the output manifest (those whose render succeeded).
    n_rendered, n_cached : int
        Distinct MIDI files rendered now / found in the cache.
    failed : list of (segment_id, reason)
        Rows left out of the output manifest, and why.
    results : list of RenderResult
        One per distinct MIDI file.
    """

    manifest_path: str
    out_manifest_path: str
    n_rows: int
    n_written: int
    n_rendered: int
    n_cached: int
    failed: list[tuple[str, str]] = field(default_factory=list)
    results: list[RenderResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every row was rendered."""
        return not self.failed


@dataclass(frozen=True)
class _Job:
    """A render a worker has to do (picklable)."""

    midi_path: str
    key: str
    soundfont: SoundFont
    sr: int
    tail_sec: float
    synth_sr: int | None
    augment: Augment | None
    file_seed: int
    cache_root: str
    meta: dict[str, Any]


def _run_job(job: _Job) -> RenderResult:
    """Render one file into the cache; every error becomes the result's message."""
    from pianoeval.symbolic.midi import load_midi

    try:
        perf = load_midi(job.midi_path)
        y = render_performance(
            perf,
            soundfont=job.soundfont,
            sr=job.sr,
            tail_sec=job.tail_sec,
            augment=job.augment,
            file_seed=job.file_seed,
            synth_sr=job.synth_sr,
        )
        cache = RenderCache(job.cache_root)
        meta = cache.put(job.key, y, job.sr, {**job.meta, "end_sec": perf.end_sec})
    except PianoEvalError as e:
        return RenderResult(job.midi_path, None, str(e), False, 0.0, job.key)
    except Exception as e:  # a bug or a library failure: report it, keep the batch going
        return RenderResult(job.midi_path, None, f"{type(e).__name__}: {e}", False, 0.0, job.key)
    return RenderResult(
        job.midi_path,
        str(RenderCache(job.cache_root).audio_path(job.key)),
        None,
        False,
        float(meta["duration_sec"]),
        job.key,
        int(meta["n_clipped"]),
    )


def _resolve_augments(
    augment: Augment | Sequence[Augment | None] | None, n: int
) -> list[Augment | None]:
    if augment is None or isinstance(augment, Augment):
        return [augment] * n
    if not isinstance(augment, Sequence):
        raise ParameterError(
            f"augment must be an Augment, a sequence of them (one per file) or None, "
            f"got {type(augment).__name__}"
        )
    augments = list(augment)
    if len(augments) != n:
        raise ParameterError(f"augment has {len(augments)} entries for {n} MIDI files")
    for a in augments:
        if a is not None and not isinstance(a, Augment):
            raise ParameterError(f"augment entries must be Augment or None, got {a!r}")
    return augments


def render_files(
    midi_paths: Iterable[PathLike],
    cache_dir: PathLike | None = None,
    *,
    soundfont: str | PathLike | SoundFont = DEFAULT_SOUNDFONT,
    sr: int = DEFAULT_SR,
    tail_sec: float = DEFAULT_TAIL_SEC,
    augment: Augment | Sequence[Augment | None] | None = None,
    synth_sr: int | None = None,
    jobs: int | None = None,
    progress: bool = True,
) -> list[RenderResult]:
    """Render MIDI files into the render cache, reusing what is there.

    Parameters
    ----------
    midi_paths : iterable of path-like
    cache_dir : path-like, optional
        Cache folder; default :func:`pianoeval.render.default_cache_dir`.
    soundfont : str, path-like or SoundFont
        A key of :data:`pianoeval.render.SOUNDFONTS` or a ``.sf2``/``.sf3`` path.
    sr : int
        Output rate in Hz.
    tail_sec : float
        Seconds kept after the end of the last sounding note.
    augment : Augment or sequence of (Augment or None), optional
        One augmentation for all files, or one per file.
    synth_sr : int, optional
        Rate FluidSynth runs at (resampled to ``sr``); None runs it at ``sr``.
    jobs : int, optional
        Worker processes; default all cores available to this process. 1 renders here.
    progress : bool
        Show a tqdm progress bar (on stderr) while rendering.

    Returns
    -------
    list of RenderResult
        One per input path, in input order; failures carry their error message.

    Raises
    ------
    SoundFontNotFoundError
        If a SoundFont is missing (naming the Debian package that installs it).
    BackendUnavailableError
        If pyfluidsynth or libfluidsynth is missing.
    ParameterError
        If a setting is invalid.

    Examples
    --------
    >>> import tempfile
    >>> from pianoeval.examples import example_midi_path
    >>> cache = tempfile.mkdtemp()
    >>> [r.cached for r in render_files([example_midi_path()] * 2, cache, progress=False)]
    [False, False]
    >>> render_files([example_midi_path()], cache, progress=False)[0].cached
    True
    """
    paths = [os.fspath(p) for p in midi_paths]
    validate_render_args(sr, tail_sec, synth_sr)
    resolve_jobs(jobs)  # validates before any work
    augments = _resolve_augments(augment, len(paths))
    import_fluidsynth()
    cache = RenderCache(cache_dir if cache_dir is not None else default_cache_dir())

    # SoundFonts: resolved, checked and hashed once per distinct choice.
    fonts: dict[Any, tuple[SoundFont, str, dict[str, Any]]] = {}
    for a in augments:
        spec = a.soundfont if a is not None and a.soundfont else soundfont
        if spec not in fonts:
            sf = get_soundfont(spec)
            sf.check()
            settings = render_settings(sr=sr, tail_sec=tail_sec, synth_sr=synth_sr, soundfont=sf)
            fonts[spec] = (sf, soundfont_sha256(sf.path), settings)

    results: list[RenderResult | None] = [None] * len(paths)
    pending: dict[str, list[int]] = {}  # key -> indices waiting for it
    jobs_by_key: dict[str, _Job] = {}
    for i, (path, a) in enumerate(zip(paths, augments, strict=True)):
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            results[i] = RenderResult(path, None, f"{path}: {e.strerror or e}", False, 0.0)
            continue
        spec = a.soundfont if a is not None and a.soundfont else soundfont
        sf, sf_sha, settings = fonts[spec]
        midi_sha = hashlib.sha256(data).hexdigest()
        params = a.signal_params() if a is not None else {}
        key = render_key(
            midi_sha256=midi_sha, soundfont_sha256=sf_sha, settings=settings, augment=params
        )
        meta = cache.get(key)
        if meta is not None:
            results[i] = RenderResult(
                path,
                str(cache.audio_path(key)),
                None,
                True,
                float(meta.get("duration_sec", 0.0)),
                key,
                int(meta.get("n_clipped", 0)),
            )
            continue
        pending.setdefault(key, []).append(i)
        if key not in jobs_by_key:
            jobs_by_key[key] = _Job(
                midi_path=path,
                key=key,
                soundfont=sf,
                sr=sr,
                tail_sec=float(tail_sec),
                synth_sr=synth_sr,
                augment=a,
                file_seed=midi_seed(data),
                cache_root=str(cache.root),
                meta={
                    "renderer_version": RENDERER_VERSION,
                    "midi_sha256": midi_sha,
                    "midi_path": path,
                    "soundfont": {
                        "name": sf.name,
                        "path": str(sf.path),
                        "sha256": sf_sha,
                        "package": sf.package,
                    },
                    "settings": settings,
                    "augment": params,
                },
            )

    # Longest files first, so the pool does not end waiting for one long render.
    todo = sorted(jobs_by_key.values(), key=lambda j: -_size(j.midi_path))
    for res in _run_all(todo, jobs, progress):
        for i in pending[res.key or ""]:
            results[i] = RenderResult(
                paths[i], res.audio_path, res.error, False, res.duration_sec, res.key, res.n_clipped
            )
    return [r for r in results if r is not None]


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _run_all(todo: list[_Job], jobs: int | None, progress: bool) -> Iterable[RenderResult]:
    if not todo:
        return
    from tqdm.auto import tqdm

    n_workers = resolve_jobs(jobs, len(todo))
    bar_args: dict[str, Any] = {
        "total": len(todo),
        "disable": not progress,
        "unit": "file",
        "desc": "render",
        "file": sys.stderr,
    }
    if n_workers == 1:
        with tqdm(**bar_args) as bar:
            for job in todo:
                yield _run_job(job)
                bar.update()
        return
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=pool_context()) as pool:
        futures: dict[Future[RenderResult], _Job] = {pool.submit(_run_job, j): j for j in todo}
        with tqdm(**bar_args) as bar:
            for fut in as_completed(futures):
                job = futures[fut]
                try:
                    res = fut.result()
                except Exception as e:  # a worker died (BrokenProcessPool) or pickling failed
                    res = RenderResult(
                        job.midi_path,
                        None,
                        f"worker failed: {type(e).__name__}: {e}",
                        False,
                        0.0,
                        job.key,
                    )
                bar.update()
                yield res


def render_manifest(
    manifest_path: PathLike,
    out_manifest_path: PathLike,
    *,
    cache_dir: PathLike | None = None,
    soundfont: str | PathLike | SoundFont = DEFAULT_SOUNDFONT,
    sr: int = DEFAULT_SR,
    tail_sec: float = DEFAULT_TAIL_SEC,
    augment: Augment | None = None,
    synth_sr: int | None = None,
    jobs: int | None = None,
    progress: bool = True,
) -> RenderReport:
    """Render every row's ``midi_uri`` and write a manifest that points at the audio.

    Each output row is the input row with ``audio_uri`` (the cached FLAC, relative to the
    output manifest when inside its folder, else a ``file://`` URI), ``sr``,
    ``provenance["soundfont"]`` (the SoundFont's name) and ``provenance["render"]`` (every
    setting, the SoundFont's file and hash, the augmentation, the cache key). An
    ``audio_uri`` already in the row is replaced. Relative ``midi_uri``/``score_uri``
    are re-expressed against the output manifest's folder. ``t0``/``t1`` stay valid:
    the audio is aligned with the MIDI's times. Rows that share a MIDI file share one
    render. Rows whose render failed (or that have no ``midi_uri``) are left out and
    listed in the report with the reason.

    Parameters
    ----------
    manifest_path : path-like
        Input manifest (JSONL); media are not checked up front, so a missing MIDI file
        fails its row only.
    out_manifest_path : path-like
        Output manifest, written atomically.
    cache_dir, soundfont, sr, tail_sec, augment, synth_sr, jobs, progress
        As in :func:`render_files`.

    Returns
    -------
    RenderReport

    Raises
    ------
    ManifestError
        If the input manifest is invalid.
    SoundFontNotFoundError, BackendUnavailableError, ParameterError
        As :func:`render_files`.
    """
    from pianoeval.manifest import Segment, path_to_uri, read_manifest, uri_to_path, write_manifest

    in_path, out_path = Path(manifest_path), Path(out_manifest_path)
    in_dir, out_dir = in_path.parent, out_path.parent
    segments = read_manifest(in_path, check_media=False)
    failed: list[tuple[str, str]] = []
    midi_of: dict[str, str] = {}
    for seg in segments:
        if not seg.midi_uri:
            failed.append((seg.segment_id, "row has no midi_uri"))
            continue
        try:
            midi_of[seg.segment_id] = os.fspath(uri_to_path(seg.midi_uri, in_dir))
        except PianoEvalError as e:
            failed.append((seg.segment_id, str(e)))
    unique = list(dict.fromkeys(midi_of.values()))
    results = render_files(
        unique,
        cache_dir,
        soundfont=soundfont,
        sr=sr,
        tail_sec=tail_sec,
        augment=augment,
        synth_sr=synth_sr,
        jobs=jobs,
        progress=progress,
    )
    by_path = dict(zip(unique, results, strict=True))
    sf = get_soundfont(augment.soundfont if augment and augment.soundfont else soundfont)
    render_info = {
        "renderer_version": RENDERER_VERSION,
        "soundfont": {
            "name": sf.name,
            "path": str(sf.path),
            "package": sf.package,
            "sha256": soundfont_sha256(sf.path),
        },
        **render_settings(sr=sr, tail_sec=tail_sec, synth_sr=synth_sr, soundfont=sf),
        "augment": augment.to_dict() if augment is not None else None,
    }

    def rebase(uri: str | None) -> str | None:
        if uri is None or in_dir.absolute() == out_dir.absolute():
            return uri
        try:
            return path_to_uri(uri_to_path(uri, in_dir), out_dir)
        except PianoEvalError:
            return uri

    rows: list[Segment] = []
    for seg in segments:
        path = midi_of.get(seg.segment_id)
        if path is None:
            continue
        res = by_path[path]
        if not res.ok or res.audio_path is None:
            failed.append((seg.segment_id, res.error or "render failed"))
            continue
        data = seg.to_json_dict()
        data["audio_uri"] = path_to_uri(res.audio_path, out_dir)
        data["sr"] = sr
        data["midi_uri"] = rebase(seg.midi_uri)
        if seg.score_uri is not None:
            data["score_uri"] = rebase(seg.score_uri)
        data["provenance"] = {
            **data["provenance"],
            "soundfont": sf.name,
            "render": {**render_info, "key": res.key},
        }
        rows.append(Segment.model_validate(data))
    n_written = write_manifest(out_path, rows)
    return RenderReport(
        manifest_path=str(in_path),
        out_manifest_path=str(out_path),
        n_rows=len(segments),
        n_written=n_written,
        n_rendered=sum(r.ok and not r.cached for r in results),
        n_cached=sum(r.cached for r in results),
        failed=failed,
        results=results,
    )
