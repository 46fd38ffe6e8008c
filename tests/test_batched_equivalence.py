"""The batched path means the same as the wrapper path: same task sequence, same switch steps (per sub-env with
episode alignment), same observations, rewards, dones, infos and task states for the same seed and actions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import BANDIT, scenario_dict
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from syre_rl.nonstationary.batched import make_batched_vec_env
from syre_rl.nonstationary.scenarios import env_seed, make_env_fns

N_ENVS = 4


def recipe(base_env: str, family: dict[str, Any], schedule: dict[str, Any], **env_kwargs: Any) -> dict[str, Any]:
    return scenario_dict(base_env, family, schedule, N_ENVS, **env_kwargs)


CASES = {
    "bandit_relabel": recipe(
        "syre_rl/ContextualBandit-v0",
        {"type": "bandit_relabel"},
        {"type": "fixed_interval", "steps_per_task": 24},
        **BANDIT,
    ),
    "bandit_every_k_episodes": recipe(
        "syre_rl/ContextualBandit-v0",
        {"type": "bandit_relabel"},
        {"type": "every_k_episodes", "episodes_per_task": 5},
        **BANDIT,
    ),
    "cartpole_obs_signs": recipe(
        "CartPole-v1", {"type": "obs_permutation", "sign_flips": True}, {"type": "fixed_interval", "steps_per_task": 60}
    ),
    "cartpole_obs_orthogonal_cyclic": recipe(
        "CartPole-v1",
        {"type": "obs_permutation", "orthogonal": True},
        {"type": "cyclic", "steps_per_task": 40, "n_distinct": 2},
    ),
    "cartpole_action_aligned": recipe(
        "CartPole-v1",
        {"type": "action_permutation"},
        {"type": "fixed_interval", "steps_per_task": 60, "align_to_episode": True},
    ),
    "cartpole_physics_random_walk": recipe(
        "CartPole-v1",
        {
            "type": "cartpole_physics",
            "parameters": {"gravity": [4.9, 19.6], "length": [0.25, 1.0]},
            "log_uniform": True,
        },
        {"type": "random_walk", "steps_per_task": 16, "scale": 0.2},
    ),
    "cartpole_physics_random_walk_aligned": recipe(
        "CartPole-v1",
        {"type": "cartpole_physics", "parameters": {"masspole": [0.05, 0.5], "force_mag": [5.0, 20.0]}},
        {"type": "random_walk", "steps_per_task": 40, "scale": 0.1, "align_to_episode": True},
    ),
    "cartpole_obs_memoryless": recipe(
        "CartPole-v1", {"type": "obs_permutation"}, {"type": "memoryless", "switch_prob": 0.3}
    ),
    "pendulum_physics_trend": recipe(
        "Pendulum-v1",
        {"type": "pendulum_physics", "parameters": {"g": [5.0, 15.0], "l": [0.5, 1.5]}},
        {"type": "trend", "steps_per_task": 80, "rate": 0.1},
    ),
    "pendulum_action_signs": recipe(
        "Pendulum-v1",
        {"type": "action_permutation", "sign_flips": True},
        {"type": "fixed_interval", "steps_per_task": 100},
    ),
}


def wrapper_path(scenario: dict[str, Any], seed: int) -> DummyVecEnv:
    """The vector env syre_rl builds today: Monitor(TaskSwitchingWrapper(...)) sub-envs in a DummyVecEnv."""
    return DummyVecEnv([lambda f=f: Monitor(f()) for f in make_env_fns(scenario, seed, N_ENVS)])


def random_actions(env: Any, steps: int, seed: int) -> list[np.ndarray]:
    space = env.action_space
    space.seed(seed)
    return [np.array([space.sample() for _ in range(N_ENVS)]) for _ in range(steps)]


def assert_same_step(batched: tuple, wrapped: tuple, t: int) -> None:
    (o1, r1, d1, i1), (o2, r2, d2, i2) = batched, wrapped
    np.testing.assert_allclose(o1, o2, rtol=1e-5, atol=1e-5, err_msg=f"step {t}")
    np.testing.assert_allclose(r1, r2, rtol=1e-5, atol=1e-6, err_msg=f"step {t}")
    assert r1.dtype == r2.dtype and o1.dtype == o2.dtype
    np.testing.assert_array_equal(d1, d2, err_msg=f"step {t}")
    for rank, (a, b) in enumerate(zip(i1, i2, strict=True)):
        for key in ("task_id", "task", "task_switch"):
            assert a[key] == b[key], (t, rank, key, a[key], b[key])
        assert ("episode" in a) == ("episode" in b), (t, rank)
        if "episode" in b:
            assert a["episode"]["l"] == b["episode"]["l"]
            assert a["episode"]["r"] == pytest.approx(b["episode"]["r"], rel=1e-5)
            assert a["TimeLimit.truncated"] == b["TimeLimit.truncated"]
            np.testing.assert_allclose(a["terminal_observation"], b["terminal_observation"], rtol=1e-5, atol=1e-5)


def assert_same_task_states(batched: list[dict], wrapped: list[dict]) -> None:
    for a, b in zip(batched, wrapped, strict=True):
        # A lagging wrapper (episode alignment) has drawn fewer tasks of the same sequence.
        n = len(b["tasks"])
        assert a["tasks"][:n] == b["tasks"]
        rest = {"tasks", "task_rng"}
        assert {k: v for k, v in a.items() if k not in rest} == {k: v for k, v in b.items() if k not in rest}
        if len(a["tasks"]) == n:
            assert a["task_rng"] == b["task_rng"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_steps_infos_and_task_states_as_the_wrapper_path(name: str) -> None:
    scenario = CASES[name]
    batched, wrapped = make_batched_vec_env(scenario, seed=3), wrapper_path(scenario, seed=3)
    np.testing.assert_allclose(batched.reset(), wrapped.reset(), rtol=1e-6)
    switches = 0
    for t, actions in enumerate(random_actions(wrapped, 250, seed=1)):
        out = batched.step(actions)
        assert_same_step(out, wrapped.step(actions), t)
        switches += sum(info["task_switch"] for info in out[3])
    assert switches > N_ENVS  # tasks did switch after the first
    assert_same_task_states(batched.env_method("get_task_state"), wrapped.env_method("get_task_state"))
    assert batched.env_method("task_sequence", 3) == wrapped.env_method("task_sequence", 3)


def test_aligned_sub_envs_switch_at_their_own_episode_ends() -> None:
    scenario = CASES["cartpole_action_aligned"]
    batched, wrapped = make_batched_vec_env(scenario, seed=0), wrapper_path(scenario, seed=0)
    batched.reset(), wrapped.reset()
    mixed = 0
    for t, actions in enumerate(random_actions(wrapped, 120, seed=2)):
        out = batched.step(actions)
        assert_same_step(out, wrapped.step(actions), t)
        mixed += len({info["task_id"] for info in out[3]}) > 1
    assert mixed > 0  # some steps had sub-envs on different tasks


def test_seed_gives_the_wrapper_paths_reset_seeds() -> None:
    scenario = CASES["cartpole_obs_signs"]
    batched, wrapped = make_batched_vec_env(scenario, seed=0), wrapper_path(scenario, seed=0)
    assert batched.seed(11) == [env_seed(11, rank) for rank in range(N_ENVS)]
    wrapped._seeds = list(batched._seeds)  # what syre_rl's ScenarioVecEnv.seed(11) sets
    np.testing.assert_allclose(batched.reset(), wrapped.reset(), rtol=1e-6)
    for t, actions in enumerate(random_actions(wrapped, 30, seed=0)):
        assert_same_step(batched.step(actions), wrapped.step(actions), t)


def test_cartpole_from_the_same_initial_state_follows_the_same_trajectory() -> None:
    """Deterministic dynamics: the same start and actions give the same states, to float rounding, under physics
    that changes every few steps."""
    scenario = CASES["cartpole_physics_random_walk"]
    batched, wrapped = make_batched_vec_env(scenario, seed=5), wrapper_path(scenario, seed=5)
    batched.reset(), wrapped.reset()
    start = np.array([[0.01, -0.02, 0.03, 0.0], [0.0, 0.1, -0.04, 0.05], [-0.03, 0.0, 0.0, -0.1], [0.02] * 4])
    batched.env.dynamics.state[:] = start.T
    for rank, env in enumerate(wrapped.envs):
        env.unwrapped.state = start[rank].copy()
    actions = np.array([[0, 1, 1, 0], [1, 1, 0, 0]] * 10)
    for t, a in enumerate(actions):
        assert_same_step(batched.step(a), wrapped.step(a), t)
    states = np.array([env.unwrapped.state for env in wrapped.envs])
    np.testing.assert_allclose(batched.env.dynamics.state.T, states, rtol=1e-9, atol=1e-12)


def test_replayed_tasks_match() -> None:
    from syre_rl.nonstationary import TaskSwitchingWrapper
    from syre_rl.nonstationary.batched import BatchedTaskEnv

    scenario = CASES["cartpole_obs_signs"]
    tasks = wrapper_path(scenario, seed=9).env_method("task_sequence", 2)[0]
    env = BatchedTaskEnv("CartPole-v1", scenario["family"], scenario["schedule"], N_ENVS, seed=1, tasks=tasks)
    assert env.sub_envs[0].task_sequence(3) == [tasks[0], tasks[1], tasks[0]]
    assert isinstance(TaskSwitchingWrapper, type)
