"""Opt-in speed-ups of the PPO update: fused Adam through ``policy_kwargs.optimizer_kwargs.KEY`` overrides, and the
``validate_distributions`` run flag (default unchanged; old configs still resume)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from helpers import TINY_OVERRIDES
from stable_baselines3.common.callbacks import BaseCallback
from torch.distributions import Distribution

from syre_rl.experiments.build import build_model, make_vec_env
from syre_rl.experiments.config import policy_optimizer_defaults, resolve_config, valid_override_keys
from syre_rl.experiments.run import distribution_validation, train
from syre_rl.run_layout import CONFIG_FILE, load_config

FUSED = "policy_kwargs.optimizer_kwargs.fused=true"


class ValidationSeen(BaseCallback):
    """Records torch.distributions' default ``validate_args`` at every step of training."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[bool] = set()

    def _on_step(self) -> bool:
        self.seen.add(bool(Distribution._validate_args))
        return True


@pytest.mark.parametrize("agent", ["ppo", "syre_ppo", "ppo_l2", "ppo_ns_adam"])
def test_default_configs_are_unchanged(agent: str) -> None:
    config = resolve_config(agent, "relabelled_bandit", seed=2)
    assert "validate_distributions" not in config
    assert "fused" not in (config["policy_kwargs"].get("optimizer_kwargs") or {})


@pytest.mark.parametrize("agent", ["ppo", "syre_ppo", "ppo_l2", "ppo_ns_adam"])
def test_an_optimizer_argument_is_merged_into_the_recipes(agent: str) -> None:
    recipe = resolve_config(agent, "relabelled_bandit")["policy_kwargs"].get("optimizer_kwargs")
    config = resolve_config(agent, "relabelled_bandit", overrides=[FUSED])
    # Without optimizer_kwargs in the recipe, SB3's PPO policy builds Adam with eps 1e-5: the merge keeps it.
    assert config["policy_kwargs"]["optimizer_kwargs"] == {**(recipe or {"eps": 1e-5}), "fused": True}
    assert "policy_kwargs.optimizer_kwargs.fused" in valid_override_keys(config)
    if agent == "ppo_ns_adam":  # the recipe's betas and eps stay
        assert config["policy_kwargs"]["optimizer_kwargs"]["betas"] == [0.99, 0.99]


def test_optimizer_defaults_of_the_policy() -> None:
    assert resolve_config("sac", "pendulum_physics", overrides=[FUSED])["policy_kwargs"]["optimizer_kwargs"] == {
        "fused": True
    }
    config = resolve_config("ppo", "relabelled_bandit", overrides=["policy_kwargs.optimizer_class=sgd"])
    assert policy_optimizer_defaults(config) == {}
    assert policy_optimizer_defaults(resolve_config("ppo", "relabelled_bandit")) == {"eps": 1e-5}


def test_unknown_optimizer_arguments_are_refused() -> None:
    for key in ("fusd", "lr", "params"):
        with pytest.raises(ValueError, match=rf"unknown --set key 'policy_kwargs.optimizer_kwargs.{key}'.*'fused'"):
            resolve_config("ppo", "relabelled_bandit", overrides=[f"policy_kwargs.optimizer_kwargs.{key}=1"])


@pytest.mark.parametrize("agent", ["ppo", "syre_ppo", "ppo_l2"])
def test_fused_adam_gives_the_same_updates(agent: str) -> None:
    torch.set_num_threads(1)
    params, optimizers = [], []
    for extra in ([], [FUSED]):
        config = resolve_config(agent, "relabelled_bandit", seed=3, overrides=[*TINY_OVERRIDES, *extra], device="cpu")
        env = make_vec_env(config)
        model = build_model(config, env)
        start = torch.cat([p.detach().flatten() for p in model.policy.parameters()])
        model.learn(4 * 32 * config["n_envs"])  # 4 updates
        env.close()
        params.append(torch.cat([p.detach().flatten() for p in model.policy.parameters()]))
        optimizers.append(model.policy.optimizer)
        assert (params[-1] - start).abs().max() > 1e-3  # the updates moved the weights
    assert not optimizers[0].defaults["fused"] and optimizers[1].defaults["fused"]
    torch.testing.assert_close(params[1], params[0], rtol=0, atol=1e-5)


def test_validate_distributions_flag() -> None:
    config = resolve_config("ppo", "relabelled_bandit", overrides=["validate_distributions=false"])
    assert config["validate_distributions"] is False
    assert "validate_distributions" in valid_override_keys(config)
    at_default = resolve_config("ppo", "relabelled_bandit", overrides=["validate_distributions=true"])
    assert "validate_distributions" not in at_default  # absent means the default
    assert at_default == {**resolve_config("ppo", "relabelled_bandit"), "overrides": {"validate_distributions": True}}
    with pytest.raises(ValueError, match="validate_distributions must be true or false, got 0"):
        resolve_config("ppo", "relabelled_bandit", overrides=["validate_distributions=0"])


def test_distribution_validation_is_restored() -> None:
    before = Distribution._validate_args
    with distribution_validation(False):
        assert Distribution._validate_args is False
    assert Distribution._validate_args is before
    with distribution_validation(None):
        assert Distribution._validate_args is before
    with pytest.raises(RuntimeError), distribution_validation(False):
        raise RuntimeError
    assert Distribution._validate_args is before


def test_train_applies_the_flag_and_restores_it(tmp_path: Path) -> None:
    before = Distribution._validate_args
    for overrides, expected in (([], {before}), (["validate_distributions=false"], {False})):
        config = resolve_config("ppo", "relabelled_bandit", seed=1, overrides=[*TINY_OVERRIDES, *overrides])
        config["total_steps"] = config["checkpoint_every"] = 256
        seen = ValidationSeen()
        train(config, tmp_path / str(len(overrides)), extra_callbacks=[seen])
        assert seen.seen == expected
        assert Distribution._validate_args is before


def test_a_config_saved_before_the_flag_still_resumes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    config = resolve_config("syre_ppo", "relabelled_bandit", seed=1, overrides=TINY_OVERRIDES)
    config["checkpoint_every"] = 128
    config["total_steps"] = 256
    train(config, run_dir)
    saved = load_config(run_dir)
    assert "validate_distributions" not in saved
    # The saved config, as an earlier version wrote it, resumes with the config resolved today, now extended.
    (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(saved, sort_keys=False))
    config = resolve_config("syre_ppo", "relabelled_bandit", seed=1, overrides=TINY_OVERRIDES)
    config["checkpoint_every"] = 128
    config["total_steps"] = 384
    train(config, run_dir, resume=True)
    assert "validate_distributions" not in load_config(run_dir)
    assert (run_dir / "done").is_file()
