"""The SB3 and gymnasium faces of the batched envs: shapes, dtypes, dones, terminal observations, episodes, seeding,
task state round trips, bad input, and PPO / SyrePPO training on them."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from helpers import BANDIT, scenario_dict
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from syre_rl.nonstationary.batched import (
    BATCHED_FAMILY_NAMES,
    BatchedTaskEnv,
    BatchedVecEnv,
    make_batched_env,
    make_batched_vec_env,
)
from syre_rl.nonstationary.scenarios import make_env_fns

recipe = scenario_dict


SCENARIOS = {
    "bandit": recipe(
        "syre_rl/ContextualBandit-v0",
        {"type": "bandit_relabel"},
        {"type": "fixed_interval", "steps_per_task": 64},
        **BANDIT,
    ),
    "cartpole_obs": recipe(
        "CartPole-v1", {"type": "obs_permutation", "sign_flips": True}, {"type": "fixed_interval", "steps_per_task": 64}
    ),
    "cartpole_action": recipe(
        "CartPole-v1", {"type": "action_permutation"}, {"type": "fixed_interval", "steps_per_task": 64}
    ),
    "cartpole_physics": recipe(
        "CartPole-v1",
        {"type": "cartpole_physics", "parameters": {"gravity": [5.0, 15.0]}},
        {"type": "random_walk", "steps_per_task": 8, "scale": 0.1},
    ),
    "pendulum_physics": recipe(
        "Pendulum-v1",
        {"type": "pendulum_physics", "parameters": {"m": [0.5, 2.0]}},
        {"type": "fixed_interval", "steps_per_task": 64},
    ),
}
# (observation shape, observation dtype, action sample) per scenario
SHAPES = {
    "bandit": (4,),
    "cartpole_obs": (4,),
    "cartpole_action": (4,),
    "cartpole_physics": (4,),
    "pendulum_physics": (3,),
}


def rollout(env: BatchedVecEnv, steps: int, seed: int) -> tuple[list, list, list]:
    env.action_space.seed(seed)
    obs, rewards, dones = [env.reset()], [], []
    for _ in range(steps):
        o, r, d, _ = env.step(np.array([env.action_space.sample() for _ in range(env.num_envs)]))
        obs.append(o), rewards.append(r), dones.append(d)
    return obs, rewards, dones


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_vec_env_shapes_dtypes_dones_and_terminal_observations(name: str) -> None:
    env = make_batched_vec_env(SCENARIOS[name], seed=0)
    assert isinstance(env, VecEnv) and env.num_envs == 4
    obs = env.reset()
    assert obs.shape == (4, *SHAPES[name]) and obs.dtype == np.float32
    assert env.observation_space.shape == SHAPES[name]
    assert all(env.observation_space.contains(o) for o in obs) or name == "pendulum_physics"
    env.action_space.seed(0)
    episodes = truncations = 0
    for _ in range(210 if name == "pendulum_physics" else 60):  # Pendulum's time limit: 200 steps
        obs, rewards, dones, infos = env.step(np.array([env.action_space.sample() for _ in range(4)]))
        assert obs.shape == (4, *SHAPES[name]) and obs.dtype == np.float32
        assert rewards.shape == (4,) and rewards.dtype == np.float32
        assert dones.shape == (4,) and dones.dtype == bool
        assert len(infos) == 4
        for done, info in zip(dones, infos, strict=True):
            assert {"task_id", "task", "task_switch"} <= set(info)
            assert ("terminal_observation" in info) == done == ("episode" in info)
            if done:
                episodes += 1
                truncations += info["TimeLimit.truncated"]
                assert info["terminal_observation"].shape == SHAPES[name]
                assert info["episode"]["l"] >= 1 and set(info["episode"]) == {"r", "l", "t"}
    assert episodes > 0
    if name == "pendulum_physics":
        assert episodes == truncations == 4
    if name == "bandit":
        assert episodes == 240  # one-step episodes


def test_bandit_rewards_follow_the_labels_of_the_active_task() -> None:
    env = make_batched_vec_env(SCENARIOS["bandit"], seed=2)
    env.reset()
    for _ in range(40):
        labels = env.env.dynamics.params["labels"][np.arange(4), env.env.dynamics.index]
        _, rewards, _, infos = env.step(labels)  # always the correct action
        assert rewards.tolist() == [1.0] * 4 and all(info["is_correct"] for info in infos)
        np.testing.assert_array_equal([info["correct_action"] for info in infos], labels)
    assert env.get_attr("task_id") == [2] * 4  # 160 steps, a switch every 64


@pytest.mark.parametrize("name", ["bandit", "cartpole_physics"])
def test_seeding_is_reproducible(name: str) -> None:
    a, b, c = (make_batched_vec_env(SCENARIOS[name], seed=s) for s in (1, 1, 2))
    for env in (a, b, c):
        env.seed(7)
    ra, rb = rollout(a, 50, 0), rollout(b, 50, 0)
    for x, y in zip(ra, rb, strict=True):
        np.testing.assert_array_equal(np.array(x), np.array(y))
    assert a.env_method("task_sequence", 3) != c.env_method("task_sequence", 3)  # task seed 1 vs 2
    d = make_batched_vec_env(SCENARIOS[name], seed=1)
    d.seed(8)
    assert not np.array_equal(np.array(rollout(d, 50, 0)[0]), np.array(ra[0]))  # reset seeds 7 vs 8


def test_task_state_round_trip_resumes_the_same_sequence() -> None:
    """A checkpoint's task states, restored into a new env (as the checkpoint code does), continue the same tasks."""
    scenario = SCENARIOS["cartpole_physics"]
    env = make_batched_vec_env(scenario, seed=4)
    rollout(env, 30, 0)
    states = env.env_method("get_task_state")
    resumed = make_batched_vec_env(scenario, seed=4)
    for index, state in enumerate(states):
        resumed.env_method("set_task_state", state, indices=[index])
    assert resumed.env_method("get_task_state") == states
    assert resumed.get_attr("gravity") == env.get_attr("gravity")
    _, _, _, infos_a = env.step(np.zeros(4, dtype=np.int64))
    _, _, _, infos_b = resumed.step(np.zeros(4, dtype=np.int64))
    assert [i["task"] for i in infos_a] == [i["task"] for i in infos_b]
    rollout(env, 20, 1), rollout(resumed, 20, 1)
    # Episodes differ (each sub-env's own generator is not part of the task state); the task sequence does not.
    keys = ("task_index", "global_steps", "task_start", "tasks", "task_rng")
    assert [{k: s[k] for k in keys} for s in env.env_method("get_task_state")] == [
        {k: s[k] for k in keys} for s in resumed.env_method("get_task_state")
    ]
    with pytest.raises(ValueError, match="seed"):
        make_batched_vec_env(scenario, seed=5).env_method("set_task_state", states[0], indices=[0])


