"""Statistics over seeds, shared by the benchmark summary and the plots: the mean with a 95% bootstrap interval, and
the interquartile mean."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.stats import bootstrap


def mean_and_ci(
    values: np.ndarray, n_resamples: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 (seeds) and its 95% percentile-bootstrap interval per column (``scipy.stats.bootstrap``).

    NaN-free input expected. With a single seed, or identical values, the interval collapses to the mean.

    :param values: array of shape (seeds,) or (seeds, columns).
    :param n_resamples: bootstrap resamples (default 2000).
    :param seed: seed of the resampling generator (default 0), so summaries are reproducible.
    """
    values = np.asarray(values, dtype=float)
    mean = values.mean(axis=0)
    if values.shape[0] < 2 or np.all(np.ptp(values, axis=0) == 0):
        return mean, mean, mean
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples of a few seeds warn; the interval is still defined
        ci = bootstrap(
            (values,),
            np.mean,
            axis=0,
            confidence_level=0.95,
            n_resamples=n_resamples,
            method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval
    low = np.where(np.isfinite(ci.low), ci.low, mean)
    high = np.where(np.isfinite(ci.high), ci.high, mean)
    return mean, low, high


def seed_statistics(values: Sequence[float], seed: int = 0) -> dict[str, float]:
    """Mean, 95% bootstrap CI (percentile method, 2000 resamples) and IQM (:func:`rliable.metrics.aggregate_iqm`)
    over seeds; NaNs are dropped.

    With one value the CI is NaN; with identical values it is that value.

    :param values: one number per seed.
    :param seed: seed of the resampling generator (default 0).
    :return: ``n``, ``mean``, ``ci_low``, ``ci_high``, ``iqm`` (NaN when no value is finite).
    """
    from rliable.metrics import aggregate_iqm

    x = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    out = {"n": float(len(x)), "mean": np.nan, "ci_low": np.nan, "ci_high": np.nan, "iqm": np.nan}
    if len(x) == 0:
        return out
    out["iqm"] = float(aggregate_iqm(x[:, None]))
    mean, low, high = mean_and_ci(x, n_resamples=2000, seed=seed)
    out["mean"] = float(mean)
    if len(x) > 1:
        out["ci_low"], out["ci_high"] = float(low), float(high)
    return out
