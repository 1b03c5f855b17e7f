"""Rater QC: reliability per dimension, a noisy rater flagged, honeypots, re-rates, pace, pages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pianoeval.errors import ParameterError, SchemaError
from pianoeval.label import AnswerStore
from pianoeval.label.qc import (
    QCThresholds,
    honeypot_answers,
    percepiano_answer_rows,
    qc_report,
    qc_report_html,
    save_qc_plots,
)
from pianoeval.manifest import Segment

DIMS = ("timing", "pace")


def _panel(
    rng: np.random.Generator, *, n_segments: int = 40, noisy: str | None = "r5"
) -> pd.DataFrame:
    """Five raters on every segment: four = truth + small noise, ``noisy`` = uniform noise."""
    rows: list[dict[str, Any]] = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for d in DIMS:
        truth = rng.uniform(0.1, 0.9, size=n_segments)
        for r in ("r1", "r2", "r3", "r4", "r5"):
            for i, t in enumerate(truth):
                v = rng.uniform(0, 1) if r == noisy else np.clip(t + rng.normal(0, 0.05), 0, 1)
                created = start + timedelta(seconds=30 * i)
                rows.append(
                    {"rater_id": r, "segment_id": f"s{i:02d}", "dim": d, "value": float(v),
                     "created": created.isoformat()}
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_noisy_rater_flagged_and_good_raters_not(rng: np.random.Generator) -> None:
    report = qc_report(_panel(rng))
    by_id = {r.rater_id: r for r in report.raters}
    assert [r.rater_id for r in report.flagged] == ["r5"]
    assert by_id["r5"].agreement_r < 0.3
    assert by_id["r5"].agreement_mae > 0.2
    for r in ("r1", "r2", "r3", "r4"):
        assert by_id[r].agreement_r > 0.9
        assert by_id[r].agreement_mae < 0.15
        assert by_id[r].n_compared == 80
    assert by_id["r1"].sec_per_segment == pytest.approx(30.0)
    assert {d.dim for d in report.dimensions} == set(DIMS)
    assert report.n_raters == 5
    assert report.n_segments == 40
    assert report.n_answers == 400


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_icc_matches_pingouin_on_a_balanced_design(rng: np.random.Generator) -> None:
    import pingouin as pg

    panel = _panel(rng, noisy="r5")
    report = qc_report(panel)
    for dim in report.dimensions:
        sub = panel[panel["dim"] == dim.dim]
        ref = pg.intraclass_corr(sub, targets="segment_id", raters="rater_id", ratings="value")
        icc = dict(zip(ref["Type"], ref["ICC"], strict=True))
        assert dim.k0 == pytest.approx(5.0)
        assert dim.icc1 == pytest.approx(icc["ICC(1,1)"], abs=1e-9)
        assert dim.icc1k == pytest.approx(icc["ICC(1,k)"], abs=1e-9)
        assert dim.n_segments == 40
        assert dim.n_raters == 5
        assert dim.n_answers == 200


def test_alpha_matches_krippendorffs_published_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the example with
    # missing values: interval alpha 0.811 (the krippendorff package's doctest: 0.810845)
    nan = np.nan
    data = [
        [nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
        [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
        [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4],
    ]
    rows = [
        {"rater_id": f"c{c}", "segment_id": f"u{u:02d}", "dim": "timing", "value": v / 4}
        for c, coder in enumerate(data)
        for u, v in enumerate(coder)
        if not np.isnan(v)
    ]
    report = qc_report(rows)
    assert report.dimensions[0].alpha == pytest.approx(0.810845, abs=1e-6)


def test_honeypots_rerates_and_pace_flag_their_raters(rng: np.random.Generator) -> None:
    panel = _panel(rng, noisy=None)
    # r2 answers the honeypot far from its known value; r3 re-rates inconsistently
    hp = [
        {"rater_id": r, "segment_id": "hp1", "dim": "timing", "value": v}
        for r, v in (("r1", 0.52), ("r2", 0.95), ("r3", 0.5))
    ]
    rerates = panel[(panel["rater_id"] == "r3") & (panel["segment_id"] < "s10")].copy()
    rerates["value"] = 1.0 - rerates["value"]
    rerates["attempt"] = 2
    # r4 rates at 1 s per segment
    fast = panel["rater_id"] == "r4"
    panel.loc[fast, "created"] = [
        (datetime(2026, 1, 2, tzinfo=UTC) + timedelta(seconds=int(s[1:]))).isoformat()
        for s in panel.loc[fast, "segment_id"]
    ]
    rows = pd.concat([panel.assign(attempt=1), rerates, pd.DataFrame(hp)], ignore_index=True)
    report = qc_report(rows, honeypots={"hp1": {"timing": 0.5}})
    by_id = {r.rater_id: r for r in report.raters}
    assert by_id["r2"].honeypot_error == pytest.approx(0.45)
    assert by_id["r1"].honeypot_error == pytest.approx(0.02)
    assert any("honeypot" in f for f in by_id["r2"].flags)
    assert by_id["r3"].n_rerate == 20
    assert any("re-rate" in f for f in by_id["r3"].flags)
    assert by_id["r4"].sec_per_segment == pytest.approx(1.0)
    assert any("pace" in f for f in by_id["r4"].flags)
    assert not by_id["r1"].flags
    # honeypot answers stay out of the reliability figures
    assert all(d.n_segments == 40 for d in report.dimensions)
    # with "first", re-rates do not enter reliability: r3 agrees as well as the others
    first = {r.rater_id: r for r in qc_report(rows, repeats="first").raters}
    assert first["r3"].agreement_r > by_id["r3"].agreement_r


def test_qc_from_a_real_store(tmp_path: Path, rng: np.random.Generator) -> None:
    store = AnswerStore(tmp_path / "answers.sqlite")
    _, admin_token = store.add_rater("lab", admin=True)
    admin = store.require_rater(admin_token)
    truth = rng.uniform(0.1, 0.9, size=12)
    for name, noise in (("ana", 0.03), ("ben", 0.03), ("cy", 0.03), ("dee", None)):
        rater = store.require_rater(store.add_rater(name)[1])
        for i, t in enumerate(truth):
            v = rng.uniform(0, 1) if noise is None else np.clip(t + rng.normal(0, noise), 0, 1)
            store.save_answer(rater, f"s{i}", "timing", float(v))
    report = qc_report(store.export_rows(admin), thresholds=QCThresholds(min_sec_per_segment=0))
    store.close()
    assert [r.rater_name for r in report.flagged] == ["dee"]
    # answers saved milliseconds apart: the default pace threshold flags the rater
    fast = qc_report(
        [{"rater_id": 1, "segment_id": s, "dim": "timing", "value": 0.1, "created": t}
         for s, t in (("a", "2026-01-01T00:00:00+00:00"), ("b", "2026-01-01T00:00:00.5+00:00"))]
    )  # fmt: skip
    assert fast.raters[0].sec_per_segment == pytest.approx(0.5)
    assert fast.raters[0].flags == ["pace 0.5 s/segment < 3.0"]


def test_report_outputs(tmp_path: Path, rng: np.random.Generator) -> None:
    report = qc_report(_panel(rng))
    data = report.to_dict()
    json.dumps(data, allow_nan=False)  # NaN written as null
    assert data["flagged"] == ["r5"]
    assert data["raters"][0]["honeypot_error"] is None
    page = qc_report_html(report)
    assert page.startswith("<!doctype html>")
    assert page.count("data:image/png;base64,") == 2
    assert '<tr class="flagged"><td>r5</td>' in page
    paths = save_qc_plots(report, tmp_path / "plots")
    assert [p.name for p in paths] == ["qc_reliability.png", "qc_raters.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_bad_input() -> None:
    with pytest.raises(ParameterError, match="no answers"):
        qc_report([])
    with pytest.raises(SchemaError, match="segment_id"):
        qc_report([{"rater_id": 1, "dim": "timing", "value": 0.5}])
    with pytest.raises(ParameterError, match="repeats"):
        qc_report([{"rater_id": 1, "segment_id": "a", "dim": "t", "value": 0.5}], repeats="x")  # type: ignore[arg-type]


def test_honeypot_answers_map_labels_back_to_the_slider_scale() -> None:
    seg = Segment(
        segment_id="hp", dataset="user", midi_uri="a.mid", t0=0, t1=2, taxonomy="percepiano19",
        dims=["timing", "pace"], labels={"timing": 4 / 7, "pace": None},
        label_mask={"timing": 1, "pace": 0}, provenance={"license": "MIT"},
    )  # fmt: skip
    known = honeypot_answers([seg])
    assert known == {"hp": {"timing": 4 / 7, "percepiano19.timing": 4 / 7}}


def test_percepiano_answer_rows_marks_repeats_as_rerates() -> None:
    ratings = pd.DataFrame(
        {"row": [2, 3, 9, 4], "rater": ["a", "b", "a", "a"], "segment": ["x", "x", "x", "y"],
         "dimension": ["timing"] * 4, "answer": [1.0, 7.0, 4.0, 4.0]}
    )  # fmt: skip
    rows = percepiano_answer_rows(ratings).sort_values(["rater_id", "segment_id", "attempt"])
    assert rows["attempt"].tolist() == [1, 2, 1, 1]
    assert rows["value"].tolist() == pytest.approx([1 / 7, 4 / 7, 4 / 7, 1.0])


@pytest.mark.data
def test_qc_reproduces_the_percepiano_reliability_table(data_root: Path) -> None:
    from pianoeval.data.percepiano import load_raw_ratings
    from pianoeval.data.reliability import percepiano_reliability

    ratings = load_raw_ratings(data_root)
    report = qc_report(percepiano_answer_rows(ratings))
    table = {r.dimension: r for r in percepiano_reliability(ratings, n_splits=1).rows}
    assert len(report.dimensions) == 19
    for d in report.dimensions:
        assert d.icc1 == pytest.approx(table[d.dim].icc1, abs=1e-9)
        assert d.icc1k == pytest.approx(table[d.dim].icc1k, abs=1e-9)
        assert 0.1 < d.alpha < 0.6
    assert report.n_raters == 63


# -- the CLI --------------------------------------------------------------------------------


def _store_with_panel(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, str, str]:
    db = tmp_path / "answers.sqlite"
    store = AnswerStore(db)
    _, admin_token = store.add_rater("lab", admin=True)
    truth = rng.uniform(0.1, 0.9, size=12)
    rater_token = ""
    for name in ("ana", "ben", "cy", "dee"):
        _, rater_token = store.add_rater(name)
        rater = store.require_rater(rater_token)
        for i, t in enumerate(truth):
            v = rng.uniform(0, 1) if name == "dee" else np.clip(t + rng.normal(0, 0.03), 0, 1)
            store.save_answer(rater, f"s{i}", "timing", float(v))
    store.close()
    return db, admin_token, rater_token


def test_cli_qc(tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from pianoeval.cli import app

    runner = CliRunner()
    db, admin, rater = _store_with_panel(tmp_path, rng)
    out = tmp_path / "qc"
    r = runner.invoke(
        app, ["label", "qc", "--db", str(db), "--admin-token", admin, "--format", "json",
              "--out-dir", str(out), "--min-sec-per-segment", "0"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [x["rater_name"] for x in data["raters"] if x["rater_id"] in data["flagged"]] == ["dee"]
    assert {p.name for p in out.iterdir()} == {
        "qc.json", "qc.html", "qc_reliability.png", "qc_raters.png"
    }  # fmt: skip
    monkeypatch.setenv("PIANOEVAL_LABEL_ADMIN_TOKEN", admin)
    r = runner.invoke(app, ["label", "qc", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "timing" in r.stdout
    assert "dee" in r.stdout
    assert "pace" in r.stdout  # answers saved milliseconds apart: the default pace flag
    r = runner.invoke(app, ["label", "qc", "--db", str(db), "--format", "html"])
    assert r.stdout.startswith("<!doctype html>")
    monkeypatch.delenv("PIANOEVAL_LABEL_ADMIN_TOKEN")
    for args, code in (
        (["--db", str(db)], 2),  # no admin token
        (["--db", str(db), "--admin-token", admin, "--format", "xml"], 2),
        (["--db", str(tmp_path / "none.sqlite"), "--admin-token", admin], 2),
        (["--db", str(db), "--admin-token", "wrong"], 1),
        (["--db", str(db), "--admin-token", rater], 1),  # not an admin
        (["--db", str(db), "--admin-token", admin, "--honeypots", str(tmp_path / "x")], 2),
    ):
        r = runner.invoke(app, ["label", "qc", *args])
        assert r.exit_code == code, (args, r.output)


def test_store_rerates_reach_qc(tmp_path: Path) -> None:
    from pianoeval.label.qc import store_answer_rows

    store = AnswerStore(tmp_path / "answers.sqlite")
    admin = store.require_rater(store.add_rater("lab", admin=True)[1])
    ana = store.require_rater(store.add_rater("ana")[1])
    ben = store.require_rater(store.add_rater("ben")[1])
    for i in range(4):
        store.save_answer(ana, f"s{i}", "timing", 0.2 + 0.1 * i)
        store.save_answer(ben, f"s{i}", "timing", 0.25 + 0.1 * i)
    store.save_answer(ana, "s0", "timing", 0.8, rerate=True)  # |0.8 - 0.2| = 0.6
    store.save_answer(ana, "s1", "timing", 0.4, rerate=True)  # |0.4 - 0.3| = 0.1
    rows = store_answer_rows(store, admin)
    store.close()
    assert sorted(r["attempt"] for r in rows) == [1] * 8 + [2, 2]
    report = qc_report(rows, thresholds=QCThresholds(min_sec_per_segment=0))
    by_name = {r.rater_name: r for r in report.raters}
    assert by_name["ana"].n_rerate == 2
    assert by_name["ana"].rerate_diff == pytest.approx(0.35)
    assert by_name["ana"].flags == ["re-rate difference 0.350 > 0.25"]
    assert by_name["ben"].n_rerate == 0
    assert not by_name["ben"].flags
