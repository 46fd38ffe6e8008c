"""A user's own ActorCriticPolicy subclass under SyrePPO and AnchoredDecayPPO, unchanged.

Three user-style policies, as SB3's documentation writes them: a custom MLP extractor (overridden
``_build_mlp_extractor``), a custom ``forward``/``evaluate_actions``, and a custom CNN features extractor. Each must
train, carry theta_0 on exactly its trainable parameters except ``log_std``, save and load bit-exactly, deploy into
plain PPO with the same class, and pass SB3-style checks that do not depend on the decay.
"""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from syre_rl import AnchoredDecayPPO, SyrePPO
from syre_rl.syre import Syre


# ---------------------------------------------------------------------------------------------- user policies
class TwoTowerNetwork(nn.Module):
    """A custom MLP extractor (SB3 docs' "custom network"): separate towers with their own widths."""

    def __init__(self, feature_dim: int, last_layer_dim_pi: int = 12, last_layer_dim_vf: int = 10) -> None:
        super().__init__()
        self.latent_dim_pi, self.latent_dim_vf = last_layer_dim_pi, last_layer_dim_vf
        self.policy_net = nn.Sequential(nn.Linear(feature_dim, last_layer_dim_pi), nn.ReLU())
        self.value_net = nn.Sequential(nn.Linear(feature_dim, 16), nn.Tanh(), nn.Linear(16, last_layer_dim_vf))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return self.policy_net(features)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.value_net(features)


class CustomExtractorPolicy(ActorCriticPolicy):
    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = TwoTowerNetwork(self.features_dim)


