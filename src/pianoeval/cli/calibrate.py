"""``pianoeval calibrate``: fit a rater's calibration on PercePiano and store it in its bundle.

The work is :func:`pianoeval.train.calibrate.calibrate_symbolic` for a MIDI rater
(out-of-fold predictions of the rater's recipe under the split's grouping, a calibration
fitted on them, a report on the split's test segments) and
:func:`~pianoeval.train.calibrate.calibrate_audio` for an audio bundle (the same, with
each renderer of the audio corpus held out in turn); this module reads the data, stores
the result with ``write_calibration``, prints the report and writes it as JSON. With
``--ood`` (the default) it also fits the rater's out-of-distribution models on its training
inputs (:mod:`pianoeval.train.ood`) and stores ``ood.json`` beside the calibration. The
shipped raters are only calibrated in place with ``--force``.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pianoeval.cli._common import print_table
from pianoeval.cli.data import DataRootOption

if TYPE_CHECKING:
    from pianoeval.train.calibrate import CalibrationRun


class CalibrationSplit(StrEnum):
    """Splits whose folds make the out-of-fold predictions."""

    excerpt = "excerpt"
    performer = "performer"


class SpreadKind(StrEnum):
    """Where each score's sigma comes from (docs/calibration.md)."""

    error_model = "error_model"
    members = "members"


class PointMethod(StrEnum):
    """Point calibrators (docs/calibration.md)."""

    auto = "auto"
    affine = "affine"
    isotonic = "isotonic"
    none = "none"


def _shipped() -> list[Path]:
    from pianoeval.rater import DEFAULT_DIR
    from pianoeval.rater.audio import AUDIO_DIR

    return [DEFAULT_DIR.resolve(), AUDIO_DIR.resolve()]


def calibrate(
    rater_dir: Annotated[
        Path, typer.Argument(help="The rater bundle to calibrate (a folder with rater.json).")
    ],
    split: Annotated[
        CalibrationSplit,
        typer.Option(
            "--split",
            help="Split whose folds make the out-of-fold predictions (its test segments "
            "give the report).",
        ),
    ] = CalibrationSplit.excerpt,
    data_root: Annotated[Path | None, DataRootOption] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the report as JSON here (default: print only)."),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write the reliability plot (PNG) of the test intervals."),
    ] = None,
    method: Annotated[
        PointMethod, typer.Option("--method", help="Point calibrator of every dimension.")
    ] = PointMethod.auto,
    spread: Annotated[
        SpreadKind,
        typer.Option(
            "--spread",
            help="error_model: learn each score's error size from the out-of-fold errors "
            "(stored in the bundle); members: the disagreement of the rater's members.",
        ),
    ] = SpreadKind.error_model,
    conditions: Annotated[
        list[str] | None,
        typer.Option(
            "--condition",
            help="Audio bundles: a renderer of the audio corpus to hold out in turn (repeat; "
            "default: every packed clean renderer, at least two).",
        ),
    ] = None,
    store: Annotated[
        bool,
        typer.Option(
            "--store/--no-store",
            help="Store calibration.json in the bundle (--no-store: measure and report only).",
        ),
    ] = True,
    force: Annotated[
        bool,
        typer.Option("--force", help="Allow storing into a shipped rater inside the package."),
    ] = False,
    ood: Annotated[
        bool,
        typer.Option(
            "--ood/--no-ood",
            help="Also fit the out-of-distribution models on the rater's training inputs and "
            "store ood.json (with --store).",
        ),
    ] = True,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, help="Worker processes for the features.")
    ] = 2,
    threads: Annotated[int, typer.Option("--threads", min=1, help="LightGBM threads.")] = 1,
) -> None:
    """Fit per-dimension calibrators and conformal intervals on out-of-fold predictions."""
    from pianoeval.data import find_data_root
    from pianoeval.data.percepiano_table import percepiano_table
    from pianoeval.data.splits import load_split
    from pianoeval.model.audio import is_audio_bundle
    from pianoeval.model.symbolic import SymbolicRater
    from pianoeval.symbolic.rater_inputs import performance_only_columns
    from pianoeval.train.calibrate import calibrate_symbolic

    if not rater_dir.is_dir() or not (
        (rater_dir / "rater.json").is_file() or is_audio_bundle(rater_dir)
    ):
        raise typer.BadParameter(
            f"{rater_dir}: not a rater bundle (no rater.json)", param_hint="RATER_DIR"
        )
    if store and rater_dir.resolve() in _shipped() and not force:
        raise typer.BadParameter(
            f"{rater_dir} is a shipped rater: pass --force to store a calibration in it, or "
            "--no-store to measure only",
            param_hint="RATER_DIR",
        )
    root = find_data_root(data_root, dataset="percepiano")
    if is_audio_bundle(rater_dir):
        run = _calibrate_audio(
            rater_dir, root, split.value, conditions, method=method.value,
            spread=spread.value, store=store, jobs=jobs, threads=threads,
        )  # fmt: skip
        _finish(run, out, plot)
        if ood and store:
            _store_audio_ood(rater_dir, root, conditions, jobs=jobs)
        return
    rater = SymbolicRater.load(rater_dir)
    x, y = percepiano_table(root, jobs=jobs, progress=True)
    x0 = None
    if rater.no_score is not None:
        x0, _ = percepiano_table(root, with_scores=False, jobs=jobs, progress=True)
        x0 = x0[performance_only_columns(x0.columns)]
    run = calibrate_symbolic(
        rater,
        x,
        y,
        load_split(split.value),
        x_no_score=x0,
        method=method.value,
        spread=spread.value,
        progress=True,
        n_threads=threads,
    )
    _finish(run, out, plot)
    if store:
        run.attach(rater)
        rater.write_calibration(rater_dir, info=run.info)
        extra = " and the error model (spread/)" if spread is SpreadKind.error_model else ""
        typer.echo(f"stored calibration.json{extra} in {rater_dir}")
        if ood:
            from pianoeval.train.ood import fit_symbolic_ood

            fit = fit_symbolic_ood(rater, root, jobs=jobs, progress=True)
            fit.attach(rater)
            rater.write_ood(rater_dir)
            _echo_ood(fit.summary(), rater_dir)


