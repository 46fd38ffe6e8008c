"""The run folder: the file names one training run writes, and finding runs on disk.

Readers (summaries, plots) use this module alone, so they work on results copied from a cluster without importing
any training code.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import yaml

CONFIG_FILE = "config.yaml"
DONE_FILE = "done"
ERROR_FILE = "error.txt"
MODEL_FILE = "model.zip"
TASKS_FILE = "tasks.csv"
FINAL_STATE = "final.pkl"
CHECKPOINT_DIR = "checkpoints"
TB_DIR = "tb"
# Logs written during training, with a ``timesteps`` column, truncated to the checkpoint on resume.
STEP_LOGS = ("metrics.csv", "episodes.csv")

RUN_COLUMNS = ["run_dir", "scenario", "agent", "seed", "total_steps", "done"]


def is_done(run_dir: str | Path) -> bool:
    """Whether the run folder holds a finished run (its ``done`` marker exists)."""
    return (Path(run_dir) / DONE_FILE).is_file()


def find_runs(roots: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """Run folders (those holding a ``config.yaml``) under one or more folders, searched recursively.

    :return: one row per run with columns run_dir, scenario, agent, seed, total_steps, done.
    """
    roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
    rows = []
    for root in roots:
        for config_path in sorted(Path(root).rglob(CONFIG_FILE)):
            config = yaml.safe_load(config_path.read_text())
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
