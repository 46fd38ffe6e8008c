"""One training run: resolved config -> vector env of wrapped scenario envs + model + callbacks -> run folder.

Run folder layout (``run_dir``)::

    config.yaml        the resolved config (see :func:`syre_rl.recipes.resolve_config`)
    tb/                TensorBoard logs (SB3's logger plus the ``plasticity/...`` scalars)
    metrics.csv        plasticity metrics (timesteps, task_id, network, layer, metric, value)
    episodes.csv       one row per finished episode (timesteps, task_id, return, length)
    tasks.csv          one row per task (rewritten at every task switch, checkpoint and at the end)
    checkpoints/       step_<N>.zip (model, optimizer, syre anchors), step_<N>.pkl (every sub-env's task state),
                       step_<N>.tasks.csv (tasks.csv at that step); final.pkl (+ final.tasks.csv) for model.zip
    model.zip          the final model
    done               written last: JSON with the steps done and the wall time; its presence marks a finished run
    error.txt          only for a failed benchmark run: the traceback

Resuming loads the newest checkpoint, gives every sub-env its task state back, drops the rows of the CSV logs written
after that checkpoint (so nothing is logged twice) and continues ``learn`` with ``reset_num_timesteps=False``.
Episodes running at the checkpoint are restarted, as they would be after any interruption.
"""

from __future__ import annotations

import csv
import json
import pickle
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import yaml
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from syre_rl.plasticity.records import INIT_REFERENCE_FILE
from syre_rl.recipes import build_policy_kwargs, resolve_algorithm, resolve_policy
from syre_rl.run_folder import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    DONE_FILE,
    ERROR_FILE,
    FINAL_STATE,
    MODEL_FILE,
    STEP_LOGS,
    TASKS_FILE,
    TB_DIR,
)

# Keys of the resolved config that may differ when a run is resumed.
RESUMABLE_CHANGES = frozenset({"device", "total_steps", "overrides", "checkpoint_every"})


class RunExistsError(FileExistsError):
    """The run folder already holds a run and neither resume nor overwrite was asked for."""


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
        return self.state_path.with_suffix(".tasks.csv")


def default_run_dir(config: Mapping[str, Any], root: str | Path = "runs") -> Path:
    """``root/<scenario>/<agent>/seed_<seed>``."""
    return Path(root) / config["scenario"] / config["agent"] / f"seed_{config['seed']}"


def load_config(run_dir: str | Path) -> dict[str, Any]:
    """The resolved config saved in a run folder."""
    return yaml.safe_load((Path(run_dir) / CONFIG_FILE).read_text())


def _make_one_env(scenario: Mapping[str, Any], seed: int, n_envs: int, rank: int) -> gym.Env:
    from syre_rl.nonstationary.scenarios import make_scenario_env

    return Monitor(make_scenario_env(dict(scenario), seed=seed, n_envs=n_envs, rank=rank))


class ScenarioVecEnv(DummyVecEnv):
    """DummyVecEnv whose ``seed(s)`` gives sub-env ``r`` the reset seed ``env_seed(s, r)`` instead of SB3's ``s + r``,
    so runs with neighbouring seeds do not share sub-env random streams."""

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        from syre_rl.nonstationary.scenarios import env_seed

        if seed is None:
            return super().seed(seed)
        self._seeds = [env_seed(int(seed), rank) for rank in range(self.num_envs)]
        return self._seeds


def make_vec_env(config: Mapping[str, Any]) -> VecEnv:
    """``n_envs`` wrapped scenario envs (each in a Monitor) in a :class:`ScenarioVecEnv`; all follow the same task
    sequence."""
    n_envs = int(config["n_envs"])
    fns = [
        partial(_make_one_env, config["scenario_recipe"], int(config["seed"]), n_envs, rank) for rank in range(n_envs)
    ]
    return ScenarioVecEnv(fns)


