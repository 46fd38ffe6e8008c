"""Statistics over seeds, shared by the benchmark summary, the study report and the plots: the mean with a 95%
bootstrap interval, the interquartile mean, and the probability of improvement of one agent over another."""

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


def probability_of_improvement(
    x: Sequence[float], y: Sequence[float], n_resamples: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Probability of improvement of X over Y as rliable defines it (Agarwal et al. 2021): over all pairs of a run of
    X and a run of Y, ``P(X > Y) + 0.5 P(X = Y)`` (the Mann-Whitney U statistic over ``len(x) * len(y)``), with a 95%
    percentile-bootstrap interval that resamples the runs of X and of Y independently, with replacement. NaNs are
    dropped.

    :param x: one number per run of X (e.g. per seed).
    :param y: one number per run of Y.
    :param n_resamples: bootstrap resamples (default 2000).
    :param seed: seed of the resampling generator (default 0).
    :return: ``n_x``, ``n_y``, ``poi``, ``ci_low``, ``ci_high`` (NaN when a side has no finite value; the interval
        is NaN when a side has a single run).
    """
    a = np.asarray([v for v in x if np.isfinite(v)], dtype=float)
    b = np.asarray([v for v in y if np.isfinite(v)], dtype=float)
    out = {"n_x": float(len(a)), "n_y": float(len(b)), "poi": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    if len(a) == 0 or len(b) == 0:
        return out
    out["poi"] = float(_pairwise_poi(a[None, :], b[None, :])[0])
    if len(a) > 1 and len(b) > 1:
        rng = np.random.default_rng(seed)
        ra = a[rng.integers(0, len(a), size=(n_resamples, len(a)))]
        rb = b[rng.integers(0, len(b), size=(n_resamples, len(b)))]
        values = _pairwise_poi(ra, rb)
        out["ci_low"], out["ci_high"] = (float(v) for v in np.percentile(values, [2.5, 97.5]))
    return out


def _pairwise_poi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, the mean over pairs (i, j) of ``[a_i > b_j] + 0.5 [a_i == b_j]``; ``a``: (rows, n), ``b``: (rows, m)."""
    greater = (a[:, :, None] > b[:, None, :]).mean(axis=(1, 2))
    equal = (a[:, :, None] == b[:, None, :]).mean(axis=(1, 2))
    return greater + 0.5 * equal


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (``z = 1.96``): it stays inside [0, 1] and is not empty at
    0 or ``trials`` successes, where the normal interval collapses.

    :param successes: number of successes, in ``[0, trials]``.
    :param trials: number of trials, >= 1.
    :return: ``(low, high)``.
    :raises ValueError: ``trials < 1`` or ``successes`` outside ``[0, trials]``.
    """
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"wilson_interval needs 0 <= successes <= trials and trials >= 1, got {successes}/{trials}")
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
