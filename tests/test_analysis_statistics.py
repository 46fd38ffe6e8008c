"""Statistics over seeds: mean with a bootstrap interval, and the interquartile mean."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import trim_mean

from syre_rl.analysis.statistics import mean_and_ci, seed_statistics


def test_seed_statistics_known_answers() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 100.0]
    stats = seed_statistics(values)
    assert stats["n"] == 5 and stats["mean"] == pytest.approx(22.0)
    assert stats["iqm"] == pytest.approx(trim_mean(values, 0.25)) == pytest.approx(3.0)
    assert stats["ci_low"] < 22.0 < stats["ci_high"]
    assert 1.0 <= stats["ci_low"] and stats["ci_high"] <= 100.0
    assert seed_statistics([2.0, 2.0])["ci_low"] == seed_statistics([2.0, 2.0])["ci_high"] == 2.0
    one = seed_statistics([5.0, float("nan")])
    assert one["n"] == 1 and one["mean"] == 5.0 and np.isnan(one["ci_low"])


def test_mean_and_ci_brackets_the_mean() -> None:
    values = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0], [3.0, 1.0]])
    mean, low, high = mean_and_ci(values)
    np.testing.assert_allclose(mean, [1.5, 1.0])
    assert low[0] < 1.5 < high[0] and low[0] >= 0.0 and high[0] <= 3.0
    assert low[1] == high[1] == 1.0  # no spread, no band


def test_probability_of_improvement_known_answers() -> None:
    from syre_rl.analysis.statistics import probability_of_improvement

    # Pairs of [1, 2] x [2, 3]: (1,2) 0, (1,3) 0, (2,2) 0.5, (2,3) 0 -> 0.5 / 4.
    assert probability_of_improvement([1, 2], [2, 3])["poi"] == pytest.approx(0.125)
    assert probability_of_improvement([3, 4], [1, 2])["poi"] == 1.0
    assert probability_of_improvement([1, 1, 1], [1, 1])["poi"] == 0.5
    # Stochastic dominance gives a degenerate interval; NaNs are dropped.
    out = probability_of_improvement([5, 6, 7, np.nan], [1, 2, 3])
    assert (out["poi"], out["ci_low"], out["ci_high"], out["n_x"]) == (1.0, 1.0, 1.0, 3)
    assert np.isnan(probability_of_improvement([1.0], [])["poi"])
    assert np.isnan(probability_of_improvement([1.0], [0.0, 2.0])["ci_low"])  # one run of X: no interval


def test_probability_of_improvement_matches_rliable_and_its_interval_covers_it() -> None:
    from rliable.metrics import probability_of_improvement as rliable_poi

    from syre_rl.analysis.statistics import probability_of_improvement

    rng = np.random.default_rng(0)
    x, y = rng.normal(0.3, 1, 10), rng.normal(0, 1, 10).round(1)
    out = probability_of_improvement(x, y, seed=1)
    assert out["poi"] == pytest.approx(float(rliable_poi(x[:, None], y[:, None])))
    assert out["ci_low"] < out["poi"] < out["ci_high"]
    assert out == probability_of_improvement(x, y, seed=1)  # reproducible
    assert probability_of_improvement(y, x)["poi"] == pytest.approx(1 - out["poi"])
