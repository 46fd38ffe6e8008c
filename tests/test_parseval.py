"""Parseval regularisation: the penalty and its analytic gradient (zero on orthogonal rows, equal to autograd on any
matrix) and the callback that adds it at every optimizer step to the hidden weights only."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from stable_baselines3 import PPO

from syre_rl.experiments.firing import intervention_counts
from syre_rl.interventions import INTERVENTIONS, build_intervention
from syre_rl.interventions.parseval import ParsevalRegularization, hidden_weights, parseval_gradient, parseval_penalty


def orthonormal_rows(rows: int, cols: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(cols, rows, generator=generator, dtype=torch.float64))
    return q.T.contiguous()  # rows x cols, W W^T = I


@pytest.mark.parametrize("shape", [(5, 5), (3, 7)])
def test_penalty_and_gradient_vanish_on_orthonormal_rows(shape: tuple[int, int]) -> None:
    w = orthonormal_rows(*shape)
    assert parseval_penalty(w, 1.0) == pytest.approx(0.0, abs=1e-24)
    assert parseval_gradient(w, 1.0).abs().max() < 1e-14
    # s scales the target: sqrt(s) * W has W W^T = s I
    assert parseval_penalty(2.0 * w, 4.0) == pytest.approx(0.0, abs=1e-22)
    assert parseval_penalty(w, 2.0) == pytest.approx(shape[0] * 1.0)  # ||I - 2I||^2 = rows


def test_penalty_of_a_known_matrix() -> None:
    w = torch.tensor([[1.0, 1.0], [0.0, 2.0]], dtype=torch.float64)  # W W^T = [[2, 2], [2, 4]]
    assert parseval_penalty(w, 1.0).item() == 1.0 + 4.0 + 4.0 + 9.0


@pytest.mark.parametrize("shape", [(6, 4), (4, 9), (3, 2, 3, 3)])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_gradient_matches_autograd(shape: tuple[int, ...], scale: float) -> None:
    w = torch.randn(*shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64, requires_grad=True)
    (expected,) = torch.autograd.grad(parseval_penalty(w, scale), w)
    assert torch.allclose(parseval_gradient(w.detach(), scale), expected, rtol=1e-12, atol=1e-12)


def make_model(**kwargs) -> PPO:
    torch.manual_seed(0)
    return PPO(
        "MlpPolicy",
        gym.make("CartPole-v1"),
        n_steps=64,
        batch_size=32,
        n_epochs=2,
        seed=0,
        policy_kwargs={"net_arch": [8, 8]},
        **kwargs,
    )


def test_hidden_weights_leave_the_heads_out() -> None:
    names = sorted(hidden_weights(make_model().policy))
    assert names == [f"mlp_extractor.{net}.{i}.weight" for net in ("policy_net", "value_net") for i in (0, 2)]


def test_callback_adds_the_gradient_of_coef_times_the_penalty() -> None:
    model = make_model()
    cb = ParsevalRegularization(coef=0.01, scale=1.0)
    cb.init_callback(model)
    cb.on_training_start({}, {})
    policy = model.policy
    for p in policy.parameters():
        p.grad = torch.zeros_like(p)
    hidden = hidden_weights(policy)
    expected = {n: 0.01 * parseval_gradient(w.detach()) for n, w in hidden.items()}
    penalty = cb.apply()
    assert penalty == pytest.approx(0.01 * sum(float(parseval_penalty(w.detach())) for w in hidden.values()), rel=1e-6)
    for name, param in policy.named_parameters():
        if name in hidden:
            assert torch.allclose(param.grad, expected[name], rtol=1e-5, atol=1e-7)
        else:
            assert param.grad.abs().max() == 0, name
    cb.on_training_end()


def test_callback_acts_at_every_optimizer_step_and_shrinks_the_penalty() -> None:
    model = make_model(learning_rate=1e-2)
    hidden = hidden_weights(model.policy)
    start = sum(float(parseval_penalty(w.detach())) for w in hidden.values())
    cb = ParsevalRegularization(coef=0.1)
    model.learn(256, callback=cb)
    assert cb.n_penalised == 4 * 2 * 2  # 4 rollouts x 2 epochs x 2 minibatches
    end = sum(float(parseval_penalty(w.detach())) for w in hidden.values())
    assert end < 0.5 * start
    assert intervention_counts([cb]) == [{"type": "parseval", "acted": 16, "unit": "steps penalised"}]
    # the hook is removed at the end of training: a plain step does not count
    model.policy.optimizer.step()
    assert cb.n_penalised == 16
    restored = ParsevalRegularization()
    restored.load_state_dict(cb.state_dict())
    assert restored.n_penalised == 16


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="coef must be a finite number >= 0, got -1"):
        ParsevalRegularization(coef=-1)
    with pytest.raises(ValueError, match="scale must be a finite number > 0, got 0"):
        ParsevalRegularization(scale=0)
    assert INTERVENTIONS["parseval"] is ParsevalRegularization
    with pytest.raises(ValueError, match="lambda_reg"):
        build_intervention({"type": "parseval", "lambda_reg": 1e-3})
