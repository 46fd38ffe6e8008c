"""TRAC: erfi, the update against a reference written from the algorithm (Adam's update, then the discounted erfi
tuners) on a small quadratic problem, the saved state, and the recipe."""

from __future__ import annotations

import io
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

from syre_rl.experiments.agents import load_agent
from syre_rl.experiments.classes import build_policy_kwargs, resolve_policy
from syre_rl.interventions.trac import TRAC_BETAS, TracActorCriticPolicy, TracAdam, erfi


def erfi_by_quadrature(x: float, points: int = 4_001) -> float:
    """erfi(x) = 2/sqrt(pi) * integral_0^x exp(t^2) dt by Simpson's rule (independent of the series in the module)."""
    t = np.linspace(0.0, abs(x), points)
    f = np.exp(t * t)
    h = t[1] - t[0]
    integral = h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())
    return math.copysign(2 / math.sqrt(math.pi) * integral, x)


@pytest.mark.parametrize(
    ("x", "value"),
    [(0.0, 0.0), (0.5, 0.6149520946965110), (1.0, 1.6504257587975428), (-2.0, -18.564802414575553)],
)
def test_erfi_known_values(x: float, value: float) -> None:
    assert erfi(x) == pytest.approx(value, rel=1e-14, abs=1e-300)


@pytest.mark.parametrize("x", [1e-6, 0.3, 2.5, 5.0, 9.0])
def test_erfi_matches_quadrature(x: float) -> None:
    assert erfi(x) == pytest.approx(erfi_by_quadrature(x, points=200_001), rel=1e-10)


def test_erfi_overflows_to_infinity_beyond_float64() -> None:
    assert erfi(30.0) == math.inf and erfi(-30.0) == -math.inf and math.isnan(erfi(math.nan))
    assert math.isfinite(erfi(26.0))


def reference_trac(
    theta0: np.ndarray, grad_fn, steps: int, lr: float, adam_betas=(0.9, 0.999), adam_eps=1e-8
) -> tuple[np.ndarray, list[float]]:
    """TRAC around Adam, from the algorithm: Delta accumulates Adam's updates, h = <Delta_t, g_t>, discounted
    tuners v, sigma per beta, s_j from erfi, theta = theta_ref + max(S, 0) * Delta."""
    betas = np.array(TRAC_BETAS)
    s_init, eps = 1e-8, 1e-8
    ref, theta, delta = theta0.copy(), theta0.copy(), np.zeros_like(theta0)
    m, v = np.zeros_like(theta0), np.zeros_like(theta0)
    variance, sigma = np.zeros(len(betas)), np.full(len(betas), 1e-8)
    scales = []
    b1, b2 = adam_betas
    for t in range(1, steps + 1):
        g = grad_fn(theta)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        u = -lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + adam_eps)
        h = float(delta @ g)
        delta = delta + u
        variance = betas**2 * variance + h * h
        sigma = betas * sigma - h
        ratio = sigma / (math.sqrt(2) * np.sqrt(variance) + eps)
        s = s_init / erfi_by_quadrature(1 / math.sqrt(2)) * np.array([erfi_by_quadrature(r) for r in ratio])
        scales.append(float(s.sum()))
        theta = ref + max(s.sum(), 0.0) * delta
    return theta, scales