def test_task_states_move_between_the_paths() -> None:
    scenario = SCENARIOS["cartpole_obs"]
    wrapped = DummyVecEnv(make_env_fns(scenario, seed=3, n_envs=4))
    wrapped.reset()
    for _ in range(40):
        wrapped.step(np.ones(4, dtype=np.int64))
    batched = make_batched_vec_env(scenario, seed=3)
    for index, state in enumerate(wrapped.env_method("get_task_state")):
        batched.env_method("set_task_state", state, indices=[index])
    assert batched.env_method("get_task_state") == wrapped.env_method("get_task_state")
    assert batched.get_attr("task_id") == wrapped.get_attr("task_id") == [2] * 4


def test_force_switch_and_sub_env_attributes() -> None:
    env = make_batched_vec_env(SCENARIOS["cartpole_physics"], seed=0)
    env.reset()
    env.env_method("force_switch", 5, indices=[1])
    assert env.get_attr("task_id") == [0, 5, 0, 0]
    _, _, _, infos = env.step(np.zeros(4, dtype=np.int64))
    assert [i["task_switch"] for i in infos] == [True, True, True, True]  # the first step reports task 0's start too
    assert infos[1]["task"] == env.env_method("task_sequence", 6)[1][5]
    assert env.get_attr("gravity", indices=1) == [infos[1]["task"]["gravity"]]
    with pytest.raises(AttributeError, match="cannot set"):
        env.set_attr("gravity", 1.0)
    with pytest.raises(AttributeError):
        env.get_attr("no_such_attribute")
    assert env.env_is_wrapped(object) == [False] * 4
    assert env.reset_infos[0]["task_id"] == 0


def test_vec_normalize_wraps_it() -> None:
    env = VecNormalize(make_batched_vec_env(SCENARIOS["cartpole_obs"], seed=0))
    env.reset()
    obs, rewards, _, _ = env.step(np.zeros(4, dtype=np.int64))
    assert obs.shape == (4, 4) and rewards.shape == (4,) and env.get_attr("task_id") == [0] * 4


