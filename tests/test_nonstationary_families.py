"""Task families: the parameters really change in the simulator, transforms invert, bad input fails at construction."""

import itertools

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from syre_rl.nonstationary import ContextualBanditEnv, EnvSequence, ObservationPermutation, TaskSwitchingWrapper

MANUAL = {"type": "manual"}


def wrap(env_id, family, seed=0, **make_kwargs):
    return TaskSwitchingWrapper(gym.make(env_id, **make_kwargs), family, MANUAL, seed=seed)


def fixed_rollout(env, n_steps, action):
    env.reset(seed=0)
    observations = []
    for _ in range(n_steps):
        obs, _, terminated, truncated, _ = env.step(action)
        observations.append(obs)
        if terminated or truncated:
            break
    return np.array(observations)


# ------------------------------------------------------------------------------------------------------------------
# MuJoCo
# ------------------------------------------------------------------------------------------------------------------
def test_mujoco_friction_is_set_on_every_geom_and_changes_the_rollout():
    family = {"type": "mujoco_physics", "parameters": {"friction": [0.02, 2.0]}, "log_uniform": True}
    env = wrap("HalfCheetah-v5", family, seed=1)
    model = env.unwrapped.model
    default = np.array(env.family.defaults["geom_friction"])
    f0 = env.current_task["friction"]
    np.testing.assert_allclose(model.geom_friction[:, 0], f0)
    np.testing.assert_allclose(model.geom_friction[:, 1:], default[:, 1:])  # torsional and rolling untouched
    action = np.full(env.action_space.shape, 0.5, dtype=np.float32)
    before = fixed_rollout(env, 60, action)
    env.force_switch(0)
    np.testing.assert_array_equal(fixed_rollout(env, 60, action), before)  # same task, same rollout
    tasks = env.task_sequence(10)
    k = max(range(10), key=lambda i: abs(np.log(tasks[i]["friction"] / f0)))
    env.force_switch(k)
    np.testing.assert_allclose(model.geom_friction[:, 0], tasks[k]["friction"])
    after = fixed_rollout(env, 60, action)
    assert np.abs(after - before).max() > 1e-3
    frictions = np.array([t["friction"] for t in env.task_sequence(200)])
    assert frictions.min() >= 0.02 and frictions.max() <= 2.0
    assert 0.4 < np.mean(frictions < 0.2) < 0.6  # log-uniform: 0.2 is the geometric midpoint of [0.02, 2]


def test_mujoco_mass_gravity_and_friction_scale():
    family = {"type": "mujoco_physics", "parameters": {"mass_scale": 2.0, "gravity": 3.0, "friction_scale": 0.5}}
    env = wrap("HalfCheetah-v5", family)
    d = env.family.defaults
    model = env.unwrapped.model
    np.testing.assert_allclose(model.body_mass, 2.0 * d["body_mass"])
    np.testing.assert_allclose(model.body_inertia, 2.0 * d["body_inertia"])
    np.testing.assert_allclose(model.opt.gravity, [0.0, 0.0, -3.0])
    np.testing.assert_allclose(model.geom_friction, 0.5 * d["geom_friction"])
    # lower gravity: the body falls more slowly from its initial pose with zero action
    env.reset(seed=0)
    z_low = [env.step(np.zeros(6, dtype=np.float32))[0][0] for _ in range(10)]
    plain = gym.make("HalfCheetah-v5")
    plain.reset(seed=0)
    z_std = [plain.step(np.zeros(6, dtype=np.float32))[0][0] for _ in range(10)]
    assert not np.allclose(z_low, z_std)


# ------------------------------------------------------------------------------------------------------------------
# classic control
# ------------------------------------------------------------------------------------------------------------------
def test_cartpole_physics_recomputes_derived_quantities_and_changes_dynamics():
    family = {"type": "cartpole_physics", "parameters": {"masspole": [0.2, 1.0], "length": [0.25, 1.0]}}
    env = wrap("CartPole-v1", family, seed=4)
    base, task = env.unwrapped, env.current_task
    assert base.masspole == task["masspole"] and base.length == task["length"] and base.gravity == 9.8
    assert base.total_mass == pytest.approx(task["masspole"] + 1.0)
    assert base.polemass_length == pytest.approx(task["masspole"] * task["length"])
    before = fixed_rollout(env, 5, 1)
    env.force_switch(1)
    assert base.polemass_length == pytest.approx(env.current_task["masspole"] * env.current_task["length"])
    assert np.abs(fixed_rollout(env, 5, 1) - before).max() > 1e-4


