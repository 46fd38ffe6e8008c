"""One training run: resolved config -> vector env + model + callbacks -> run folder.

The run folder's files are listed in :mod:`syre_rl.run_layout`. An existing run folder is only continued (from its
newest checkpoint, see :mod:`syre_rl.experiments.checkpoints`) or deleted when asked, and a finished run is left as
it is unless its ``total_steps`` grew.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from syre_rl.experiments.build import RunCallbacks, build_callbacks, build_model, make_vec_env
from syre_rl.experiments.checkpoints import RunCheckpoint, load_newest_checkpoint
from syre_rl.experiments.config import check_device_available
from syre_rl.experiments.firing import intervention_counts
from syre_rl.experiments.run_dir import RunExistsError, finished_steps, prepare_run_dir, undo_failed_start
from syre_rl.run_layout import (
    CHECKPOINT_DIR,
    DONE_FILE,
    INIT_REFERENCE_FILE,
    MODEL_FILE,
    STEP_LOGS,
    TASKS_FILE,
    TB_DIR,
    run_path,
)

__all__ = ["RunExistsError", "default_run_dir", "distribution_validation", "train"]  # train raises RunExistsError


def default_run_dir(config: Mapping[str, Any], root: str | Path = "runs") -> Path:
    """``root/<scenario>/<agent>/seed_<seed>``."""
    return run_path(root, config["scenario"], config["agent"], config["seed"])


def _clear_run_outputs(run_dir: Path) -> None:
    """Remove what a run writes, before starting it from step 0 (the config stays)."""
    for name in (*STEP_LOGS, TASKS_FILE, MODEL_FILE, INIT_REFERENCE_FILE):
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / TB_DIR, ignore_errors=True)
    shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)


@contextmanager
def distribution_validation(enabled: bool | None) -> Iterator[None]:
    """Within the block, whether ``torch.distributions`` checks the arguments of distributions built without an
    explicit ``validate_args`` (SB3's action distributions are): ``True`` or ``False``; ``None`` leaves torch's
    default as it is. The previous default is restored on leaving the block, so a worker process that trains one
    run after another does not carry one run's setting into the next.

    Turning the checks off changes no number: they only check (the support of a sample, the values of the logits or
    probabilities) and raise on an invalid value. What it takes away is the error naming invalid logits: with the
    checks off, NaN logits of a policy whose training diverged surface later, as NaN losses in the update or as
    ``torch.multinomial``'s error when an action is sampled on the CPU.

    :param enabled: the default inside the block, or None to keep the current one.
    """
    from torch.distributions import Distribution

    previous = Distribution._validate_args
    if enabled is not None:
        Distribution.set_default_validate_args(enabled)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(previous)


def _stateful_callbacks(callbacks: RunCallbacks) -> dict[str, BaseCallback]:
    """The run's callbacks whose state a checkpoint keeps, by a name stable across sessions."""
    named: dict[str, BaseCallback] = {"plasticity": callbacks.plasticity}
    named.update({f"interventions.{i}": callback for i, callback in enumerate(callbacks.interventions)})
    return {name: callback for name, callback in named.items() if hasattr(callback, "state_dict")}


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
        (delete it first). A start that fails before its first checkpoint leaves the folder as it found it
        (:func:`~syre_rl.experiments.run_dir.undo_failed_start`).
    :param progress_bar: show SB3's progress bar (needs tqdm and rich).
    :param extra_callbacks: more SB3 callbacks, run after the plasticity logger, the interventions and the
        checkpoints.
    :return: ``run_dir`` as a Path.

    A config with ``validate_distributions: false`` (:data:`~syre_rl.experiments.config.RUN_FLAGS`) trains with the
    argument checks of ``torch.distributions`` off (:func:`distribution_validation`); without the key, torch's
    default (on) is left as it is.
    """
    run_dir = Path(run_dir)
    check_device_available(str(config["device"]))
    validate = config.get("validate_distributions")
    with undo_failed_start(run_dir, overwrite), distribution_validation(None if validate is None else bool(validate)):
        _train(config, run_dir, resume, overwrite, progress_bar, extra_callbacks)
    return run_dir


def _train(
    config: Mapping[str, Any],
    run_dir: Path,
    resume: bool,
    overwrite: bool,
    progress_bar: bool,
    extra_callbacks: Sequence[BaseCallback],
) -> None:
    config = prepare_run_dir(config, run_dir, resume, overwrite)
    total = int(config["total_steps"])
    if finished_steps(run_dir) >= total:
        return

    start = time.perf_counter()
    env = make_vec_env(config)
    callbacks = build_callbacks(config, run_dir)
    checkpoint = RunCheckpoint(
        run_dir,
        int(config["checkpoint_every"]),
        before_save=[callbacks.plasticity.write_tasks],
        callbacks=_stateful_callbacks(callbacks),
    )
    try:
        resumed = load_newest_checkpoint(config, run_dir, env) if resume else None
    except BaseException:
        env.close()
        raise
    if resumed is None:
        _clear_run_outputs(run_dir)
        model = build_model(config, env, run_dir)
    else:
        model = resumed.model
        checkpoint.resume(resumed)
    # Only now that the run can continue does a finished run that is extended stop counting as finished.
    (run_dir / DONE_FILE).unlink(missing_ok=True)
    model.tensorboard_log = str(run_dir / TB_DIR)  # the folder may have moved since the checkpoint was saved
    start_steps = model.num_timesteps

    remaining = max(0, total - model.num_timesteps)
    model.learn(
        remaining,
        callback=[*callbacks.as_list(), checkpoint, *extra_callbacks],
        tb_log_name=config["agent"],
        reset_num_timesteps=start_steps == 0,
        progress_bar=progress_bar,
    )
    checkpoint.save_final()
    env.close()
    seconds = time.perf_counter() - start
    done = {
        "num_timesteps": int(model.num_timesteps),
        "seconds": round(seconds, 2),
        "steps_per_second": round((model.num_timesteps - start_steps) / max(seconds, 1e-9), 1),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if callbacks.interventions:  # how often each acted over the whole run (their counters survive a resume)
        done["interventions"] = intervention_counts(callbacks.interventions)
    (run_dir / DONE_FILE).write_text(json.dumps(done) + "\n")