def test_bad_input_fails_with_what_exists() -> None:
    with pytest.raises(ValueError, match="n_envs"):
        make_batched_vec_env(SCENARIOS["bandit"], seed=0, n_envs=0)
    acrobot = recipe("Acrobot-v1", {"type": "obs_permutation"}, {"type": "fixed_interval", "steps_per_task": 64})
    with pytest.raises(ValueError, match=r"No batched version of AcrobotEnv; batched base envs: .*CartPoleEnv"):
        make_batched_env(acrobot, seed=0)
    subclass_family = recipe(
        "CartPole-v1", {"type": "obs_permutation"}, {"type": "fixed_interval", "steps_per_task": 64}
    )
    from syre_rl.nonstationary.families import ObservationPermutation

    class Shifted(ObservationPermutation):
        def observation(self, obs: Any) -> Any:
            return super().observation(obs) + 1

    with pytest.raises(ValueError, match=r"has no batched version; families with one: \['action_permutation'"):
        BatchedTaskEnv("CartPole-v1", Shifted(), subclass_family["schedule"], n_envs=2)
    assert BATCHED_FAMILY_NAMES == [
        "action_permutation",
        "bandit_relabel",
        "cartpole_physics",
        "obs_permutation",
        "pendulum_physics",
    ]
    with pytest.raises(ValueError, match="reset options"):
        env = make_batched_vec_env(SCENARIOS["bandit"], seed=0)
        env.set_options({"low": -0.1})
        env.reset()


def test_gymnasium_vector_face() -> None:
    env = make_batched_env(SCENARIOS["cartpole_obs"], seed=0)
    assert env.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    obs, infos = env.reset(seed=3)
    assert obs.shape == (4, 4) and infos["task_id"].tolist() == [0] * 4
    assert env.observation_space.shape == (4, 4) and env.action_space.shape == (4,)
    ended_once = False
    for _ in range(60):
        obs, _, terminated, truncated, infos = env.step(np.zeros(4, dtype=np.int64))  # always push left
        ended = terminated | truncated
        np.testing.assert_array_equal(infos["_final_obs"], ended)
        if ended.any():
            ended_once = True
            assert np.all(infos["episode"]["l"][ended] >= 1) and np.all(infos["episode"]["r"][ended] >= 1)
            np.testing.assert_array_equal(infos["final_info"]["_task_id"], ended)
            assert not np.array_equal(infos["final_obs"][ended], obs[ended])
    assert ended_once


@pytest.mark.parametrize("name", ["bandit", "cartpole_obs", "pendulum_physics"])
def test_ppo_learns_on_it(name: str) -> None:
    env = make_batched_vec_env(SCENARIOS[name], seed=0)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=64, n_epochs=2, seed=0, device="cpu")
    steps = 1024 if name == "pendulum_physics" else 256  # Pendulum's episodes last 200 steps
    model.learn(steps)
    assert model.num_timesteps == steps and len(model.ep_info_buffer) > 0  # SB3 sees the episodes (ep_rew_mean)
    assert all(np.isfinite(ep["r"]) and ep["l"] >= 1 for ep in model.ep_info_buffer)


def test_bandit_ppo_beats_chance() -> None:
    """Known answer: one task of 16 inputs and 3 actions is learnt well above chance (1/3) in 2k steps."""
    scenario = recipe(
        "syre_rl/ContextualBandit-v0", {"type": "bandit_relabel"}, {"type": "manual"}, n_envs=16, **BANDIT
    )
    env = make_batched_vec_env(scenario, seed=0)
    model = PPO("MlpPolicy", env, n_steps=16, batch_size=64, n_epochs=4, learning_rate=3e-3, seed=0, device="cpu")
    model.learn(3072)
    assert np.mean([ep["r"] for ep in model.ep_info_buffer]) > 0.6