def _echo_ood(summary: dict[str, Any], where: Path) -> None:
    parts = ", ".join(
        f"{name.replace('_', ' ')}: threshold distance {v['threshold_distance']:.3f} "
        f"({v['n_rows']} rows, {v['n_columns']} columns)"
        for name, v in summary.items()
    )
    typer.echo(f"stored ood.json in {where} ({parts})")


def _store_audio_ood(
    rater_dir: Path, root: Path, conditions: list[str] | None, *, jobs: int
) -> None:
    """Fit the audio bundle's OOD models on the renderers it learned from; store them."""
    from pianoeval.model.audio import AudioRater
    from pianoeval.train.ood import AUDIO_OOD_CONDITIONS, fit_audio_ood, store_audio_ood

    rater = AudioRater.load(rater_dir)
    assert rater.rater is not None
    trained = rater.metadata.get("training_data", {}).get("conditions")
    conds = list(trained or conditions or AUDIO_OOD_CONDITIONS)
    fit = fit_audio_ood(rater, root, conds, jobs=jobs, progress=True)
    fit.attach(rater.rater)
    store_audio_ood(rater, rater_dir)
    _echo_ood(fit.summary(), rater_dir / "model")


def _finish(run: CalibrationRun, out: Path | None, plot: Path | None) -> None:
    _print_report(run)
    if out is not None:
        from pianoeval.manifest import atomic_write

        with atomic_write(out) as fh:
            fh.write(json.dumps(run.summary(), indent=1, allow_nan=False) + "\n")
        typer.echo(f"wrote {out}")
    if plot is not None:
        _plot(run, plot)
        typer.echo(f"wrote {plot}")


