"""Pseudo-labels refitted on bought labels: proxy choice, sign, acceptance, scaling, map."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pianoeval.active import apply_proxy_choices, fit_proxy_choices, spearman_fisher_ci
from pianoeval.errors import ParameterError
from pianoeval.symbolic.pseudo import HUMAN_MATCH


def test_fisher_interval_excludes_zero_only_for_a_real_correlation() -> None:
    rng = np.random.default_rng(0)
    x = rng.random(200)
    rho, (lo, hi), n = spearman_fisher_ci(x, x + 0.3 * rng.random(200))
    assert n == 200
    assert lo > 0.5
    assert lo < rho < hi
    rho, (lo, hi), _ = spearman_fisher_ci(x, rng.random(200))
    assert lo < 0 < hi
    # NaN pairs are dropped; too few pairs or a constant give NaN
    rho, _, n = spearman_fisher_ci([1.0, 2.0, np.nan, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0, 6.0])
    assert n == 4
    assert rho == pytest.approx(1.0)
    assert math.isnan(spearman_fisher_ci([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])[0])
    assert math.isnan(spearman_fisher_ci(np.ones(10), np.arange(10.0))[0])
    with pytest.raises(ParameterError):
        spearman_fisher_ci([1.0], [1.0, 2.0])


def _pool(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "midi.velocity_mean": rng.normal(60, 10, n),
        "midi.velocity_p90": rng.normal(80, 10, n),
        "midi.note_rate": rng.gamma(2.0, 3.0, n),
        "midi.ioi_unevenness": rng.random(n),
        "alignment.tempo_jitter": rng.random(n),
    }


def test_choice_follows_the_bought_labels_and_sign_comes_from_the_data() -> None:
    pool = _pool(400)
    bought = slice(0, 120)
    px = {k: v[bought] for k, v in pool.items()}
    rng = np.random.default_rng(1)
    labels = {
        # energy follows velocity_mean (not the a-priori-preferred order)
        "mood_energy": 0.2 + 0.005 * px["midi.velocity_mean"] + 0.02 * rng.random(120),
        # timing (unstable high) falls with ioi_unevenness: the opposite of the prior
        "timing": 0.9 - 0.4 * px["midi.ioi_unevenness"] + 0.02 * rng.random(120),
        # touch is noise: nothing is accepted
        "articulation_touch": rng.random(120),
    }
    got = {c.dimension: c for c in fit_proxy_choices(px, labels, scale_proxies=pool)}
    assert set(got) == {"energy_level", "timing_stability", "articulation_hardness"}
    energy = got["energy_level"]
    assert energy.proxy == "midi.velocity_mean"
    assert energy.sign == +1
    assert energy.accepted
    assert not energy.flipped
    timing = got["timing_stability"]
    # alignment.* candidates are skipped by default (prefix "midi.")
    assert timing.proxy == "midi.ioi_unevenness"
    hsign = HUMAN_MATCH["timing_stability"][1]
    assert timing.sign == -1 * hsign == +1
    assert timing.flipped
    assert timing.accepted
    assert not got["articulation_hardness"].accepted
    # robust scaling comes from the unlabelled rows
    assert energy.p_lo == pytest.approx(np.percentile(pool["midi.velocity_mean"], 5))
    # the map reproduces the labels on the human scale; unaccepted dims are left out
    pseudo = apply_proxy_choices(list(got.values()), px)
    assert set(pseudo) == {"mood_energy", "timing"}
    for hdim in pseudo:
        assert np.corrcoef(pseudo[hdim], labels[hdim])[0, 1] > 0.9
    rec = timing.to_dict()
    assert rec["flipped"] is True
    assert isinstance(rec["ci95"], list)


def test_too_few_rows_or_missing_columns_give_no_choice() -> None:
    pool = _pool(100)
    px = {k: v[:5] for k, v in pool.items()}
    assert (
        fit_proxy_choices(px, {"mood_energy": np.linspace(0.3, 0.8, 5)}, scale_proxies=pool) == []
    )
    # a label column absent from ``labels``: its dimension is skipped
    px = {k: v[:50] for k, v in pool.items()}
    assert fit_proxy_choices(px, {}, scale_proxies=pool) == []


def test_nan_proxies_stay_nan_and_unaccepted_record_has_no_nan() -> None:
    pool = _pool(300)
    px = {k: v[:80].copy() for k, v in pool.items()}
    px["midi.note_rate"][:3] = np.nan
    rng = np.random.default_rng(2)
    labels = {
        "mood_energy": 0.1 + 0.05 * np.nan_to_num(px["midi.note_rate"]) + 0.01 * rng.random(80)
    }
    choices = fit_proxy_choices(px, labels, scale_proxies=pool)
    (c,) = choices
    assert c.proxy == "midi.note_rate"
    assert c.n == 77
    out = apply_proxy_choices(choices, px)["mood_energy"]
    assert np.isnan(out[:3]).all()
    assert np.isfinite(out[3:]).all()
    noise = fit_proxy_choices(px, {"mood_energy": rng.random(80)}, scale_proxies=pool)
    rec = noise[0].to_dict()
    if not noise[0].accepted:
        assert rec["slope"] is None
        assert rec["intercept"] is None