@pytest.mark.parametrize(
    ("env_id", "family_type", "parameters", "attributes"),
    [
        ("Pendulum-v1", "pendulum_physics", {"g": 3.0, "m": 2.0, "l": 0.5}, {"g": 3.0, "m": 2.0, "l": 0.5}),
        (
            "Acrobot-v1",
            "acrobot_physics",
            {"link_length_1": 0.6, "link_mass_2": 1.5},
            {"LINK_LENGTH_1": 0.6, "LINK_COM_POS_1": 0.3, "LINK_MASS_2": 1.5, "LINK_LENGTH_2": 1.0},
        ),
        ("MountainCar-v0", "mountaincar_physics", {"force": 0.002, "gravity": 0.001}, {"force": 0.002}),
        ("MountainCarContinuous-v0", "continuous_mountaincar_physics", {"power": 0.003}, {"power": 0.003}),
    ],
)
def test_classic_physics_families_set_attributes(env_id, family_type, parameters, attributes):
    env = wrap(env_id, {"type": family_type, "parameters": parameters})
    for attr, value in attributes.items():
        assert getattr(env.unwrapped, attr) == pytest.approx(value)
    space = env.action_space
    action = 1 if isinstance(space, spaces.Discrete) else np.ones(space.shape, dtype=space.dtype)
    assert np.abs(fixed_rollout(env, 20, action) - fixed_rollout(gym.make(env_id), 20, action)).max() > 1e-6


# ------------------------------------------------------------------------------------------------------------------
# observation and action transforms
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"sign_flips": True}, {"orthogonal": True}])
def test_observation_transform_is_inverted(kwargs):
    env = wrap("CartPole-v1", {"type": "obs_permutation", **kwargs}, seed=5)
    inner = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=3)
    raw, _ = inner.reset(seed=3)
    family: ObservationPermutation = env.family
    task = env.current_task
    np.testing.assert_allclose(family.inverse_observation(obs, task), raw, rtol=1e-5, atol=1e-6)
    assert not np.allclose(obs, raw)
    for _ in range(5):
        obs, *_ = env.step(1)
        raw, *_ = inner.step(1)
        np.testing.assert_allclose(family.inverse_observation(obs, task), raw, rtol=1e-5, atol=1e-6)
        assert env.observation_space.contains(obs)
    if not kwargs:
        assert sorted(task["permutation"]) == [0, 1, 2, 3]
        np.testing.assert_array_equal(obs, raw[task["permutation"]])


def test_permutations_change_between_tasks():
    env = wrap("CartPole-v1", {"type": "obs_permutation"})
    perms = [t["permutation"] for t in env.task_sequence(50)]
    assert all(a != b for a, b in itertools.pairwise(perms))  # ensure_change
    env = wrap("CartPole-v1", {"type": "action_permutation"})
    perms = [t["permutation"] for t in env.task_sequence(6)]
    assert perms in ([[0, 1], [1, 0]] * 3, [[1, 0], [0, 1]] * 3)  # two actions: every task swaps them


def test_discrete_action_permutation_maps_actions():
    env = wrap("Acrobot-v1", {"type": "action_permutation"}, seed=2)
    perm = env.current_task["permutation"]
    assert [env.family.action(a) for a in range(3)] == perm
    env.reset(seed=0)
    inner = gym.make("Acrobot-v1")
    inner.reset(seed=0)
    for a in [0, 1, 2, 2, 1]:
        np.testing.assert_array_equal(env.step(a)[0], inner.step(perm[a])[0])


def test_box_action_permutation_and_sign_flips():
    env = wrap("HalfCheetah-v5", {"type": "action_permutation", "sign_flips": True}, seed=3)
    task = env.current_task
    perm, signs = np.array(task["permutation"]), np.array(task["signs"])
    action = np.linspace(-0.9, 0.6, 6).astype(np.float32)
    np.testing.assert_allclose(env.family.action(action), signs * action[perm], rtol=1e-6)
    # asymmetric bounds map through [-1, 1]: agent dim 0 at its top (1.0) drives env dim 1 to its top (2.0)
    asym = TaskSwitchingWrapper(
        _BoxActionEnv(low=[0.0, -2.0], high=[1.0, 2.0]),
        {"type": "action_permutation"},
        MANUAL,
        tasks=[{"seed": 0, "permutation": [1, 0]}],
    )
    np.testing.assert_allclose(asym.family.action(np.array([1.0, 0.0], dtype=np.float32)), [0.5, 2.0])


def test_bandit_rewards_follow_the_current_labels():
    env = TaskSwitchingWrapper(
        ContextualBanditEnv(n_inputs=5, dim=3, n_actions=4), {"type": "bandit_relabel"}, MANUAL, seed=0
    )
    for task_index in (0, 1):
        env.force_switch(task_index)
        labels = env.current_task["labels"]
        for _ in range(20):
            obs, info = env.reset()
            i = info["input_index"]
            np.testing.assert_array_equal(obs, env.unwrapped.inputs[i])
            assert env.step(labels[i])[1] == 1.0
            env.reset()
            assert env.step((labels[env.unwrapped._index] + 1) % 4)[1] == 0.0
    assert env.task_sequence(2)[0]["labels"] != env.task_sequence(2)[1]["labels"]


