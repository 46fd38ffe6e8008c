"""Normalize-and-project: after every optimizer step each weight matrix has exactly its norm at the start of
training, while the weights themselves keep learning."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from stable_baselines3 import PPO

from syre_rl.experiments.firing import intervention_counts
from syre_rl.interventions import INTERVENTIONS
from syre_rl.interventions.layernorm import LayerNormActorCriticPolicy
from syre_rl.interventions.normalize_project import NormalizeAndProject, project_to_norms, projected_weights

HEADS = {"action_net.weight", "value_net.weight"}


def make_model() -> PPO:
    torch.manual_seed(0)
    return PPO(
        LayerNormActorCriticPolicy,
        gym.make("CartPole-v1"),
        n_steps=64,
        batch_size=32,
        n_epochs=2,
        seed=0,
        learning_rate=1e-2,
        policy_kwargs={"net_arch": [8, 8]},
    )


def norms(model: PPO) -> dict[str, float]:
    return {n: float(torch.linalg.vector_norm(w.detach())) for n, w in projected_weights(model.policy).items()}


def test_project_to_norms_is_exact() -> None:
    w = torch.nn.Parameter(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)))
    zero = torch.nn.Parameter(torch.zeros(2, 2))
    direction = w.detach() / w.detach().norm()
    assert project_to_norms({"w": w, "zero": zero}, {"w": 2.5, "zero": 1.0}) == 1
    assert float(w.detach().norm()) == pytest.approx(2.5, rel=1e-7)
    assert torch.allclose(w.detach() / 2.5, direction)  # the direction is kept
    assert zero.abs().max() == 0


@pytest.mark.parametrize("scope", ["all", "hidden"])
def test_each_layer_keeps_its_initial_norm(scope: str) -> None:
    model = make_model()
    start = norms(model)
    weights_before = {n: w.detach().clone() for n, w in projected_weights(model.policy).items()}
    cb = NormalizeAndProject(scope=scope)
    model.learn(256, callback=cb)
    assert cb.n_projections == 16  # 4 rollouts x 2 epochs x 2 minibatches
    end = norms(model)
    kept = set(start) if scope == "all" else set(start) - HEADS
    assert set(cb.norms) == kept
    for name in kept:
        assert end[name] == pytest.approx(start[name], rel=1e-6), name
    for name, w in projected_weights(model.policy).items():
        assert not torch.equal(w, weights_before[name]), f"{name} did not learn"
    if scope == "hidden":  # the heads are free to grow or shrink
        assert any(abs(end[n] - start[n]) > 1e-4 * start[n] for n in HEADS)
    assert intervention_counts([cb]) == [{"type": "normalize_project", "acted": 16, "unit": "steps projected"}]


def test_resumed_callback_projects_to_the_saved_norms() -> None:
    model = make_model()
    cb = NormalizeAndProject()
    model.learn(64, callback=cb)
    saved = cb.state_dict()
    with torch.no_grad():  # the weights drift between sessions: the norms of training start still rule
        for w in projected_weights(model.policy).values():
            w.mul_(3.0)
    resumed = NormalizeAndProject()
    resumed.load_state_dict(saved)
    model.learn(64, callback=resumed, reset_num_timesteps=False)
    assert resumed.n_projections == 2 * cb.n_projections
    for name, value in norms(model).items():
        assert value == pytest.approx(saved["norms"][name], rel=1e-6)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match=r"scope must be one of \['all', 'hidden'\], got 'heads'"):
        NormalizeAndProject(scope="heads")
    assert INTERVENTIONS["normalize_project"] is NormalizeAndProject
    cb = NormalizeAndProject()
    cb.load_state_dict({"n_projections": 0, "norms": {"other.weight": 1.0}})
    with pytest.raises(ValueError, match="saved norms are for"):
        make_model().learn(64, callback=cb)
