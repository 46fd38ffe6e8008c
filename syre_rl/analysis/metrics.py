"""Plasticity metrics as read back from ``metrics.csv``: the names the summary and the figures use, their labels,
and the one reduction of a run's rows to a value per step.

A metric's value at a step is the mean of the networks' ``layer == "all"`` rows when the metric has them
(unit-weighted fractions over a whole network), else the mean over layers (and networks).
"""

from __future__ import annotations

import pandas as pd

# Names of metrics in metrics.csv (written by syre_rl.plasticity).
DORMANT_RATIO = "dormant_0.025"
SRANK = "srank"
WEIGHT_MAGNITUDE = "weight_mean_abs"
SYMMETRY_COLLAPSE = "collapsed"
PLASTICITY_PROBE = "probe_loss_reduction"

# Label with unit of each metric shown in figures, in panel order.
METRIC_LABELS: dict[str, str] = {
    DORMANT_RATIO: "dormant ratio, tau = 0.025 (fraction of units)",
    SRANK: "srank (number of singular values)",
    WEIGHT_MAGNITUDE: "weight magnitude (mean |w|)",
    SYMMETRY_COLLAPSE: "symmetry collapse (fraction of units)",
    PLASTICITY_PROBE: "plasticity probe (loss reduction)",
}


def metric_rows(metrics: pd.DataFrame, name: str) -> pd.DataFrame | None:
    """The rows of ``metrics.csv`` that stand for metric ``name``: the networks' ``layer == "all"`` rows when the
    metric has them, else every layer's; None if the metric is absent.

    :param metrics: a run's ``metrics.csv`` (columns timesteps, task_id, network, layer, metric, value).
    :param name: metric name, e.g. :data:`SRANK`.
    """
    rows = metrics[metrics["metric"] == name]
    if rows.empty:
        return None
    if "layer" in rows and (rows["layer"] == "all").any():
        rows = rows[rows["layer"] == "all"]
    return rows


def metric_curve(metrics: pd.DataFrame, name: str) -> pd.Series | None:
    """One metric against steps (index ``timesteps``, sorted): the mean of its :func:`metric_rows` per step; None if
    the metric is absent."""
    rows = metric_rows(metrics, name)
    return None if rows is None else rows.groupby("timesteps")["value"].mean()


def last_metric_value(metrics: pd.DataFrame, name: str) -> float:
    """Value of metric ``name`` at its last measured step: the mean of its :func:`metric_rows` at that step; NaN if
    the metric is absent."""
    rows = metric_rows(metrics, name)
    if rows is None:
        return float("nan")
    return float(rows[rows["timesteps"] == rows["timesteps"].max()]["value"].mean())
