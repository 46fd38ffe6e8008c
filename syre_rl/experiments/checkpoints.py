"""Checkpoints of a run and resuming from them.

A checkpoint is the model (SB3 zip: policy, optimizer state, syre anchors), every sub-env's task state (a pickle,
written last, so a checkpoint without it is ignored) and a copy of ``tasks.csv`` at that step; file names from
:mod:`syre_rl.run_layout`. Resuming loads the newest checkpoint, gives every sub-env its task state back and drops
the rows of the CSV logs written after that checkpoint, so nothing is logged twice. Episodes running at the
checkpoint are restarted, as they would be after any interruption.
"""

from __future__ import annotations

import csv
import pickle
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from syre_rl.experiments.classes import resolve_algorithm
from syre_rl.run_layout import (
    CHECKPOINT_DIR,
    MODEL_FILE,
    STEP_LOGS,
    TASKS_FILE,
    checkpoint_files,
    checkpoint_steps,
    checkpoint_tasks_copy,
    final_state_path,
)


@dataclass(frozen=True)
class Checkpoint:
    """A saved point of a run.

    :param steps: environment steps done (all sub-envs together).
    :param model_path: the SB3 zip (policy, optimizer state, syre anchors).
    :param state_path: pickle with ``num_timesteps`` and the task state of every sub-env.
    """

    steps: int
    model_path: Path
    state_path: Path

    @property
    def tasks_path(self) -> Path:
        """Copy of ``tasks.csv`` at this checkpoint (absent if there was none)."""
        return checkpoint_tasks_copy(self.state_path)


class TaskStateCheckpoint(BaseCallback):
    """Save the model and every sub-env's task state every ``every`` environment steps.

    Saving happens at the start of a rollout: the last update is done and every step so far is logged, so model,
    task state and logs describe the same moment.

    :param run_dir: run folder; files go to ``run_dir/checkpoints``.
    :param every: environment steps (all sub-envs together) between checkpoints.
    :param keep: number of newest checkpoints kept on disk (default 2).
    :param before_save: called before each save, e.g. to bring ``tasks.csv`` up to date; ``tasks.csv`` (the
        per-task progress the plasticity logger continues from) is then copied into the checkpoint.
    """

    def __init__(
        self,
        run_dir: str | Path,
        every: int,
        keep: int = 2,
        before_save: Sequence[Callable[[], Any]] = (),
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if every < 1 or keep < 1:
            raise ValueError(f"every and keep must be >= 1, got every={every!r}, keep={keep!r}")
        self.run_dir = Path(run_dir)
        self.folder = self.run_dir / CHECKPOINT_DIR
        self.every = int(every)
        self.keep = int(keep)
        self.before_save = list(before_save)
        self._last = 0

    def _on_training_start(self) -> None:
        self._last = self.num_timesteps

    def _on_rollout_start(self) -> None:
        if self.num_timesteps - self._last >= self.every:
            self.save()

    def _on_step(self) -> bool:
        return True

    def save(self) -> Checkpoint:
        """Write a checkpoint for the current step count now."""
        for hook in self.before_save:
            hook()
        self.folder.mkdir(parents=True, exist_ok=True)
        steps = int(self.num_timesteps)
        ckpt = Checkpoint(steps, *checkpoint_files(self.run_dir, steps))
        self.model.save(ckpt.model_path)
        tasks = self.run_dir / TASKS_FILE
        if tasks.is_file():
            shutil.copyfile(tasks, ckpt.tasks_path)
        # The state file is written last: a checkpoint without it is ignored.
        write_state(
            ckpt.state_path, {"num_timesteps": steps, "task_states": self.training_env.env_method("get_task_state")}
        )
        self._last = steps
        for old in list_checkpoints(self.run_dir)[: -self.keep]:
            for path in (old.state_path, old.model_path, old.tasks_path):
                path.unlink(missing_ok=True)
        return ckpt


def list_checkpoints(run_dir: str | Path) -> list[Checkpoint]:
    """Complete checkpoints of a run, oldest first."""
    return sorted((Checkpoint(*files) for files in checkpoint_steps(run_dir)), key=lambda c: c.steps)


def final_checkpoint(run_dir: str | Path) -> Checkpoint:
    """The end of a finished run as a checkpoint (``model.zip`` + ``checkpoints/final.pkl``), for extending it;
    ``steps`` is -1 when the run has not finished."""
    state_path = final_state_path(run_dir)
    steps = read_state(state_path)["num_timesteps"] if state_path.is_file() else -1
    return Checkpoint(steps, Path(run_dir) / MODEL_FILE, state_path)


def save_final(run_dir: str | Path, model: BaseAlgorithm, env: VecEnv) -> Checkpoint:
    """Save the final model, the envs' task state and a copy of ``tasks.csv`` as the run's final checkpoint."""
    run_dir = Path(run_dir)
    final = final_checkpoint(run_dir)
    model.save(final.model_path)
    final.state_path.parent.mkdir(exist_ok=True)
    if (run_dir / TASKS_FILE).is_file():
        shutil.copyfile(run_dir / TASKS_FILE, final.tasks_path)
    write_state(
        final.state_path, {"num_timesteps": int(model.num_timesteps), "task_states": env.env_method("get_task_state")}
    )
    return Checkpoint(int(model.num_timesteps), final.model_path, final.state_path)


def _truncate_log(path: Path, steps: int) -> None:
    """Keep the header and the rows of a CSV log with ``timesteps <= steps``, byte for byte; a last row cut short by
    a killed process (no newline yet) is dropped too."""
    data = path.read_bytes()
    lines = data[: data.rfind(b"\n") + 1].decode().splitlines(keepends=True)
    if not lines:
        return
    header = next(csv.reader(lines[:1]))
    if "timesteps" not in header:
        return
    column = header.index("timesteps")
    keep = [lines[0]] + [line for line in lines[1:] if float(next(csv.reader([line]))[column]) <= steps]
    text = "".join(keep)
    if text.encode() != data:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)


