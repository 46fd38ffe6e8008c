"""Agent recipes and the resolved config: loading, merge order, typed overrides, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import agent_family
from torch import nn

from syre_rl.experiments.agents import list_agents, load_agent
from syre_rl.experiments.classes import build_policy_kwargs
from syre_rl.experiments.config import parse_overrides, resolve_config, valid_override_keys
from syre_rl.experiments.recipe_files import recipe_dir
from syre_rl.experiments.yaml_loader import load_yaml, parse_value

SCENARIO = {
    "name": "tiny",
    "description": "test scenario",
    "source": "tests",
    "base_env": "CartPole-v1",
    "env_kwargs": {},
    "family": {"type": "obs_permutation"},
    "schedule": {"type": "fixed_interval", "steps_per_task": 1000},
    "n_envs": 2,
    "total_steps": 4000,
    "hyperparameters": {
        "n_steps": 64,
        "batch_size": 64,
        "learning_rate": 1e-3,
        "policy_kwargs": {"net_arch": [16, 16], "activation_fn": "tanh"},
    },
}
# The same with continuous actions, for SAC and TD3 agents.
CONTINUOUS_SCENARIO = {
    **SCENARIO,
    "name": "tiny_continuous",
    "base_env": "Pendulum-v1",
    "family": {"type": "pendulum_physics", "parameters": {"g": [5.0, 15.0]}},
}
OFF_POLICY_AGENTS = {"dqn", "syre_dqn", "dqn_l2", "sac", "syre_sac", "sac_l2", "td3", "syre_td3", "td3_l2"}


def test_recipe_dir_finds_the_checkout_folders() -> None:
    repo = Path(__file__).resolve().parents[1]
    assert recipe_dir("agents") == repo / "agents"
    assert recipe_dir("envs") == repo / "envs"
    with pytest.raises(ValueError, match="unknown recipe kind 'models'"):
        recipe_dir("models")


def test_every_shipped_agent_recipe_loads_and_resolves() -> None:
    names = list_agents()
    assert {"ppo", "ppo_l2", "syre_ppo"} | OFF_POLICY_AGENTS <= set(names)
    for name in names:
        recipe = load_agent(name)
        assert recipe["name"] == name, f"agents/{name}.yaml: name must equal the file stem"
        assert recipe["source"], f"agents/{name}.yaml: say where the defaults come from"
        scenario = CONTINUOUS_SCENARIO if agent_family(name) == "continuous" else SCENARIO
        config = resolve_config(name, scenario, seed=1)
        assert config["agent"] == name and config["seed"] == 1


def test_yaml_numbers_without_a_dot_are_floats() -> None:
    assert parse_value("1e-4") == pytest.approx(1e-4)
    assert parse_value("3") == 3 and isinstance(parse_value("3"), int)
    assert parse_value("[64, 64]") == [64, 64]
    assert parse_value("true") is True and parse_value("null") is None
    assert parse_value("relu") == "relu"
    assert load_yaml("lr: 2.5E-3\nname: 1e") == {"lr": 2.5e-3, "name": "1e"}
    assert parse_overrides(["learning_rate=1e-4", "policy_kwargs.net_arch=[8, 8]"]) == {
        "learning_rate": 1e-4,
        "policy_kwargs.net_arch": [8, 8],
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["learning_rate"])


def test_merge_order_scenario_then_agent_then_overrides() -> None:
    agent = {
        "name": "custom",
        "algorithm": "SyrePPO",
        "policy": "MlpPolicy",
        "policy_kwargs": {"net_arch": [32, 32]},
        "hyperparameters": {"learning_rate": 5e-4, "weight_decay": 0.01},
    }
    config = resolve_config(agent, SCENARIO, overrides=["learning_rate=1e-4", "n_epochs=2", "total_steps=512"])
    hp = config["hyperparameters"]
    assert hp["n_steps"] == 64  # scenario
    assert hp["weight_decay"] == 0.01  # agent
    assert hp["learning_rate"] == pytest.approx(1e-4)  # override beats agent beats scenario
    assert hp["n_epochs"] == 2
    assert config["policy_kwargs"] == {"net_arch": [32, 32], "activation_fn": "tanh"}
    assert config["total_steps"] == 512 and config["n_envs"] == 2
    # A resolved config is plain YAML.
    assert yaml.safe_load(yaml.safe_dump(config)) == config


def test_scenario_and_nested_overrides() -> None:
    config = resolve_config(
        "ppo", SCENARIO, overrides={"scenario.schedule.steps_per_task": 500, "policy_kwargs.net_arch": [8]}
    )
    assert config["scenario_recipe"]["schedule"]["steps_per_task"] == 500
    assert SCENARIO["schedule"]["steps_per_task"] == 1000  # the input is not modified
    assert config["policy_kwargs"]["net_arch"] == [8]
    config = resolve_config("ppo_redo", SCENARIO, overrides={"interventions.0.tau": 0.05})
    assert config["interventions"][0] == {"type": "redo", "tau": 0.05, "every_n_rollouts": 100}


def test_unknown_override_key_lists_the_valid_keys() -> None:
    with pytest.raises(ValueError, match=r"unknown --set key 'learning_rat'.*learning_rate") as info:
        resolve_config("ppo", SCENARIO, overrides=["learning_rat=1e-4"])
    assert "policy_kwargs.net_arch" in str(info.value) and "total_steps" in str(info.value)
    with pytest.raises(ValueError, match=r"unknown --set key 'policy_kwargs\.widths'"):
        resolve_config("ppo", SCENARIO, overrides=["policy_kwargs.widths=[3]"])
    with pytest.raises(ValueError, match=r"unknown --set key 'scenario\.schedule\.period'"):
        resolve_config("ppo", SCENARIO, overrides=["scenario.schedule.period=3"])
    with pytest.raises(ValueError, match="total_steps must be an integer"):
        resolve_config("ppo", SCENARIO, overrides=["total_steps=ten"])
    # Decay settings are keys of the anchored-decay algorithms (SyrePPO) only.
    assert "weight_decay" in valid_override_keys(resolve_config("syre_ppo", SCENARIO))
    with pytest.raises(ValueError, match="unknown --set key 'weight_decay'"):
        resolve_config("ppo", SCENARIO, overrides=["weight_decay=0.1"])


def test_unknown_agent_lists_the_agents() -> None:
    with pytest.raises(ValueError, match=r"unknown agent 'syre_pp'.*did you mean.*syre_ppo.*available: \[") as info:
        resolve_config("syre_pp", SCENARIO)
    assert "ppo_l2" in str(info.value)


def test_bad_recipes_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nalgorithm: PPO\npolicy: MlpPolicy\nhyperparameters: {n_step: 3}\n")
    with pytest.raises(ValueError, match=r"hyperparameters \['n_step'\].*not arguments of PPO"):
        resolve_config(str(path), SCENARIO)
    path.write_text("name: bad\nalgorithm: DQN2\npolicy: MlpPolicy\n")
    with pytest.raises(ValueError, match="unknown algorithm 'DQN2'"):
        load_agent(str(path))
    path.write_text("name: bad\nalgorithm: PPO\npolicy: MlpPolicy\nlr: 3\n")
    with pytest.raises(ValueError, match=r"unknown keys \['lr'\]"):
        load_agent(str(path))
    path.write_text("name: bad\nalgorithm: PPO\npolicy: MlpPolicy\ninterventions: [{type: nope}]\n")
    with pytest.raises(ValueError, match="unknown intervention type 'nope'"):
        resolve_config(str(path), SCENARIO)
    with pytest.raises(ValueError, match="unknown activation_fn 'swishy'"):
        resolve_config("ppo", SCENARIO, overrides=["policy_kwargs.activation_fn=swishy"])


def test_policy_kwargs_strings_become_classes() -> None:
    built = build_policy_kwargs(
        {
            "activation_fn": "relu",
            "optimizer_class": "adamw",
            "net_arch": [4],
            "features_extractor_class": "torch.nn.Flatten",
        }
    )
    assert built["activation_fn"] is nn.ReLU
    assert built["optimizer_class"].__name__ == "AdamW"
    assert built["features_extractor_class"] is nn.Flatten
    assert built["net_arch"] == [4]


def test_recipe_dir_prefers_the_copy_shipped_in_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import syre_rl.experiments.recipe_files as recipe_files

    (tmp_path / "site" / "syre_rl" / "_recipes" / "agents").mkdir(parents=True)
    monkeypatch.setattr(
        recipe_files, "__file__", str(tmp_path / "site" / "syre_rl" / "experiments" / "recipe_files.py")
    )
    assert recipe_dir("agents") == tmp_path / "site" / "syre_rl" / "_recipes" / "agents"
    with pytest.raises(FileNotFoundError, match="no envs recipe folder"):
        recipe_dir("envs")


def test_every_shipped_scenario_resolves_with_every_algorithm() -> None:
    """Every catalogue agent resolves with every catalogue scenario whose actions it takes (PPO: any; DQN: Discrete;
    SAC, TD3: Box), and is refused, naming the agent, the scenario's action space and what it takes, otherwise."""
    from gymnasium import spaces

    from syre_rl.experiments.scenarios import list_scenarios, make_scenario_env

    scenarios = list_scenarios()
    assert {"relabelled_bandit", "permuted_cartpole", "slippery_ant", "pendulum_physics"} <= set(scenarios)
    takes = {"on_policy": (spaces.Box, spaces.Discrete), "discrete": (spaces.Discrete,), "continuous": (spaces.Box,)}
    families = {agent: agent_family(agent) for agent in list_agents()}
    paired = dict.fromkeys(takes, 0)
    for name in scenarios:
        env = make_scenario_env(name, seed=0)
        space = env.action_space
        env.close()
        for agent, family in families.items():
            if isinstance(space, takes[family]):
                config = resolve_config(agent, name)
                assert config["scenario"] == name and config["total_steps"] >= 1 and config["n_envs"] >= 1
                paired[family] += 1
            else:
                accepted = takes[family][0].__name__
                with pytest.raises(ValueError, match=rf"agent '{agent}' .* {accepted} action spaces only") as info:
                    resolve_config(agent, name)
                assert f"scenario '{name}' has the action space {space}" in str(info.value)
    assert all(paired.values()), f"every family needs a scenario in the catalogue: {paired}"


def test_scenario_overrides_reach_the_training_settings():
    config = resolve_config(
        "ppo",
        "permuted_cartpole",
        overrides=[
            "scenario.hyperparameters.learning_rate=1e-5",
            "scenario.hyperparameters.policy_kwargs.net_arch=[8, 8]",
            "scenario.n_envs=8",
            "scenario.total_steps=40960",
        ],
    )
    assert config["hyperparameters"]["learning_rate"] == 1e-5
    assert config["policy_kwargs"]["net_arch"] == [8, 8]
    assert (config["n_envs"], config["total_steps"]) == (8, 40960)