def test_syre_ppo_learns_on_it_and_the_plasticity_logger_records_episodes(tmp_path: Any) -> None:
    from syre_rl.plasticity import PlasticityCallback
    from syre_rl.ppo import SyrePPO

    env = make_batched_vec_env(SCENARIOS["bandit"], seed=0)
    model = SyrePPO("MlpPolicy", env, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(384, callback=PlasticityCallback(log_dir=tmp_path))
    episodes = (tmp_path / "episodes.csv").read_text().splitlines()
    assert len(episodes) - 1 == 384  # one-step episodes, all recorded
    assert {row.split(",")[1] for row in episodes[1:]} == {"0", "1", "2", "3", "4", "5"}


# Cases of the complete-state round trip: the scenarios above, the orthogonal mixing, and a schedule that draws from
# each sub-env's timing generator; steps before the state is taken (the bandit's run past its first block of words
# drawn ahead, Pendulum's past the time limit after the state).
STATE_CASES = {
    **SCENARIOS,
    "cartpole_orthogonal_memoryless": recipe(
        "CartPole-v1", {"type": "obs_permutation", "orthogonal": True}, {"type": "memoryless", "switch_prob": 0.02}
    ),
}
STEPS_BEFORE = {"bandit": 1000, "pendulum_physics": 120}


def play(env: BatchedVecEnv, actions: list[np.ndarray]) -> list[tuple]:
    """Observations, rewards, dones and infos (without the episode clock ``t``) of a sequence of steps."""
    out = []
    for action in actions:
        obs, rewards, dones, infos = env.step(action)
        kept = []
        for info in infos:
            info = dict(info)
            if "episode" in info:
                info["episode"] = {k: v for k, v in info["episode"].items() if k != "t"}
            kept.append(info)
        out.append((obs.copy(), rewards.copy(), dones.copy(), kept))
    return out


def assert_same_steps(a: list[tuple], b: list[tuple]) -> None:
    for (obs_a, r_a, d_a, infos_a), (obs_b, r_b, d_b, infos_b) in zip(a, b, strict=True):
        np.testing.assert_array_equal(obs_a, obs_b)
        np.testing.assert_array_equal(r_a, r_b)
        np.testing.assert_array_equal(d_a, d_b)
        for info_a, info_b in zip(infos_a, infos_b, strict=True):
            assert set(info_a) == set(info_b)
            for key in info_a:
                if key == "terminal_observation":
                    np.testing.assert_array_equal(info_a[key], info_b[key])
                else:
                    assert info_a[key] == info_b[key], key


@pytest.mark.parametrize("name", sorted(STATE_CASES))
def test_a_vec_env_restored_from_get_state_continues_identically(name: str) -> None:
    scenario = STATE_CASES[name]
    env = make_batched_vec_env(scenario, seed=3)
    env.seed(5)
    env.reset()
    env.action_space.seed(0)
    before = [np.array([env.action_space.sample() for _ in range(4)]) for _ in range(STEPS_BEFORE.get(name, 37))]
    after = [np.array([env.action_space.sample() for _ in range(4)]) for _ in range(150)]
    play(env, before)
    state = env.get_state()
    frozen = pickle.dumps(state)
    restored = make_batched_vec_env(scenario, seed=3)
    restored.set_state(pickle.loads(frozen))
    # Task states alone (what a wrapper-path checkpoint holds) restart the episodes and the sub-envs' generators.
    tasks_only = make_batched_vec_env(scenario, seed=3)
    for index, task_state in enumerate(env.env_method("get_task_state")):
        tasks_only.env_method("set_task_state", task_state, indices=[index])
    tasks_only.reset()

    expected = play(env, after)
    assert_same_steps(expected, play(restored, after))
    assert restored.env_method("get_task_state") == env.env_method("get_task_state")
    assert pickle.dumps(state) == frozen  # the state holds copies: stepping the env did not change it
    with pytest.raises(AssertionError):
        assert_same_steps(expected, play(tasks_only, after))
    if name == "pendulum_physics":
        assert sum(d.sum() for _, _, d, _ in expected) == 4  # the episodes in progress end at the time limit


def test_get_state_keeps_the_episode_clock_and_set_state_refuses_another_env() -> None:
    env = make_batched_vec_env(SCENARIOS["cartpole_obs"], seed=1)
    env.reset()
    env.env._t_start -= 100.0  # as if made 100 s ago
    restored = make_batched_vec_env(SCENARIOS["cartpole_obs"], seed=1)
    restored.set_state(env.get_state())
    clocks = []
    for _ in range(40):
        infos = restored.step(np.zeros(4, dtype=np.int64))[3]
        clocks += [info["episode"]["t"] for info in infos if "episode" in info]
    assert clocks and min(clocks) >= 100.0
    state = env.get_state()
    with pytest.raises(ValueError, match="seed"):
        make_batched_vec_env(SCENARIOS["cartpole_obs"], seed=2).set_state(state)
    with pytest.raises(ValueError, match="n_envs"):
        make_batched_vec_env(SCENARIOS["cartpole_obs"], seed=1, n_envs=2).set_state(state)
    with pytest.raises(ValueError, match="family"):
        make_batched_vec_env(SCENARIOS["cartpole_action"], seed=1).set_state(state)
    with pytest.raises(ValueError, match=r"expected a dict from BatchedVecEnv\.get_state"):
        env.set_state(env.env_method("get_task_state")[0])


def test_it_is_an_sb3_vec_env_without_registration() -> None:
    assert issubclass(BatchedVecEnv, VecEnv) and BatchedVecEnv in VecEnv.__subclasses__()
    env = make_batched_vec_env(SCENARIOS["bandit"], seed=0)
    assert env.reset_infos == [{}] * 4  # as SB3's VecEnv before the first reset
    env.reset()
    assert [info["task_id"] for info in env.reset_infos] == [0] * 4
