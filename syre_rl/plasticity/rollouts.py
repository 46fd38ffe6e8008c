"""What a callback reads from an SB3 algorithm's rollouts: how many have finished, and a batch of observations."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from stable_baselines3.common.utils import obs_as_tensor

Observations = torch.Tensor | dict[str, torch.Tensor]


def count_rollouts(model: Any, num_timesteps: int, counted: int) -> int:
    """Rollouts finished so far, at a rollout's end. On-policy algorithms (with a ``rollout_buffer``) derive it from
    the step count, so a resumed run keeps the cadence of an uninterrupted one; others count calls (``counted + 1``).

    :param model: the SB3 algorithm (``rollout_buffer``, ``n_steps`` and ``n_envs`` are read when present; the
        ``n_steps`` of off-policy algorithms is their n-step return, not a rollout length).
    :param num_timesteps: total env steps so far.
    :param counted: the count returned at the previous rollout end (0 before the first).
    """
    n_steps, n_envs = getattr(model, "n_steps", None), getattr(model, "n_envs", None)
    on_policy = getattr(model, "rollout_buffer", None) is not None
    if on_policy and isinstance(n_steps, int) and isinstance(n_envs, int) and n_steps > 0 and n_envs > 0:
        return num_timesteps // (n_steps * n_envs)
    return counted + 1


def sample_observations(
    model: Any, batch_size: int | None = None, rng: np.random.Generator | None = None
) -> Observations | None:
    """A batch of recent observations as the policy takes them (a tensor, or a dict of tensors, on its device).

    On-policy algorithms: observations of the rollout just collected (its buffer must be full, as it is at a rollout's
    end). Off-policy algorithms: a uniform sample of the replay buffer (:func:`replay_batch`).

    :param model: the SB3 algorithm.
    :param batch_size: number of observations, drawn without replacement (all of them, shuffled, when the buffer holds
        fewer); None: the whole rollout in buffer order (on-policy), or the whole replay buffer's size.
    :param rng: generator of the rollout subset or the replay sample (see :func:`replay_batch`); default a fresh
        unseeded one.
    :return: the batch, or None while the buffers hold nothing to measure (a rollout buffer not yet full, an empty
        replay buffer).
    """
    device = model.policy.device
    buffer = getattr(model, "rollout_buffer", None)
    if buffer is not None and getattr(buffer, "full", False):
        shapes = buffer.obs_shape
        flat: Any
        if isinstance(buffer.observations, dict):
            flat = {k: v.reshape((-1, *shapes[k])) for k, v in buffer.observations.items()}
            n = len(next(iter(flat.values())))
        else:
            flat = buffer.observations.reshape((-1, *shapes))
            n = len(flat)
        if batch_size is not None:
            rng = np.random.default_rng() if rng is None else rng
            idx = rng.choice(n, size=min(n, batch_size), replace=False)
            flat = {k: v[idx] for k, v in flat.items()} if isinstance(flat, dict) else flat[idx]
        return obs_as_tensor(flat, device)
    replay = getattr(model, "replay_buffer", None)
    if replay is None:
        return None
    size = replay.size() if batch_size is None else batch_size
    batch = replay_batch(model, size, np.random.default_rng() if rng is None else rng)
    return None if batch is None else batch[0]


def replay_batch(model: Any, batch_size: int, rng: np.random.Generator) -> tuple[Observations, torch.Tensor] | None:
    """``batch_size`` observations and stored actions of an off-policy algorithm's replay buffer, drawn uniformly
    with ``rng`` (numpy's global generator, which training samples with, is not touched, so measuring leaves the
    training's batches unchanged), normalised as training sees them (the algorithm's ``VecNormalize``, if any).

    :return: ``(observations, actions)`` on the policy's device, or None while the buffer is empty.
    """
    replay = model.replay_buffer
    if replay is None or replay.size() == 0:
        return None
    rows = rng.integers(0, replay.size(), size=batch_size)
    envs = rng.integers(0, replay.n_envs, size=batch_size)
    env = model.get_vec_normalize_env()
    observations: Observations
    if isinstance(replay.observations, dict):
        raw = {key: obs[rows, envs] for key, obs in replay.observations.items()}
        normalised = replay._normalize_obs(raw, env)
        observations = {key: replay.to_torch(obs) for key, obs in dict(normalised).items()}
    else:
        observations = replay.to_torch(np.asarray(replay._normalize_obs(replay.observations[rows, envs], env)))
    return observations, replay.to_torch(replay.actions[rows, envs])