def build_model(config: Mapping[str, Any], env: VecEnv, run_dir: str | Path | None = None) -> BaseAlgorithm:
    """The algorithm named by the config, on ``env``, logging TensorBoard to ``run_dir/tb`` when given."""
    algorithm = resolve_algorithm(config["algorithm"])
    policy = config["policy"]
    if policy not in getattr(algorithm, "policy_aliases", {}):
        policy = resolve_policy(algorithm, policy)
    return algorithm(
        policy,
        env,
        policy_kwargs=build_policy_kwargs(config["policy_kwargs"]),
        seed=int(config["seed"]),
        device=config.get("device", "auto"),
        tensorboard_log=str(Path(run_dir) / TB_DIR) if run_dir is not None else None,
        **dict(config["hyperparameters"]),
    )


def build_callbacks(config: Mapping[str, Any], run_dir: str | Path) -> list[BaseCallback]:
    """The plasticity logger and the agent's interventions (:func:`syre_rl.interventions.build_interventions`)."""
    from syre_rl.plasticity import PlasticityCallback

    callbacks: list[BaseCallback] = [PlasticityCallback(log_dir=run_dir, **dict(config.get("plasticity") or {}))]
    if config.get("interventions"):
        from syre_rl.interventions import build_interventions

        callbacks += build_interventions(list(config["interventions"]))
    return callbacks


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
        ckpt = Checkpoint(steps, self.folder / f"step_{steps}.zip", self.folder / f"step_{steps}.pkl")
        self.model.save(ckpt.model_path)
        tasks = self.run_dir / TASKS_FILE
        if tasks.is_file():
            shutil.copyfile(tasks, ckpt.tasks_path)
        # The state file is written last: a checkpoint without it is ignored.
        _write_state(
            ckpt.state_path, {"num_timesteps": steps, "task_states": self.training_env.env_method("get_task_state")}
        )
        self._last = steps
        for old in list_checkpoints(self.folder.parent)[: -self.keep]:
            for path in (old.state_path, old.model_path, old.tasks_path):
                path.unlink(missing_ok=True)
        return ckpt


