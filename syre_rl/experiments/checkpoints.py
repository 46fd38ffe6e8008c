"""Checkpoints of a run and exact resume from them.

A checkpoint is a set of files (names from :mod:`syre_rl.run_layout`), each written to a temporary file that is then
renamed into place, and a small manifest written last that lists each file's size and SHA-256; a set without its
manifest, or whose files do not match it, is not a checkpoint:

* ``step_N.zip``: the model (SB3 zip: policy, optimizer state, syre anchors);
* ``step_N.pkl``: the rest of the run's state: what SB3's zip does not give back as training needs it (last
  observations, episode-start flags, the episode-info windows, update and episode counts, the action space's
  generator), the global random generators (Python, NumPy, torch, CUDA), the complete state of the environments
  (:func:`get_env_state`), the state of every stateful callback (``state_dict()``: plasticity logger,
  interventions), the checkpoint cadence and the plasticity metrics' step-0 reference (``plasticity_init.pt``);
* ``step_N.tasks.csv``: ``tasks.csv`` at that step;
* ``step_N.replay_buffer.pkl``: off-policy algorithms only (SAC, TD3, DQN and their syre forms), the replay buffer as
  SB3's ``save_replay_buffer`` writes it: the whole preallocated buffer, ``buffer_size`` transitions whatever its
  fill, so its size on disk is about ``buffer_size * n_envs * (2 * obs + action + 3)`` values of the spaces' dtypes
  (see :func:`replay_buffer_nbytes`); only the two newest checkpoints and the final one are kept, as for the others;
* ``step_N.json``: the manifest, with the size and digest of the prefix of every CSV log written up to that step.

Checkpoints are taken at the start of a rollout, when the last update is done and every step so far is logged. A run
resumed from one continues exactly as the uninterrupted run did (bit for bit on the CPU with the same thread count):
the environments carry on with the episodes in progress, and the random generators are put back at the start of the
first rollout, the point where they were saved. Resuming takes the newest checkpoint that is intact and whose CSV logs
still start with the bytes it recorded, and falls back to older ones; the logs are cut back to those bytes, so rows
written after the checkpoint (a last row cut short by a kill included) are dropped, never duplicated or glued.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import os
import pickle
import random
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.utils import EzPickle
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from syre_rl.experiments.classes import resolve_algorithm
from syre_rl.run_layout import (
    CHECKPOINT_DIR,
    INIT_REFERENCE_FILE,
    MODEL_FILE,
    STEP_LOGS,
    TASKS_FILE,
    checkpoint_files,
    checkpoint_steps,
    checkpoint_tasks_copy,
    final_state_path,
)

#: Version of the state pickles and manifests written here.
STATE_VERSION = 2
_MANIFEST_SUFFIX = ".json"
_TMP_SUFFIX = ".tmp"
_REPLAY_BUFFER_SUFFIX = ".replay_buffer.pkl"
# Attributes of an SB3 algorithm that training continues from and that its zip does not give back as they were (the
# zip keeps some, but ``load`` and ``learn`` reset or reseed them).
_ALGORITHM_STATE = (
    "num_timesteps",
    "_episode_num",
    "_n_updates",
    "_current_progress_remaining",
    "_last_obs",
    "_last_episode_starts",
    "_last_original_obs",
    "ep_info_buffer",
    "ep_success_buffer",
)


class CheckpointError(ValueError):
    """A checkpoint or a CSV log of a run folder is damaged or does not fit the run; the message is one line."""


@dataclass(frozen=True)
class Checkpoint:
    """A saved point of a run.

    :param steps: environment steps done (all sub-envs together); -1 when unknown.
    :param model_path: the SB3 zip (policy, optimizer state, syre anchors).
    :param state_path: pickle with the rest of the run's state (see the module docstring).
    """

    steps: int
    model_path: Path
    state_path: Path

    @property
    def name(self) -> str:
        """``step_<N>`` or ``final``."""
        return self.state_path.stem

    @property
    def tasks_path(self) -> Path:
        """Copy of ``tasks.csv`` at this checkpoint (absent if there was none)."""
        return checkpoint_tasks_copy(self.state_path)

    @property
    def replay_buffer_path(self) -> Path:
        """The replay buffer of an off-policy run at this checkpoint (absent for on-policy runs)."""
        return self.state_path.with_suffix(_REPLAY_BUFFER_SUFFIX)

    @property
    def manifest_path(self) -> Path:
        """The manifest, written last: sizes and digests of the files and of the logs' prefixes."""
        return self.state_path.with_suffix(_MANIFEST_SUFFIX)


