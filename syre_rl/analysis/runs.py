"""Finding run folders on disk and reading their logs (pandas)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from syre_rl.run_layout import CONFIG_FILE, DONE_FILE, METRICS_FILE, SWEEP_KEY, is_done, load_config

RUN_COLUMNS = ["run_dir", "scenario", "agent", "variant", "seed", "total_steps", "done"]


def format_variant(values: Mapping[str, Any] | None) -> str:
    """A run's sweep values (its config's ``sweep``) as ``"key=value, key=value"`` in recorded order; ``""`` for
    a run outside sweeps."""
    if not values:
        return ""
    return ", ".join(
        f"{key}={yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix('...').strip()}"
        for key, value in values.items()
    )


def agent_label(agent: str, variant: str) -> str:
    """The name of an agent's variant in tables and figures: ``agent`` or ``agent [key=value, ...]``."""
    return f"{agent} [{variant}]" if variant else agent


def read_done(run_dir: str | Path) -> dict[str, Any]:
    """The JSON of a run's ``done`` marker (empty when it is missing or not JSON)."""
    path = Path(run_dir) / DONE_FILE
    try:
        done = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return done if isinstance(done, dict) else {}


def find_runs(roots: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """Run folders (those holding a ``config.yaml``) under one or more folders, searched recursively.

    :return: one row per run with columns run_dir, scenario, agent, variant (the sweep values, see
        :func:`format_variant`), seed, total_steps, done.
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
                    "variant": format_variant(config.get(SWEEP_KEY)),
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
