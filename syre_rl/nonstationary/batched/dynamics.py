"""Batched dynamics: ``n_envs`` copies of one stationary env stepped together with numpy array operations.

Each class reproduces the ``step`` and ``reset`` of one gymnasium env class (same equations, same constants, read
from a template instance of that env), with every physics parameter a per-sub-env array so sub-envs can be on
different tasks. Resets draw from one generator per sub-env, in the same way as the env's own ``reset``, so sub-env
``i`` seeded like a single env gives the same initial states.

Episode ends by time limit are not handled here (the batched env counts steps itself, as ``TimeLimit`` does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.pendulum import DEFAULT_X, DEFAULT_Y, PendulumEnv, angle_normalize

from syre_rl.nonstationary.bandit import ContextualBanditEnv


class BatchedDynamics:
    """Base class: the state of ``n_envs`` sub-envs and their per-sub-env physics parameters.

    Subclasses set ``ENV_CLASS`` (the gymnasium env they reproduce) and ``PARAMETERS`` (attributes of that env that
    may differ between sub-envs; each becomes a float64 array of shape ``(n_envs,)`` in :attr:`params`, initialised
    from the template).

    :param template: an unwrapped instance of ``ENV_CLASS`` whose constants (and spaces) the sub-envs share.
    :param n_envs: number of sub-envs (>= 1).
    """

    ENV_CLASS: ClassVar[type[gym.Env]] = gym.Env
    PARAMETERS: ClassVar[tuple[str, ...]] = ()
    #: array attributes that, with :attr:`params`, make up the sub-envs' state (see :meth:`snapshot`)
    STATE: ClassVar[tuple[str, ...]] = ()

    def __init__(self, template: gym.Env, n_envs: int) -> None:
        if type(template) is not self.ENV_CLASS:
            raise ValueError(f"{type(self).__name__} needs a {self.ENV_CLASS.__name__}, got {type(template).__name__}")
        self.n_envs = n_envs
        self.observation_space: spaces.Space = template.observation_space
        self.action_space: spaces.Space = template.action_space
        self.params: dict[str, np.ndarray] = {
            name: np.full(n_envs, float(getattr(template, name)), dtype=np.float64) for name in self.PARAMETERS
        }

    def reset_envs(self, indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """Start new episodes in sub-envs ``indices`` (drawing from ``rngs[i]``); return their observations."""
        raise NotImplementedError

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step every sub-env; return observations, rewards (float64) and terminations (bool), each batched."""
        raise NotImplementedError

    def step_info(self) -> dict[str, np.ndarray]:
        """Per-sub-env values of the env's own step info (arrays of shape ``(n_envs,)``); empty by default."""
        return {}

    def snapshot(self) -> dict[str, Any]:
        """Copies of the physics state and the per-sub-env parameters (see :meth:`restore`)."""
        return {
            "params": {name: values.copy() for name, values in self.params.items()},
            **{name: np.array(getattr(self, name), copy=True) for name in self.STATE},
        }

    def restore(self, snapshot: Mapping[str, Any], rngs: Sequence[np.random.Generator]) -> None:
        """Put back a :meth:`snapshot` of dynamics of the same class and size.

        :param snapshot: from :meth:`snapshot`.
        :param rngs: the sub-envs' generators, already in the state they had when the snapshot was taken.
        :raises ValueError: a parameter or array is missing or has another shape.
        """
        arrays = {**{f"params.{k}": v for k, v in snapshot["params"].items()}, **{k: snapshot[k] for k in self.STATE}}
        current = {**{f"params.{k}": v for k, v in self.params.items()}, **{k: getattr(self, k) for k in self.STATE}}
        if set(arrays) != set(current):
            raise ValueError(f"{type(self).__name__}: state holds {sorted(arrays)}, expected {sorted(current)}")
        for key, value in arrays.items():
            if np.shape(value) != np.shape(current[key]):
                raise ValueError(
                    f"{type(self).__name__}: {key} has shape {np.shape(value)} in the state, "
                    f"{np.shape(current[key])} here"
                )
        self.params = {name: np.array(values, copy=True) for name, values in snapshot["params"].items()}
        for name in self.STATE:
            setattr(self, name, np.array(snapshot[name], copy=True))