@dataclass
class Resumed:
    """A run put back at a checkpoint by :func:`load_newest_checkpoint`.

    :param checkpoint: the checkpoint used.
    :param model: the model on the run's env, with SB3's per-run state restored.
    :param state: the checkpoint's state (the callbacks' states, the global generators, the checkpoint cadence):
        pass it on with :meth:`RunCheckpoint.resume`.
    """

    checkpoint: Checkpoint
    model: BaseAlgorithm
    state: dict[str, Any]


# ---------------------------------------------------------------------------------------------------------- files
def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place: the file is complete or absent."""
    tmp = path.with_name(path.name + _TMP_SUFFIX)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _prefix_digest(path: Path, size: int) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        _hash_into(hasher, f, size)
    return hasher.hexdigest()


def _hash_into(hasher: Any, f: Any, size: int, chunk: int = 1 << 20) -> None:
    while size > 0:
        block = f.read(min(chunk, size))
        if not block:
            raise CheckpointError(f"{f.name} ended early")
        hasher.update(block)
        size -= len(block)


class _LogDigests:
    """Sizes and SHA-256 digests of a run's CSV logs, hashed incrementally: within a session the logs only grow."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._done: dict[str, tuple[int, Any]] = {}

    def record(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name in STEP_LOGS:
            path = self.run_dir / name
            size = path.stat().st_size if path.is_file() else 0
            done, hasher = self._done.get(name, (0, hashlib.sha256()))
            if size < done:
                done, hasher = 0, hashlib.sha256()
            if size > done:
                with open(path, "rb") as f:
                    f.seek(done)
                    _hash_into(hasher, f, size - done)
            self._done[name] = (size, hasher)
            out[name] = {"size": size, "sha256": hasher.copy().hexdigest()}
        return out


def _describe_damage(path: Path, limit: int | None = None) -> str:
    """What is wrong with a CSV log, as a short clause (empty when nothing is found in its first ``limit`` bytes)."""
    if not path.is_file():
        return "it is missing"
    with open(path, "rb") as f:
        data = f.read() if limit is None else f.read(limit)
    if b"\n" not in data:
        return "its header is cut" if data else "it is empty"
    lines = data.split(b"\n")
    width = len(next(csv.reader([lines[0].decode(errors="replace")])))
    for number, line in enumerate(lines[1:-1], start=2):
        fields = len(next(csv.reader([line.decode(errors="replace")]), []))
        if fields != width:
            return f"line {number} has {fields} fields, the header {width}"
    return "its last row is cut" if lines[-1] else ""


def _truncate_log(path: Path, steps: int) -> None:
    """Keep the header and the rows of a CSV log with ``timesteps <= steps``, byte for byte; a last row cut short by
    a killed process (no newline yet) is dropped too. For a log that a checkpoint's manifest does not describe.

    :raises CheckpointError: a row with another number of fields than the header.
    """
    data = path.read_bytes()
    lines = data[: data.rfind(b"\n") + 1].decode().splitlines(keepends=True)
    if not lines:
        return
    header = next(csv.reader(lines[:1]))
    if "timesteps" not in header:
        return
    column = header.index("timesteps")
    keep = [lines[0]]
    for number, line in enumerate(lines[1:], start=2):
        row = next(csv.reader([line]))
        if len(row) != len(header):
            fields = f"line {number} has {len(row)} fields, the header {len(header)}"
            raise CheckpointError(f"{path.name} is damaged: {fields}")
        if float(row[column]) <= steps:
            keep.append(line)
    text = "".join(keep)
    if text.encode() != data:
        write_atomic(path, text.encode())


# -------------------------------------------------------------------------------------------------- environments
def _new_instance(cls: type[Any]) -> Any:
    return object.__new__(cls)


def _restore_dict(obj: Any, state: dict[str, Any]) -> None:
    obj.__dict__.update(state)


class _ExactPickler(pickle.Pickler):
    """Pickle every env object by its whole state. Gymnasium's ``EzPickle`` envs (the MuJoCo ones among them)
    otherwise pickle as their constructor arguments and would restart from a fresh model and physics; MuJoCo's
    ``MjModel`` and ``MjData`` pickle whole, so physics, warm starts and task changes to the model carry over."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, EzPickle) and not isinstance(obj, type):
            return _new_instance, (type(obj),), dict(obj.__dict__), None, None, _restore_dict
        return NotImplemented


def _exact_dumps(obj: Any) -> bytes:
    buffer = io.BytesIO()
    _ExactPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def get_env_state(env: VecEnv) -> dict[str, Any]:
    """The complete state of a run's vector env (picklable): ``env.get_state()`` when the env has it (the batched
    env), else, for a ``DummyVecEnv``, its sub-env objects pickled whole (base envs with their physics and episode in
    progress, the task-switching wrappers, Monitors, every generator) and its pending reset seeds and options.

    :raises CheckpointError: for another kind of vector env.
    """
    get_state = getattr(env, "get_state", None)
    if callable(get_state):
        return {"kind": "get_state", "state": get_state()}
    if isinstance(env, DummyVecEnv):
        return {
            "kind": "sub_envs",
            "envs": _exact_dumps(env.envs),
            "seeds": list(env._seeds),
            "options": copy.deepcopy(env._options),
        }
    raise CheckpointError(f"cannot checkpoint a {type(env).__name__}: it has no get_state() and is not a DummyVecEnv")


def set_env_state(env: VecEnv, state: Mapping[str, Any]) -> None:
    """Give a vector env made like the saved one the state of :func:`get_env_state`.

    :raises CheckpointError: the state does not fit this env.
    """
    kind = state.get("kind")
    if kind == "get_state" and callable(getattr(env, "set_state", None)):
        env.set_state(state["state"])  # type: ignore[attr-defined]  # checked just above
        return
    if kind == "sub_envs" and isinstance(env, DummyVecEnv):
        envs = pickle.loads(state["envs"])
        if len(envs) != env.num_envs:
            raise CheckpointError(f"the checkpoint has {len(envs)} sub-envs, the run {env.num_envs}")
        for old in env.envs:
            old.close()
        env.envs[:] = envs
        env._seeds = list(state["seeds"])
        env._options = copy.deepcopy(state["options"])
        return
    raise CheckpointError(f"the checkpoint's env state ({kind}) does not fit a {type(env).__name__}")


# ------------------------------------------------------------------------------------------- algorithm and RNGs
def _spaces(space: spaces.Space) -> Iterator[spaces.Space]:
    yield space
    if isinstance(space, spaces.Dict):
        for sub in space.spaces.values():
            yield from _spaces(sub)
    elif isinstance(space, spaces.Tuple):
        for sub in space.spaces:
            yield from _spaces(sub)


def _algorithm_state(model: BaseAlgorithm) -> dict[str, Any]:
    state = {name: copy.deepcopy(getattr(model, name)) for name in _ALGORITHM_STATE if hasattr(model, name)}
    state["action_space_rngs"] = [copy.deepcopy(s.np_random.bit_generator.state) for s in _spaces(model.action_space)]
    return state


def _restore_algorithm(model: BaseAlgorithm, state: Mapping[str, Any]) -> None:
    for name in _ALGORITHM_STATE:
        if name in state:
            setattr(model, name, copy.deepcopy(state[name]))
    for space, rng in zip(_spaces(model.action_space), state["action_space_rngs"]):
        space.np_random.bit_generator.state = copy.deepcopy(rng)


def global_rng_state() -> dict[str, Any]:
    """The states of Python's, NumPy's, torch's and (when in use) CUDA's global generators."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(), "cuda": cuda}


