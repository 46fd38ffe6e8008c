"""Plasticity injection: the output is unchanged at the injection, only the new heads (and the shared hidden layers)
train afterwards, the optimizer gets the new parameters under SB3's learning-rate schedule, and an injected model
saves, loads and resumes with its structure."""

from __future__ import annotations

import copy
import io

import gymnasium as gym
import pytest
import torch
from helpers import SwitchAt
from stable_baselines3 import PPO

from syre_rl import SyrePPO
from syre_rl.experiments.firing import idle_reasons, intervention_counts
from syre_rl.interventions import INTERVENTIONS, build_intervention
from syre_rl.interventions.injection import (
    InjectedHead,
    InjectionActorCriticPolicy,
    InjectionLayerNormPolicy,
    PlasticityInjection,
)

SMALL = {"n_steps": 32, "batch_size": 32, "n_epochs": 2, "policy_kwargs": {"net_arch": [8, 8]}}


def make_model(env_id: str = "Pendulum-v1", at: int = 10_000, policy: type = InjectionActorCriticPolicy, **kwargs):
    torch.manual_seed(0)
    env = SwitchAt(gym.make(env_id), at=at)
    return PPO(policy, env, seed=0, **{**SMALL, **kwargs})


def outputs(policy: torch.nn.Module, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        dist = policy.get_distribution(obs).distribution
        if isinstance(dist, torch.distributions.Categorical):
            return dist.logits, policy.predict_values(obs)
        return dist.mean, dist.stddev, policy.predict_values(obs)


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> set[str]:
    return {name for name, p in module.named_parameters() if not torch.equal(before[name], p)}


@pytest.mark.parametrize("policy", [InjectionActorCriticPolicy, InjectionLayerNormPolicy])
@pytest.mark.parametrize("env_id", ["Pendulum-v1", "CartPole-v1"])
def test_output_is_unchanged_at_the_injection(policy: type, env_id: str) -> None:
    model = make_model(env_id, policy=policy)
    model.learn(64)  # weights away from their init
    obs = torch.randn(16, *model.observation_space.shape)
    before = outputs(model.policy, obs)
    new_names = model.policy.inject()
    after = outputs(model.policy, obs)
    for a, b in zip(before, after):
        assert torch.equal(a, b)
    assert isinstance(model.policy.action_net, InjectedHead) and isinstance(model.policy.value_net, InjectedHead)
    assert sorted(new_names) == [
        "action_net.new.bias",
        "action_net.new.weight",
        "value_net.new.bias",
        "value_net.new.weight",
    ]
    # The fresh heads are SB3's: orthogonal, gain 0.01 for the action head, 1 for the value head; not the old ones.
    action = model.policy.action_net
    assert not torch.equal(action.new.weight, action.old.weight)
    assert torch.equal(action.new.weight, action.new_frozen.weight)
    assert action.new.bias.abs().max() == 0
    value_w = model.policy.value_net.new.weight
    assert torch.allclose(value_w.norm(), torch.tensor(1.0), atol=1e-5)  # one row of an orthogonal matrix, gain 1


def test_only_the_new_heads_and_the_hidden_layers_train_after_the_injection() -> None:
    model = make_model()
    cb = PlasticityInjection(on_task_switch=False, at_steps=[40])
    model.learn(64, callback=cb)
    assert cb.injection_steps == [40] and cb.n_injections == 1
    policy = model.policy
    frozen = {n for n, p in policy.named_parameters() if not p.requires_grad}
    assert frozen == {
        f"{h}.{part}.{w}"
        for h in ("action_net", "value_net")
        for part in ("old", "new_frozen")
        for w in ("weight", "bias")
    }
    before = snapshot(policy)
    model.learn(128, callback=cb, reset_num_timesteps=False)
    moved = changed(before, policy)
    assert not moved & frozen
    assert {"action_net.new.weight", "value_net.new.weight", "log_std", "mlp_extractor.policy_net.0.weight"} <= moved
    assert cb.n_injections == 1  # the at_steps are not repeated


def test_optimizer_gets_a_param_group_that_follows_the_lr_schedule() -> None:
    model = make_model(learning_rate=lambda progress: 1e-3 * progress)
    model.learn(64, callback=PlasticityInjection(on_task_switch=False, at_steps=[10]))
    groups = model.policy.optimizer.param_groups
    assert len(groups) == 2
    new = {id(p) for p in model.policy.action_net.new.parameters()} | {
        id(p) for p in model.policy.value_net.new.parameters()
    }
    assert {id(p) for p in groups[1]["params"]} == new
    expected = 1e-3 * model._current_progress_remaining
    assert groups[0]["lr"] == groups[1]["lr"] == pytest.approx(expected)
    assert model.policy.optimizer.state[model.policy.action_net.new.weight]["step"] > 0  # Adam moved it


def test_task_switch_triggers_one_injection_per_switch() -> None:
    model = make_model(at=50)
    cb = PlasticityInjection()
    model.learn(128, callback=cb)
    assert cb.injection_steps == [50]
    assert model.policy_kwargs["n_injections"] == 1 == model.policy.n_injections
    assert intervention_counts([cb]) == [{"type": "plasticity_injection", "acted": 1, "unit": "injections"}]


def test_an_injected_model_saves_and_loads_with_its_structure() -> None:
    model = make_model(at=40)
    model.learn(96, callback=PlasticityInjection())
    model.policy.inject()  # a second injection nests the first
    model.policy_kwargs = {**model.policy_kwargs, "n_injections": 2}
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    loaded = PPO.load(buffer, env=model.get_env())
    assert loaded.policy.n_injections == 2
    assert isinstance(loaded.policy.action_net.old, InjectedHead)
    want, got = model.policy.state_dict(), loaded.policy.state_dict()
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    grads = {n: p.requires_grad for n, p in model.policy.named_parameters()}
    assert grads == {n: p.requires_grad for n, p in loaded.policy.named_parameters()}
    opt_want, opt_got = model.policy.optimizer.state_dict(), loaded.policy.optimizer.state_dict()
    assert [len(g["params"]) for g in opt_want["param_groups"]] == [len(g["params"]) for g in opt_got["param_groups"]]
    assert opt_want["state"].keys() == opt_got["state"].keys()
    for key, state in opt_want["state"].items():
        assert all(torch.equal(v, opt_got["state"][key][name]) for name, v in state.items())
    obs = torch.randn(8, 3)
    assert all(torch.equal(a, b) for a, b in zip(outputs(model.policy, obs), outputs(loaded.policy, obs)))
    frozen = snapshot(loaded.policy.action_net.old)
    loaded.learn(64, reset_num_timesteps=False)
    assert not changed(frozen, loaded.policy.action_net.old)


def test_callback_state_round_trips() -> None:
    model = make_model(at=30)
    cb = PlasticityInjection(at_steps=[60])
    model.learn(96, callback=cb)
    assert cb.injection_steps == [30, 60]
    other = PlasticityInjection(at_steps=[60])
    other.load_state_dict(copy.deepcopy(cb.state_dict()))
    assert other.state_dict()["injection_steps"] == [30, 60] and other._next_at == 1
    assert other._switch.task_id == 1


def test_refusals_name_the_bad_value() -> None:
    with pytest.raises(ValueError, match="InjectionMixin, got ActorCriticPolicy"):
        make_model(policy="MlpPolicy").learn(32, callback=PlasticityInjection())
    with pytest.raises(ValueError, match="anchored decay"):
        torch.manual_seed(0)
        SyrePPO(InjectionActorCriticPolicy, gym.make("Pendulum-v1"), **SMALL).learn(32, callback=PlasticityInjection())
    with pytest.raises(ValueError, match=r"at_steps\[1\] must be a positive int, got 0"):
        PlasticityInjection(at_steps=[5, 0])
    with pytest.raises(ValueError, match="at_steps must be a list"):
        PlasticityInjection(at_steps=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_injections must be a non-negative int, got -1"):
        make_model(policy_kwargs={"net_arch": [8], "n_injections": -1})
    assert INTERVENTIONS["plasticity_injection"] is PlasticityInjection
    assert isinstance(build_intervention({"type": "plasticity_injection", "at_steps": [3]}), PlasticityInjection)


def test_a_run_that_cannot_inject_is_reported() -> None:
    config = {
        "agent": "ppo_plasticity_injection",
        "scenario": "s",
        "algorithm": "PPO",
        "hyperparameters": {"n_steps": 32},
        "n_envs": 1,
        "total_steps": 100,
        "scenario_recipe": {"schedule": {"type": "fixed_interval", "steps_per_task": 1000}},
        "interventions": [{"type": "plasticity_injection"}],
    }
    assert any("never injects" in line for line in idle_reasons(config))
    config["interventions"] = [{"type": "plasticity_injection", "at_steps": [50]}]
    assert idle_reasons(config) == []


@pytest.mark.slow
def test_a_run_resumed_from_an_injected_checkpoint_is_exact(tmp_path) -> None:
    """Tasks of 512 steps, checkpoints every 256: the run is stopped at step 900, after the checkpoint of step 768,
    which holds a policy injected at the switch of step 512; the resumed run ends as the uninterrupted one."""
    import zipfile

    from helpers import TINY_RUN, Interrupt

    from syre_rl.experiments.checkpoints import list_checkpoints
    from syre_rl.experiments.config import resolve_config
    from syre_rl.experiments.run import train

    config = resolve_config(
        "ppo_plasticity_injection", "relabelled_bandit", seed=0, overrides=TINY_RUN, total_steps=1024, device="cpu"
    )
    reference = train(config, tmp_path / "reference")
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "run", extra_callbacks=[Interrupt(900)])
    assert list_checkpoints(tmp_path / "run")[-1].steps == 768
    train(config, tmp_path / "run", resume=True)
    for name in ("episodes.csv", "metrics.csv"):
        assert (tmp_path / "run" / name).read_bytes() == (reference / name).read_bytes()
    with zipfile.ZipFile(reference / "model.zip") as want, zipfile.ZipFile(tmp_path / "run" / "model.zip") as got:
        for name in ("policy.pth", "policy.optimizer.pth"):
            a = torch.load(io.BytesIO(want.read(name)), weights_only=False)
            b = torch.load(io.BytesIO(got.read(name)), weights_only=False)
            assert repr(a) == repr(b)
        loaded = torch.load(io.BytesIO(got.read("policy.pth")), weights_only=False)
    assert "action_net.new.weight" in loaded and "action_net.old.weight" in loaded
    done = (tmp_path / "run" / "done").read_text()
    assert '"plasticity_injection", "acted": 1' in done