class BatchedCartPole(BatchedDynamics):
    """``CartPoleEnv`` (gymnasium's equations, Euler or semi-implicit Euler integrator as the template says).

    State layout ``(4, n_envs)``: cart position, cart velocity, pole angle, pole angular velocity (float64), as in
    gymnasium's ``CartPoleVectorEnv``; observations are float32.
    """

    ENV_CLASS = CartPoleEnv
    PARAMETERS = ("gravity", "masscart", "masspole", "total_mass", "length", "polemass_length", "force_mag")
    STATE = ("state",)

    def __init__(self, template: gym.Env, n_envs: int) -> None:
        super().__init__(template, n_envs)
        base: Any = template
        self.tau = float(base.tau)
        self.euler = base.kinematics_integrator == "euler"
        self.x_threshold = float(base.x_threshold)
        self.theta_threshold = float(base.theta_threshold_radians)
        self.sutton_barto_reward = bool(base._sutton_barto_reward)
        self.state = np.zeros((4, n_envs), dtype=np.float64)

    def reset_envs(self, indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        for i in indices:
            self.state[:, i] = rngs[i].uniform(low=-0.05, high=0.05, size=(4,))
        return self.state[:, indices].T.astype(np.float32)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self.params
        x, x_dot, theta, theta_dot = self.state
        force = np.where(np.asarray(actions).reshape(-1) == 1, p["force_mag"], -p["force_mag"])
        costheta, sintheta = np.cos(theta), np.sin(theta)
        temp = (force + p["polemass_length"] * np.square(theta_dot) * sintheta) / p["total_mass"]
        thetaacc = (p["gravity"] * sintheta - costheta * temp) / (
            p["length"] * (4.0 / 3.0 - p["masspole"] * np.square(costheta) / p["total_mass"])
        )
        xacc = temp - p["polemass_length"] * thetaacc * costheta / p["total_mass"]
        if self.euler:
            x = x + self.tau * x_dot
            x_dot = x_dot + self.tau * xacc
            theta = theta + self.tau * theta_dot
            theta_dot = theta_dot + self.tau * thetaacc
        else:
            x_dot = x_dot + self.tau * xacc
            x = x + self.tau * x_dot
            theta_dot = theta_dot + self.tau * thetaacc
            theta = theta + self.tau * theta_dot
        self.state = np.stack((x, x_dot, theta, theta_dot))
        terminated = (np.abs(x) > self.x_threshold) | (np.abs(theta) > self.theta_threshold)
        if self.sutton_barto_reward:
            reward = -terminated.astype(np.float64)
        else:
            reward = np.ones(self.n_envs, dtype=np.float64)
        return self.state.T.astype(np.float32), reward, terminated


class BatchedPendulum(BatchedDynamics):
    """``PendulumEnv``: torque-driven pendulum, reward ``-(angle^2 + 0.1 speed^2 + 0.001 torque^2)``, never
    terminates (the time limit truncates it). State layout ``(2, n_envs)``: angle, angular velocity."""

    ENV_CLASS = PendulumEnv
    PARAMETERS = ("g", "m", "l")
    STATE = ("state",)

    def __init__(self, template: gym.Env, n_envs: int) -> None:
        super().__init__(template, n_envs)
        base: Any = template
        self.max_speed, self.max_torque, self.dt = float(base.max_speed), float(base.max_torque), float(base.dt)
        self.state = np.zeros((2, n_envs), dtype=np.float64)
        self._high = np.array([DEFAULT_X, DEFAULT_Y])

    def _obs(self, state: np.ndarray) -> np.ndarray:
        theta, theta_dot = state
        return np.stack((np.cos(theta), np.sin(theta), theta_dot), axis=1).astype(np.float32)

    def reset_envs(self, indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        for i in indices:
            self.state[:, i] = rngs[i].uniform(low=-self._high, high=self._high)
        return self._obs(self.state[:, indices])

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self.params
        th, thdot = self.state
        u = np.clip(np.asarray(actions).reshape(self.n_envs, -1), -self.max_torque, self.max_torque)[:, 0]
        costs = angle_normalize(th) ** 2 + 0.1 * thdot**2 + 0.001 * (u**2)
        # The single env multiplies a Python float by the action's own dtype; cast the same way.
        torque_gain = (3.0 / (p["m"] * p["l"] ** 2)).astype(u.dtype)
        newthdot = thdot + (3 * p["g"] / (2 * p["l"]) * np.sin(th) + torque_gain * u) * self.dt
        newthdot = np.clip(newthdot, -self.max_speed, self.max_speed)
        self.state = np.stack((th + newthdot * self.dt, newthdot))
        return self._obs(self.state), -costs.astype(np.float64), np.zeros(self.n_envs, dtype=bool)


class BatchedContextualBandit(BatchedDynamics):
    """:class:`~syre_rl.nonstationary.bandit.ContextualBanditEnv`: one-step episodes over the template's fixed inputs.

    ``params["labels"]`` is an int64 array of shape ``(n_envs, n_inputs)``: the correct action of every input, per
    sub-env. The step info carries ``input_index``, ``correct_action`` and ``is_correct`` like the single env's.

    Every step resets every sub-env, so the input draws are batched: for a PCG64 generator (gymnasium's), the 32-bit
    words ``Generator.integers(0, n_inputs)`` would consume are drawn ahead in blocks and mapped to inputs with
    numpy's own method (Lemire's multiply-and-reject on 32-bit words), giving the same inputs as the single env.
    The sub-env generators are therefore drawn ahead of the inputs used; other generators are drawn one by one.
    """

    ENV_CLASS = ContextualBanditEnv
    # The words drawn ahead are part of the state: the generators have moved past them.
    STATE = ("index", "_fast", "_words", "_cursor")
    WORDS = 1024  # 32-bit words drawn ahead per sub-env

    def __init__(self, template: gym.Env, n_envs: int) -> None:
        super().__init__(template, n_envs)
        base: Any = template
        self.n_inputs = int(base.n_inputs)
        self.inputs = np.asarray(base.inputs, dtype=np.float32)
        self.params["labels"] = np.tile(np.asarray(base.labels, dtype=np.int64), (n_envs, 1))
        self.index = np.zeros(n_envs, dtype=np.int64)
        self._rows = np.arange(n_envs)
        self._info: dict[str, np.ndarray] = {}
        # numpy draws nothing for one input and has a special case for 2**32 of them
        self._batchable = 1 < self.n_inputs < 2**32
        self._threshold = (2**32 - self.n_inputs) % self.n_inputs
        self._owners: list[np.random.Generator | None] = [None] * n_envs
        self._fast = np.zeros(n_envs, dtype=bool)
        self._words = np.zeros((n_envs, self.WORDS), dtype=np.uint32)
        self._cursor = np.full(n_envs, self.WORDS, dtype=np.int64)

    def _bind(self, i: int, rng: np.random.Generator) -> None:
        bit_generator = rng.bit_generator
        self._owners[i] = rng
        self._fast[i] = (
            self._batchable and isinstance(bit_generator, np.random.PCG64) and not bit_generator.state["has_uint32"]
        )
        self._cursor[i] = self.WORDS

    def _refill(self, i: int) -> None:
        rng = self._owners[i]
        assert rng is not None
        self._words[i] = rng.bit_generator.random_raw(self.WORDS // 2).view(np.uint32)
        self._cursor[i] = 0

    def _next_word(self, i: int) -> int:
        if self._cursor[i] >= self.WORDS:
            self._refill(i)
        word = int(self._words[i, self._cursor[i]])
        self._cursor[i] += 1
        return word

    def reset_envs(self, indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        n = self.n_inputs
        for i in indices.tolist():
            if self._owners[i] is not rngs[i]:
                self._bind(i, rngs[i])
        fast = indices[self._fast[indices]]
        if len(fast):
            for i in fast[self._cursor[fast] >= self.WORDS].tolist():
                self._refill(i)
            m = self._words[fast, self._cursor[fast]].astype(np.uint64) * np.uint64(n)
            self._cursor[fast] += 1
            self.index[fast] = (m >> np.uint64(32)).astype(np.int64)
            for i in fast[(m & np.uint64(0xFFFFFFFF)) < self._threshold].tolist():
                product = self._next_word(i) * n
                while product & 0xFFFFFFFF < self._threshold:
                    product = self._next_word(i) * n
                self.index[i] = product >> 32
        for i in indices[~self._fast[indices]].tolist():
            self.index[i] = int(rngs[i].integers(0, n))
        return self.inputs[self.index[indices]]

    def restore(self, snapshot: Mapping[str, Any], rngs: Sequence[np.random.Generator]) -> None:
        super().restore(snapshot, rngs)
        self._owners = list(rngs)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        label = self.params["labels"][self._rows, self.index]
        correct = np.asarray(actions).reshape(-1).astype(np.int64) == label
        self._info = {"input_index": self.index.copy(), "correct_action": label, "is_correct": correct}
        return self.inputs[self.index], correct.astype(np.float64), np.ones(self.n_envs, dtype=bool)

    def step_info(self) -> dict[str, np.ndarray]:
        return self._info


#: unwrapped gymnasium env class -> its batched dynamics
BATCHED_DYNAMICS: dict[type[gym.Env], type[BatchedDynamics]] = {
    cls.ENV_CLASS: cls for cls in (BatchedCartPole, BatchedPendulum, BatchedContextualBandit)
}


def make_dynamics(template: gym.Env, n_envs: int) -> BatchedDynamics:
    """The batched dynamics of ``template.unwrapped``'s class.

    :raises ValueError: no batched dynamics for that class (the message lists those that exist).
    """
    base = template.unwrapped
    cls = BATCHED_DYNAMICS.get(type(base))
    if cls is None:
        known = sorted(c.__name__ for c in BATCHED_DYNAMICS)
        raise ValueError(f"No batched version of {type(base).__name__}; batched base envs: {known}")
    return cls(base, n_envs)
