"""The MuJoCo Warp backend (Warp's CPU device): Ant-v5 semantics against gymnasium's env, per-world physics
parameters, task switches, the SB3 VecEnv face and exact resume. Tests that need MuJoCo Warp are skipped without it
(the extra ``gpu``)."""

from __future__ import annotations

import sys
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import pytest

from syre_rl.experiments.scenarios import load_scenario
from syre_rl.nonstationary.families import MujocoPhysicsFamily
from syre_rl.nonstationary.scenarios import validate_recipe
from syre_rl.nonstationary.warp.support import require_mujoco_warp, warp_support

# Observations and rewards agree to this (absolute) while no foot touches the floor: MuJoCo Warp computes in float32.
TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def warp_env() -> Any:
    """The WarpTaskEnv class (skips the test without MuJoCo Warp)."""
    pytest.importorskip("mujoco_warp")
    from syre_rl.nonstationary.warp.env import WarpTaskEnv

    return WarpTaskEnv


def make(warp_env: Any, tasks: list[dict], n_envs: int, seed: int = 0, **kwargs: Any) -> Any:
    names = sorted(tasks[0])
    family = {"type": "mujoco_physics", "parameters": {name: [1e-6, 100.0] for name in names}}
    return warp_env("Ant-v5", family, {"type": "manual"}, n_envs, seed=seed, tasks=tasks, device="cpu", **kwargs)


def gym_ant(task: dict, seed: int) -> gym.Env:
    """gymnasium's Ant-v5 with ``task`` applied as the wrapper path applies it, reset with ``seed``."""
    env = gym.make("Ant-v5")
    family = MujocoPhysicsFamily({name: [1e-6, 100.0] for name in task})
    family.validate(env)
    family.apply(env, task)
    env.reset(seed=seed)
    return env


def rollout(env: Any, refs: list[gym.Env], actions: np.ndarray) -> None:
    """Step the Warp env and the gymnasium envs (world ``k`` against ``refs[k]``) with the same actions; assert that
    observations and rewards agree to :data:`TOLERANCE` at every step."""
    n = env.num_envs
    for k, ref in enumerate(refs):
        assert np.abs(env._obs[k] - ref.unwrapped._get_obs()).max() < 1e-6  # same initial state
    for step, action in enumerate(actions):
        obs, rewards, terminated = env.dynamics.step(np.repeat(action[None], n, axis=0))
        for k, ref in enumerate(refs):
            ref_obs, ref_reward, ref_terminated, _, _ = ref.step(action)
            np.testing.assert_allclose(obs[k], ref_obs, atol=TOLERANCE, rtol=0, err_msg=f"world {k} step {step}")
            assert abs(rewards[k] - ref_reward) < TOLERANCE, (k, step, rewards[k], ref_reward)
            assert bool(terminated[k]) == ref_terminated


@pytest.mark.parametrize("friction", [None, 0.3])
def test_agrees_with_gymnasium_over_the_first_steps(warp_env: Any, friction: float | None) -> None:
    """Same reset state, same actions: observations (qpos, qvel, clipped cfrc_ext) and rewards agree for the first
    two steps (reset included), for the default and a changed friction (two worlds of one env); later steps drift
    apart (see the xfail test below)."""
    tasks = [{"friction": 1.0}, {"friction": 1.0 if friction is None else friction}]
    env = make(warp_env, tasks, 2, reset_seeds=[5, 6])
    env.sub_envs[1].force_switch(1)
    refs = [gym_ant(tasks[0], seed=5), gym_ant(tasks[1], seed=6)]
    actions = np.random.default_rng(1).uniform(-1, 1, (2, 8)).astype(np.float32)
    rollout(env, refs, actions)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="MuJoCo Warp 4.0's physics drifts from MuJoCo C's within ~5-10 Ant steps: its pyramidal friction cone is "
    "built on another contact frame (plane x/y axes instead of MuJoCo C's), and velocities differ by ~0.03 after "
    "~5 steps even without floor contact",
)
def test_agrees_with_gymnasium_over_50_steps(warp_env: Any) -> None:
    env = make(warp_env, [{"friction": 1.0}], 1, reset_seeds=[5])
    actions = np.random.default_rng(1).uniform(-1, 1, (50, 8)).astype(np.float32)
    rollout(env, [gym_ant({"friction": 1.0}, seed=5)], actions)


@pytest.mark.slow
def test_gravity_is_per_world(warp_env: Any) -> None:
    env = make(warp_env, [{"gravity": 1e-6}, {"gravity": 9.81}], 2, reset_seeds=[11, 11])
    env.sub_envs[1].force_switch(1)
    for _ in range(10):
        env.dynamics.step(np.zeros((2, 8), dtype=np.float32))
    qpos = env.dynamics.data.qpos.numpy()
    assert qpos[1, 2] < qpos[0, 2] - 0.1  # the world with gravity fell


@pytest.mark.slow
def test_per_world_friction_makes_rollouts_diverge(warp_env: Any) -> None:
    env = make(warp_env, [{"friction": 1.0}, {"friction": 0.05}], 2, reset_seeds=[3, 3])
    env.sub_envs[1].force_switch(1)
    assert np.array_equal(env._obs[0], env._obs[1])  # same initial state
    for action in np.random.default_rng(3).uniform(-1, 1, (40, 8)).astype(np.float32):
        obs, _, _ = env.dynamics.step(np.repeat(action[None], 2, axis=0))
    device = env.dynamics.device_params()["geom_friction"]
    assert np.allclose(device[0][:, 0], 1.0) and np.allclose(device[1][:, 0], 0.05)
    assert np.abs(obs[0] - obs[1]).max() > 0.1


