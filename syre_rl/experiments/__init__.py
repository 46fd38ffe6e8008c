"""The study harness: recipe files, the resolved config of a run, building and training one run into its run folder,
and grids of runs.

Modules, each one idea:

* :mod:`~syre_rl.experiments.yaml_loader`: the one YAML reader of recipes and ``--set`` values;
* :mod:`~syre_rl.experiments.recipe_files`: the recipe folders (checkout or installed package), reading a recipe by
  name or path;
* :mod:`~syre_rl.experiments.agents`: agent recipes (schema, listing, loading);
* :mod:`~syre_rl.experiments.scenarios`: scenario recipes (listing, loading, envs by name) and their registered
  ``syre_rl/...`` gymnasium ids;
* :mod:`~syre_rl.experiments.classes`: algorithm, policy, activation and optimizer names to classes, and the
  arguments each accepts;
* :mod:`~syre_rl.experiments.config`: the resolved config and ``--set`` overrides;
* :mod:`~syre_rl.experiments.build`: vector env, model and callbacks of a run;
* :mod:`~syre_rl.experiments.checkpoints`: checkpoints and resuming;
* :mod:`~syre_rl.experiments.run`: train one run into its run folder;
* :mod:`~syre_rl.experiments.grid`: agents x scenarios x seeds on a local process pool or Ray.

The run folder's file names come from :mod:`syre_rl.run_layout`; reading results is :mod:`syre_rl.analysis`' job.
Names are imported lazily: importing the recipe and config modules does not import torch or Stable-Baselines3.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "list_agents": "syre_rl.experiments.agents",
    "load_agent": "syre_rl.experiments.agents",
    "list_scenarios": "syre_rl.experiments.scenarios",
    "load_scenario": "syre_rl.experiments.scenarios",
    "parse_overrides": "syre_rl.experiments.config",
    "resolve_config": "syre_rl.experiments.config",
    "RunExistsError": "syre_rl.experiments.run",
    "default_run_dir": "syre_rl.experiments.run",
    "train": "syre_rl.experiments.run",
    "RunResult": "syre_rl.experiments.grid",
    "RunSpec": "syre_rl.experiments.grid",
    "plan_grid": "syre_rl.experiments.grid",
    "run_benchmark": "syre_rl.experiments.grid",
}

__all__ = [
    "RunExistsError",
    "RunResult",
    "RunSpec",
    "default_run_dir",
    "list_agents",
    "list_scenarios",
    "load_agent",
    "load_scenario",
    "parse_overrides",
    "plan_grid",
    "resolve_config",
    "run_benchmark",
    "train",
]

if TYPE_CHECKING:
    from syre_rl.experiments.agents import list_agents, load_agent
    from syre_rl.experiments.config import parse_overrides, resolve_config
    from syre_rl.experiments.grid import RunResult, RunSpec, plan_grid, run_benchmark
    from syre_rl.experiments.run import RunExistsError, default_run_dir, train
    from syre_rl.experiments.scenarios import list_scenarios, load_scenario


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'syre_rl.experiments' has no attribute {name!r}")