class GatedPolicy(ActorCriticPolicy):
    """Overrides forward and evaluate_actions: the latent features are gated by a learned per-unit scale."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gate = nn.Parameter(torch.ones(self.mlp_extractor.latent_dim_pi))
        self.optimizer = self.optimizer_class(self.parameters(), lr=self.optimizer.param_groups[0]["lr"])

    def _latents(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        latent_pi, latent_vf = self.mlp_extractor(self.extract_features(obs))
        return latent_pi * self.gate, latent_vf

    def forward(self, obs, deterministic: bool = False):
        latent_pi, latent_vf = self._latents(obs)
        distribution = self._get_action_dist_from_latent(latent_pi)
        actions = distribution.get_actions(deterministic=deterministic)
        return actions, self.value_net(latent_vf), distribution.log_prob(actions)

    def evaluate_actions(self, obs, actions):
        latent_pi, latent_vf = self._latents(obs)
        distribution = self._get_action_dist_from_latent(latent_pi)
        return self.value_net(latent_vf), distribution.log_prob(actions), distribution.entropy()

    def get_distribution(self, obs):
        return self._get_action_dist_from_latent(self._latents(obs)[0])

    def predict_values(self, obs):
        return self.value_net(self._latents(obs)[1])


class SmallCnn(BaseFeaturesExtractor):
    """A custom CNN features extractor (SB3 docs' "custom feature extractor")."""

    def __init__(self, observation_space: spaces.Box, features_dim: int = 32) -> None:
        super().__init__(observation_space, features_dim)
        channels = observation_space.shape[0]
        self.cnn = nn.Sequential(nn.Conv2d(channels, 8, 4, stride=2), nn.ReLU(), nn.Flatten())
        with torch.no_grad():
            n_flat = self.cnn(torch.zeros(1, *observation_space.shape)).shape[1]
        self.linear = nn.Sequential(nn.Linear(n_flat, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.linear(self.cnn(observations))


class SmallCnnPolicy(ActorCriticCnnPolicy):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("features_extractor_class", SmallCnn)
        super().__init__(*args, **kwargs)


class ImageEnv(gym.Env):
    """16x16 grey images; reward 1 when the action matches the brightness of the image's left half."""

    observation_space = spaces.Box(0, 255, (1, 16, 16), dtype=np.uint8)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._obs(), {}

    def _obs(self):
        self._bright = int(self.np_random.integers(2))
        img = self.np_random.integers(0, 100, (1, 16, 16), dtype=np.uint8)
        img[:, :, :8] += 150 * self._bright
        return img

    def step(self, action):
        reward = float(int(action) == self._bright)
        self._t += 1
        return self._obs(), reward, False, self._t >= 8, {}


CASES = {
    "custom_extractor": (CustomExtractorPolicy, "CartPole-v1"),
    "custom_forward": (GatedPolicy, "Pendulum-v1"),
    "custom_cnn": (SmallCnnPolicy, ImageEnv),
}
SMALL = dict(n_steps=64, batch_size=32, n_epochs=2)


def make_env(case: str) -> gym.Env:
    env = CASES[case][1]
    return gym.make(env) if isinstance(env, str) else env()


def make_model(case: str, algo=SyrePPO, seed: int = 0, **kwargs):
    return algo(CASES[case][0], make_env(case), seed=seed, **SMALL, **kwargs)


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------------- the acceptance
@pytest.mark.parametrize("case", CASES)
def test_trains_with_theta_0_on_exactly_its_trainable_parameters(case: str) -> None:
    model = make_model(case)
    assert type(model.policy) is CASES[case][0]  # the user's class, not a syre subclass
    trainable = [n for n, p in model.policy.named_parameters() if p.requires_grad and n != "log_std"]
    assert model.syre.names == trainable
    assert isinstance(model.policy.anchored_decay, Syre)
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(128)
    assert not same_state(before, model.policy.state_dict())


@pytest.mark.parametrize("case", CASES)
def test_weights_are_the_users_init_plus_theta_0(case: str) -> None:
    plain = make_model(case, PPO, seed=4)
    treated = make_model(case, seed=4)
    reference = plain.policy.state_dict()
    for name, param, offset in zip(treated.syre.names, treated.syre.params, treated.syre.theta_0):
        torch.testing.assert_close(param.detach() - offset, reference[name], atol=1e-7, rtol=0)
        assert offset.abs().sum() > 0


@pytest.mark.parametrize("case", CASES)
def test_save_and_load_are_bit_exact(case: str, tmp_path: Path) -> None:
    model = make_model(case).learn(64)
    model.save(tmp_path / "m.zip")
    torch.manual_seed(321)  # the loader builds its policy from other random numbers first
    loaded = SyrePPO.load(tmp_path / "m.zip", env=make_env(case))
    assert type(loaded.policy) is CASES[case][0]
    assert same_state(model.policy.state_dict(), loaded.policy.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(model.syre.theta_0, loaded.syre.theta_0))
    assert loaded.decay_config == model.decay_config
    for model_ in (model, loaded):  # continued training on the same env from the same random state is identical
        model_.set_env(make_vec_env(lambda: make_env(case), n_envs=1, seed=11))
        model_.set_random_seed(7)
        model_.learn(64, reset_num_timesteps=False)
    assert same_state(model.policy.state_dict(), loaded.policy.state_dict())


@pytest.mark.parametrize("case", CASES)
def test_deploys_into_plain_ppo_with_the_same_class(case: str, tmp_path: Path) -> None:
    model = make_model(case).learn(64)
    plain = PPO(CASES[case][0], make_env(case), **SMALL)
    plain.policy.load_state_dict(model.policy.state_dict(), strict=True)
    env = make_env(case)
    obs = np.stack([env.observation_space.sample() for _ in range(20)])
    np.testing.assert_array_equal(plain.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    model.policy.save(tmp_path / "policy.pt")  # SB3's policy file loads as the user's plain class
    policy = CASES[case][0].load(tmp_path / "policy.pt")
    np.testing.assert_array_equal(policy.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])


@pytest.mark.parametrize("case", CASES)
def test_predict_shapes(case: str) -> None:
    model = make_model(case)
    env = make_env(case)
    obs, _ = env.reset(seed=0)
    action, state = model.predict(obs)
    assert state is None
    assert np.shape(action) == env.action_space.shape
    batch = np.stack([env.observation_space.sample() for _ in range(5)])
    actions, _ = model.predict(batch, deterministic=True)
    assert actions.shape == (5, *env.action_space.shape)


class _ReturnsCheck(BaseCallback):
    """After each rollout, compare the buffer's returns with the discounted sum of rewards (SB3's GAE test idea)."""

    def __init__(self, gamma: float, episode_length: int) -> None:
        super().__init__()
        self.gamma, self.episode_length, self.checked = gamma, episode_length, 0

    def _on_rollout_end(self) -> None:
        # reward 1 on every step and gae_lambda 1: the return at step t is sum_{k < T - t} gamma^k, whatever the values
        remaining = self.episode_length - np.arange(self.episode_length)
        expected = (1 - self.gamma**remaining) / (1 - self.gamma)
        returns = self.model.rollout_buffer.returns[:, 0]
        np.testing.assert_allclose(returns, np.tile(expected, len(returns) // self.episode_length), rtol=1e-5)
        self.checked += 1

    def _on_step(self) -> bool:
        return True


class _FixedLengthEnv(gym.Env):
    """Reward 1 on every step, terminated after 8 steps."""

    observation_space = spaces.Box(-1, 1, (4,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self._t += 1
        return self.observation_space.sample(), 1.0, self._t >= 8, False, {}


@pytest.mark.parametrize("policy", [CustomExtractorPolicy, GatedPolicy])
def test_gae_returns(policy: type) -> None:
    check = _ReturnsCheck(gamma=0.9, episode_length=8)
    model = SyrePPO(policy, _FixedLengthEnv(), n_steps=32, batch_size=16, gamma=0.9, gae_lambda=1.0, seed=0)
    model.learn(64, callback=check)
    assert check.checked == 2


# ---------------------------------------------------------------------------------------------- L2 and L2-Init
@pytest.mark.parametrize("anchor", ["zero", "init"])
def test_l2_and_l2_init_on_a_custom_policy(anchor: str, tmp_path: Path) -> None:
    model = make_model("custom_extractor", AnchoredDecayPPO, anchor=anchor, weight_decay=0.01)
    decay = model.anchored_decay
    assert decay.names == [n for n, p in model.policy.named_parameters() if p.requires_grad]
    plain = make_model("custom_extractor", PPO)
    assert same_state(plain.policy.state_dict(), model.policy.state_dict())  # L2 and L2-Init do not shift
    expected = [torch.zeros_like(p) if anchor == "zero" else p.detach() for p in decay.params]
    assert all(torch.equal(a, e) for a, e in zip(decay.anchors, expected))
    model.learn(64)
    model.save(tmp_path / "m.zip")
    loaded = AnchoredDecayPPO.load(tmp_path / "m.zip")
    assert loaded.decay_config.anchor == anchor
    assert all(torch.equal(a, b) for a, b in zip(decay.anchors, loaded.anchored_decay.anchors))


def test_subclassing_a_syre_policy_keeps_working() -> None:
    from syre_rl.policies import SyreActorCriticPolicy

    class WideSyre(SyreActorCriticPolicy):
        def __init__(self, *args, **kwargs) -> None:
            kwargs.setdefault("net_arch", [48])
            super().__init__(*args, **kwargs)

    model = SyrePPO(WideSyre, "CartPole-v1", weight_decay=0.01, seed=0, **SMALL)
    assert model.policy.mlp_extractor.policy_net[0].out_features == 48
    assert model.syre is model.policy.syre and model.syre.weight_decay == 0.01  # installed once, by the policy
    model.learn(64)


def test_a_copied_or_pickled_custom_policy_keeps_decaying() -> None:
    model = make_model("custom_extractor", weight_decay=1.0)
    original = {n: p.detach().clone() for n, p in model.policy.named_parameters()}
    for clone in (copy.deepcopy(model.policy), pickle.loads(pickle.dumps(model.policy))):
        decay = clone.anchored_decay
        assert all(p is q for p, q in zip(decay.params, [dict(clone.named_parameters())[n] for n in decay.names]))
        assert decay.optimizers == [clone.optimizer]
        assert len(clone.optimizer._optimizer_step_pre_hooks) == 1  # hooked once, onto the copy's optimizer
        distance = sum((p - a).abs().sum() for p, a in zip(decay.params, decay.anchors))
        for p in clone.parameters():
            p.grad = torch.zeros_like(p)
        clone.optimizer.step()  # a zero loss gradient: only the decay moves the weights, toward theta_0
        assert sum((p - a).abs().sum() for p, a in zip(decay.params, decay.anchors)) < distance
    assert all(torch.equal(p, original[n]) for n, p in model.policy.named_parameters())  # the original is untouched


def test_optimizer_weight_decay_is_refused_for_custom_policies() -> None:
    with pytest.raises(ValueError, match="would decay the weights toward 0 on top of the anchored decay"):
        SyrePPO(CustomExtractorPolicy, "CartPole-v1", policy_kwargs={"optimizer_kwargs": {"weight_decay": 1e-4}})