def _calibrate_audio(
    rater_dir: Path,
    root: Path,
    split: str,
    conditions: list[str] | None,
    *,
    method: str,
    spread: str,
    store: bool,
    jobs: int,
    threads: int,
) -> CalibrationRun:
    """Calibrate an audio bundle with each renderer of the audio corpus held out in turn."""
    from pianoeval.data.audio_corpus import CORPUS_DIR
    from pianoeval.data.splits import load_split
    from pianoeval.model.audio import AudioRater
    from pianoeval.symbolic.rater_inputs import performance_only_columns
    from pianoeval.train import audio as train_audio
    from pianoeval.train.calibrate import calibrate_audio

    rater = AudioRater.load(rater_dir)
    if not conditions:
        conditions = [
            c for c in train_audio.CLEAN_CONDITIONS if (CORPUS_DIR / f"{c}.npz").is_file()
        ]
    if len(conditions) < 2:
        raise typer.BadParameter(
            f"an audio rater is calibrated with each renderer held out: it needs at least two "
            f"packed renderers, found {conditions} in {CORPUS_DIR}",
            param_hint="--condition",
        )
    tables = {}
    for c in conditions:
        xs, y = train_audio.audio_training_tables(
            root, [c], with_scores=True, velocity=rater.velocity, jobs=jobs, progress=True
        )
        x0, _ = train_audio.audio_training_tables(
            root, [c], with_scores=False, velocity=rater.velocity, jobs=jobs, progress=True
        )
        emb = [col for col in x0.columns if str(col).startswith("emb.")]
        tables[c] = (xs, x0[[*performance_only_columns(x0.columns), *emb]], y)
    run = calibrate_audio(
        rater, tables, load_split(split), method=method, spread=spread, progress=True,
        n_threads=threads,
    )  # fmt: skip
    if store:
        assert rater.rater is not None
        run.attach(rater.rater)
        rater.write_calibration(rater_dir, info=run.info)
        typer.echo(f"stored the calibration in {rater_dir / 'model'}")
    return run


def _fmt(v: Any, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _print_report(run: CalibrationRun) -> None:
    parts = [("with score", run.with_score)]
    if run.no_score is not None:
        parts.append(("no score", run.no_score))
    for name, part in parts:
        rep = part.report
        n = part.calibration.n_rows
        if rep is None:
            typer.echo(f"{name}: fitted on {n} out-of-fold rows; the split has no test set")
            continue
        b, a = rep["before"], rep["after"]
        rows = [
            [key, _fmt(b[key]), _fmt(a[key])]
            for key in ("mae", "mean_r2", "dispersion_ratio", "sigma_spearman")
        ]
        sp = rep.get("spread", {})
        rows.append(
            [
                "sigma_spearman, member spread",
                _fmt(sp.get("test_sigma_spearman_members")),
                "",
            ]
        )
        print_table(
            f"{name}: fitted on {n} out-of-fold rows ({run.split} split), judged on "
            f"{rep['n_items']} test segments",
            ["figure", "before", "after"],
            rows,
        )
        cov = [
            [
                f"{float(k):.0%}",
                _fmt(v["pooled"]),
                f"{min(v['per_dim'].values()):.3f}-{max(v['per_dim'].values()):.3f}",
                _fmt(rep["width"][k]["mean_over_sd"], 2),
            ]
            for k, v in rep["coverage"].items()
        ]
        print_table(
            f"{name}: conformal intervals (coverage error {_fmt(rep['coverage_error'])}, "
            f"per dimension {_fmt(rep['coverage_error_per_dim']['mean'])})",
            ["level", "coverage", "per dimension", "width / label SD"],
            cov,
        )


def _plot(run: CalibrationRun, path: Path) -> None:
    import numpy as np

    from pianoeval.calibration.plot import plot_reliability

    rep = run.with_score.report
    if rep is None:
        raise typer.BadParameter("the split has no test set to plot", param_hint="--plot")
    per_dim = rep["reliability"]["observed_per_dim"]
    observed = np.column_stack([per_dim[d] for d in per_dim])
    plot_reliability(
        rep["reliability"]["nominal"],
        observed,
        path,
        dims=list(per_dim),
        title=f"Interval reliability ({run.split} split test, with score)",
    )
