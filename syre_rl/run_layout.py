"""The layout of run folders and benchmark folders: every file name a run or a benchmark writes, and path helpers.

The training harness (:mod:`syre_rl.experiments`) writes these files and the readers (:mod:`syre_rl.analysis`) read
them; both take the names from here. Constants, :mod:`pathlib` and the YAML reader of ``config.yaml`` only: no torch,
Stable-Baselines3 or pandas. The CSV logs' names are defined by their writer, :mod:`syre_rl.plasticity.records`, and
re-exported here.

Run folder (``<root>/<scenario>/<agent>/seed_<seed>``, see :func:`run_path`)::

    config.yaml         the resolved config (see syre_rl.experiments.config.resolve_config)
    tb/                 TensorBoard logs (SB3's logger plus the plasticity/... scalars)
    metrics.csv         plasticity metrics (timesteps, task_id, network, layer, metric, value)
    episodes.csv        one row per finished episode (timesteps, task_id, return, length)
    tasks.csv           one row per task (rewritten at every task switch, checkpoint and at the end)
    plasticity_init.pt  step-0 weights and collapse scales, so a resumed run measures against the same reference
    checkpoints/        the two newest checkpoints: step_<N>.zip (model, optimizer, syre anchors), step_<N>.pkl (the
                        rest of the run's state: environments, SB3's per-run state, RNGs, callbacks),
                        step_<N>.tasks.csv (tasks.csv at that step), step_<N>.json (manifest, written last: the
                        files' digests and the CSV logs' sizes and digests at that step); final.pkl, final.tasks.csv
                        and final.json go with model.zip; off-policy runs add step_<N>.replay_buffer.pkl
                        (final.replay_buffer.pkl); a *.tmp file is a write that did not finish
    model.zip           the final model
    done                written last: JSON with the steps done, the wall time and, per intervention, how often it
                        acted (``interventions``); its presence marks a finished run
    error.txt           only for a failed benchmark run: the traceback

Benchmark folder: one run folder per scenario, agent and seed, plus ``benchmark.yaml`` (the runs asked for and the
overrides, and the sweep values of each swept run), ``summary.csv``, ``runs.csv``, ``summary.md`` and, from the
plot script, ``plots/``; a study adds ``report/`` (``report.md``, the summary files, figures).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from syre_rl.plasticity.records import EPISODES_FILE, INIT_REFERENCE_FILE, METRICS_FILE, TASKS_FILE

__all__ = [
    "CHECKPOINT_DIR",
    "CONFIG_FILE",
    "DEFAULT_REFERENCE",
    "DONE_FILE",
    "EPISODES_FILE",
    "ERROR_FILE",
    "FINAL_STATE",
    "INIT_REFERENCE_FILE",
    "METRICS_FILE",
    "MODEL_FILE",
    "PLAN_FILE",
    "PLOTS_DIR",
    "REPORT_DIR",
    "REPORT_FILE",
    "RUNS_FILE",
    "RUN_FILES",
    "STEP_LOGS",
    "SUMMARY_FILE",
    "SUMMARY_MARKDOWN",
    "SWEEP_KEY",
    "TASKS_FILE",
    "TB_DIR",
    "TRAP_DIR",
    "TRAP_SUMMARY_FILE",
    "TRAP_TRIALS_FILE",
    "checkpoint_files",
    "checkpoint_steps",
    "checkpoint_tasks_copy",
    "final_state_path",
    "is_done",
    "load_config",
    "run_path",
]

# ------------------------------------------------------------------------------------------------------ run folder
CONFIG_FILE = "config.yaml"
DONE_FILE = "done"
ERROR_FILE = "error.txt"
MODEL_FILE = "model.zip"
TB_DIR = "tb"
CHECKPOINT_DIR = "checkpoints"
# Task state of the finished run, next to model.zip, so that a finished run can be extended like a checkpoint.
FINAL_STATE = "final.pkl"
# Logs written during training, with a ``timesteps`` column, truncated to the checkpoint on resume.
STEP_LOGS: tuple[str, ...] = (METRICS_FILE, EPISODES_FILE)
# Every name a run folder may hold at its top level; a folder holding anything else is not only ours (see
# syre_rl.experiments.run_dir). ``NAME.tmp`` of these names (a file being replaced) belongs to the run too.
RUN_FILES: frozenset[str] = frozenset(
    {
        CONFIG_FILE,
        DONE_FILE,
        ERROR_FILE,
        MODEL_FILE,
        TB_DIR,
        CHECKPOINT_DIR,
        METRICS_FILE,
        EPISODES_FILE,
        TASKS_FILE,
        INIT_REFERENCE_FILE,
    }
)

_CHECKPOINT_PREFIX = "step_"
_MODEL_SUFFIX = ".zip"
_STATE_SUFFIX = ".pkl"
_TASKS_COPY_SUFFIX = ".tasks.csv"

# ------------------------------------------------------------------------------------------------ benchmark folder
PLAN_FILE = "benchmark.yaml"
SUMMARY_FILE = "summary.csv"
RUNS_FILE = "runs.csv"
SUMMARY_MARKDOWN = "summary.md"
PLOTS_DIR = "plots"
# Agent whose runs in a benchmark folder are the full-plasticity reference (reset at every task switch): added to a
# grid when the recipe exists, and matched by scenario and seed in the summary.
DEFAULT_REFERENCE = "ppo_reset"
# Key of a resolved config holding a sweep variant's values ({key: value}), absent outside sweeps.
SWEEP_KEY = "sweep"
# Report folder of a study (scripts/study.py) inside its benchmark folder, and its Markdown report.
REPORT_DIR = "report"
REPORT_FILE = "report.md"
# The symmetry-trap experiment's folder (in a study folder) and files.
TRAP_DIR = "symmetry_trap"
TRAP_TRIALS_FILE = "trials.csv"
TRAP_SUMMARY_FILE = "summary.csv"


def run_path(root: str | Path, scenario: str, agent: str, seed: int) -> Path:
    """The run folder of one run of a benchmark: ``root/<scenario>/<agent>/seed_<seed>``."""
    return Path(root) / scenario / agent / f"seed_{seed}"


def is_done(run_dir: str | Path) -> bool:
    """Whether the run folder holds a finished run (its ``done`` marker exists)."""
    return (Path(run_dir) / DONE_FILE).is_file()


def load_config(run_dir: str | Path) -> dict[str, Any]:
    """The resolved config saved in a run folder's ``config.yaml``.

    Read with :func:`yaml.safe_load`, the exact inverse of the :func:`yaml.safe_dump` that wrote it (recipes use a
    different reader, see :mod:`syre_rl.experiments.yaml_loader`).
    """
    return yaml.safe_load((Path(run_dir) / CONFIG_FILE).read_text())


def checkpoint_files(run_dir: str | Path, steps: int) -> tuple[Path, Path]:
    """``(model, state)`` paths of the checkpoint at ``steps`` environment steps: ``checkpoints/step_<N>.zip`` and
    ``checkpoints/step_<N>.pkl``."""
    stem = Path(run_dir) / CHECKPOINT_DIR / f"{_CHECKPOINT_PREFIX}{steps}"
    return stem.with_suffix(_MODEL_SUFFIX), stem.with_suffix(_STATE_SUFFIX)


def checkpoint_steps(run_dir: str | Path) -> list[tuple[int, Path, Path]]:
    """``(steps, model, state)`` of every checkpoint whose state and model files both exist, in no particular order."""
    out = []
    for state in (Path(run_dir) / CHECKPOINT_DIR).glob(f"{_CHECKPOINT_PREFIX}*{_STATE_SUFFIX}"):
        model = state.with_suffix(_MODEL_SUFFIX)
        steps = state.stem.removeprefix(_CHECKPOINT_PREFIX)
        if model.is_file() and steps.isdigit():
            out.append((int(steps), model, state))
    return out


def final_state_path(run_dir: str | Path) -> Path:
    """Task state of a finished run (``checkpoints/final.pkl``), the state file that goes with ``model.zip``."""
    return Path(run_dir) / CHECKPOINT_DIR / FINAL_STATE


def checkpoint_tasks_copy(state_path: str | Path) -> Path:
    """The copy of ``tasks.csv`` kept with a checkpoint's state file (``step_<N>.tasks.csv``, ``final.tasks.csv``)."""
    return Path(state_path).with_suffix(_TASKS_COPY_SUFFIX)
