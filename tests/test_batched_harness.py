"""Both environment paths through the harness: recipes choose the backend (batched by default where a batched
version exists), runs train and resume on either path and write the same files, and bad input is refused with what
exists."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import TINY_OVERRIDES, Interrupt

from syre_rl.experiments.build import ScenarioVecEnv, make_vec_env
from syre_rl.experiments.config import resolve_config
from syre_rl.experiments.run import train
from syre_rl.experiments.scenarios import list_scenarios, load_scenario
from syre_rl.nonstationary.batched import BatchedVecEnv
from syre_rl.nonstationary.scenarios import BACKENDS, EXTRA_BACKENDS, validate_recipe

REPO = Path(__file__).resolve().parents[1]
WRAPPER_ONLY = {
    "classic_cycle",
    "slippery_ant",
    "slippery_ant_gpu",
    "slippery_ant_quick",
    "slippery_halfcheetah",
    "slippery_halfcheetah_short",
}


def config(scenario: str, backend: str, steps: int = 512, agent: str = "syre_ppo", **extra: str) -> dict:
    overrides = [*TINY_OVERRIDES, f"scenario.backend={backend}", *(f"{k}={v}" for k, v in extra.items())]
    return resolve_config(agent, scenario, overrides=overrides, total_steps=steps, device="cpu")


def run_files(run_dir: Path) -> set[str]:
    """The run folder's files, TensorBoard event files by folder only (their names hold a time and a host)."""
    return {
        str(p.parent.relative_to(run_dir)) if "tfevents" in p.name else str(p.relative_to(run_dir))
        for p in run_dir.rglob("*")
        if p.is_file()
    }


def test_every_recipe_names_its_backend_and_the_default_is_batched_where_it_exists() -> None:
    for name in list_scenarios():
        text = yaml.safe_load((REPO / "envs" / f"{name}.yaml").read_text())
        # written out, so --set scenario.backend=... works for every one
        assert text["backend"] in BACKENDS + EXTRA_BACKENDS, name
        recipe = load_scenario(name)
        del recipe["backend"]
        assert validate_recipe(recipe)["backend"] == ("wrapper" if name in WRAPPER_ONLY else "batched"), name
        if text["backend"] in BACKENDS:  # an extra backend (warp) is chosen, never the default
            assert text["backend"] == validate_recipe(recipe)["backend"], name


