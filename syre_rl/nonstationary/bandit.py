"""A contextual bandit whose correct actions can be relabelled: the RL analogue of random-label continual learning.

A fixed set of Gaussian input vectors is drawn once. Each episode is one step: the env shows one input (uniformly
drawn), the agent picks an action, the reward is 1 for the input's correct action and 0 otherwise. A task is a label
assignment (input -> correct action); :class:`~syre_rl.nonstationary.families.BanditRelabel` draws new ones, so
whatever a network learned about the old labels is useless and it must fit new ones from the same inputs. Chance
level is ``1 / n_actions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class ContextualBanditEnv(gym.Env):
    """One-step episodes over a fixed set of random inputs with relabelable correct actions.

    :param n_inputs: number of fixed inputs (default 256).
    :param dim: input dimension (default 16).
    :param n_actions: number of actions (default 8).
    :param input_seed: seed of the inputs and of the initial labels (default 0); fixed, so every sub-env and every
        task share the same inputs.
    """

    metadata = {"render_modes": []}

    def __init__(self, n_inputs: int = 256, dim: int = 16, n_actions: int = 8, input_seed: int = 0) -> None:
        for name, value in (("n_inputs", n_inputs), ("dim", dim), ("n_actions", n_actions)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"ContextualBanditEnv: {name} must be a positive int, got {value!r}")
        if n_actions < 2:
            raise ValueError(f"ContextualBanditEnv: n_actions must be >= 2, got {n_actions}")
        self.n_inputs, self.dim, self.n_actions = int(n_inputs), int(dim), int(n_actions)
        rng = np.random.default_rng(input_seed)
        self.inputs = rng.standard_normal((self.n_inputs, self.dim)).astype(np.float32)
        self.labels = rng.integers(0, self.n_actions, self.n_inputs)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(self.dim,), dtype=np.float32)
        self.action_space = spaces.Discrete(self.n_actions)
        self._index = 0

    def set_labels(self, labels: Sequence[int] | np.ndarray) -> None:
        """Set the correct action of every input (``n_inputs`` ints in ``[0, n_actions)``)."""
        arr = np.asarray(labels, dtype=np.int64)
        if arr.shape != (self.n_inputs,) or arr.min() < 0 or arr.max() >= self.n_actions:
            raise ValueError(f"labels must be {self.n_inputs} ints in [0, {self.n_actions}), got shape {arr.shape}")
        self.labels = arr

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._index = int(self.np_random.integers(0, self.n_inputs))
        return self.inputs[self._index].copy(), {"input_index": self._index}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        label = int(self.labels[self._index])
        correct = int(action) == label
        info = {"input_index": self._index, "correct_action": label, "is_correct": correct}
        return self.inputs[self._index].copy(), float(correct), True, False, info
