"""BatchedTaskEnv: ``n_envs`` task-switching sub-envs in one gymnasium ``VectorEnv``, stepped with numpy.

It means the same as ``n_envs`` copies of ``TaskSwitchingWrapper(gym.make(env_id), family, schedule, seed, n_envs)``
whose base envs are seeded ``env_seed(seed, rank)``, as :func:`~syre_rl.nonstationary.scenarios.make_scenario_env`
builds them: the same task sequence, the same switch steps (per sub-env with episode alignment), the same initial
states from the same reset seeds, and the same observations and rewards for the same actions (to float rounding).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from syre_rl.nonstationary.batched.dynamics import make_dynamics
from syre_rl.nonstationary.batched.families import make_batched_family
from syre_rl.nonstationary.batched.tasks import TaskClocks
from syre_rl.nonstationary.families import Task, TaskFamily
from syre_rl.nonstationary.registration import register_envs
from syre_rl.nonstationary.scenarios import env_seed, validate_recipe
from syre_rl.nonstationary.schedules import Schedule
from syre_rl.nonstationary.wrapper import build_task_machinery
from syre_rl.validation import check_int

#: version of the dicts of :meth:`BatchedTaskEnv.get_state`
BATCHED_STATE_VERSION = 1


@dataclass
class BatchedStep:
    """One vector step, as arrays over the sub-envs (the SB3 face builds its per-sub-env infos from this).

    :param obs: observations after the step, new episodes' first observations for the sub-envs that were reset.
    :param rewards: float64 rewards.
    :param terminated: episode ended by the env.
    :param truncated: episode ended by the time limit (and not terminated).
    :param task_ids: task of each sub-env during the step.
    :param task_switch: the step was the first of its sub-env's task.
    :param done: indices of the sub-envs whose episode ended (and which were reset).
    :param final_obs: last observations of those episodes, one row per entry of ``done``.
    :param episode_returns: returns of those episodes (float64).
    :param episode_lengths: lengths of those episodes.
    :param episode_time: seconds since the env was made, when the step ended (as SB3's Monitor's ``t``).
    :param extras: the base env's own step info, per sub-env.
    """

    obs: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    task_ids: np.ndarray
    task_switch: np.ndarray
    done: np.ndarray
    final_obs: np.ndarray
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    episode_time: float
    extras: dict[str, np.ndarray] = field(default_factory=dict)


class SubEnv:
    """One sub-env of a :class:`BatchedTaskEnv`, with the wrapper's task API (``get_attr`` and ``env_method`` of the
    SB3 face reach these objects). Per-sub-env physics parameters (e.g. ``gravity``) read as attributes.

    :param env: the batched env.
    :param index: the sub-env's index.
    """

    def __init__(self, env: BatchedTaskEnv, index: int) -> None:
        object.__setattr__(self, "_env", env)
        object.__setattr__(self, "index", index)

    @property
    def task_id(self) -> int:
        """Index of the sub-env's active task."""
        return int(self._env.clocks.task_index[self.index])

    @property
    def current_task(self) -> dict[str, Any]:
        """A copy of the active task dict."""
        return copy.deepcopy(self._env.clocks.task(self.task_id))

    @property
    def global_steps(self) -> int:
        """Total env steps so far (vector steps x n_envs)."""
        return self._env.clocks.global_steps

    @property
    def seed(self) -> int:
        """Seed of the task sequence."""
        return self._env.clocks.seed

    @property
    def n_envs(self) -> int:
        return self._env.num_envs

    @property
    def family(self) -> TaskFamily:
        return self._env.family

    @property
    def schedule(self) -> Schedule:
        return self._env.schedule

    @property
    def observation_space(self) -> gym.Space:
        return self._env.single_observation_space

    @property
    def action_space(self) -> gym.Space:
        return self._env.single_action_space

    @property
    def render_mode(self) -> None:
        return None

    def task_sequence(self, n: int) -> list[dict[str, Any]]:
        """The first ``n`` tasks of the sequence (copies)."""
        return self._env.clocks.task_sequence(n)

    def force_switch(self, task_index: int | None = None) -> None:
        """Switch this sub-env now to ``task_index`` (default: its next task)."""
        self._env.clocks.force_switch(self.index, task_index)

    def get_task_state(self) -> dict[str, Any]:
        """The wrapper-format task state of this sub-env."""
        return self._env.clocks.get_state(self.index)

    def set_task_state(self, state: Mapping[str, Any]) -> None:
        """Restore a state from :meth:`get_task_state` (of either path)."""
        self._env.clocks.set_state(self.index, state)

    def __getattr__(self, name: str) -> Any:
        params = self._env.dynamics.params
        if name in params:
            value = params[name][self.index]
            return value.copy() if isinstance(value, np.ndarray) else float(value)
        raise AttributeError(f"sub-env of {type(self._env).__name__} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot set {name!r} on a sub-env of a batched env (tasks set its parameters)")