@pytest.mark.parametrize("scenario", ["relabelled_bandit_quick", "permuted_cartpole"])
def test_both_backends_train_and_write_the_same_files(tmp_path: Path, scenario: str) -> None:
    runs = {}
    for backend in BACKENDS:
        cfg = config(scenario, backend)
        assert isinstance(make_vec_env(cfg), BatchedVecEnv if backend == "batched" else ScenarioVecEnv)
        runs[backend] = train(cfg, tmp_path / backend)
        saved = yaml.safe_load((runs[backend] / "config.yaml").read_text())
        assert saved["scenario_recipe"]["backend"] == backend  # the run folder records which path ran
        assert json.loads((runs[backend] / "done").read_text())["num_timesteps"] == 512
    assert run_files(runs["batched"]) == run_files(runs["wrapper"])
    tasks = {b: pd.read_csv(runs[b] / "tasks.csv") for b in BACKENDS}
    assert tasks["batched"]["task_id"].tolist() == tasks["wrapper"]["task_id"].tolist() == [0, 1]
    episodes = {b: pd.read_csv(runs[b] / "episodes.csv") for b in BACKENDS}
    assert len(episodes["batched"]) > 10
    if scenario == "relabelled_bandit_quick":
        assert len(episodes["batched"]) == 512  # one-step episodes
    # Same seed, same observations and rewards: the agent acts and learns alike, episode for episode.
    pd.testing.assert_frame_equal(episodes["batched"], episodes["wrapper"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_gives_the_task_state_back_on_both_paths(tmp_path: Path, backend: str) -> None:
    cfg = config("permuted_cartpole", backend, steps=1024, agent="ppo", checkpoint_every=256)
    whole = train(cfg, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "resumed", extra_callbacks=[Interrupt(at=700)])
    resumed = train(cfg, tmp_path / "resumed", resume=True)
    tasks = [pd.read_csv(run / "tasks.csv") for run in (whole, resumed)]
    assert tasks[0]["task_id"].tolist() == [0, 1, 2, 3]  # a task every 256 steps
    # The task sequence and the switch steps continue across the interruption (the task parameters are in columns).
    returns = [c for c in tasks[0].columns if "return" in c or c == "auc"]
    pd.testing.assert_frame_equal(tasks[0].drop(columns=returns), tasks[1].drop(columns=returns))


@pytest.mark.parametrize(
    ("scenario", "override", "match"),
    [
        ("permuted_cartpole", "scenario.backend=gpu", r"unknown backend 'gpu'; backends: \['batched', 'wrapper'\]"),
        (
            "classic_cycle",
            "scenario.backend=batched",
            r"backend 'batched' is not available: base env 'syre_rl/EnvSequence-v0' has no batched version "
            r"\(batched base envs: \[.*'CartPole-v1', 'Pendulum-v1', 'syre_rl/ContextualBandit-v0'\]\); task family "
            r"'env_cycle' has no batched version \(batched families: \['action_permutation', 'bandit_relabel', "
            r"'cartpole_physics', 'obs_permutation', 'pendulum_physics'\]\); use backend: wrapper",
        ),
        ("permuted_cartpole", "scenario.n_envs=0", "n_envs must be a positive int, got 0"),
        ("permuted_cartpole", "n_envs=0", r"n_envs must be (an integer >= 1|a positive int)"),
    ],
)
def test_bad_backend_input_is_refused_with_what_exists(scenario: str, override: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        resolve_config("ppo", scenario, overrides=[override])


def test_a_family_without_a_batched_version_on_the_batched_path() -> None:
    recipe = {
        **load_scenario("cartpole_drift"),
        "base_env": "Acrobot-v1",
        "family": {"type": "acrobot_physics", "parameters": {"link_mass_1": [0.5, 2.0]}},
    }
    default = validate_recipe({k: v for k, v in recipe.items() if k != "backend"})
    assert default["backend"] == "wrapper"
    with pytest.raises(ValueError, match=r"task family 'acrobot_physics' has no batched version"):
        validate_recipe(recipe)
    cfg = config("permuted_cartpole", "batched")
    with pytest.raises(ValueError, match="n_envs must be a positive int, got 0"):
        make_vec_env({**cfg, "n_envs": 0})


def test_the_backend_is_chosen_from_the_command_line(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("script_train", REPO / "scripts" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sets = [arg for item in TINY_OVERRIDES for arg in ("--set", item)]
    for backend in BACKENDS:
        argv = ["--agent", "ppo", "--env", "permuted_cartpole", "--steps", "256", "--out", str(tmp_path / backend)]
        assert module.main([*argv, *sets, "--set", f"scenario.backend={backend}", "--no-progress"]) == 0
        saved = yaml.safe_load((tmp_path / backend / "config.yaml").read_text())
        assert saved["scenario_recipe"]["backend"] == backend and saved["overrides"]["scenario.backend"] == backend


@pytest.mark.parametrize("scenario", sorted(set(list_scenarios()) - WRAPPER_ONLY))
def test_every_batched_scenario_passes_vec_env_checks(scenario: str) -> None:
    """SB3 VecEnv checks on the batched env of every catalogue scenario that has one: shapes, dtypes, dones with
    terminal observations and episode infos, seeding."""
    cfg = resolve_config("ppo", scenario, overrides=["n_envs=8", "n_steps=32"])
    envs = [make_vec_env(cfg) for _ in range(2)]
    assert all(isinstance(env, BatchedVecEnv) for env in envs)
    env = envs[0]
    shape = env.observation_space.shape
    # Long enough for episodes to end: Pendulum's never end before its time limit of 200 steps.
    steps = 201 if cfg["scenario_recipe"]["base_env"].startswith("Pendulum") else 40
    runs = []
    for vec in envs:
        vec.seed(3)
        vec.action_space.seed(0)
        obs, ended = [vec.reset()], 0
        for _ in range(steps):
            o, rewards, dones, infos = vec.step(np.array([vec.action_space.sample() for _ in range(8)]))
            assert o.shape == (8, *shape) and o.dtype == env.observation_space.dtype
            assert rewards.shape == (8,) and rewards.dtype == np.float32 and dones.dtype == bool
            for done, info in zip(dones, infos, strict=True):
                assert {"task_id", "task", "task_switch"} <= set(info)
                assert ("terminal_observation" in info) == done == ("episode" in info)
                if done:
                    ended += 1
                    assert env.observation_space.contains(info["terminal_observation"])
            obs.append(o)
        assert ended > 0
        runs.append(np.array(obs))
    np.testing.assert_array_equal(runs[0], runs[1])  # same seed, same actions: same observations
