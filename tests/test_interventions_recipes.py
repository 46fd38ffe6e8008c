"""Agent recipes (agents/*.yaml) and the intervention registry: every recipe builds and trains a few steps."""

from pathlib import Path

import gymnasium as gym
import pytest
import torch
import yaml
from helpers import SwitchAt
from stable_baselines3 import DQN, PPO, SAC, TD3
from stable_baselines3.common.callbacks import BaseCallback

from syre_rl import (
    AnchoredDecayDQN,
    AnchoredDecayPPO,
    AnchoredDecaySAC,
    AnchoredDecayTD3,
    SyreDQN,
    SyrePPO,
    SyreSAC,
    SyreTD3,
)
from syre_rl.experiments.classes import build_hyperparameters, build_policy_kwargs, resolve_algorithm, resolve_policy
from syre_rl.interventions import INTERVENTIONS, ReDo, ShrinkAndPerturb, build_intervention, build_interventions

AGENTS = Path(__file__).resolve().parents[1] / "agents"
RECIPES = sorted(AGENTS.glob("*.yaml"))
KEYS = {"name", "description", "source", "algorithm", "policy", "policy_kwargs", "hyperparameters", "interventions"}
# Small stand-in for a scenario's hyperparameters, merged under the recipe's.
SMOKE = {"n_steps": 64, "batch_size": 64, "n_epochs": 1, "policy_kwargs": {"net_arch": [16, 16]}}
# Per algorithm family: the env (a discrete or a continuous action space) and the smoke settings, merged over the
# recipe's (off-policy recipes set replay sizes meant for long runs).
OFF_POLICY_SMOKE = {"learning_starts": 64, "batch_size": 32, "buffer_size": 1000, "train_freq": 8, "gradient_steps": 2}
FAMILIES = {
    "on_policy": ((PPO, SyrePPO, AnchoredDecayPPO), "CartPole-v1", {}),
    "discrete": ((DQN, SyreDQN, AnchoredDecayDQN), "CartPole-v1", OFF_POLICY_SMOKE),
    "continuous": ((SAC, SyreSAC, AnchoredDecaySAC, TD3, SyreTD3, AnchoredDecayTD3), "Pendulum-v1", OFF_POLICY_SMOKE),
}
# Make cadence-bound interventions fire within the smoke run.
FIRE_SOON = {"redo": {"every_n_rollouts": 1}, "cbp": {"maturity_threshold": 2, "replacement_rate": 0.05}}


def test_catalogue_is_complete():
    names = {p.stem for p in RECIPES}
    expected = {"ppo", "ppo_l2", "ppo_l2_init", "syre_ppo", "ppo_layernorm", "ppo_layernorm_l2", "syre_ppo_layernorm"}
    expected |= {"ppo_ns_adam", "ppo_shrink_perturb", "ppo_redo", "ppo_cbp", "ppo_reset", "ppo_reset_heads"}
    expected |= {"dqn", "syre_dqn", "dqn_l2", "sac", "syre_sac", "sac_l2", "td3", "syre_td3", "td3_l2"}
    expected |= {"ppo_plasticity_injection", "ppo_parseval", "ppo_nap", "ppo_crelu", "ppo_fourier", "ppo_trac"}
    expected |= {"ppo_kron"}
    expected |= {"sac_reset", "td3_reset", "dqn_reset", "dqn_redo", "sac_redo", "sac_shrink_perturb"}
    assert expected <= names
    used = {spec["type"] for p in RECIPES for spec in yaml.safe_load(p.read_text())["interventions"]}
    assert used == set(INTERVENTIONS)


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_builds_and_trains(path):
    recipe = yaml.safe_load(path.read_text())
    assert set(recipe) == KEYS
    assert recipe["name"] == path.stem
    algorithm = resolve_algorithm(recipe["algorithm"])
    (classes, env_id, settings), *others = [f for f in FAMILIES.values() if algorithm in f[0]]
    assert algorithm in classes and not others
    build_interventions(recipe["interventions"])  # the literal settings are valid
    fired = [{**spec, **FIRE_SOON.get(spec["type"], {})} for spec in recipe["interventions"]]
    callbacks = build_interventions(fired)
    if classes[0] is PPO:  # the recipe's settings over the smoke run's, as over a scenario's
        hyper = {**SMOKE, **recipe["hyperparameters"]}
        hyper["policy_kwargs"] = {**SMOKE["policy_kwargs"], **recipe["policy_kwargs"]}
    else:  # the smoke run's replay sizes and small network over the recipe's, which are meant for long runs
        hyper = {**recipe["hyperparameters"], **settings}
        hyper["policy_kwargs"] = {**recipe["policy_kwargs"], **SMOKE["policy_kwargs"]}
    torch.manual_seed(0)
    env = SwitchAt(gym.make(env_id), at=128)
    hyper = build_hyperparameters(hyper, env.action_space)  # e.g. TD3's action noise, written as a mapping
    hyper["policy_kwargs"] = build_policy_kwargs(hyper["policy_kwargs"])  # e.g. an optimizer_class's dotted path
    model = algorithm(resolve_policy(algorithm, recipe["policy"]), env, seed=0, **hyper)
    model.learn(256, callback=callbacks)
    assert model.num_timesteps == 256
    assert all(torch.isfinite(p).all() for p in model.policy.parameters())
    for cb in callbacks:
        if hasattr(cb, "n_resets"):
            assert cb.reset_steps == [128]
        if hasattr(cb, "n_applied"):
            assert cb.n_applied == 1


def test_l2_and_syre_recipes_differ_only_in_the_anchor():
    l2 = yaml.safe_load((AGENTS / "ppo_l2.yaml").read_text())
    syre = yaml.safe_load((AGENTS / "syre_ppo.yaml").read_text())
    assert l2["hyperparameters"]["weight_decay"] == syre["hyperparameters"]["weight_decay"]
    assert l2["hyperparameters"]["decay_mode"] == syre["hyperparameters"]["decay_mode"]
    assert (l2["algorithm"], l2["hyperparameters"]["anchor"], syre["algorithm"]) == (
        "AnchoredDecayPPO",
        "zero",
        "SyrePPO",
    )


def test_ns_adam_recipe_sets_the_betas():
    recipe = yaml.safe_load((AGENTS / "ppo_ns_adam.yaml").read_text())
    model = PPO(resolve_policy(PPO, recipe["policy"]), "CartPole-v1", policy_kwargs=recipe["policy_kwargs"], n_steps=64)
    group = model.policy.optimizer.param_groups[0]
    assert tuple(group["betas"]) == (0.99, 0.99) and group["eps"] == 1e-5


def test_build_interventions():
    callbacks = build_interventions([{"type": "redo", "tau": 0.2}, {"type": "shrink_perturb"}])
    assert isinstance(callbacks[0], ReDo) and callbacks[0].tau == 0.2
    assert isinstance(callbacks[1], ShrinkAndPerturb)
    assert all(isinstance(cb, BaseCallback) for cb in callbacks)
    assert build_interventions(None) == [] and build_interventions([]) == []
    with pytest.raises(ValueError, match=r"unknown intervention type 'dropout'.*'cbp'"):
        build_intervention({"type": "dropout"})
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['threshold'\].*'tau'"):
        build_intervention({"type": "redo", "threshold": 0.1})
    with pytest.raises(ValueError, match="'type' key"):
        build_intervention({"tau": 0.1})
    with pytest.raises(ValueError, match="must be a list"):
        build_interventions({"type": "redo"})
    with pytest.raises(ValueError, match="tau"):
        build_intervention({"type": "redo", "tau": -1})
