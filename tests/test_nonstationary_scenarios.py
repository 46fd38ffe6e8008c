"""Scenario catalogue: recipes, registered ids, env checkers, vector envs, pickling, SB3 integration."""

import pickle
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

from syre_rl.experiments.scenarios import SCENARIO_IDS, list_scenarios, load_scenario, make_env_fns, make_scenario_env
from syre_rl.nonstationary.scenarios import validate_recipe

HYPERPARAMETER_KEYS = {"n_steps", "batch_size", "n_epochs", "learning_rate", "gamma", "gae_lambda", "ent_coef"}


def small(name, steps_per_task=40, n_envs=2):
    recipe = load_scenario(name)
    recipe["schedule"] = {**recipe["schedule"], "steps_per_task": steps_per_task}
    recipe["n_envs"] = n_envs
    return recipe


def test_every_recipe_loads_and_is_registered():
    names = list_scenarios()
    assert sorted(SCENARIO_IDS.values()) == names
    for name in names:
        recipe = load_scenario(name)
        assert recipe["name"] == name and recipe["source"] and recipe["description"]
        assert HYPERPARAMETER_KEYS <= set(recipe["hyperparameters"])
        hp = recipe["hyperparameters"]
        assert (hp["n_steps"] * recipe["n_envs"]) % hp["batch_size"] == 0
        assert f"syre_rl/{next(k for k, v in SCENARIO_IDS.items() if v == name)}" in gym.registry


def test_slippery_ant_follows_dohare():
    recipe = load_scenario("slippery_ant")
    assert recipe["base_env"] == "Ant-v5" and recipe["total_steps"] == 20_000_000
    assert recipe["family"]["parameters"] == {"friction": [0.02, 2.0]} and recipe["family"]["log_uniform"]
    assert recipe["schedule"] == {"type": "fixed_interval", "steps_per_task": 2_000_000, "align_to_episode": True}
    hp = recipe["hyperparameters"]
    assert (hp["n_steps"], hp["batch_size"], hp["n_epochs"], hp["learning_rate"]) == (2048, 128, 10, 1e-4)


@pytest.mark.parametrize("env_id", sorted(SCENARIO_IDS))
def test_checkers_pass_for_every_registered_id(env_id):
    env = gym.make(f"syre_rl/{env_id}", seed=1)
    gym_check_env(env, skip_render_check=True)
    sb3_check_env(make_scenario_env(SCENARIO_IDS[env_id], seed=1), warn=False)
    _, info = env.reset()
    assert {"task_id", "task", "task_switch"} <= set(info)


def test_registered_id_passes_seed_and_n_envs():
    env = gym.make("syre_rl/RelabelledBanditQuick-v0", seed=3, n_envs=4, rank=1)
    direct = make_scenario_env("relabelled_bandit_quick", seed=3, n_envs=4)
    wrapper = env.get_wrapper_attr("task_sequence")
    assert wrapper(3) == direct.task_sequence(3) and env.get_wrapper_attr("n_envs") == 4


def _run_vec(vec_env, n_steps):
    vec_env.seed(0)
    obs = [vec_env.reset()]
    task_ids = []
    rng = np.random.default_rng(0)
    for _ in range(n_steps):
        o, _, _, infos = vec_env.step(rng.integers(0, 2, vec_env.num_envs))
        obs.append(o)
        task_ids.append([info["task_id"] for info in infos])
    return np.array(obs), np.array(task_ids)


def test_dummy_and_subproc_vec_envs_give_identical_task_sequences():
    recipe = small("permuted_cartpole", steps_per_task=40, n_envs=2)
    dummy = DummyVecEnv(make_env_fns(recipe, seed=5))
    subproc = SubprocVecEnv(make_env_fns(recipe, seed=5), start_method="fork")
    try:
        obs_d, ids_d = _run_vec(dummy, 70)
        obs_s, ids_s = _run_vec(subproc, 70)
        np.testing.assert_array_equal(ids_d, ids_s)
        np.testing.assert_array_equal(obs_d, obs_s)
        assert np.all(ids_d[:, 0] == ids_d[:, 1])  # sub-envs switch together
        assert ids_d[19, 0] == 0 and ids_d[20, 0] == 1  # boundary at 40 total steps = 20 vec steps
        assert subproc.env_method("task_sequence", 3) == dummy.env_method("task_sequence", 3)
    finally:
        subproc.close()


