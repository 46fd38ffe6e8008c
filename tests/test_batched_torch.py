"""The batched env in torch (recipe key ``env_device``): on the CPU it means the same as the numpy path (same task
sequence and switch steps, same observations, rewards, dones and infos for the same actions), its device tensors
are there for code that reads them, its states round-trip (and move between the paths), the harness trains on it,
and bad devices are refused with what is accepted."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import BANDIT, TINY_OVERRIDES, scenario_dict

from syre_rl.experiments.build import make_vec_env
from syre_rl.experiments.config import resolve_config, valid_override_keys
from syre_rl.experiments.run import train
from syre_rl.nonstationary.batched import (
    BATCHED_DYNAMICS,
    BATCHED_FAMILIES,
    BatchedTaskEnv,
    BatchedVecEnv,
    TorchBatchedTaskEnv,
    TorchStep,
    make_batched_env,
    make_batched_vec_env,
)
from syre_rl.nonstationary.batched.torch_dynamics import TORCH_DYNAMICS
from syre_rl.nonstationary.batched.torch_env import resolve_env_device
from syre_rl.nonstationary.batched.torch_families import TORCH_FAMILIES
from syre_rl.nonstationary.scenarios import validate_recipe

N_ENVS = 4
STEPS = 300
# Observations are float32 on both paths and the physics state float64; the tolerance allows float64 rounding of the
# transcendental functions to differ between numpy and torch (on this CPU the two paths agree bit for bit).
OBS_TOL = {"rtol": 1e-6, "atol": 1e-6}
REWARD_TOL = {"rtol": 1e-9, "atol": 1e-9}
CUDA = torch.cuda.is_available()


def recipe(base_env: str, family: dict[str, Any], schedule: dict[str, Any], **env_kwargs: Any) -> dict[str, Any]:
    return scenario_dict(base_env, family, schedule, N_ENVS, **env_kwargs)


CASES = {
    "bandit_relabel": recipe(
        "syre_rl/ContextualBandit-v0",
        {"type": "bandit_relabel"},
        {"type": "fixed_interval", "steps_per_task": 24},
        **BANDIT,
    ),
    "cartpole_physics": recipe(
        "CartPole-v1",
        {"type": "cartpole_physics", "parameters": {"gravity": [4.9, 19.6], "length": [0.25, 1.0]}},
        {"type": "random_walk", "steps_per_task": 40, "scale": 0.2},
    ),
    "cartpole_obs_signs": recipe(
        "CartPole-v1", {"type": "obs_permutation", "sign_flips": True}, {"type": "fixed_interval", "steps_per_task": 60}
    ),
    "cartpole_obs_orthogonal": recipe(
        "CartPole-v1", {"type": "obs_permutation", "orthogonal": True}, {"type": "fixed_interval", "steps_per_task": 60}
    ),
    "cartpole_action_aligned": recipe(
        "CartPole-v1",
        {"type": "action_permutation"},
        {"type": "fixed_interval", "steps_per_task": 60, "align_to_episode": True},
    ),
    "pendulum_physics": recipe(
        "Pendulum-v1",
        {"type": "pendulum_physics", "parameters": {"g": [5.0, 15.0], "l": [0.5, 1.5]}},
        {"type": "fixed_interval", "steps_per_task": 80},
    ),
    "pendulum_action_signs": recipe(
        "Pendulum-v1",
        {"type": "action_permutation", "sign_flips": True},
        {"type": "fixed_interval", "steps_per_task": 100},
    ),
}


def on(scenario: dict[str, Any], env_device: str) -> dict[str, Any]:
    return {**scenario, "env_device": env_device}


def random_actions(env: Any, steps: int, seed: int) -> list[np.ndarray]:
    space = getattr(env, "single_action_space", env.action_space)  # a gymnasium VectorEnv's, or SB3's
    space.seed(seed)
    return [np.array([space.sample() for _ in range(N_ENVS)]) for _ in range(steps)]


def play(env: BatchedVecEnv, actions: list[np.ndarray]) -> list[tuple]:
    return [env.step(a) for a in actions]


def assert_same_steps(a: list[tuple], b: list[tuple]) -> None:
    """Same observations and rewards (to tolerance), and exactly the same dones and infos."""
    for t, ((o1, r1, d1, i1), (o2, r2, d2, i2)) in enumerate(zip(a, b, strict=True)):
        assert o1.dtype == o2.dtype and r1.dtype == r2.dtype, t
        np.testing.assert_allclose(o1, o2, **OBS_TOL, err_msg=f"step {t}")
        np.testing.assert_allclose(r1, r2, **REWARD_TOL, err_msg=f"step {t}")
        np.testing.assert_array_equal(d1, d2, err_msg=f"step {t}")
        for x, y in zip(i1, i2, strict=True):
            assert x.keys() == y.keys(), t
            for key in x.keys() - {"terminal_observation", "episode"}:
                assert x[key] == y[key], (t, key)
            if "episode" in x:
                assert x["episode"]["l"] == y["episode"]["l"]
                assert x["episode"]["r"] == pytest.approx(y["episode"]["r"], rel=1e-9)
                np.testing.assert_allclose(x["terminal_observation"], y["terminal_observation"], **OBS_TOL)


def switch_steps(steps: list[tuple]) -> list[tuple[int, int, int]]:
    """(step, sub-env, task) of every task switch reported in the infos."""
    return [(t, i, info["task_id"]) for t, s in enumerate(steps) for i, info in enumerate(s[3]) if info["task_switch"]]


@pytest.mark.parametrize("name", sorted(CASES))
def test_torch_on_cpu_gives_the_numpy_path_s_steps_tasks_and_switches(name: str) -> None:
    numpy_env = make_batched_vec_env(CASES[name], seed=3)
    torch_env = make_batched_vec_env(on(CASES[name], "cpu"), seed=3)
    assert type(numpy_env.env) is BatchedTaskEnv and isinstance(torch_env.env, TorchBatchedTaskEnv)
    for env in (numpy_env, torch_env):
        env.seed(7)
    np.testing.assert_array_equal(numpy_env.reset(), torch_env.reset())
    actions = random_actions(numpy_env, STEPS, seed=11)
    steps = [play(env, actions) for env in (numpy_env, torch_env)]
    assert_same_steps(*steps)
    assert sum(int(s[2].sum()) for s in steps[0]) >= N_ENVS  # episodes ended and were reset
    switches = [switch_steps(s) for s in steps]
    assert switches[0] == switches[1] and len(switches[0]) > N_ENVS  # task switches after the first tasks
    states = [env.env_method("get_task_state") for env in (numpy_env, torch_env)]
    assert states[0] == states[1]  # same task sequence, clocks and generators
    assert numpy_env.env.clocks.task_sequence(8) == torch_env.env.clocks.task_sequence(8)
    if name == "cartpole_physics":  # per-sub-env parameters read the same on both
        assert numpy_env.get_attr("gravity") == torch_env.get_attr("gravity")


def test_forced_switches_and_task_states_reach_the_device() -> None:
    scenario = CASES["cartpole_obs_orthogonal"]
    envs = [make_batched_vec_env(on(scenario, device), seed=5) for device in ("numpy", "cpu")]
    actions = random_actions(envs[0], 120, seed=6)
    for env in envs:
        env.reset()
        play(env, actions[:20])
        env.env_method("force_switch", indices=[1])
        env.env_method("force_switch", 4, indices=[2])
    assert_same_steps(*(play(env, actions[20:70]) for env in envs))
    # A numpy sub-env's task state, set into the torch env, puts the same task on the device.
    envs[1].env_method("set_task_state", envs[0].env_method("get_task_state", indices=[3])[0], indices=[0])
    envs[0].env_method("set_task_state", envs[0].env_method("get_task_state", indices=[3])[0], indices=[0])
    assert_same_steps(*(play(env, actions[70:]) for env in envs))


def test_step_tensors_keep_the_step_on_the_device() -> None:
    scenario = on(CASES["cartpole_obs_signs"], "cpu")
    by_tensors, by_arrays = (make_batched_env(scenario, seed=1) for _ in range(2))
    assert isinstance(by_tensors, TorchBatchedTaskEnv) and isinstance(by_arrays, TorchBatchedTaskEnv)
    by_tensors.reset_all()
    by_arrays.reset_all()
    for t, actions in enumerate(random_actions(by_arrays, 120, seed=2)):
        step = by_tensors.step_tensors(torch.as_tensor(actions))
        assert isinstance(step, TorchStep)
        for tensor in (step.obs, step.rewards, step.terminated, step.truncated, step.final_obs):
            assert isinstance(tensor, torch.Tensor) and tensor.device == by_tensors.device
        assert step.obs.dtype == torch.float32 and step.rewards.dtype == torch.float64
        assert step.final_obs.shape == (len(step.done), 4)
        assert by_tensors.observations_tensor() is step.obs
        host = by_arrays.advance(actions)
        np.testing.assert_array_equal(step.obs.numpy(), host.obs, err_msg=f"step {t}")
        np.testing.assert_array_equal(step.rewards.numpy(), host.rewards)
        np.testing.assert_array_equal((step.terminated | step.truncated).numpy(), host.terminated | host.truncated)
        np.testing.assert_array_equal(step.done, host.done)
        np.testing.assert_array_equal(step.final_obs.numpy(), host.final_obs)


def test_bandit_step_info_on_the_device_matches_the_arrays() -> None:
    env = make_batched_env(on(CASES["bandit_relabel"], "cpu"), seed=0)
    assert isinstance(env, TorchBatchedTaskEnv)
    numpy_env = make_batched_env(CASES["bandit_relabel"], seed=0)
    for actions in random_actions(env, 50, seed=0):
        step, host = env.step_tensors(actions), numpy_env.advance(actions)
        assert set(step.extras) == set(host.extras) == {"input_index", "correct_action", "is_correct"}
        for key, value in step.extras.items():
            np.testing.assert_array_equal(value.numpy(), host.extras[key])


def test_sb3_face_shapes_dones_terminal_observations_and_seeding() -> None:
    env = make_batched_vec_env(on(CASES["cartpole_action_aligned"], "cpu"), seed=0)
    assert env.num_envs == N_ENVS and repr(env.env).startswith("TorchBatchedTaskEnv(")
    env.seed(5)
    first = env.reset()
    assert first.shape == (N_ENVS, 4) and first.dtype == np.float32
    ended = 0
    for actions in random_actions(env, 100, seed=1):
        obs, rewards, dones, infos = env.step(actions)
        assert obs.shape == (N_ENVS, 4) and rewards.shape == (N_ENVS,) and rewards.dtype == np.float32
        assert dones.dtype == bool and len(infos) == N_ENVS
        for done, info in zip(dones, infos, strict=True):
            assert ("terminal_observation" in info) == done == ("episode" in info)
            if done:
                assert info["terminal_observation"].shape == (4,)
                ended += 1
    assert ended > 0
    env.seed(5)
    np.testing.assert_array_equal(env.reset(), first)  # seeding is reproducible
    env.seed(6)
    assert not np.array_equal(env.reset(), first)
    gym_obs, gym_infos = env.env.reset(seed=0)  # the gymnasium face, numpy too
    assert isinstance(gym_obs, np.ndarray) and gym_infos["task_id"].shape == (N_ENVS,)


def _numpy_only(tree: Any) -> None:
    """A state holds no tensors (numpy arrays and plain values only)."""
    if isinstance(tree, dict):
        for value in tree.values():
            _numpy_only(value)
    elif isinstance(tree, (list, tuple)):
        for value in tree:
            _numpy_only(value)
    else:
        assert not isinstance(tree, torch.Tensor)


@pytest.mark.parametrize("name", ["bandit_relabel", "cartpole_physics", "cartpole_obs_orthogonal", "pendulum_physics"])
def test_state_round_trips_and_a_restored_env_continues_identically(name: str) -> None:
    scenario = on(CASES[name], "cpu")
    env = make_batched_vec_env(scenario, seed=2)
    env.reset()
    actions = random_actions(env, 200, seed=3)
    play(env, actions[:70])
    state = pickle.loads(pickle.dumps(env.get_state()))
    _numpy_only(state)
    rest = play(env, actions[70:])
    restored = make_batched_vec_env(scenario, seed=2)
    restored.set_state(state)
    again = play(restored, actions[70:])
    for (o1, r1, d1, i1), (o2, r2, d2, i2) in zip(rest, again, strict=True):
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(d1, d2)
        assert [i.get("task_id") for i in i1] == [i.get("task_id") for i in i2]


def test_states_move_between_the_numpy_path_and_torch() -> None:
    scenario = CASES["cartpole_obs_signs"]
    actions = random_actions(make_batched_vec_env(scenario, seed=0), 160, seed=4)
    for source, target in (("numpy", "cpu"), ("cpu", "numpy")):
        env = make_batched_vec_env(on(scenario, source), seed=0)
        env.reset()
        play(env, actions[:60])
        state = env.get_state()
        rest = play(env, actions[60:])
        other = make_batched_vec_env(on(scenario, target), seed=0)
        other.set_state(state)
        assert_same_steps(rest, play(other, actions[60:]))


def test_every_batched_dynamics_and_family_has_a_torch_version() -> None:
    assert set(BATCHED_DYNAMICS.values()) == set(TORCH_DYNAMICS)
    assert set(BATCHED_FAMILIES.values()) == set(TORCH_FAMILIES)


def test_bad_env_devices_are_refused_with_what_is_accepted() -> None:
    base = CASES["cartpole_obs_signs"]
    with pytest.raises(ValueError, match=r"unknown env_device 'gpu'; env devices: \['numpy', 'cpu', 'cuda'"):
        validate_recipe(on(base, "gpu"))
    with pytest.raises(ValueError, match="unknown env_device 3"):
        validate_recipe(on(base, 3))
    with pytest.raises(ValueError, match=r"env_device 'cpu' runs the batched env in torch.*backend is 'wrapper'"):
        validate_recipe({**on(base, "cpu"), "backend": "wrapper"})
    acrobot = scenario_dict("Acrobot-v1", {"type": "obs_permutation"}, {"type": "fixed_interval", "steps_per_task": 9})
    with pytest.raises(ValueError, match="backend is 'wrapper'"):  # no batched (so no torch) version of Acrobot
        validate_recipe(on(acrobot, "auto"))
    assert "env_device" not in validate_recipe(base)  # absent stays absent: the numpy path, configs unchanged
    assert validate_recipe(on(base, "numpy"))["env_device"] == "numpy"
    with pytest.raises(ValueError, match="'numpy' is the numpy path"):
        resolve_env_device("numpy")
    with pytest.raises(ValueError, match="builds the numpy path"):
        BatchedTaskEnv.from_recipe(on(base, "cpu"), seed=0)
    with pytest.raises(ValueError, match="unknown env_device 'tpu'"):
        resolve_config("ppo", base, overrides=["scenario.env_device=tpu"], device="cpu")
    assert resolve_env_device("auto") == torch.device("cuda" if CUDA else "cpu")
    assert "scenario.env_device" in valid_override_keys(resolve_config("ppo", "permuted_cartpole", device="cpu"))


@pytest.mark.skipif(CUDA, reason="checks the refusal where CUDA is absent")
def test_cuda_without_cuda_is_refused() -> None:
    for device in ("cuda", "cuda:1"):
        with pytest.raises(ValueError, match=f"env_device '{device}': this machine has no CUDA device"):
            make_batched_env(on(CASES["cartpole_obs_signs"], device), seed=0)


def test_set_scenario_env_device_chooses_the_torch_env_through_the_harness(tmp_path: Path) -> None:
    runs = {}
    for env_device in ("numpy", "cpu"):
        overrides = [*TINY_OVERRIDES, f"scenario.env_device={env_device}"]
        cfg = resolve_config("ppo", "permuted_cartpole", overrides=overrides, total_steps=256, device="cpu")
        assert cfg["scenario_recipe"]["env_device"] == env_device
        env = make_vec_env(cfg)
        assert isinstance(env, BatchedVecEnv) and isinstance(env.env, TorchBatchedTaskEnv) == (env_device == "cpu")
        env.close()
        runs[env_device] = train(cfg, tmp_path / env_device)
    # Same observations and rewards: the agent acts and learns alike, episode for episode.
    episodes = {d: pd.read_csv(run / "episodes.csv") for d, run in runs.items()}
    assert len(episodes["cpu"]) >= 4
    pd.testing.assert_frame_equal(episodes["numpy"], episodes["cpu"])


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_gives_the_numpy_path_s_steps() -> None:
    for name in ("cartpole_obs_orthogonal", "bandit_relabel", "pendulum_physics"):
        numpy_env = make_batched_vec_env(CASES[name], seed=3)
        cuda_env = make_batched_vec_env(on(CASES[name], "cuda"), seed=3)
        assert isinstance(cuda_env.env, TorchBatchedTaskEnv) and cuda_env.env.device.type == "cuda"
        np.testing.assert_array_equal(numpy_env.reset(), cuda_env.reset())
        actions = random_actions(numpy_env, 100, seed=11)
        assert_same_steps(play(numpy_env, actions), play(cuda_env, actions))
        assert cuda_env.env.observations_tensor().device.type == "cuda"