def _truncate_logs(run_dir: Path, steps: int) -> None:
    for name in STEP_LOGS:
        if (run_dir / name).is_file():
            _truncate_log(run_dir / name, steps)


def load_newest_checkpoint(config: Mapping[str, Any], run_dir: str | Path, env: VecEnv) -> BaseAlgorithm | None:
    """The model at the newest checkpoint (or at the end of a finished run that is extended), with the envs' task
    state restored and the logs cut back to that step; None when the run has no checkpoint.

    :param config: the resolved config of the run (algorithm, device, seed).
    :param run_dir: run folder.
    :param env: the run's new vector env; every sub-env gets its task state back.
    """
    run_dir = Path(run_dir)
    candidates = list_checkpoints(run_dir)
    final = final_checkpoint(run_dir)
    if final.steps >= 0 and final.model_path.is_file():
        candidates.append(final)
    if not candidates:
        return None
    ckpt = max(candidates, key=lambda c: c.steps)
    state = read_state(ckpt.state_path)
    model = resolve_algorithm(config["algorithm"]).load(ckpt.model_path, env=env, device=config.get("device", "auto"))
    if model.num_timesteps != state["num_timesteps"]:
        raise RuntimeError(f"{ckpt.model_path} is at {model.num_timesteps} steps, {ckpt.state_path} at {state}")
    for index, task_state in enumerate(state["task_states"]):
        env.env_method("set_task_state", task_state, indices=[index])
    _truncate_logs(run_dir, model.num_timesteps)
    if ckpt.tasks_path.is_file():
        shutil.copyfile(ckpt.tasks_path, run_dir / TASKS_FILE)
    else:
        (run_dir / TASKS_FILE).unlink(missing_ok=True)
    # SB3 saved the last observation of the interrupted run; the envs are new, so fresh episodes start here.
    # Reseed the global generators too: SB3's load re-ran set_random_seed(seed), which would replay step 0's stream.
    model.set_random_seed(int(config["seed"]) + model.num_timesteps)
    model._last_obs = env.reset()  # type: ignore[assignment]  # SB3 types it as the reset's array or dict
    model._last_episode_starts = np.ones((env.num_envs,), dtype=bool)
    return model


def read_state(path: Path) -> dict[str, Any]:
    """The pickled state of a checkpoint: ``num_timesteps`` and ``task_states`` (one per sub-env)."""
    return pickle.loads(path.read_bytes())


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Write a checkpoint's state file atomically: it is complete or absent."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(state))
    tmp.replace(path)