def test_env_cycle_with_padding():
    seq = EnvSequence(["CartPole-v1", "Acrobot-v1"], pad=True)
    env = TaskSwitchingWrapper(seq, {"type": "env_cycle"}, {"type": "fixed_interval", "steps_per_task": 20})
    assert env.observation_space.shape == (6,) and env.action_space == spaces.Discrete(3)
    obs, info = env.reset(seed=0)
    assert info["env_id"] == "CartPole-v1" and np.all(obs[4:] == 0)
    seen = set()
    for _ in range(300):
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        seen.add((info["task_id"] % 2, info["env_id"]))
        assert env.observation_space.contains(obs)
        if terminated or truncated:
            env.reset()
    assert seen == {(0, "CartPole-v1"), (1, "Acrobot-v1")}


# ------------------------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------------------------
class _BoxActionEnv(gym.Env):
    def __init__(self, low=(-1.0,), high=(1.0,), action_space=None):
        self.observation_space = spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        self.action_space = action_space or spaces.Box(np.array(low, np.float32), np.array(high, np.float32))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, False, False, {}


@pytest.mark.parametrize(
    ("env_id", "family", "match"),
    [
        (
            "HalfCheetah-v5",
            {"type": "mujoco_physics", "parameters": {"frction": [0.1, 1]}},
            r"unknown parameter.*'friction'",
        ),
        (
            "HalfCheetah-v5",
            {"type": "mujoco_physics", "parameters": {"friction": [0.0, 2.0]}},
            "'friction' must be .* > 0",
        ),
        (
            "HalfCheetah-v5",
            {"type": "mujoco_physics", "parameters": {"mass_scale": -1.0}},
            "'mass_scale' must be .* > 0",
        ),
        ("HalfCheetah-v5", {"type": "mujoco_physics", "parameters": {"friction": [2.0, 1.0]}}, "low <= high"),
        ("HalfCheetah-v5", {"type": "mujoco_physics", "parameters": {"friction": 1, "friction_scale": 1}}, "not both"),
        ("CartPole-v1", {"type": "mujoco_physics", "parameters": {"friction": 1.0}}, "needs a MuJoCo env"),
        ("CartPole-v1", {"type": "cartpole_physics", "parameters": {"mass": 1.0}}, r"valid names.*masspole"),
        ("Pendulum-v1", {"type": "cartpole_physics", "parameters": {"gravity": 1.0}}, "needs a CartPoleEnv"),
        ("CartPole-v1", {"type": "action_permutation", "sign_flips": True}, "sign_flips needs a Box"),
        ("CartPole-v1", {"type": "bandit_relabel"}, "needs a ContextualBanditEnv"),
        ("CartPole-v1", {"type": "env_cycle"}, "needs an EnvSequence"),
        ("CartPole-v1", {"type": "obs_permutation", "sign_flips": True, "orthogonal": True}, "exclude each other"),
        ("CartPole-v1", {"type": "obs_permutation", "shuffle": True}, r"valid arguments: \['sign_flips'"),
    ],
)
def test_bad_family_input_fails_at_construction(env_id, family, match):
    with pytest.raises(ValueError, match=match):
        wrap(env_id, family)


def test_unsupported_spaces_fail_at_construction():
    multi = _BoxActionEnv(action_space=spaces.MultiDiscrete([2, 3]))
    with pytest.raises(ValueError, match="supports Discrete and 1-D Box action spaces"):
        TaskSwitchingWrapper(multi, {"type": "action_permutation"}, MANUAL)
    unbounded = _BoxActionEnv(low=[-np.inf], high=[np.inf])
    with pytest.raises(ValueError, match="finite Box action bounds"):
        TaskSwitchingWrapper(unbounded, {"type": "action_permutation"}, MANUAL)
    with pytest.raises(ValueError, match="needs a Box observation space"):
        wrap("FrozenLake-v1", {"type": "obs_permutation"})
    with pytest.raises(ValueError, match="spaces differ and pad=False"):
        EnvSequence(["CartPole-v1", "Acrobot-v1"])
    with pytest.raises(ValueError, match="padding supports only Discrete actions"):
        EnvSequence(["CartPole-v1", "Pendulum-v1"], pad=True)


def test_slippery_ant_scenario_sets_friction_on_all_geoms():
    from syre_rl.experiments.scenarios import make_scenario_env

    env = make_scenario_env("slippery_ant", seed=0)
    model = env.unwrapped.model
    for k in (0, 3):
        env.force_switch(k)
        friction = env.current_task["friction"]
        assert 0.02 <= friction <= 2.0
        np.testing.assert_allclose(model.geom_friction[:, 0], np.full(model.ngeom, friction))
