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
    end). Off-policy algorithms: a sample of the replay buffer (the buffer's own sampling, with the algorithm's
    ``VecNormalize`` if any).

    :param model: the SB3 algorithm.
    :param batch_size: number of observations, drawn without replacement (all of them, shuffled, when the buffer holds
        fewer); None: the whole rollout in buffer order (on-policy), or the whole replay buffer's size.
    :param rng: generator of the rollout subset (default a fresh unseeded one) and of the replay sample (see
        :func:`sample_replay`; default numpy's global generator, as in training).
    :return: the batch, or None while the buffers hold nothing to measure (a rollout buffer not yet full, a replay
        buffer with fewer than 2 transitions).
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
    replay = sample_replay(model, batch_size, rng)
    return None if replay is None else replay.observations


def sample_replay(model: Any, batch_size: int | None = None, rng: np.random.Generator | None = None) -> Any:
    """A batch of an off-policy algorithm's replay buffer (SB3's ``ReplayBufferSamples``: observations, actions as
    stored, ...), drawn by the buffer's own sampling and with the algorithm's ``VecNormalize`` if any.

    SB3's buffers draw their indices from numpy's global generator. With ``rng``, that generator is seeded from
    ``rng`` for this draw and then put back as it was, so measuring leaves the training's batches unchanged; without
    it, the draw consumes the global generator as a training batch would.

    :param model: the SB3 algorithm.
    :param batch_size: number of transitions; None: the buffer's size.
    :param rng: the measuring code's own generator, or None.
    :return: the batch, or None without a replay buffer or while it holds fewer than 2 transitions.
    """
    replay = getattr(model, "replay_buffer", None)
    if replay is None or replay.size() <= 1:
        return None
    size = replay.size() if batch_size is None else min(replay.size(), batch_size)
    if rng is None:
        return replay.sample(size, env=model.get_vec_normalize_env())
    state = np.random.get_state()
    try:
        np.random.seed(int(rng.integers(2**32)))
        return replay.sample(size, env=model.get_vec_normalize_env())
    finally:
        np.random.set_state(state)
