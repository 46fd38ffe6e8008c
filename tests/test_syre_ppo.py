"""SyrePPO and the syre SB3 policies: training, SB3 compatibility, save/load, deployment without syre."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.policies import ActorCriticPolicy

from syre_rl import (
    SyreActorCriticCnnPolicy,
    SyreActorCriticPolicy,
    SyreMultiInputActorCriticPolicy,
    SyrePPO,
)

SMALL = dict(n_steps=64, batch_size=32, n_epochs=2, policy_kwargs=dict(net_arch=[32, 32]))


def same_parameters(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_run(env_id: str) -> None:
    model = SyrePPO("MlpPolicy", env_id, seed=0, **SMALL)
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(256)
    assert model.num_timesteps >= 256
    assert any(not torch.equal(before[k], v) for k, v in model.policy.state_dict().items())
    assert model.policy.syre.weight_decay == 0.002


def test_policy_aliases_and_plain_ppo_with_syre_policy() -> None:
    assert SyrePPO.policy_aliases["MlpPolicy"] is SyreActorCriticPolicy
    assert SyrePPO.policy_aliases["CnnPolicy"] is SyreActorCriticCnnPolicy
    assert SyrePPO.policy_aliases["MultiInputPolicy"] is SyreMultiInputActorCriticPolicy
    model = PPO(SyreActorCriticPolicy, "CartPole-v1", seed=0, **SMALL)
    assert isinstance(model.policy, SyreActorCriticPolicy)
    model.learn(128)


def test_tensorboard_name(tmp_path: Path) -> None:
    SyrePPO("MlpPolicy", "CartPole-v1", tensorboard_log=str(tmp_path), seed=0, **SMALL).learn(64)
    assert [p.name for p in tmp_path.iterdir()] == ["SyrePPO_1"]


def test_settings_reach_the_policy_and_sb3_defaults_are_kept() -> None:
    model = SyrePPO(
        "MlpPolicy",
        "CartPole-v1",
        weight_decay=0.01,
        sigma_scale=0.05,
        decay_mode="decoupled",
        seed=0,
        **SMALL,
    )
    syre = model.policy.syre
    assert (syre.weight_decay, syre.mode) == (0.01, "decoupled")
    assert model.policy.optimizer.defaults["eps"] == 1e-5  # SB3's Adam eps is kept
    assert "mlp_extractor.policy_net.0.weight" in syre.names and "action_net.weight" in syre.names


def test_weights_are_sb3_init_plus_offset() -> None:
    """Orthogonal init first (same RNG stream as PPO), then the shift by theta_0."""
    plain = PPO("MlpPolicy", "CartPole-v1", seed=3, **SMALL)
    treated = SyrePPO("MlpPolicy", "CartPole-v1", seed=3, **SMALL)
    plain_state = plain.policy.state_dict()
    for name, param, offset in zip(treated.policy.syre.names, treated.policy.syre.params, treated.policy.syre.theta_0):
        torch.testing.assert_close(param.detach() - offset, plain_state[name], atol=1e-7, rtol=0)


def test_log_std_is_left_untouched_by_default() -> None:
    model = SyrePPO("MlpPolicy", "Pendulum-v1", seed=0, **SMALL)
    assert "log_std" not in model.policy.syre.names
    assert torch.equal(model.policy.log_std.detach(), torch.zeros(1))
    included = SyrePPO("MlpPolicy", "Pendulum-v1", seed=0, decay_exclude=(), **SMALL)
    assert "log_std" in included.policy.syre.names
    assert not torch.equal(included.policy.log_std.detach(), torch.zeros(1))


def test_cnn_and_multi_input_policies() -> None:
    class ImageEnv(gym.Env):
        observation_space = spaces.Box(0, 255, (36, 36, 1), dtype=np.uint8)
        action_space = spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return self.observation_space.sample(), {}

        def step(self, action):
            return self.observation_space.sample(), 1.0, False, self.np_random.random() < 0.1, {}

    class DictEnv(ImageEnv):
        observation_space = spaces.Dict({"img": ImageEnv.observation_space, "vec": spaces.Box(-1, 1, (3,))})

    cnn = SyrePPO("CnnPolicy", ImageEnv(), n_steps=32, batch_size=16, n_epochs=1, seed=0)
    assert any(n.startswith("features_extractor.cnn") for n in cnn.policy.syre.names)
    cnn.learn(32)
    multi = SyrePPO("MultiInputPolicy", DictEnv(), n_steps=32, batch_size=16, n_epochs=1, seed=0)
    assert any("extractors.img" in n for n in multi.policy.syre.names)
    multi.learn(32)


def test_decay_is_applied_during_ppo_updates() -> None:
    """A stronger decay keeps the effective weights closer to theta_0 over the same PPO updates."""
    a = SyrePPO("MlpPolicy", "CartPole-v1", seed=0, weight_decay=0.0, **SMALL)
    b = SyrePPO("MlpPolicy", "CartPole-v1", seed=0, weight_decay=0.5, **SMALL)
    a.learn(64)
    b.learn(64)
    dist_a = sum((p - o).norm() for p, o in zip(a.policy.syre.params, a.policy.syre.theta_0))
    dist_b = sum((p - o).norm() for p, o in zip(b.policy.syre.params, b.policy.syre.theta_0))
    assert dist_b < dist_a


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sigma_scale": -1.0}, "sigma_scale must be a finite number >= 0, got -1.0"),
        ({"weight_decay": float("nan")}, "weight_decay must be a finite number >= 0, got nan"),
        ({"decay_mode": "adamw"}, "mode must be one of ('coupled', 'decoupled'), got 'adamw'"),
        ({"policy_kwargs": {"weight_decay": 0.1}}, "pass ['weight_decay'] as SyrePPO arguments"),
        (
            {"policy_kwargs": {"optimizer_kwargs": {"weight_decay": 0.01}}},
            "optimizer weight_decay=0.01 would decay the weights toward 0",
        ),
    ],
)
def test_bad_settings_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        SyrePPO("MlpPolicy", "CartPole-v1", **kwargs)
    assert message in str(err.value)


def test_sb3s_own_policy_class_is_treated_with_syre() -> None:
    model = SyrePPO(ActorCriticPolicy, "CartPole-v1", seed=0, **SMALL)
    assert type(model.policy) is ActorCriticPolicy
    assert model.syre.names == [n for n, _ in model.policy.named_parameters()]
    model.learn(64)


def test_unknown_policy_names_and_other_anchors_are_rejected() -> None:
    with pytest.raises(ValueError, match="SyrePPO uses the anchor 'syre', got anchor='zero'"):
        SyrePPO("MlpPolicy", "CartPole-v1", anchor="zero")
    with pytest.raises(ValueError, match="unknown policy 'MLPPolicy'; SyrePPO accepts"):
        SyrePPO("MLPPolicy", "CartPole-v1")


# ---------------------------------------------------------------------------------------------- save and load
def continue_training(model: PPO, steps: int = 128) -> PPO:
    model.set_env(make_vec_env("CartPole-v1", n_envs=1, seed=11))
    model.set_random_seed(5)
    return model.learn(steps, reset_num_timesteps=False)


def test_save_load_restores_theta_0_predictions_and_training(tmp_path: Path) -> None:
    model = SyrePPO("MlpPolicy", "CartPole-v1", seed=0, **SMALL).learn(128)
    path = tmp_path / "syre.zip"
    model.save(path)
    torch.manual_seed(999)  # the loader draws a different offset first: theta_0 must come from the file
    loaded = SyrePPO.load(path)
    assert loaded.policy.syre.seed == model.policy.syre.seed
    assert all(torch.equal(a, b) for a, b in zip(model.policy.syre.theta_0, loaded.policy.syre.theta_0))
    obs = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    continue_training(model)
    continue_training(loaded)
    assert same_parameters(model.policy, loaded.policy)
    assert all(torch.equal(a, b) for a, b in zip(model.policy.syre.theta_0, loaded.policy.syre.theta_0))


def test_plain_ppo_with_syre_policy_save_load_keeps_theta_0(tmp_path: Path) -> None:
    model = PPO(SyreActorCriticPolicy, "CartPole-v1", seed=0, **SMALL).learn(64)
    model.save(tmp_path / "m.zip")
    loaded = PPO.load(tmp_path / "m.zip")
    assert all(torch.equal(a, b) for a, b in zip(model.policy.syre.theta_0, loaded.policy.syre.theta_0))


def test_load_in_a_fresh_process(tmp_path: Path) -> None:
    model = SyrePPO("MlpPolicy", "CartPole-v1", seed=0, **SMALL).learn(128)
    model.save(tmp_path / "m.zip")
    obs = np.random.default_rng(1).normal(size=(50, 4)).astype(np.float32)
    np.save(tmp_path / "obs.npy", obs)
    script = textwrap.dedent(
        f"""
        import numpy as np, torch
        from syre_rl import SyrePPO
        m = SyrePPO.load({str(tmp_path / "m.zip")!r})
        obs = np.load({str(tmp_path / "obs.npy")!r})
        np.save({str(tmp_path / "actions.npy")!r}, m.predict(obs, deterministic=True)[0])
        torch.save(m.policy.syre.theta_0, {str(tmp_path / "theta0.pt")!r})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "actions.npy"), model.predict(obs, deterministic=True)[0])
    theta_0 = torch.load(tmp_path / "theta0.pt")
    assert all(torch.equal(a, b) for a, b in zip(theta_0, model.policy.syre.theta_0))


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_trained_weights_deploy_into_plain_sb3_ppo(env_id: str) -> None:
    model = SyrePPO("MlpPolicy", env_id, seed=0, **SMALL).learn(128)
    plain = PPO("MlpPolicy", env_id, **SMALL)
    plain.policy.load_state_dict(model.policy.state_dict(), strict=True)
    obs = np.stack([plain.observation_space.sample() for _ in range(30)])
    np.testing.assert_array_equal(plain.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])