def set_global_rng_state(state: Mapping[str, Any]) -> None:
    """Put back the global generators of :func:`global_rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
        torch.cuda.set_rng_state_all(cuda)


# -------------------------------------------------------------------------------------------------- writing
def _write_checkpoint(
    ckpt: Checkpoint,
    run_dir: Path,
    model: BaseAlgorithm,
    callbacks: Mapping[str, Any],
    cadence_last: int,
    logs: dict[str, dict[str, Any]],
) -> None:
    # Until its new manifest is written, the set at this path is not a checkpoint.
    ckpt.manifest_path.unlink(missing_ok=True)
    ckpt.state_path.parent.mkdir(parents=True, exist_ok=True)
    env = model.get_env()
    if env is None:
        raise ValueError("cannot checkpoint a model without an env")
    init_reference = run_dir / INIT_REFERENCE_FILE
    state = {
        "version": STATE_VERSION,
        "num_timesteps": int(model.num_timesteps),
        "algorithm": _algorithm_state(model),
        "rng": global_rng_state(),
        "env": get_env_state(env.unwrapped),
        "callbacks": {name: callback.state_dict() for name, callback in callbacks.items()},
        "checkpoint_last": int(cadence_last),
        "init_reference": init_reference.read_bytes() if init_reference.is_file() else None,
    }
    buffer = io.BytesIO()
    model.save(buffer)
    tasks = run_dir / TASKS_FILE
    contents = {
        "model": (ckpt.model_path, buffer.getvalue()),
        "state": (ckpt.state_path, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)),
        "tasks": (ckpt.tasks_path, tasks.read_bytes() if tasks.is_file() else None),
        "replay_buffer": (ckpt.replay_buffer_path, _replay_buffer_bytes(model)),
    }
    files = {}
    for role, (path, data) in contents.items():
        if data is None:
            path.unlink(missing_ok=True)
            continue
        write_atomic(path, data)
        files[role] = {"size": len(data), "sha256": _digest(data)}
    manifest = {"version": STATE_VERSION, "steps": int(model.num_timesteps), "files": files, "logs": logs}
    write_atomic(ckpt.manifest_path, json.dumps(manifest, indent=1).encode())


def _replay_buffer_bytes(model: BaseAlgorithm) -> bytes | None:
    """The pickled replay buffer of an off-policy algorithm (SB3's ``save_replay_buffer``), None for others."""
    if not isinstance(model, OffPolicyAlgorithm) or model.replay_buffer is None:
        return None
    buffer = io.BytesIO()
    model.save_replay_buffer(buffer)
    return buffer.getvalue()


def replay_buffer_nbytes(model: Any) -> int:
    """Bytes of the arrays of an off-policy algorithm's replay buffer (what its checkpoint file holds, give or take a
    few hundred bytes of pickle framing); 0 for algorithms without one.

    :param model: an SB3 algorithm (anything with a ``replay_buffer`` attribute).
    """
    replay = getattr(model, "replay_buffer", None)
    if replay is None:
        return 0
    return sum(
        array.nbytes
        for value in vars(replay).values()
        for array in (value.values() if isinstance(value, dict) else [value])
        if isinstance(array, np.ndarray)
    )


class RunCheckpoint(BaseCallback):
    """Save a complete checkpoint of the run every ``every`` environment steps, at the start of a rollout.

    :param run_dir: run folder; files go to ``run_dir/checkpoints``.
    :param every: environment steps (all sub-envs together) between checkpoints.
    :param keep: number of newest checkpoints kept on disk (default 2).
    :param before_save: called before each save, e.g. to bring ``tasks.csv`` up to date; ``tasks.csv`` is then
        copied into the checkpoint.
    :param callbacks: the run's stateful callbacks by name (each with ``state_dict()`` and ``load_state_dict()``);
        their states are saved and, on :meth:`resume`, given back.
    :param verbose: SB3 verbosity.
    """

    def __init__(
        self,
        run_dir: str | Path,
        every: int,
        keep: int = 2,
        before_save: Sequence[Callable[[], Any]] = (),
        callbacks: Mapping[str, Any] | None = None,
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
        self.callbacks = dict(callbacks or {})
        self._last = 0
        self._resumed_last: int | None = None
        self._pending_rng: dict[str, Any] | None = None
        self._digests = _LogDigests(self.run_dir)

    def resume(self, resumed: Resumed) -> None:
        """Continue from a checkpoint loaded by :func:`load_newest_checkpoint`: every callback gets its state back
        now, the global random generators get theirs at the start of the first rollout (where they were saved), and
        the next checkpoint falls where it would have without the interruption.

        :raises CheckpointError: the checkpoint has no state for one of the callbacks.
        """
        saved = resumed.state["callbacks"]
        missing = sorted(set(self.callbacks) - set(saved))
        if missing:
            raise CheckpointError(f"{resumed.checkpoint.name} has no state for the callbacks {missing}")
        for name, callback in self.callbacks.items():
            callback.load_state_dict(saved[name])
        self._pending_rng = resumed.state["rng"]
        self._resumed_last = int(resumed.state["checkpoint_last"])

    def _on_training_start(self) -> None:
        self._last = self.num_timesteps if self._resumed_last is None else self._resumed_last

    def _on_rollout_start(self) -> None:
        if self._pending_rng is not None:
            set_global_rng_state(self._pending_rng)
            self._pending_rng = None
        if self.num_timesteps - self._last >= self.every:
            self.save()

    def _on_step(self) -> bool:
        return True

    def save(self) -> Checkpoint:
        """Write a checkpoint for the current step count now, then delete all but the ``keep`` newest."""
        for hook in self.before_save:
            hook()
        steps = int(self.num_timesteps)
        ckpt = Checkpoint(steps, *checkpoint_files(self.run_dir, steps))
        self._last = steps
        _write_checkpoint(ckpt, self.run_dir, self.model, self.callbacks, self._last, self._digests.record())
        complete = list_checkpoints(self.run_dir)
        if len(complete) > self.keep:
            oldest_kept = complete[-self.keep].steps
            for old_steps, model_path, state_path in checkpoint_steps(self.run_dir):
                if old_steps < oldest_kept:
                    old = Checkpoint(old_steps, model_path, state_path)
                    paths = (old.manifest_path, old.state_path, old.model_path, old.tasks_path, old.replay_buffer_path)
                    for path in paths:
                        path.unlink(missing_ok=True)
        return ckpt

    def save_final(self) -> Checkpoint:
        """Write the end of the run as its final checkpoint: ``model.zip`` and ``checkpoints/final.*``, so that the
        finished run can be extended exactly."""
        return save_final(self.run_dir, self.model, callbacks=self.callbacks, cadence_last=self._last)


def save_final(
    run_dir: str | Path,
    model: BaseAlgorithm,
    callbacks: Mapping[str, Any] | None = None,
    cadence_last: int | None = None,
) -> Checkpoint:
    """Save the final model (``model.zip``) and the rest of the run's state as the run's final checkpoint.

    :param callbacks: the run's stateful callbacks by name (see :class:`RunCheckpoint`).
    :param cadence_last: step of the last periodic checkpoint; default the final step.
    """
    run_dir = Path(run_dir)
    steps = int(model.num_timesteps)
    ckpt = Checkpoint(steps, run_dir / MODEL_FILE, final_state_path(run_dir))
    last = steps if cadence_last is None else cadence_last
    _write_checkpoint(ckpt, run_dir, model, callbacks or {}, last, _LogDigests(run_dir).record())
    return ckpt


# -------------------------------------------------------------------------------------------------- listing
def _manifest_steps(ckpt: Checkpoint) -> int:
    try:
        return int(json.loads(ckpt.manifest_path.read_text())["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1


def list_checkpoints(run_dir: str | Path) -> list[Checkpoint]:
    """Periodic checkpoints of a run whose manifest was written (complete sets; see :func:`load_newest_checkpoint`
    for their verification), oldest first."""
    found = (Checkpoint(*files) for files in checkpoint_steps(run_dir))
    return sorted((c for c in found if c.manifest_path.is_file()), key=lambda c: c.steps)


def final_checkpoint(run_dir: str | Path) -> Checkpoint:
    """The end of a finished run as a checkpoint (``model.zip`` + ``checkpoints/final.*``), for extending it;
    ``steps`` is -1 when the run has no complete final checkpoint."""
    ckpt = Checkpoint(-1, Path(run_dir) / MODEL_FILE, final_state_path(run_dir))
    return Checkpoint(_manifest_steps(ckpt), ckpt.model_path, ckpt.state_path)


def read_state(path: Path) -> dict[str, Any]:
    """The unpickled state file of a checkpoint (see the module docstring)."""
    return pickle.loads(path.read_bytes())


# -------------------------------------------------------------------------------------------------- resuming
def _verified_files(ckpt: Checkpoint) -> tuple[dict[str, Any], dict[str, bytes]]:
    try:
        manifest = json.loads(ckpt.manifest_path.read_text())
        files, logs, steps = dict(manifest["files"]), dict(manifest["logs"]), int(manifest["steps"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{ckpt.manifest_path.name} is unreadable ({type(exc).__name__})") from None
    if manifest.get("version") != STATE_VERSION:
        raise CheckpointError(f"{ckpt.manifest_path.name} has version {manifest.get('version')}, not {STATE_VERSION}")
    paths = {
        "model": ckpt.model_path,
        "state": ckpt.state_path,
        "tasks": ckpt.tasks_path,
        "replay_buffer": ckpt.replay_buffer_path,
    }
    if not {"model", "state"} <= set(files) <= set(paths):
        raise CheckpointError(f"{ckpt.manifest_path.name} lists {sorted(files)}")
    data = {}
    for role, entry in files.items():
        path = paths[role]
        if not path.is_file():
            raise CheckpointError(f"{path.name} is missing")
        raw = path.read_bytes()
        if len(raw) != entry["size"]:
            raise CheckpointError(f"{path.name} is damaged ({len(raw)} bytes, {entry['size']} were written)")
        if _digest(raw) != entry["sha256"]:
            raise CheckpointError(f"{path.name} is damaged (its content changed after it was written)")
        data[role] = raw
    return {"steps": steps, "logs": logs}, data


def _check_logs(run_dir: Path, logs: Mapping[str, Mapping[str, Any]]) -> None:
    """Check that every CSV log still starts with the bytes the checkpoint recorded; nothing is changed."""
    for name, entry in logs.items():
        path, size = run_dir / name, int(entry["size"])
        if size == 0:
            continue
        have = path.stat().st_size if path.is_file() else 0
        if have < size:
            damage = _describe_damage(path)
            raise CheckpointError(
                f"{name} holds {have} bytes, the checkpoint needs its first {size}" + (f" ({damage})" if damage else "")
            )
        if _prefix_digest(path, size) != entry["sha256"]:
            damage = _describe_damage(path, size)
            raise CheckpointError(f"{name} changed before the checkpoint's step" + (f" ({damage})" if damage else ""))


def _cut_logs(run_dir: Path, logs: Mapping[str, Mapping[str, Any]], steps: int) -> None:
    """Cut every CSV log back to the bytes it had at the checkpoint (checked by :func:`_check_logs`)."""
    for name in STEP_LOGS:
        path = run_dir / name
        if name not in logs:
            if path.is_file():
                _truncate_log(path, steps)
            continue
        size = int(logs[name]["size"])
        if size == 0:
            path.unlink(missing_ok=True)
        elif path.stat().st_size > size:
            with open(path, "r+b") as f:
                f.truncate(size)


def _load(config: Mapping[str, Any], run_dir: Path, env: VecEnv, ckpt: Checkpoint) -> Resumed:
    manifest, data = _verified_files(ckpt)
    _check_logs(run_dir, manifest["logs"])
    try:
        state = pickle.loads(data["state"])
    except Exception as exc:  # a verified file that does not unpickle: written by other code
        raise CheckpointError(f"{ckpt.state_path.name} cannot be read ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise CheckpointError(f"{ckpt.state_path.name} is not a version {STATE_VERSION} state")
    try:
        model = resolve_algorithm(config["algorithm"]).load(
            io.BytesIO(data["model"]), env=env, device=config.get("device", "auto")
        )
    except Exception as exc:  # a verified zip that does not load: written by other code or another version
        message = str(exc).splitlines()[0] if str(exc) else ""
        raise CheckpointError(f"{ckpt.model_path.name} cannot be loaded ({type(exc).__name__}: {message})") from None
    if model.num_timesteps != state["num_timesteps"] or manifest["steps"] != state["num_timesteps"]:
        raise CheckpointError(
            f"{ckpt.model_path.name} is at {model.num_timesteps} steps, {ckpt.state_path.name} at "
            f"{state['num_timesteps']}, the manifest at {manifest['steps']}"
        )
    if isinstance(model, OffPolicyAlgorithm):
        if "replay_buffer" not in data:
            raise CheckpointError(f"{ckpt.name} has no replay buffer")
        try:
            model.load_replay_buffer(io.BytesIO(data["replay_buffer"]))
        except Exception as exc:  # a verified file that does not unpickle into a replay buffer of this version
            path = ckpt.replay_buffer_path.name
            raise CheckpointError(f"{path} cannot be loaded ({type(exc).__name__}: {exc})") from None
    try:
        set_env_state(env, state["env"])
    except CheckpointError:
        raise
    except Exception as exc:  # an env state that does not unpickle into this version's env classes
        raise CheckpointError(f"{ckpt.state_path.name}: the env state cannot be restored ({exc})") from None
    # From here on the checkpoint is usable: the run folder is brought back to it.
    _restore_algorithm(model, state["algorithm"])
    _cut_logs(run_dir, manifest["logs"], model.num_timesteps)
    if "tasks" in data:
        write_atomic(run_dir / TASKS_FILE, data["tasks"])
    else:
        (run_dir / TASKS_FILE).unlink(missing_ok=True)
    init_reference = run_dir / INIT_REFERENCE_FILE
    saved_reference = state.get("init_reference")
    if saved_reference is not None and (not init_reference.is_file() or init_reference.read_bytes() != saved_reference):
        write_atomic(init_reference, saved_reference)
    return Resumed(ckpt, model, state)


def _candidates(run_dir: Path) -> list[Checkpoint]:
    """Checkpoints with a manifest, newest first (the final one first among equals; unreadable manifests last)."""
    found = list_checkpoints(run_dir)
    final = final_checkpoint(run_dir)
    if final.manifest_path.is_file():
        found.append(final)
    return sorted(found, key=lambda c: (c.steps, c is final), reverse=True)


def _refuse_old_checkpoints(run_dir: Path) -> None:
    """Refuse state files without a manifest that an earlier version wrote (without exact resume): starting the run
    again would silently discard them."""
    states = [state for _, _, state in checkpoint_steps(run_dir)] + [final_state_path(run_dir)]
    for path in states:
        if path.is_file() and not path.with_suffix(_MANIFEST_SUFFIX).is_file():
            try:
                old = "version" not in read_state(path)
            except Exception:  # a state file cut by a kill: not a checkpoint
                continue
            if old:
                raise CheckpointError(
                    f"{path} was written by an earlier version without exact resume; overwrite the run to start again"
                )


def load_newest_checkpoint(config: Mapping[str, Any], run_dir: str | Path, env: VecEnv) -> Resumed | None:
    """Put a run back at its newest usable checkpoint (or at the end of a finished run that is extended).

    A checkpoint is usable when its files match its manifest and the CSV logs still start with the bytes it
    recorded; newer unusable ones are skipped with a warning. The logs are then cut back to those bytes, ``tasks.csv``
    and ``plasticity_init.pt`` are restored from the checkpoint, the env gets its complete state back and the
    model its per-run state. Pass the result to :meth:`RunCheckpoint.resume` for the callbacks and the generators.

    :param config: the resolved config of the run (algorithm, device).
    :param run_dir: run folder.
    :param env: the run's new vector env, made like the saved one.
    :return: the resumed run, or None when the run has no checkpoint yet (nothing in the run folder is changed).
    :raises CheckpointError: checkpoints exist but none is usable (each one's problem is named).
    """
    run_dir = Path(run_dir)
    for tmp in (run_dir / CHECKPOINT_DIR).glob(f"*{_TMP_SUFFIX}"):
        tmp.unlink()  # a write cut short by a kill
    candidates = _candidates(run_dir)
    if not candidates:
        _refuse_old_checkpoints(run_dir)
        return None
    problems = []
    for ckpt in candidates:
        try:
            resumed = _load(config, run_dir, env, ckpt)
        except CheckpointError as exc:
            problems.append(f"{ckpt.name}: {exc}")
            continue
        if problems:
            warnings.warn(f"resuming {str(run_dir)!r} from {ckpt.name}, skipping {'; '.join(problems)}", stacklevel=2)
        return resumed
    raise CheckpointError(f"cannot resume {str(run_dir)!r}: {'; '.join(problems)}")
