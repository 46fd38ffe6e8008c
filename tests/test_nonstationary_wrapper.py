"""TaskSwitchingWrapper: seeded sequences, exact switch timing, info keys, checkpoint and resume, forced switches."""

import pickle

import gymnasium as gym
import numpy as np
import pytest

from syre_rl.nonstationary import ContextualBanditEnv, TaskSwitchingWrapper
from syre_rl.nonstationary.schedules import Clock, FixedInterval

BANDIT_FAMILY = {"type": "bandit_relabel"}


def bandit(schedule, seed=0, n_envs=1, **kwargs):
    return TaskSwitchingWrapper(
        ContextualBanditEnv(n_inputs=8, dim=4, n_actions=3), BANDIT_FAMILY, schedule, seed, n_envs, **kwargs
    )


def cartpole(schedule, seed=0, n_envs=1, family=None, env_seed=0):
    env = gym.make("CartPole-v1")
    env.reset(seed=env_seed)
    env.action_space.seed(env_seed)
    return TaskSwitchingWrapper(env, family or {"type": "obs_permutation"}, schedule, seed, n_envs)


def rollout(env, n_steps, actions=None):
    """Step ``env`` with random actions; return per-step (task_id, task_switch, done, global_steps_before)."""
    records = []
    env.reset()
    for t in range(n_steps):
        before = env.global_steps
        action = env.action_space.sample() if actions is None else actions[t]
        _, _, terminated, truncated, info = env.step(action)
        records.append((info["task_id"], info["task_switch"], terminated or truncated, before))
        if terminated or truncated:
            env.reset()
    return records


def test_same_seed_same_sequence_whatever_the_agent_does():
    a = cartpole({"type": "fixed_interval", "steps_per_task": 30}, seed=3, env_seed=1)
    b = cartpole({"type": "fixed_interval", "steps_per_task": 30}, seed=3, env_seed=2)
    ra, rb = rollout(a, 200), rollout(b, 200)
    assert [r[0] for r in ra] == [r[0] for r in rb]
    assert a.task_sequence(10) == b.task_sequence(10)
    assert a.task_sequence(4) != cartpole({"type": "fixed_interval", "steps_per_task": 30}, seed=4).task_sequence(4)
    # an episode-aligned schedule changes when switches happen, never which tasks come
    c = cartpole({"type": "fixed_interval", "steps_per_task": 30, "align_to_episode": True}, seed=3, env_seed=5)
    rollout(c, 200)
    assert c.task_sequence(10) == a.task_sequence(10)