def test_update_matches_the_algorithm_on_a_quadratic() -> None:
    # f(theta) = 1/2 sum a_i (theta_i - c_i)^2, theta split into two parameter tensors
    a = np.array([1.0, 3.0, 0.5, 2.0, 1.5])
    c = np.array([2.0, -1.0, 0.5, 3.0, -2.0])
    theta0 = np.array([0.0, 0.5, -1.0, 0.0, 1.0])
    w1 = torch.nn.Parameter(torch.tensor(theta0[:2]))
    w2 = torch.nn.Parameter(torch.tensor(theta0[2:]))
    opt = TracAdam([w1, w2], lr=0.05)
    at, ct = torch.tensor(a), torch.tensor(c)
    scales = []
    for _ in range(80):
        opt.zero_grad()
        theta = torch.cat([w1, w2])
        (0.5 * (at * (theta - ct) ** 2).sum()).backward()
        opt.step()
        scales.append(opt.scale)
    want, want_scales = reference_trac(theta0, lambda th: a * (th - c), 80, lr=0.05)
    got = torch.cat([w1, w2]).detach().numpy()
    assert np.allclose(got, want, rtol=1e-8, atol=1e-12)
    assert np.allclose(scales, want_scales, rtol=1e-8, atol=1e-20)
    assert max(scales) > 1e3 * scales[0]  # the scale was learned: the run is not stuck near theta_ref
    assert np.abs(got - theta0).max() > 0.5


def test_optimizer_hooks_run_once_per_step() -> None:
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # torch then wraps Adam.step with the hook runner
    w = torch.nn.Parameter(torch.ones(3))
    opt = TracAdam([w], lr=0.1)
    calls: list[str] = []
    opt.register_step_pre_hook(lambda *_: calls.append("pre"))
    opt.register_step_post_hook(lambda *_: calls.append("post"))
    for _ in range(3):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    assert calls == ["pre", "post"] * 3


def test_state_dict_round_trip_continues_identically() -> None:
    def run(opt: TracAdam, w: torch.nn.Parameter, steps: int) -> None:
        for _ in range(steps):
            opt.zero_grad()
            ((w - 1.5) ** 2).sum().backward()
            opt.step()

    w = torch.nn.Parameter(torch.tensor([0.0, 2.0, -1.0]))
    opt = TracAdam([w], lr=0.1)
    run(opt, w, 20)
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    w2 = torch.nn.Parameter(w.detach().clone())
    opt2 = TracAdam([w2], lr=0.1)
    opt2.load_state_dict(torch.load(buffer, weights_only=False))
    run(opt, w, 20)
    run(opt2, w2, 20)
    assert torch.equal(w, w2) and opt.scale == opt2.scale
    with pytest.raises(ValueError, match="saved TRAC state has 6 tuners, this optimizer 1"):
        TracAdam([torch.nn.Parameter(w.detach().clone())], trac_betas=[0.9]).load_state_dict(opt.state_dict())


def test_bad_settings_are_refused() -> None:
    w = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match=r"trac_betas must be a non-empty list of numbers in \(0, 1\), got \[1.5\]"):
        TracAdam(w, trac_betas=[1.5])
    with pytest.raises(ValueError, match="s_init and trac_eps must be finite numbers > 0, got 0"):
        TracAdam(w, s_init=0)


def test_recipe_trains_and_saves_the_tuner() -> None:
    recipe = load_agent("ppo_trac")
    policy_class = resolve_policy(PPO, recipe["policy"])
    assert policy_class is TracActorCriticPolicy
    torch.manual_seed(0)
    model = PPO(
        policy_class,
        gym.make("CartPole-v1"),
        n_steps=64,
        batch_size=32,
        n_epochs=2,
        seed=0,
        policy_kwargs={**build_policy_kwargs(recipe["policy_kwargs"]), "net_arch": [8]},
    )
    model.learn(128)
    optimizer = model.policy.optimizer
    assert isinstance(optimizer, TracAdam) and optimizer._tuner["steps"] == 8
    assert optimizer.param_groups[0]["eps"] == 1e-5
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    loaded = PPO.load(buffer)
    assert isinstance(loaded.policy.optimizer, TracAdam)
    assert loaded.policy.optimizer._tuner == optimizer._tuner


def test_any_policy_takes_the_optimizer_by_name() -> None:
    kwargs = build_policy_kwargs({"optimizer_class": "syre_rl.interventions.trac.TracAdam", "net_arch": [4]})
    model = PPO("MlpPolicy", gym.make("CartPole-v1"), n_steps=32, batch_size=32, seed=0, policy_kwargs=kwargs)
    assert isinstance(model.policy.optimizer, TracAdam)