def test_a_task_switch_changes_only_the_scheduled_worlds(warp_env: Any) -> None:
    env = make(warp_env, [{"friction": 1.0}, {"friction": 0.1}], 3)
    before = env.dynamics.device_params()
    env.sub_envs[1].force_switch()
    env.step(np.zeros((3, 8), dtype=np.float32))  # parameters reach the device before the step
    after = env.dynamics.device_params()
    assert env.task_ids.tolist() == [0, 1, 0]
    for world in (0, 2):
        assert np.array_equal(after["geom_friction"][world], before["geom_friction"][world])
    assert np.allclose(after["geom_friction"][1][:, 0], 0.1)
    assert np.array_equal(after["body_mass"], before["body_mass"])


def vec_recipe(**env_kwargs: Any) -> dict:
    recipe = load_scenario("slippery_ant_gpu")
    recipe["schedule"] = {"type": "fixed_interval", "steps_per_task": 9, "align_to_episode": True}
    recipe["total_steps"], recipe["env_kwargs"] = 1000, env_kwargs
    return recipe


@pytest.mark.slow
def test_vec_env_shapes_dones_and_terminal_observations(warp_env: Any) -> None:
    from syre_rl.nonstationary.warp.vec_env import make_warp_vec_env

    vec = make_warp_vec_env(vec_recipe(max_episode_steps=4), seed=0, n_envs=3, device="cpu")
    obs = vec.reset()
    assert obs.shape == (3, 105) and vec.action_space.shape == (8,)
    ends = 0
    for step in range(1, 9):
        obs, rewards, dones, infos = vec.step(np.zeros((3, 8), dtype=np.float32))
        assert obs.shape == (3, 105) and rewards.dtype == np.float32 and dones.dtype == bool
        assert dones.tolist() == [step % 4 == 0] * 3
        for done, info in zip(dones, infos, strict=True):
            assert {"task_id", "task", "task_switch"} <= set(info)
            assert ("terminal_observation" in info) == done == ("episode" in info)
            if done:
                ends += 1
                assert info["terminal_observation"].shape == (105,) and info["TimeLimit.truncated"]
                assert not np.array_equal(info["terminal_observation"], obs[0])  # the new episode's first obs
    assert ends == 6
    assert [info["task_id"] for info in infos] == [1, 1, 1]  # switched at the episode end after 9 total steps


@pytest.mark.slow
def test_checkpoint_resume_continues_identically(warp_env: Any) -> None:
    from syre_rl.nonstationary.warp.vec_env import make_warp_vec_env

    recipe = vec_recipe(max_episode_steps=3)
    actions = np.random.default_rng(2).uniform(-1, 1, (10, 2, 8)).astype(np.float32)
    vec = make_warp_vec_env(recipe, seed=4, n_envs=2, device="cpu")
    vec.reset()
    for a in actions[:4]:
        vec.step(a)
    state = vec.get_state()
    tail = [vec.step(a) for a in actions[4:]]
    resumed = make_warp_vec_env(recipe, seed=4, n_envs=2, device="cpu")
    resumed.set_state(state)
    for a, (obs, rewards, dones, infos) in zip(actions[4:], tail, strict=True):
        obs2, rewards2, dones2, infos2 = resumed.step(a)
        np.testing.assert_array_equal(obs2, obs)
        np.testing.assert_array_equal(rewards2, rewards)
        np.testing.assert_array_equal(dones2, dones)
        assert [i["task_id"] for i in infos2] == [i["task_id"] for i in infos]
        for i, j in zip(infos, infos2, strict=True):
            if "terminal_observation" in i:
                np.testing.assert_array_equal(i["terminal_observation"], j["terminal_observation"])


def test_torch_views_share_memory(warp_env: Any) -> None:
    torch = pytest.importorskip("torch")
    env = make(warp_env, [{"friction": 1.0}], 2)
    env.step(np.zeros((2, 8), dtype=np.float32))
    views = env.dynamics.torch_views()
    assert isinstance(views["obs"], torch.Tensor) and tuple(views["obs"].shape) == (2, 105)
    assert views["obs"].data_ptr() == env.dynamics._obs.ptr  # no copy
    np.testing.assert_allclose(views["obs"].numpy(), env._obs, atol=1e-6)


def test_the_backend_is_checked_without_mujoco_warp(monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = load_scenario("slippery_ant_gpu")
    assert recipe["backend"] == "warp" and recipe["n_envs"] == 4096
    assert recipe["schedule"] == {"type": "fixed_interval", "steps_per_task": 2_000_000, "align_to_episode": True}
    assert warp_support("Ant-v5", MujocoPhysicsFamily({"friction": [0.02, 2.0]})) is None
    bad = {**recipe, "base_env": "CartPole-v1", "family": {"type": "obs_permutation"}}
    with pytest.raises(ValueError, match="backend 'warp' is not available: base env 'CartPole-v1'"):
        validate_recipe(bad)
    monkeypatch.setitem(sys.modules, "mujoco_warp", None)
    with pytest.raises(ImportError, match=r"pip install \"syre-rl\[gpu\]\""):
        require_mujoco_warp()


def test_gymnasium_reference_has_no_contacts_at_reset() -> None:
    """The reset observation's contact forces are zero in gymnasium's Ant (mj_resetData, then mj_forward without
    rne_postconstraint), which the Warp reset reproduces."""
    env = gym.make("Ant-v5")
    obs, _ = env.reset(seed=0)
    assert np.all(obs[27:] == 0.0) and isinstance(env.unwrapped.data, mujoco.MjData)