def test_solves_cartpole_within_100k_steps() -> None:
    env = make_vec_env("CartPole-v1", n_envs=8, seed=0)
    model = SyrePPO(  # RL Zoo's CartPole hyperparameters for PPO
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        learning_rate=lambda progress: 1e-3 * progress,
        clip_range=lambda progress: 0.2 * progress,
        seed=0,
    )
    model.learn(100_000)
    mean_return, _ = evaluate_policy(model, make_vec_env("CartPole-v1", n_envs=1, seed=100), n_eval_episodes=10)
    assert mean_return >= 450


def test_policy_save_load_rebuilds_the_same_theta_0(tmp_path: Path) -> None:
    model = SyrePPO("MlpPolicy", "CartPole-v1", seed=0, **SMALL)
    model.policy.save(tmp_path / "policy.pt")
    torch.manual_seed(123)
    policy = SyreActorCriticPolicy.load(tmp_path / "policy.pt")
    assert all(torch.equal(a, b) for a, b in zip(model.policy.syre.theta_0, policy.syre.theta_0))
    assert same_parameters(model.policy, policy)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_and_save_load(tmp_path: Path) -> None:
    model = SyrePPO("MlpPolicy", "CartPole-v1", device="cuda", seed=0, **SMALL).learn(256)
    assert all(a.device.type == "cuda" for a in model.policy.syre.theta_0)
    model.save(tmp_path / "m.zip")
    loaded = SyrePPO.load(tmp_path / "m.zip", device="cuda")
    assert all(torch.equal(a, b) for a, b in zip(model.policy.syre.theta_0, loaded.policy.syre.theta_0))
    on_cpu = SyrePPO.load(tmp_path / "m.zip", device="cpu")
    assert all(torch.equal(a.cpu(), b) for a, b in zip(model.policy.syre.theta_0, on_cpu.policy.syre.theta_0))