def list_checkpoints(run_dir: str | Path) -> list[Checkpoint]:
    """Complete checkpoints of a run, oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    out = []
    for state in folder.glob("step_*.pkl"):
        model = state.with_suffix(".zip")
        steps = state.stem.removeprefix("step_")
        if model.is_file() and steps.isdigit():
            out.append(Checkpoint(int(steps), model, state))
    return sorted(out, key=lambda c: c.steps)


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


def _config_changes(saved: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    # Compare as YAML would store them (tuples become lists, and so on).
    saved = yaml.safe_load(yaml.safe_dump(dict(saved)))
    new = yaml.safe_load(yaml.safe_dump(dict(new)))
    return sorted(k for k in set(saved) | set(new) if k not in RESUMABLE_CHANGES and saved.get(k) != new.get(k))


def _prepare_run_dir(config: Mapping[str, Any], run_dir: Path, resume: bool, overwrite: bool) -> dict[str, Any]:
    """Check or create the run folder; return the config to train with."""
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other")
    exists = run_dir.exists() and any(run_dir.iterdir())
    if exists and overwrite:
        shutil.rmtree(run_dir)
        exists = False
    if exists and not resume:
        raise RunExistsError(f"run folder {str(run_dir)!r} already exists; resume it or overwrite it")
    config = dict(config)
    if exists and (run_dir / CONFIG_FILE).is_file():
        changes = _config_changes(load_config(run_dir), config)
        if changes:
            raise ValueError(
                f"cannot resume {str(run_dir)!r} with a different config: {changes} differ from its {CONFIG_FILE}"
            )
    if _finished_steps(run_dir) >= int(config["total_steps"]):
        return load_config(run_dir)  # nothing left to train: the folder keeps the config it finished with
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False))
    (run_dir / ERROR_FILE).unlink(missing_ok=True)
    return config


def _finished_steps(run_dir: Path) -> int:
    """Steps of the finished run in ``run_dir`` (from its ``done`` marker), or -1."""
    done_path = run_dir / DONE_FILE
    return int(json.loads(done_path.read_text()).get("num_timesteps", 0)) if done_path.is_file() else -1


def train(
    config: Mapping[str, Any],
    run_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress_bar: bool = False,
    extra_callbacks: Sequence[BaseCallback] = (),
) -> Path:
    """Train one run into ``run_dir``.

    :param config: a resolved config (:func:`syre_rl.recipes.resolve_config`).
    :param run_dir: run folder. If it already holds files, training refuses to start unless ``resume`` (continue
        from the newest checkpoint; a finished run is left as it is unless ``total_steps`` grew) or ``overwrite``
        (delete it first).
    :param progress_bar: show SB3's progress bar (needs tqdm and rich).
    :param extra_callbacks: more SB3 callbacks, run after the plasticity logger and the interventions.
    :return: ``run_dir`` as a Path.
    """
    run_dir = Path(run_dir)
    config = _prepare_run_dir(config, run_dir, resume, overwrite)
    total = int(config["total_steps"])
    if _finished_steps(run_dir) >= total:
        return run_dir
    (run_dir / DONE_FILE).unlink(missing_ok=True)

    start = time.perf_counter()
    env = make_vec_env(config)
    model = _load_newest_checkpoint(config, run_dir, env) if resume else None
    if model is None:
        _clear_run_outputs(run_dir)
        model = build_model(config, env, run_dir)
    model.tensorboard_log = str(run_dir / TB_DIR)  # the folder may have moved since the checkpoint was saved
    start_steps = model.num_timesteps

    callbacks = build_callbacks(config, run_dir)
    plasticity = callbacks[0]
    checkpoint = TaskStateCheckpoint(run_dir, int(config["checkpoint_every"]), before_save=[plasticity.write_tasks])
    callbacks += [checkpoint, *extra_callbacks]
    remaining = max(0, total - model.num_timesteps)
    model.learn(
        remaining,
        callback=callbacks,
        tb_log_name=config["agent"],
        reset_num_timesteps=start_steps == 0,
        progress_bar=progress_bar,
    )
    final = _final_checkpoint(run_dir)
    model.save(final.model_path)
    final.state_path.parent.mkdir(exist_ok=True)
    if (run_dir / TASKS_FILE).is_file():
        shutil.copyfile(run_dir / TASKS_FILE, final.tasks_path)
    _write_state(
        final.state_path, {"num_timesteps": int(model.num_timesteps), "task_states": env.env_method("get_task_state")}
    )
    env.close()
    seconds = time.perf_counter() - start
    done = {
        "num_timesteps": int(model.num_timesteps),
        "seconds": round(seconds, 2),
        "steps_per_second": round((model.num_timesteps - start_steps) / max(seconds, 1e-9), 1),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (run_dir / DONE_FILE).write_text(json.dumps(done) + "\n")
    return run_dir


def _final_checkpoint(run_dir: Path) -> Checkpoint:
    """The end of a finished run as a checkpoint (``model.zip`` + ``checkpoints/final.pkl``), for extending it."""
    state_path = run_dir / CHECKPOINT_DIR / FINAL_STATE
    steps = _read_state(state_path)["num_timesteps"] if state_path.is_file() else -1
    return Checkpoint(steps, run_dir / MODEL_FILE, state_path)


def _clear_run_outputs(run_dir: Path) -> None:
    """Remove what a run writes, before starting it from step 0 (the config stays)."""
    for name in (*STEP_LOGS, TASKS_FILE, MODEL_FILE, INIT_REFERENCE_FILE):
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / TB_DIR, ignore_errors=True)
    shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)


def _load_newest_checkpoint(config: Mapping[str, Any], run_dir: Path, env: VecEnv) -> BaseAlgorithm | None:
    """The model at the newest checkpoint (or at the end of a finished run that is extended), with the envs' task
    state restored and the logs cut back to that step; None when the run has no checkpoint."""
    candidates = list_checkpoints(run_dir)
    final = _final_checkpoint(run_dir)
    if final.steps >= 0 and final.model_path.is_file():
        candidates.append(final)
    if not candidates:
        return None
    ckpt = max(candidates, key=lambda c: c.steps)
    state = _read_state(ckpt.state_path)
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
    model._last_obs = env.reset()  # type: ignore[assignment]
    model._last_episode_starts = np.ones((env.num_envs,), dtype=bool)
    return model


def _read_state(path: Path) -> dict[str, Any]:
    return pickle.loads(path.read_bytes())


def _write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(state))
    tmp.replace(path)  # atomic: a state file is complete or absent
