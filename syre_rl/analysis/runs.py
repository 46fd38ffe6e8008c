"""Finding run folders on disk and reading their logs (pandas)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from syre_rl.run_layout import CONFIG_FILE, METRICS_FILE, is_done, load_config

RUN_COLUMNS = ["run_dir", "scenario", "agent", "seed", "total_steps", "done"]


def find_runs(roots: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """Run folders (those holding a ``config.yaml``) under one or more folders, searched recursively.

    :return: one row per run with columns run_dir, scenario, agent, seed, total_steps, done.
    """
    roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
    rows = []
    for root in roots:
        for config_path in sorted(Path(root).rglob(CONFIG_FILE)):
            config = load_config(config_path.parent)
            rows.append(
                {
                    "run_dir": config_path.parent,
                    "scenario": config["scenario"],
                    "agent": config["agent"],
                    "seed": int(config["seed"]),
                    "total_steps": int(config["total_steps"]),
                    "done": is_done(config_path.parent),
                }
            )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def load_runs(roots: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """:func:`find_runs`, refusing a folder that does not exist and an empty result: a ValueError names the
    folders."""
    folders = [roots] if isinstance(roots, (str, Path)) else list(roots)
    missing = [str(r) for r in folders if not Path(r).is_dir()]
    if missing:
        raise ValueError(f"folders {missing} do not exist (or are not folders)")
    runs = find_runs(folders)
    if runs.empty:
        raise ValueError(f"no run folders (with a {CONFIG_FILE}) under {[str(r) for r in folders]}")
    return runs


def read_log(run_dir: str | Path, name: str) -> pd.DataFrame | None:
    """The CSV file ``name`` of a run folder as a DataFrame; None when it is missing, empty or has no rows."""
    path = Path(run_dir) / name
    if not path.is_file() or path.stat().st_size == 0:
        return None
    table = pd.read_csv(path)
    return table if not table.empty else None


def load_metrics(run_dir: str | Path) -> pd.DataFrame:
    """``metrics.csv`` of a run as a tidy DataFrame (timesteps, task_id, network, layer, metric, value).

    :raises ValueError: when the run folder has no ``metrics.csv``.
    """
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        raise ValueError(f"no {METRICS_FILE} in {str(run_dir)!r}")
    return pd.read_csv(path)