def test_pickling_roundtrip_continues_identically():
    assert pickle.loads(pickle.dumps(make_env_fns("permuted_cartpole", seed=1)))[0]().task_id == 0
    for name in ("permuted_cartpole", "relabelled_bandit_quick", "cartpole_drift"):
        env = make_scenario_env(name, seed=2, n_envs=4)
        env.reset()
        for _ in range(30):
            env.step(0)
        clone = pickle.loads(pickle.dumps(env))
        assert clone.get_task_state() == env.get_task_state()
        for _ in range(30):
            a, b = env.step(1), clone.step(1)
            np.testing.assert_array_equal(a[0], b[0])
            assert a[4]["task_id"] == b[4]["task_id"]
            if a[2] or a[3]:
                np.testing.assert_array_equal(env.reset()[0], clone.reset()[0])


class ForceSwitchEvery(BaseCallback):
    """A global schedule driven from outside: switch every sub-env's task every ``every`` total steps."""

    def __init__(self, every):
        super().__init__()
        self.every = every
        self.task_ids = []

    def _on_step(self):
        self.task_ids.append([info["task_id"] for info in self.locals["infos"]])
        if self.num_timesteps % self.every == 0:
            self.training_env.env_method("force_switch")
        return True


def test_ppo_with_monitor_vecnormalize_and_a_callback_driven_schedule():
    recipe = load_scenario("relabelled_bandit_quick")
    recipe["schedule"] = {"type": "manual"}
    fns = make_env_fns(recipe, seed=0, n_envs=2)
    vec = VecNormalize(DummyVecEnv([lambda f=f: Monitor(f(), info_keywords=("task_id",)) for f in fns]))
    model = PPO("MlpPolicy", vec, n_steps=64, batch_size=64, n_epochs=1, policy_kwargs={"net_arch": [8]}, seed=0)
    callback = ForceSwitchEvery(every=100)
    model.learn(256, callback=callback)
    ids = np.array(callback.task_ids)
    assert np.all(ids[:, 0] == ids[:, 1]) and ids[-1, 0] == 2  # switches after 100 and 200 total steps
    states = vec.env_method("get_task_state")
    assert states[0]["task_index"] == states[1]["task_index"] == 2 and states[0]["global_steps"] == 256


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"name": "other"}, "name must equal the file stem"),
        ({"total_steps": 0}, "total_steps must be a positive int"),
        ({"n_envs": 1.5}, "n_envs must be a positive int"),
        ({"family": {"type": "bogus"}}, r"Unknown task family type 'bogus'"),
        ({"schedule": {"type": "fixed_interval", "steps_per_task": 10**9}}, "exceeds total_steps"),
        ({"horizon": 5}, r"unknown key\(s\) \['horizon'\]"),
    ],
)
def test_bad_recipes_fail_with_clear_messages(change, match):
    recipe = {**load_scenario("permuted_cartpole"), **change}
    with pytest.raises(ValueError, match=match):
        validate_recipe(recipe, stem="permuted_cartpole")


def test_missing_keys_and_unknown_names():
    recipe = load_scenario("permuted_cartpole")
    del recipe["schedule"]
    with pytest.raises(ValueError, match=r"missing key\(s\) \['schedule'\]"):
        validate_recipe(recipe)
    with pytest.raises(ValueError, match=r"unknown scenario 'nope'; available: \["):
        load_scenario("nope")
    bad = {**load_scenario("permuted_cartpole"), "base_env": "Pendulum-v1", "family": {"type": "action_permutation"}}
    make_scenario_env(bad, seed=0)  # Box actions are supported
    bad["family"] = {"type": "cartpole_physics", "parameters": {"gravity": 5.0}}
    with pytest.raises(ValueError, match="needs a CartPoleEnv"):
        make_scenario_env(bad, seed=0)


def test_library_imports_neither_torch_nor_sb3():
    code = (
        "import sys; import syre_rl.nonstationary; import syre_rl.experiments.scenarios as ns; ns.list_scenarios(); "
        "ns.make_scenario_env('relabelled_bandit_quick', seed=0).reset(); "
        "assert 'torch' not in sys.modules and 'stable_baselines3' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("name", "min_tasks"), [("relabelled_bandit_long", 100), ("permuted_cartpole_long", 30)])
def test_long_scenarios_are_their_short_ones_over_more_tasks_on_the_batched_path(name, min_tasks):
    long, short = load_scenario(name), load_scenario(name.removesuffix("_long"))
    assert long["backend"] == "batched" and long["n_envs"] == 64
    assert long["total_steps"] // long["schedule"]["steps_per_task"] >= min_tasks
    for key in ("base_env", "env_kwargs", "family", "schedule", "policy_kwargs"):
        assert long.get(key) == short.get(key), key
    hp_long, hp_short = long["hyperparameters"], short["hyperparameters"]
    # the same rollout size and updates per sample, spread over more sub-envs
    assert hp_long["n_steps"] * long["n_envs"] == hp_short["n_steps"] * short["n_envs"]
    assert {k: v for k, v in hp_long.items() if k != "n_steps"} == {k: v for k, v in hp_short.items() if k != "n_steps"}