@pytest.mark.parametrize("n_envs", [1, 3, 4])
def test_exact_switch_timing_in_global_steps(n_envs):
    steps_per_task = 10
    env = bandit({"type": "fixed_interval", "steps_per_task": steps_per_task}, n_envs=n_envs)
    records = rollout(env, 40)
    for k in range(1, 40 * n_envs // steps_per_task):
        first = -(-k * steps_per_task // n_envs)  # ceil: first own step whose global count reaches the boundary
        assert records[first][0] == k and records[first][1], (k, first)
        assert records[first - 1][0] == k - 1
    assert sum(r[1] for r in records) == 40 * n_envs // steps_per_task  # task 0's first step included


def test_episode_aligned_switch_waits_for_episode_end():
    steps_per_task = 50
    env = cartpole({"type": "fixed_interval", "steps_per_task": steps_per_task, "align_to_episode": True}, env_seed=7)
    records = rollout(env, 600)
    # the rule, independently: at each reset, switch if a boundary was passed since the task began
    expected, task, start = [], 0, 0
    for t, (_, _, _, before) in enumerate(records):
        if t > 0 and records[t - 1][2] and before >= (start // steps_per_task + 1) * steps_per_task:
            task, start = task + 1, before
        expected.append(task)
    assert [r[0] for r in records] == expected
    assert task >= 5
    switch_steps = [t for t in range(1, len(records)) if records[t][0] != records[t - 1][0]]
    assert all(records[t - 1][2] for t in switch_steps)  # never mid-episode
    assert all(records[t][1] for t in switch_steps)
    assert any(records[t][3] % steps_per_task != 0 for t in switch_steps)  # it did wait past the boundary


def test_info_keys_on_reset_and_step():
    env = cartpole({"type": "fixed_interval", "steps_per_task": 5})
    _, info = env.reset()
    assert info["task_id"] == 0 and info["task_switch"] is True and isinstance(info["task"]["seed"], int)
    _, _, _, _, info = env.step(0)
    assert info["task_switch"] is True  # first step of task 0
    _, _, _, _, info = env.step(0)
    assert info["task_switch"] is False and info["task_id"] == 0


def test_cyclic_revisits_in_order():
    env = bandit({"type": "cyclic", "steps_per_task": 5, "n_distinct": 3})
    seq = env.task_sequence(7)
    assert seq[3] == seq[0] and seq[4] == seq[1] and seq[6] == seq[0]
    assert seq[0] != seq[1] != seq[2]


def test_random_walk_and_trend_stay_in_range_and_move():
    family = {"type": "cartpole_physics", "parameters": {"gravity": [5.0, 20.0], "length": 0.5}, "log_uniform": True}
    walk = cartpole({"type": "random_walk", "steps_per_task": 5, "scale": 0.05}, family=family)
    g = np.array([t["gravity"] for t in walk.task_sequence(200)])
    assert np.all((g >= 5.0) & (g <= 20.0)) and np.all([t["length"] == 0.5 for t in walk.task_sequence(3)])
    steps = np.abs(np.diff(np.log(g))) / np.log(4.0)
    assert 0.01 < steps.mean() < 0.1  # unit-scale steps of about 0.05 * sqrt(2/pi)
    trend = cartpole({"type": "trend", "steps_per_task": 5, "rate": 0.1}, family=family)
    u = np.log(np.array([t["gravity"] for t in trend.task_sequence(30)]) / 5.0) / np.log(4.0)
    d = np.abs(np.diff(u))
    # moves 0.1 per task except where it bounces off an end
    assert np.sum(np.isclose(d, 0.1)) >= 20 and np.all(d <= 0.1 + 1e-9) and np.all((u >= -1e-9) & (u <= 1 + 1e-9))


def test_every_k_episodes_and_memoryless():
    env = bandit({"type": "every_k_episodes", "episodes_per_task": 3})
    records = rollout(env, 12)  # bandit episodes are one step long
    assert [r[0] for r in records] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    env = bandit({"type": "memoryless", "switch_prob": 0.25}, seed=1)
    ids = [r[0] for r in rollout(env, 2000)]
    n_switches = ids[-1]
    assert 400 < n_switches < 600  # Binomial(1999, 0.25)
    assert np.all(np.diff(ids) >= 0)


def test_manual_schedule_and_force_switch():
    env = bandit({"type": "manual"})
    env.reset()
    assert [env.step(0)[4]["task_id"] for _ in range(20)] == [0] * 20
    env.force_switch()
    info = env.step(0)[4]
    assert info["task_id"] == 1 and info["task_switch"]
    env.force_switch(5)
    assert env.task_id == 5 and env.current_task == env.task_sequence(6)[5]
    np.testing.assert_array_equal(env.unwrapped.labels, env.task_sequence(6)[5]["labels"])


def test_state_roundtrip_resumes_identically():
    schedule = {"type": "memoryless", "switch_prob": 0.3}
    a = cartpole(schedule, seed=2, family={"type": "obs_permutation", "sign_flips": True})
    rollout(a, 150)
    state = pickle.loads(pickle.dumps(a.get_task_state()))
    b = cartpole(schedule, seed=2, family={"type": "obs_permutation", "sign_flips": True})
    b.set_task_state(state)
    assert b.task_id == a.task_id and b.global_steps == a.global_steps and b.current_task == a.current_task
    # the same env trajectory afterwards gives the same task ids and observations
    a.unwrapped.np_random, b.unwrapped.np_random = np.random.default_rng(0), np.random.default_rng(0)
    actions = [i % 2 for i in range(300)]
    assert rollout(a, 300, actions) == rollout(b, 300, actions)
    with pytest.raises(ValueError, match="seed"):
        cartpole(schedule, seed=9).set_task_state(state)


def test_replay_exported_sequence():
    a = bandit({"type": "fixed_interval", "steps_per_task": 4}, seed=11)
    tasks = a.task_sequence(3)
    b = bandit({"type": "fixed_interval", "steps_per_task": 4}, seed=99, tasks=tasks)
    assert b.task_sequence(6) == tasks + tasks  # replayed cyclically
    b.reset()
    for _ in range(5):
        b.step(0)
    np.testing.assert_array_equal(b.unwrapped.labels, tasks[1]["labels"])
    with pytest.raises(ValueError, match="labels"):
        bandit({"type": "manual"}, tasks=[{"seed": 1, "labels": [0, 1]}])


def test_fixed_interval_due_uses_absolute_boundaries():
    s = FixedInterval(100)
    rng = np.random.default_rng(0)
    assert not s.due(Clock(global_steps=99), False, rng)
    assert s.due(Clock(global_steps=100), False, rng)
    assert not s.due(Clock(global_steps=150, task_start=120), False, rng)  # forced switch at 120: boundary stays 200
    assert s.due(Clock(global_steps=200, task_start=120), False, rng)
    aligned = FixedInterval(100, align_to_episode=True)
    assert not aligned.due(Clock(global_steps=130), False, rng) and aligned.due(Clock(global_steps=130), True, rng)


def test_bad_wrapper_arguments():
    with pytest.raises(ValueError, match="n_envs"):
        bandit({"type": "manual"}, n_envs=0)
    with pytest.raises(ValueError, match="seed"):
        bandit({"type": "manual"}, seed=-1)
    with pytest.raises(ValueError, match=r"Unknown schedule type 'weekly'.*fixed_interval"):
        bandit({"type": "weekly"})
    with pytest.raises(ValueError, match=r"Unknown argument\(s\) \['steps'\].*steps_per_task"):
        bandit({"type": "fixed_interval", "steps": 10})
    with pytest.raises(ValueError, match=r"Missing argument\(s\) \['steps_per_task'\]"):
        bandit({"type": "fixed_interval"})
    with pytest.raises(ValueError, match="steps_per_task must be a positive int"):
        bandit({"type": "fixed_interval", "steps_per_task": 0})
    with pytest.raises(ValueError, match=r"steps_per_task \(3\) must be >= n_envs \(4\)"):
        bandit({"type": "fixed_interval", "steps_per_task": 3}, n_envs=4)
    with pytest.raises(ValueError, match="switch_prob"):
        bandit({"type": "memoryless", "switch_prob": 1.5})
    with pytest.raises(ValueError, match="random_walk needs a family with continuous parameters"):
        bandit({"type": "random_walk", "steps_per_task": 10, "scale": 0.1})
    with pytest.raises(ValueError, match=r"Unknown task family type 'shuffle'.*obs_permutation"):
        TaskSwitchingWrapper(gym.make("CartPole-v1"), {"type": "shuffle"}, {"type": "manual"})
