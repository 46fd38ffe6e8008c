"""Rollout counting and observation batches shared by the metric sampler and the interventions."""

import numpy as np
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.env_util import make_vec_env

from syre_rl.plasticity.rollouts import count_rollouts, sample_observations


def _ppo():
    model = PPO("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), n_steps=8, batch_size=16, n_epochs=1)
    model.learn(16)  # one rollout: the buffer holds 8 steps x 2 envs
    return model


def test_on_policy_rollouts_follow_the_step_count_and_others_count_calls():
    ppo = _ppo()
    assert count_rollouts(ppo, 48, counted=0) == 3  # 48 steps / (8 steps x 2 envs), whatever was counted
    dqn = DQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=1, seed=0), buffer_size=1000)
    assert count_rollouts(dqn, 48, counted=5) == 6  # DQN's n_steps is its n-step return, not a rollout


def test_rollout_batches_whole_or_sampled_without_replacement():
    model = _ppo()
    flat = torch.as_tensor(model.rollout_buffer.observations.reshape(16, 4))
    assert torch.equal(sample_observations(model), flat)
    batch = sample_observations(model, 5, np.random.default_rng(0))
    again = sample_observations(model, 5, np.random.default_rng(0))
    assert batch.shape == (5, 4) and torch.equal(batch, again)
    rows = {tuple(row.tolist()) for row in batch}
    assert len(rows) == 5 and rows <= {tuple(row.tolist()) for row in flat}
    everything = sample_observations(model, 100, np.random.default_rng(0))  # more than the buffer holds
    assert sorted(map(tuple, everything.tolist())) == sorted(map(tuple, flat.tolist()))


def test_replay_batches_and_empty_buffers():
    model = DQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=1, seed=0), buffer_size=1000, learning_starts=0, seed=0)
    model.learn(20)
    assert sample_observations(model, 8).shape == (8, 4)
    fresh = DQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=1, seed=0), buffer_size=1000)
    assert sample_observations(fresh, 8) is None