def test_a_deep_copied_policy_keeps_its_decay() -> None:
    import copy

    model = SyrePPO("MlpPolicy", "CartPole-v1", seed=0, weight_decay=1.0, **SMALL)
    clone = copy.deepcopy(model.policy)
    for p in clone.parameters():
        p.grad = torch.zeros_like(p)
    before = {n: p.detach().clone() for n, p in clone.named_parameters()}
    original = {n: p.detach().clone() for n, p in model.policy.named_parameters()}
    clone.optimizer.step()
    name = "mlp_extractor.policy_net.0.weight"
    assert not torch.equal(clone.state_dict()[name], before[name])  # the copy decays its own weights
    assert all(torch.equal(p, original[n]) for n, p in model.policy.named_parameters())


def test_offset_scale_relative_to_sb3_init_is_as_the_readme_states():
    """README: sigma_0 = 0.01 / sqrt(fan_in) is 0.7% of SB3's init std in 64x64 layers, 3% in the first layer (fan-in
    4), 1% in the value head and 90% in the action head (orthogonal init with gain 0.01)."""
    from stable_baselines3 import PPO

    from syre_rl import SyrePPO

    decay = SyrePPO("MlpPolicy", "CartPole-v1", seed=0).policy.anchored_decay
    init = {n: p.detach() for n, p in PPO("MlpPolicy", "CartPole-v1", seed=0).policy.named_parameters()}
    ratio = {n: float(a.std() / init[n].std()) for n, a in zip(decay.names, decay.anchors) if n.endswith("weight")}
    assert 0.005 < ratio["mlp_extractor.policy_net.2.weight"] < 0.01
    assert 0.02 < ratio["mlp_extractor.policy_net.0.weight"] < 0.04
    assert 0.007 < ratio["value_net.weight"] < 0.015
    assert 0.8 < ratio["action_net.weight"] < 1.1