_Env = TypeVar("_Env", bound="BatchedTaskEnv")


class BatchedTaskEnv(VectorEnv):
    """``n_envs`` sub-envs of one stationary env made non-stationary by a task family and a schedule, stepped as
    arrays. A gymnasium ``VectorEnv`` with same-step autoreset: a sub-env whose episode ends is reset within the
    same ``step``; ``infos["final_obs"]`` (a float array, rows valid where ``infos["_final_obs"]``) and
    ``infos["final_info"]`` hold the ended step, the other keys the new episode's first step, as in gymnasium's
    ``SyncVectorEnv``. ``infos["episode"]`` holds ``r``, ``l``, ``t`` of ended episodes (as gymnasium's
    ``RecordEpisodeStatistics``). For SB3 use :class:`~syre_rl.nonstationary.batched.vec_env.BatchedVecEnv`.

    Batched base envs: :data:`~syre_rl.nonstationary.batched.dynamics.BATCHED_DYNAMICS`; families:
    :data:`~syre_rl.nonstationary.batched.families.BATCHED_FAMILIES`; every schedule works (the built-in ones with
    array operations).

    :param env_id: gymnasium id of the stationary env (its time limit applies).
    :param family: a task family or its spec dict, as for ``TaskSwitchingWrapper`` (copied).
    :param schedule: a schedule or its spec dict.
    :param n_envs: number of sub-envs (>= 1); schedules count ``n_envs`` steps per vector step.
    :param seed: seed of the task sequence (default 0); also the default reset seeds.
    :param env_kwargs: keyword arguments of ``gym.make(env_id)`` (default none).
    :param reset_seeds: seed of each sub-env's own generator (default ``env_seed(seed, rank)``, as
        :func:`~syre_rl.nonstationary.scenarios.make_scenario_env`); the first episodes are drawn at construction
        (as there), so a ``reset()`` without seeds starts each sub-env's second episode.
    :param tasks: replay these task dicts instead of drawing tasks (as the wrapper's ``tasks``).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(
        self,
        env_id: str,
        family: TaskFamily | Mapping[str, Any],
        schedule: Schedule | Mapping[str, Any],
        n_envs: int,
        seed: int = 0,
        env_kwargs: Mapping[str, Any] | None = None,
        reset_seeds: Sequence[int] | None = None,
        tasks: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        n_envs = check_int("BatchedTaskEnv: n_envs", n_envs, low=1)
        seed = check_int("BatchedTaskEnv: seed", seed, low=0)
        self.family, self.schedule = build_task_machinery(family, schedule, n_envs, "BatchedTaskEnv")
        register_envs()
        template = gym.make(env_id, **dict(env_kwargs or {}))
        try:
            self.family.validate(template)
            self.schedule.validate_family(self.family)
            self._build_engine(template, n_envs)
            self.single_observation_space = self.family.observation_space(template.observation_space)
            self.single_action_space = self.family.action_space(template.action_space)
            self.max_episode_steps: int | None = template.spec.max_episode_steps if template.spec else None
        finally:
            template.close()
        self.num_envs = n_envs
        self.env_id = env_id
        self.observation_space = batch_space(self.single_observation_space, n_envs)
        self.action_space = batch_space(self.single_action_space, n_envs)
        self.render_mode = None
        self.clocks = TaskClocks(self.family, self.schedule, seed, n_envs, self._activate, tasks)
        self.sub_envs = [SubEnv(self, i) for i in range(n_envs)]
        self._all = np.arange(n_envs)
        self._elapsed = np.zeros(n_envs, dtype=np.int64)
        self._returns = np.zeros(n_envs, dtype=np.float64)
        self._lengths = np.zeros(n_envs, dtype=np.int64)
        self._t_start = time.time()
        if reset_seeds is None:
            reset_seeds = [env_seed(seed, rank) for rank in range(n_envs)]
        if len(reset_seeds) != n_envs:
            raise ValueError(f"BatchedTaskEnv: reset_seeds needs {n_envs} seeds, got {len(reset_seeds)}")
        self._rngs: list[np.random.Generator] = [seeding.np_random(int(s))[0] for s in reset_seeds]
        self._obs = self.dynamics.reset_envs(self._all, self._rngs)

    @classmethod
    def from_recipe(
        cls: type[_Env], recipe: Mapping[str, Any], seed: int, n_envs: int | None = None, **options: Any
    ) -> _Env:
        """The env of a scenario recipe, equivalent to ``n_envs`` envs of
        :func:`~syre_rl.nonstationary.scenarios.make_scenario_env` with the same ``seed`` (every subclass builds
        itself from a recipe here; ``options`` are its own constructor arguments, e.g. ``device``).

        :param recipe: a recipe dict, checked with :func:`~syre_rl.nonstationary.scenarios.validate_recipe`.
        :param seed: run seed (non-negative int).
        :param n_envs: number of sub-envs; defaults to the recipe's ``n_envs``.
        :raises ValueError: bad recipe, ``n_envs < 1``, a base env or family without a version of this class, or
            a recipe naming a torch ``env_device`` given to the numpy class (which builds the numpy path only; see
            :func:`syre_rl.nonstationary.batched.make_batched_env`).
        """
        recipe = validate_recipe(recipe)
        device = recipe.get("env_device", "numpy")
        if cls is BatchedTaskEnv and device != "numpy":
            raise ValueError(
                f"BatchedTaskEnv builds the numpy path; a recipe with env_device {device!r} is built by "
                "syre_rl.nonstationary.batched.make_batched_env"
            )
        n = recipe["n_envs"] if n_envs is None else n_envs
        return cls(
            recipe["base_env"],
            recipe["family"],
            recipe["schedule"],
            n,
            seed=seed,
            env_kwargs=recipe["env_kwargs"],
            **options,
        )

    # ---------------------------------------------------------------------------------------------------------------
    # the engine (shared by the gymnasium and SB3 faces)
    # ---------------------------------------------------------------------------------------------------------------
    def _build_engine(self, template: gym.Env, n_envs: int) -> None:
        """Make the batched dynamics and family of ``template`` (a subclass adds what it steps with here)."""
        self.dynamics = make_dynamics(template, n_envs)
        self.batched_family = make_batched_family(self.family, self.dynamics)

    def _activate(self, indices: np.ndarray, task: Task) -> None:
        """Put ``task`` into sub-envs ``indices`` (the task clocks call this at every switch)."""
        self.batched_family.activate(indices, task)

    def _observe(self, obs: np.ndarray, indices: np.ndarray | None = None) -> np.ndarray:
        if self.batched_family.transforms_observation:
            return self.batched_family.observation(obs, indices)
        return obs

    def reset_envs(self, indices: np.ndarray, seeds: Sequence[int | None] | None = None) -> np.ndarray:
        """Reset sub-envs ``indices`` (a wrapper's ``reset``: pending or due switches, then a new episode) and
        return their first observations; ``seeds[j]`` (if not None) reseeds sub-env ``indices[j]``."""
        self._start_episodes(indices, seeds)
        return self._observe(self.dynamics.reset_envs(indices, self._rngs), indices)

    def _start_episodes(self, indices: np.ndarray, seeds: Sequence[int | None] | None) -> None:
        """The bookkeeping of :meth:`reset_envs`: switches due at the resets, reseeding, episode counters."""
        self.clocks.at_reset(indices)
        if seeds is not None:
            for i, s in zip(indices.tolist(), seeds, strict=True):
                if s is not None:
                    self._rngs[i] = seeding.np_random(int(s))[0]
        self._elapsed[indices] = 0
        self._returns[indices] = 0.0
        self._lengths[indices] = 0

    def reset_all(self, seeds: Sequence[int | None] | None = None) -> np.ndarray:
        """Reset every sub-env; return the observations."""
        self._obs = self.reset_envs(self._all, seeds)
        return self._obs

    def advance(self, actions: np.ndarray) -> BatchedStep:
        """Step every sub-env once and reset those whose episode ended."""
        clocks = self.clocks
        clocks.before_step()
        if self.batched_family.transforms_action:
            actions = self.batched_family.action(actions)
        obs, rewards, terminated = self.dynamics.step(actions)
        extras = self.dynamics.step_info()
        self._elapsed += 1
        if self.max_episode_steps is not None:
            truncated = (self._elapsed >= self.max_episode_steps) & ~terminated
            ended = terminated | truncated
        else:
            truncated, ended = np.zeros(self.num_envs, dtype=bool), terminated
        clocks.after_step(ended)
        obs = self._observe(obs)
        task_ids = clocks.task_index.copy()
        task_switch = clocks.report_switch.copy()
        clocks.report_switch[:] = False
        self._returns += rewards
        self._lengths += 1
        done = np.flatnonzero(ended)
        final_obs = obs[done]
        returns, lengths = self._returns[done], self._lengths[done]
        if len(done):
            obs[done] = self.reset_envs(done)
        self._obs = obs
        return BatchedStep(
            obs,
            rewards,
            terminated,
            truncated,
            task_ids,
            task_switch,
            done,
            final_obs,
            returns,
            lengths,
            time.time() - self._t_start,
            extras,
        )

    def task_description(self, task_index: int) -> dict[str, Any]:
        """``info["task"]`` of task ``task_index`` (a shared dict: copy it before changing it)."""
        return self.clocks.description(task_index)

    @property
    def task_ids(self) -> np.ndarray:
        """Active task of every sub-env (a copy)."""
        return self.clocks.task_index.copy()

    # ---------------------------------------------------------------------------------------------------------------
    # complete state (exact resume)
    # ---------------------------------------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """The complete state, as a picklable dict of copies: every sub-env's generator, physics state and task
        parameters, the episodes in progress and their counters (steps, return), the task clocks and sequence, and
        the episode clock (seconds since the env was made). :meth:`set_state` of an env made with the same
        arguments continues from it exactly: same observations, rewards, dones and infos for the same actions."""
        return {
            "kind": "BatchedTaskEnv",
            "version": BATCHED_STATE_VERSION,
            "env_id": self.env_id,
            "num_envs": self.num_envs,
            "family": type(self.family).__name__,
            "schedule": type(self.schedule).__name__,
            "rngs": [copy.deepcopy(rng.bit_generator.state) for rng in self._rngs],
            "dynamics": self.dynamics.snapshot(),
            "family_state": self.batched_family.snapshot(),
            "clocks": self.clocks.snapshot(),
            "obs": self._obs.copy(),
            "elapsed": self._elapsed.copy(),
            "returns": self._returns.copy(),
            "lengths": self._lengths.copy(),
            "episode_clock": time.time() - self._t_start,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`get_state` of an env made with the same arguments (base env, family, schedule,
        ``n_envs`` and seed).

        :raises ValueError: a state of another version, base env, family, schedule, size or seed.
        """
        if not isinstance(state, Mapping) or (state.get("kind"), state.get("version")) != (
            "BatchedTaskEnv",
            BATCHED_STATE_VERSION,
        ):
            raise ValueError(
                f"set_state: expected a dict from BatchedTaskEnv.get_state (version {BATCHED_STATE_VERSION})"
            )
        ours = (self.env_id, self.num_envs, type(self.family).__name__, type(self.schedule).__name__)
        theirs = (state["env_id"], state["num_envs"], state["family"], state["schedule"])
        if theirs != ours:
            raise ValueError(f"set_state: state of (env, n_envs, family, schedule) = {theirs}, this env is {ours}")
        self.clocks.restore(state["clocks"])
        # The generators are restored in place: the dynamics keep references to them.
        for rng, rng_state in zip(self._rngs, state["rngs"], strict=True):
            rng.bit_generator.state = copy.deepcopy(rng_state)
        self.dynamics.restore(state["dynamics"], self._rngs)
        self.batched_family.restore(state["family_state"])
        self._obs = np.array(state["obs"], copy=True)
        self._elapsed = np.array(state["elapsed"], dtype=np.int64, copy=True)
        self._returns = np.array(state["returns"], dtype=np.float64, copy=True)
        self._lengths = np.array(state["lengths"], dtype=np.int64, copy=True)
        self._t_start = time.time() - float(state["episode_clock"])

    # ---------------------------------------------------------------------------------------------------------------
    # gymnasium VectorEnv API
    # ---------------------------------------------------------------------------------------------------------------
    def _task_infos(self, task_ids: np.ndarray, task_switch: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
        keys = list(self.task_description(int(task_ids[0])))
        params = {k: np.array([self.task_description(t)[k] for t in task_ids.tolist()]) for k in keys}
        params.update({f"_{k}": mask for k in keys})
        return {
            "task_id": task_ids,
            "_task_id": mask,
            "task_switch": task_switch,
            "_task_switch": mask,
            "task": params,
            "_task": mask,
        }

    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every sub-env. ``seed``: an int gives sub-env ``i`` the seed ``seed + i`` (gymnasium's
        convention), a list gives one seed per sub-env. ``options`` are not supported."""
        if options:
            raise ValueError(f"BatchedTaskEnv: reset options are not supported, got {options}")
        seeds: Sequence[int | None] | None
        if seed is None or isinstance(seed, Sequence):
            seeds = seed
        else:
            seeds = [int(seed) + i for i in range(self.num_envs)]
        obs = self.reset_all(seeds)
        mask = np.ones(self.num_envs, dtype=bool)
        return obs.copy(), self._task_infos(self.clocks.task_index.copy(), self.clocks.report_switch.copy(), mask)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        out = self.advance(np.asarray(actions))
        ended = np.zeros(self.num_envs, dtype=bool)
        ended[out.done] = True
        running = ~ended
        step_infos = self._task_infos(out.task_ids, out.task_switch, ended)
        switch = np.where(ended, self.clocks.report_switch, out.task_switch)
        infos = self._task_infos(self.clocks.task_index.copy(), switch, np.ones(self.num_envs, dtype=bool))
        for key, values in out.extras.items():
            step_infos[key], step_infos[f"_{key}"] = values, ended
            infos[key], infos[f"_{key}"] = values, running
        final_obs = np.zeros_like(out.obs)
        final_obs[out.done] = out.final_obs
        returns = np.zeros(self.num_envs)
        lengths = np.zeros(self.num_envs, dtype=np.int64)
        returns[out.done], lengths[out.done] = out.episode_returns, out.episode_lengths
        infos.update(
            {
                "final_obs": final_obs,
                "_final_obs": ended,
                "final_info": step_infos,
                "_final_info": ended,
                "episode": {"r": returns, "l": lengths, "t": np.where(ended, out.episode_time, 0.0)},
                "_episode": ended,
            }
        )
        return out.obs.copy(), out.rewards, out.terminated, out.truncated, infos

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release."""
