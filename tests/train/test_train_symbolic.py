"""Training and cross-validation of the symbolic rater (toy data and real PercePiano)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pianoeval.data.percepiano_table import percepiano_table
from pianoeval.data.splits import Split
from pianoeval.train import cross_validate


def toy_split(toy: tuple[pd.DataFrame, np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame, Split]:
    """Index the toy rows and split them: 2 folds of 30, 20 test rows."""
    x, y_arr = toy
    x.index = pd.Index([f"s{i}" for i in range(len(x))])
    y = pd.DataFrame(y_arr, index=x.index, columns=["d1", "d2"])
    ids = list(x.index)
    return x, y, Split("toy", "excerpt", test=ids[60:], folds=[ids[:30], ids[30:60]])


def test_cross_validate_predicts_other_tables_on_the_rows_they_have(
    toy: tuple[pd.DataFrame, np.ndarray],
) -> None:
    x, y, split = toy_split(toy)
    ids = list(x.index)
    other = x.loc[ids[50:70]] + 0.5  # some validation rows of fold 1, some test rows
    params = {"objective": "regression", "min_data_in_leaf": 5, "verbose": -1}
    cv = cross_validate(
        x, y, split, also_predict={"shifted": other}, n_rounds=20, params=params, n_threads=1
    )
    oof, test = cv.extra["shifted"]
    assert sorted(oof.index) == sorted(ids[50:60])
    assert sorted(test.index) == sorted(ids[60:70])
    assert len(cv.test) == 20
    assert not np.allclose(test.to_numpy(), cv.test.loc[test.index].to_numpy())


def test_cross_validate_shows_progress_over_folds_and_models(
    toy: tuple[pd.DataFrame, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    x, y, split = toy_split(toy)
    params = {"objective": "regression", "min_data_in_leaf": 5, "verbose": -1}
    quiet = cross_validate(x, y, split, n_rounds=5, params=params, n_threads=1)
    assert capsys.readouterr().err == ""
    loud = cross_validate(x, y, split, n_rounds=5, params=params, n_threads=1, progress="toy")
    err = capsys.readouterr().err
    assert "toy: folds" in err
    assert "2/2" in err
    # 2 dims x (gbdt + extra trees) + the ridge member = 5 models per fold
    assert "toy: fold 2/2 models" in err
    assert "0/5" in err  # the bar counts 5 models (tqdm may skip the fast updates)
    pd.testing.assert_frame_equal(quiet.oof, loud.oof)  # progress changes nothing else


@pytest.mark.data
def test_cross_validation_on_a_small_subset(data_root: Path, tmp_path: Path) -> None:
    from pianoeval.data.percepiano import load_released_labels, parse_name
    from pianoeval.data.splits import Split
    from pianoeval.metrics import mean_r2

    excerpts = ["Schubert_D935_no.3_4bars_13", "Schubert_D935_no.3_4bars_17"]
    means, _ = load_released_labels(data_root)
    ids = [i for e in excerpts for i in sorted(i for i in means if parse_name(i).excerpt == e)[:4]]
    x, y = percepiano_table(data_root, ids=ids, jobs=2, cache=tmp_path, progress=False)
    assert list(x.index) == sorted(ids)
    assert y.shape == (8, 19)
    assert x["score.available"].eq(1.0).all()
    assert x["score.match_frac_score"].gt(0.5).all()
    folds = [[i for i in ids if parse_name(i).excerpt == e] for e in excerpts]
    split = Split("toy", "excerpt", test=[], folds=folds)
    params = {"objective": "regression", "min_data_in_leaf": 2, "verbose": -1}
    cv = cross_validate(x, y, split, n_rounds=10, params=params, n_threads=1)
    assert sorted(cv.oof.index) == sorted(ids)
    assert np.isfinite(mean_r2(y.loc[cv.oof.index].to_numpy(), cv.oof.to_numpy()))
