"""One training run: resolved config -> vector env + model + callbacks -> run folder.

The run folder's files are listed in :mod:`syre_rl.run_layout`. An existing run folder is only continued (from its
newest checkpoint, see :mod:`syre_rl.experiments.checkpoints`) or deleted when asked, and a finished run is left as
it is unless its ``total_steps`` grew.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from stable_baselines3.common.callbacks import BaseCallback

from syre_rl.experiments.build import build_callbacks, build_model, make_vec_env
from syre_rl.experiments.checkpoints import TaskStateCheckpoint, load_newest_checkpoint, save_final
from syre_rl.run_layout import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    DONE_FILE,
    ERROR_FILE,
    INIT_REFERENCE_FILE,
    MODEL_FILE,
    STEP_LOGS,
    TASKS_FILE,
    TB_DIR,
    load_config,
    run_path,
)

# Keys of the resolved config that may differ when a run is resumed.
RESUMABLE_CHANGES = frozenset({"device", "total_steps", "overrides", "checkpoint_every"})


class RunExistsError(FileExistsError):
    """The run folder already holds a run and neither resume nor overwrite was asked for."""


def default_run_dir(config: Mapping[str, Any], root: str | Path = "runs") -> Path:
    """``root/<scenario>/<agent>/seed_<seed>``."""
    return run_path(root, config["scenario"], config["agent"], config["seed"])


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


def _clear_run_outputs(run_dir: Path) -> None:
    """Remove what a run writes, before starting it from step 0 (the config stays)."""
    for name in (*STEP_LOGS, TASKS_FILE, MODEL_FILE, INIT_REFERENCE_FILE):
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / TB_DIR, ignore_errors=True)
    shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)


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

    :param config: a resolved config (:func:`syre_rl.experiments.config.resolve_config`).
    :param run_dir: run folder. If it already holds files, training refuses to start unless ``resume`` (continue
        from the newest checkpoint; a finished run is left as it is unless ``total_steps`` grew) or ``overwrite``
        (delete it first).
    :param progress_bar: show SB3's progress bar (needs tqdm and rich).
    :param extra_callbacks: more SB3 callbacks, run after the plasticity logger, the interventions and the
        checkpoints.
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
    model = load_newest_checkpoint(config, run_dir, env) if resume else None
    if model is None:
        _clear_run_outputs(run_dir)
        model = build_model(config, env, run_dir)
    model.tensorboard_log = str(run_dir / TB_DIR)  # the folder may have moved since the checkpoint was saved
    start_steps = model.num_timesteps

    callbacks = build_callbacks(config, run_dir)
    checkpoint = TaskStateCheckpoint(
        run_dir, int(config["checkpoint_every"]), before_save=[callbacks.plasticity.write_tasks]
    )
    remaining = max(0, total - model.num_timesteps)
    model.learn(
        remaining,
        callback=[*callbacks.as_list(), checkpoint, *extra_callbacks],
        tb_log_name=config["agent"],
        reset_num_timesteps=start_steps == 0,
        progress_bar=progress_bar,
    )
    save_final(run_dir, model, env)
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
