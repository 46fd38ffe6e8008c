"""Several gymnasium envs behind one interface, one of them active at a time (for environment cycling)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class EnvSequence(gym.Env):
    """Holds one env per id and forwards to the selected one.

    Without padding every env must have identical observation and action spaces. With ``pad=True`` the envs may
    differ in the size of 1-D Box observations (the agent sees a common Box of the largest size, zero-padded, with
    the union of the bounds) and in the number of Discrete actions (a common Discrete of the largest size; action
    ``a`` of an env with ``n`` actions is taken as ``a mod n``).

    :param env_ids: gymnasium ids, at least one.
    :param pad: allow padded spaces (default False).
    :param env_kwargs: per-id keyword arguments for ``gym.make`` (default none).
    :param render_mode: passed to every env (default None).
    """

    metadata = {"render_modes": ["human", "rgb_array"]}

    def __init__(
        self,
        env_ids: Sequence[str],
        pad: bool = False,
        env_kwargs: dict[str, dict] | None = None,
        render_mode: str | None = None,
    ) -> None:
        if isinstance(env_ids, str) or not env_ids:
            raise ValueError(f"EnvSequence: env_ids must be a non-empty list of gymnasium ids, got {env_ids!r}")
        env_kwargs = env_kwargs or {}
        self.env_ids = [str(i) for i in env_ids]
        extra = {} if render_mode is None else {"render_mode": render_mode}
        self.envs = [gym.make(i, **{**env_kwargs.get(i, {}), **extra}) for i in self.env_ids]
        self.render_mode = render_mode
        self.pad = bool(pad)
        self.observation_space, self.action_space = self._common_spaces()
        self.active = 0

    def _common_spaces(self) -> tuple[spaces.Space, spaces.Space]:
        obs = [e.observation_space for e in self.envs]
        act = [e.action_space for e in self.envs]
        if all(o == obs[0] for o in obs) and all(a == act[0] for a in act):
            return obs[0], act[0]
        described = ", ".join(f"{i}: obs {o}, action {a}" for i, o, a in zip(self.env_ids, obs, act))
        if not self.pad:
            raise ValueError(f"EnvSequence: spaces differ and pad=False ({described})")
        if all(o == obs[0] for o in obs):
            obs_space = obs[0]
        elif all(isinstance(o, spaces.Box) and len(o.shape) == 1 for o in obs):
            boxes = [o for o in obs if isinstance(o, spaces.Box)]
            size = max(o.shape[0] for o in boxes)
            low = np.full(size, np.inf)
            high = np.full(size, -np.inf)
            for o in boxes:
                n = o.shape[0]
                low[:n] = np.minimum(low[:n], o.low)
                high[:n] = np.maximum(high[:n], o.high)
                # padded entries are 0, which must lie inside the bounds
                low[n:] = np.minimum(low[n:], 0.0)
                high[n:] = np.maximum(high[n:], 0.0)
            dtype = np.result_type(*(o.dtype for o in obs))
            obs_space = spaces.Box(low.astype(dtype), high.astype(dtype), dtype=dtype)
        else:
            raise ValueError(f"EnvSequence: padding supports only 1-D Box observations ({described})")
        if all(a == act[0] for a in act):
            act_space = act[0]
        elif all(isinstance(a, spaces.Discrete) and a.start == 0 for a in act):
            act_space = spaces.Discrete(max(int(a.n) for a in act if isinstance(a, spaces.Discrete)))
        else:
            raise ValueError(f"EnvSequence: padding supports only Discrete actions starting at 0 ({described})")
        return obs_space, act_space

    @property
    def active_env(self) -> gym.Env:
        return self.envs[self.active]

    def select(self, index: int) -> None:
        """Make env ``index`` the active one (takes effect for the next reset)."""
        if not 0 <= index < len(self.envs):
            raise ValueError(f"EnvSequence: index must be in [0, {len(self.envs)}), got {index}")
        self.active = int(index)

    def _obs(self, obs: Any) -> Any:
        if not isinstance(self.observation_space, spaces.Box) or obs.shape == self.observation_space.shape:
            return obs
        out = np.zeros(self.observation_space.shape, dtype=self.observation_space.dtype)
        out[: obs.shape[0]] = obs
        return out

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        if seed is not None:
            for i, env in enumerate(self.envs):
                if i != self.active:
                    env.reset(seed=seed + i)
        obs, info = self.active_env.reset(seed=seed, options=options)
        info["env_id"] = self.env_ids[self.active]
        return self._obs(obs), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        space = self.active_env.action_space
        if isinstance(space, spaces.Discrete) and isinstance(self.action_space, spaces.Discrete):
            action = int(action) % int(space.n)
        obs, reward, terminated, truncated, info = self.active_env.step(action)
        info["env_id"] = self.env_ids[self.active]
        return self._obs(obs), float(reward), terminated, truncated, info

    def render(self) -> Any:
        return self.active_env.render()

    def close(self) -> None:
        for env in self.envs:
            env.close()
