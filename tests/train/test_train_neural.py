"""Datamodule over manifest rows, the LightningModule, train and cv end to end, the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pianoeval.cli.train import app
from pianoeval.data.splits import Split
from pianoeval.errors import ParameterError
from pianoeval.manifest import Segment
from pianoeval.train.neural import (
    ManifestDataModule,
    labels_from_segments,
    load_feature_file,
    synthetic_split,
)
from pianoeval.train.run import compose, cross_validate_neural, train


def _segment(
    i: int,
    *,
    labels: dict[str, float | None],
    pseudo: dict[str, float] | None = None,
    conf: dict[str, float] | None = None,
    dataset: str = "percepiano",
    excerpt: str | None = "e0",
) -> Segment:
    return Segment(
        segment_id=f"s{i}",
        dataset=dataset,
        midi_uri=f"s{i}.mid",
        t0=0.0,
        t1=10.0,
        taxonomy="percepiano19",
        dims=list(labels),
        labels=labels,
        label_mask={d: int(v is not None) for d, v in labels.items()},
        provenance={"license": "MIT"},
        pseudo_labels=pseudo,
        pseudo_conf=conf,
        groups={"excerpt": excerpt} if excerpt else {},
    )


def test_labels_from_segments_builds_masks_pseudo_weights_and_groups() -> None:
    segs = [
        _segment(0, labels={"timing": 0.5, "pace": 0.6}, excerpt="b"),
        _segment(
            1,
            labels={"timing": None},
            pseudo={"pedal_clarity": 0.3},
            conf={"pedal_clarity": 0.4},
            dataset="asap",
            excerpt="a",
        ),
        _segment(2, labels={"pace": 0.7}, pseudo={"pedal_clarity": 0.8}, excerpt=None),
    ]
    t = labels_from_segments(segs)
    dims = t["dimensions"]
    # union_dimensions order: percepiano19 before execution16, label order inside
    assert dims.index("percepiano19.timing") < dims.index("percepiano19.pace")
    assert dims[-1] == "execution16.pedal_clarity"
    j_t, j_p, j_x = (
        dims.index(n)
        for n in ("percepiano19.timing", "percepiano19.pace", "execution16.pedal_clarity")
    )
    np.testing.assert_array_equal(t["mask"][:, j_t], [1, 0, 0])
    np.testing.assert_allclose(t["y"][:, j_p], [0.6, 0, 0.7])
    np.testing.assert_allclose(t["pseudo_y"][:, j_x], [0, 0.3, 0.8])
    np.testing.assert_allclose(t["pseudo_w"][:, j_x], [0, 0.4, 1.0])  # no conf: weight 1
    assert t["mask"][:, j_x].sum() == 0
    assert t["dataset_names"] == ["asap", "percepiano"]
    np.testing.assert_array_equal(t["dataset_id"], [1, 0, 1])
    np.testing.assert_array_equal(t["group_id"], [1, 0, -1])
    lo, hi = t["label_ranges"][j_t]
    assert lo == pytest.approx(1 / 7)
    assert hi == pytest.approx(1.0)
    only = labels_from_segments(segs, taxonomies=["percepiano19"])
    assert all(d.startswith("percepiano19.") for d in only["dimensions"])


def test_datamodule_from_segments_uses_the_split_fold(tmp_path: Path) -> None:
    segs = [_segment(i, labels={"timing": 0.2 + 0.01 * i}, excerpt=f"e{i // 2}") for i in range(10)]
    emb = np.arange(30, dtype=np.float32).reshape(10, 3)
    split = Split(
        name="t",
        group_key="excerpt",
        test=["s0", "s1"],
        folds=[["s2", "s3"], ["s4", "s5"]],
        train_only=["s6", "s7", "s8", "s9"],
    )
    dm = ManifestDataModule.from_segments(segs, {"emb.x": emb}, split=split, fold=1, batch_size=4)
    assert dm.val_ids == ["s4", "s5"]
    assert dm.test_ids == ["s0", "s1"]
    assert set(dm.train_ids) == {"s2", "s3", "s6", "s7", "s8", "s9"}
    assert dm.inputs == {"emb.x": 3}
    assert "pseudo_y" not in dm.arrays  # no pseudo-labels: the term stays out of batches
    batch = next(iter(dm.val_dataloader()))
    np.testing.assert_array_equal(batch["emb.x"].numpy(), emb[4:6])
    assert batch["y"].dtype.is_floating_point
    assert batch["dataset_id"].dtype == batch["group_id"].dtype
    all_rows = ManifestDataModule.from_segments(segs, {"emb.x": emb}, split=split, fold=None)
    assert all_rows.val_ids == []
    assert len(all_rows.train_ids) == 8
    np.savez(
        tmp_path / "e.npz",
        segment_ids=np.array(["s9", *[f"s{i}" for i in range(9)]]),
        embeddings=np.vstack([emb[9:], emb[:9]]),
    )
    np.testing.assert_array_equal(load_feature_file(tmp_path / "e.npz", ["s3", "s9"]), emb[[3, 9]])
    with pytest.raises(ParameterError, match="no embedding"):
        load_feature_file(tmp_path / "e.npz", ["s10"])
    with pytest.raises(ParameterError, match="no row"):
        ManifestDataModule.from_segments(segs, {"emb.x": emb}, train_ids=["zz"])


def test_synthetic_split_keeps_groups_together() -> None:
    ids = [f"r{i}" for i in range(40)]
    groups = [f"g{i % 10}" for i in range(40)]
    split = synthetic_split(ids, groups, n_folds=4, seed=3)
    side = {}
    for name, part in [("test", split.test)] + [(f"f{k}", f) for k, f in enumerate(split.folds)]:
        for s in part:
            side.setdefault(groups[ids.index(s)], set()).add(name)
    assert all(len(v) == 1 for v in side.values())
    assert sorted(split.all_ids()) == sorted(ids)


def _val_curve(out: Path) -> list[float]:
    rows = list(csv.DictReader((next(out.glob("csv/version_*")) / "metrics.csv").open()))
    return [float(r["val/human_mae"]) for r in rows if r.get("val/human_mae")]


def test_debug_config_trains_and_val_mae_falls(tmp_path: Path) -> None:
    cfg = compose(
        "train",
        [
            "debug=default",
            f"paths.output_dir={tmp_path}",
            "trainer.max_epochs=4",
            "trainer.enable_progress_bar=false",
            "callbacks.early_stopping=null",
        ],
    )
    result = train(cfg)
    curve = _val_curve(tmp_path)
    assert len(curve) == 4
    assert curve[-1] < curve[0] - 0.05
    assert Path(result.best_checkpoint).is_file()
    assert result.bundle_dir is not None
    assert (result.bundle_dir / "model.safetensors").is_file()
    assert {"train/loss", "val/human_mae", "test/human"} <= set(result.metrics)
    metric_names = set(
        next(csv.DictReader((next(tmp_path.glob("csv/version_*")) / "metrics.csv").open()))
    )
    assert {
        "train/human",
        "train/pseudo",
        "val/mae_percepiano19.d0",
        "val/pseudo_mae_percepiano19.d0",
    } <= metric_names
    record = json.loads((result.bundle_dir / "config.json").read_text())
    assert record["config"]["model"]["net"]["hidden"] == 16
    assert record["training"]["split"] == "synthetic"
    assert "val/human_mae" in record["figures"]
    assert "MIT" in (result.bundle_dir / "model_card.md").read_text()

    from pianoeval.rater.neural_bundle import load_neural_rater
    from pianoeval.train.neural import predict_arrays
    from pianoeval.train.run import build_datamodule

    rater = load_neural_rater(result.bundle_dir)
    dm = build_datamodule(cfg)
    rows = dm.rows(dm.test_ids)
    raw = predict_arrays(rater.model, rows)
    np.testing.assert_allclose(rater.predict(rows), np.clip(raw, 1 / 7, 1.0), atol=1e-6)


def test_cv_on_a_synthetic_split_writes_the_report(tmp_path: Path) -> None:
    cfg = compose(
        "cv",
        [
            "debug=default",
            f"paths.output_dir={tmp_path}",
            "trainer.enable_progress_bar=false",
            "logger=none",
        ],
    )
    result = cross_validate_neural(cfg, split="performer")
    assert len(result.fold_r2) == 4
    assert all(np.isfinite(result.fold_r2))
    assert result.test_r2 is not None
    assert np.isfinite(result.test_r2)
    report = result.report_path.read_text()
    assert "# Cross-validation: performer split" in report
    assert "| CV (pooled out-of-fold) |" in report
    assert "percepiano19.d3" in report
    saved = json.loads((tmp_path / "cv.json").read_text())
    assert saved["cv_r2"] == pytest.approx(result.cv_r2)
    assert set(saved["per_dim_cv"]) == {f"percepiano19.d{j}" for j in range(4)}
    assert (tmp_path / "r2_cv.png").is_file() or "Plots skipped" in report


def test_cli_train_runs_debug_and_writes_a_bundle(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "train",
            "debug=default",
            f"paths.output_dir={tmp_path}",
            "trainer.enable_progress_bar=false",
            "logger=none",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "bundle:" in result.output
    assert (tmp_path / "bundle" / "config.json").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "model.net.nope=1"], "bad config override"),
        (["train", "trainer=nowhere"], "bad config override"),
        (["cv", "--split", "piece"], "--split"),
    ],
)
def test_cli_bad_override_is_a_usage_error(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


def test_cli_missing_logger_package_is_exit_1(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("mlflow") is not None:
        pytest.skip("mlflow is installed here")
    result = CliRunner().invoke(
        app, ["train", "debug=default", "logger=mlflow", f"paths.output_dir={tmp_path}"]
    )
    assert result.exit_code == 1
    assert "pip install mlflow" in result.output


def test_train_on_a_manifest_with_embedding_files_and_distillation(tmp_path: Path) -> None:
    from pianoeval.data.splits import save_split
    from pianoeval.manifest import write_manifest
    from pianoeval.rater.neural_bundle import load_neural_rater

    rng = np.random.default_rng(5)
    n = 40
    emb = rng.normal(size=(n, 5)).astype(np.float32)
    timing = np.clip(0.55 + 0.1 * np.tanh(emb[:, 0]), 1 / 7, 1)
    segs = [
        _segment(
            i,
            labels={"timing": float(timing[i]), "pace": 0.5 if i % 3 else None},
            pseudo={"pedal_clarity": float(0.5 + 0.1 * emb[i, 1])},
            conf={"pedal_clarity": 0.7},
            excerpt=f"e{i // 4}",
        )
        for i in range(n)
    ]
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, segs)
    ids = np.array([s.segment_id for s in segs])
    order = rng.permutation(n)  # the file's row order need not be the manifest's
    from pianoeval.encoders import save_embeddings

    save_embeddings(tmp_path / "a.npz", ids[order], emb[order], {"encoder": "toy"})
    np.savez(tmp_path / "d.npz", segment_ids=ids, embeddings=rng.normal(size=(n, 3)))
    groups = [[f"s{i}" for i in range(k * 8, k * 8 + 8)] for k in range(5)]
    split = Split(name="toy", group_key="excerpt", test=groups[4], folds=groups[:4])
    save_split(split, tmp_path / "split.json")
    out = tmp_path / "run"
    cfg = compose(
        "train",
        [
            "debug=default",
            "data=manifest",
            "encoder=transkun",
            "encoder.embeddings=[emb.a]",
            f"data.manifest={manifest}",
            f"+data.features.emb.a={tmp_path / 'a.npz'}",
            f"+data.features.distill_target={tmp_path / 'd.npz'}",
            f"data.split_path={tmp_path / 'split.json'}",
            "data.fold=2",
            "data.batch_size=8",
            f"paths.output_dir={out}",
            "trainer.enable_progress_bar=false",
        ],
    )
    result = train(cfg)
    assert result.bundle_dir is not None
    record = json.loads((result.bundle_dir / "config.json").read_text())
    assert record["dimensions"] == [
        "percepiano19.timing",
        "percepiano19.pace",
        "execution16.pedal_clarity",
    ]
    assert record["model"]["distill_dim"] == 3
    assert record["inputs"] == {"emb.a": 5}
    assert record["training"]["rows"] == 24
    assert record["training"]["fold"] == 2
    metric_names = set(
        next(csv.DictReader((next(out.glob("csv/version_*")) / "metrics.csv").open()))
    )
    assert {"train/distill", "val/pseudo_mae_execution16.pedal_clarity"} <= metric_names
    rater = load_neural_rater(result.bundle_dir)
    pred = rater.predict({"emb.a": emb[:3]})
    assert pred.shape == (3, 3)
    assert np.all(pred[:, :2] >= 1 / 7)


def test_train_without_validation_holds_out_only_the_test_rows(tmp_path: Path) -> None:
    cfg = compose(
        "train",
        [
            "debug=default",
            "data.fold=null",
            f"paths.output_dir={tmp_path}",
            "trainer.enable_progress_bar=false",
        ],
    )
    result = train(cfg)
    assert result.bundle_dir is not None
    record = json.loads((result.bundle_dir / "config.json").read_text())
    assert record["training"]["validation rows"] == 0
    assert record["training"]["rows"] + record["training"]["test rows"] == 96
    assert Path(result.best_checkpoint).is_file()  # ranked by train/loss instead
    assert "best train/loss" in record["figures"]
    assert not any(k.startswith("val/") for k in record["figures"])
