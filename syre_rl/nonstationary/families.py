"""Task families: what changes from one task to the next.

A task family is a small object with four duties:

* ``validate(env)``: check at construction that the family fits the env (raises ``ValueError`` otherwise);
* ``sample(rng, index, previous) -> dict``: draw a new task (a dict of plain floats, ints and lists);
* ``apply(env, task)``: put the task into the simulator (physics families) or into the family's own transform state
  (observation and action transforms);
* ``observation(obs)`` / ``action(action)``: transform what the agent sees and does under the current task.

A family holds per-env state (default physics values, the active transform), so every
:class:`~syre_rl.nonstationary.wrapper.TaskSwitchingWrapper` works on its own copy.

Task dicts are complete and replayable: list-valued parameters (permutations, label assignments) are stored in full
next to a ``seed`` that identifies them. :meth:`TaskFamily.describe` returns the scalar part only; that is what each
step's ``info["task"]`` carries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from syre_rl.validation import check_choice, check_real, register_type

Task = dict[str, Any]

_SEED_HIGH = 2**31 - 1


def _draw_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, _SEED_HIGH))


class TaskFamily:
    """Base class of task families. Subclasses set ``type_name`` and override what they change.

    Class attributes:
    ``continuous``: the family has continuous parameters, so drift schedules (random walk, trend) apply.
    ``requires_reset``: a task can only take effect at an episode boundary (the wrapper defers switches to the next
    reset).
    """

    type_name: ClassVar[str] = ""
    continuous: ClassVar[bool] = False
    requires_reset: ClassVar[bool] = False
    transforms_observation: ClassVar[bool] = False
    transforms_action: ClassVar[bool] = False

    def validate(self, env: gym.Env) -> None:
        """Check that the family fits ``env``; raise ``ValueError`` with a clear message otherwise."""

    def sample(self, rng: np.random.Generator, index: int, previous: Task | None) -> Task:
        """Draw task number ``index`` from ``rng``. ``previous`` is the task before it (None for the first)."""
        raise NotImplementedError

    def validate_task(self, task: Mapping[str, Any]) -> None:
        """Check a task dict given from outside (replay); raise ``ValueError`` if it does not fit."""

    def apply(self, env: gym.Env, task: Task) -> None:
        """Make ``task`` the active task of ``env``."""

    def observation_space(self, space: spaces.Space) -> spaces.Space:
        """The agent's observation space (covers every task of the family)."""
        return space

    def action_space(self, space: spaces.Space) -> spaces.Space:
        """The agent's action space."""
        return space

    def observation(self, obs: Any) -> Any:
        """Transform an observation of the env into what the agent sees under the active task."""
        return obs

    def action(self, action: Any) -> Any:
        """Transform an agent action into the env's action under the active task."""
        return action

    def describe(self, task: Task) -> dict[str, Any]:
        """The scalar parameters of ``task`` (list-valued ones are identified by the task's ``seed``)."""
        return {k: v for k, v in task.items() if isinstance(v, (int, float, str, bool))}

    def drift(self, task: Task, rng: np.random.Generator, scale: float) -> Task:
        """A random-walk step from ``task``; only families with continuous parameters support it."""
        raise ValueError(f"Task family {self.type_name!r} has no continuous parameters to drift")

    def trend(self, first: Task, index: int, rate: float) -> Task:
        """Task ``index`` of a steady drift that starts at ``first``; continuous families only."""
        raise ValueError(f"Task family {self.type_name!r} has no continuous parameters to drift")


# --------------------------------------------------------------------------------------------------------------------
# Physics parameters
# --------------------------------------------------------------------------------------------------------------------


def _fold(u: float) -> float:
    """Reflect a real number into [0, 1] (triangle wave), so drifts bounce off the range ends."""
    u = math.fmod(abs(u), 2.0)
    return 2.0 - u if u > 1.0 else u


class ParameterFamily(TaskFamily):
    """Positive scalar physics parameters, each fixed or drawn (log-)uniformly from a range.

    :param parameters: name -> a fixed value or a ``[low, high]`` range. Valid names are the keys of the subclass's
        ``PARAMETERS``; every value must be > 0.
    :param log_uniform: draw ranges log-uniformly (True), uniformly (False, the default), or log-uniformly only for
        the names listed. Drifts move in the same (log or linear) coordinate.
    """

    continuous = True
    PARAMETERS: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        parameters: Mapping[str, float | Sequence[float]],
        log_uniform: bool | Sequence[str] = False,
    ) -> None:
        if not isinstance(parameters, Mapping) or not parameters:
            raise ValueError(
                f"{self.type_name}: 'parameters' must be a non-empty mapping name -> value or [low, high]; "
                f"valid names: {sorted(self.PARAMETERS)}"
            )
        unknown = sorted(set(parameters) - set(self.PARAMETERS))
        if unknown:
            raise ValueError(
                f"{self.type_name}: unknown parameter(s) {unknown}; valid names: {sorted(self.PARAMETERS)}"
            )
        self.ranges: dict[str, tuple[float, float]] = {}
        for name, value in parameters.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                low = high = float(value)
            elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
                low, high = float(value[0]), float(value[1])
            else:
                raise ValueError(f"{self.type_name}: parameter {name!r} must be a number or [low, high], got {value!r}")
            for end in (low, high):
                check_real(f"{self.type_name}: parameter {name!r}", end, low=0.0, low_open=True)
            if low > high:
                raise ValueError(f"{self.type_name}: parameter {name!r} needs low <= high, got {value!r}")
            self.ranges[name] = (low, high)
        if isinstance(log_uniform, bool):
            self.log_names = set(self.ranges) if log_uniform else set()
        else:
            bad = sorted(set(log_uniform) - set(self.ranges))
            if bad:
                raise ValueError(
                    f"{self.type_name}: log_uniform names {bad} are not among the parameters {sorted(self.ranges)}"
                )
            self.log_names = set(log_uniform)
        self.defaults: dict[str, Any] = {}

    # unit coordinate u in [0, 1] <-> value, linear or logarithmic
    def _to_unit(self, name: str, value: float) -> float:
        low, high = self.ranges[name]
        if high == low:
            return 0.0
        if name in self.log_names:
            return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
        return (value - low) / (high - low)

    def _from_unit(self, name: str, u: float) -> float:
        low, high = self.ranges[name]
        if name in self.log_names:
            return float(math.exp(math.log(low) + u * (math.log(high) - math.log(low))))
        return float(low + u * (high - low))

    def sample(self, rng: np.random.Generator, index: int, previous: Task | None) -> Task:
        # One draw per parameter in a fixed order, so a task sequence depends only on the seed.
        return {name: self._from_unit(name, float(rng.uniform())) for name in sorted(self.ranges)}

    def drift(self, task: Task, rng: np.random.Generator, scale: float) -> Task:
        out = {}
        for name in sorted(self.ranges):
            u = self._to_unit(name, float(task[name])) + scale * float(rng.standard_normal())
            out[name] = self._from_unit(name, _fold(u))
        return out

    def trend(self, first: Task, index: int, rate: float) -> Task:
        return {
            name: self._from_unit(name, _fold(self._to_unit(name, float(first[name])) + index * rate))
            for name in sorted(self.ranges)
        }

    def validate_task(self, task: Mapping[str, Any]) -> None:
        missing = sorted(set(self.ranges) - set(task))
        if missing:
            raise ValueError(f"{self.type_name}: task {dict(task)} lacks parameter(s) {missing}")
        for name in self.ranges:
            check_real(f"{self.type_name}: task parameter {name!r}", task[name], low=0.0, low_open=True)


class MujocoPhysicsFamily(ParameterFamily):
    """MuJoCo physics: friction, body masses, gravity.

    Parameters:

    * ``friction``: absolute sliding friction coefficient set on **every** geom (column 0 of ``model.geom_friction``;
      torsional and rolling friction keep their defaults). MuJoCo combines two geoms' friction by element-wise
      maximum unless their priorities differ, so changing only the floor would change nothing.
    * ``friction_scale``: multiplies all three friction coefficients of every geom by this factor.
    * ``mass_scale``: multiplies every body's mass and rotational inertia (as a uniform density change).
    * ``gravity``: magnitude of gravity along -z in m/s^2 (MuJoCo default 9.81).
    """

    type_name = "mujoco_physics"
    PARAMETERS: ClassVar[dict[str, str]] = {
        "friction": "sliding friction of every geom",
        "friction_scale": "factor on every geom's friction",
        "mass_scale": "factor on every body's mass and inertia",
        "gravity": "gravity magnitude along -z (m/s^2)",
    }

    def __init__(
        self, parameters: Mapping[str, float | Sequence[float]], log_uniform: bool | Sequence[str] = False
    ) -> None:
        super().__init__(parameters, log_uniform)
        if "friction" in self.ranges and "friction_scale" in self.ranges:
            raise ValueError("mujoco_physics: give either 'friction' or 'friction_scale', not both")

    def validate(self, env: gym.Env) -> None:
        model = getattr(env.unwrapped, "model", None)
        if model is None or not hasattr(model, "geom_friction"):
            raise ValueError(
                f"mujoco_physics needs a MuJoCo env (env.unwrapped.model with geom_friction); "
                f"got {type(env.unwrapped).__name__}"
            )
        self.defaults = {
            "geom_friction": np.array(model.geom_friction, copy=True),
            "body_mass": np.array(model.body_mass, copy=True),
            "body_inertia": np.array(model.body_inertia, copy=True),
            "gravity": np.array(model.opt.gravity, copy=True),
        }

    def apply(self, env: gym.Env, task: Task) -> None:
        model: Any = getattr(env.unwrapped, "model")  # noqa: B009 (not every Env has one)
        friction = self.defaults["geom_friction"].copy()
        if "friction" in task:
            friction[:, 0] = float(task["friction"])
        elif "friction_scale" in task:
            friction *= float(task["friction_scale"])
        model.geom_friction[:] = friction
        scale = float(task.get("mass_scale", 1.0))
        model.body_mass[:] = self.defaults["body_mass"] * scale
        model.body_inertia[:] = self.defaults["body_inertia"] * scale
        gravity = self.defaults["gravity"].copy()
        if "gravity" in task:
            gravity[:] = (0.0, 0.0, -float(task["gravity"]))
        model.opt.gravity[:] = gravity


class _ClassicPhysicsFamily(ParameterFamily):
    """Physics constants of one gymnasium classic-control env, set as attributes of ``env.unwrapped``."""

    ENV_CLASS: ClassVar[str] = ""
    ATTRIBUTES: ClassVar[dict[str, str]] = {}  # parameter name -> attribute of the unwrapped env

    def _env_class(self) -> type:
        from gymnasium.envs import classic_control

        return getattr(classic_control, self.ENV_CLASS)

    def validate(self, env: gym.Env) -> None:
        cls = self._env_class()
        if not isinstance(env.unwrapped, cls):
            raise ValueError(f"{self.type_name} needs a {cls.__name__} env, got {type(env.unwrapped).__name__}")
        self.defaults = {attr: float(getattr(env.unwrapped, attr)) for attr in self.ATTRIBUTES.values()}

    def apply(self, env: gym.Env, task: Task) -> None:
        base = env.unwrapped
        for name, attr in self.ATTRIBUTES.items():
            setattr(base, attr, float(task[name]) if name in task else self.defaults[attr])
        self._derive(base)

    def _derive(self, base: Any) -> None:
        """Recompute quantities the env derives from the constants."""


class CartPolePhysicsFamily(_ClassicPhysicsFamily):
    """CartPole: ``gravity`` (m/s^2, default 9.8), ``masscart`` (kg, 1.0), ``masspole`` (kg, 0.1), ``length``
    (half the pole length in m, 0.5), ``force_mag`` (N, 10). ``total_mass`` and ``polemass_length`` are recomputed."""

    type_name = "cartpole_physics"
    ENV_CLASS = "CartPoleEnv"
    ATTRIBUTES: ClassVar[dict[str, str]] = {n: n for n in ("gravity", "masscart", "masspole", "length", "force_mag")}
    PARAMETERS: ClassVar[dict[str, str]] = {n: n for n in ATTRIBUTES}

    def _derive(self, base: Any) -> None:
        base.total_mass = base.masspole + base.masscart
        base.polemass_length = base.masspole * base.length


class PendulumPhysicsFamily(_ClassicPhysicsFamily):
    """Pendulum: ``g`` (m/s^2, default 10), ``m`` (kg, 1), ``l`` (m, 1)."""

    type_name = "pendulum_physics"
    ENV_CLASS = "PendulumEnv"
    ATTRIBUTES: ClassVar[dict[str, str]] = {"g": "g", "m": "m", "l": "l"}
    PARAMETERS: ClassVar[dict[str, str]] = {n: n for n in ATTRIBUTES}


class AcrobotPhysicsFamily(_ClassicPhysicsFamily):
    """Acrobot: ``link_length_1``, ``link_length_2`` (m, default 1), ``link_mass_1``, ``link_mass_2`` (kg, 1).
    Each link's centre of mass is kept at half its length."""

    type_name = "acrobot_physics"
    ENV_CLASS = "AcrobotEnv"
    ATTRIBUTES: ClassVar[dict[str, str]] = {
        "link_length_1": "LINK_LENGTH_1",
        "link_length_2": "LINK_LENGTH_2",
        "link_mass_1": "LINK_MASS_1",
        "link_mass_2": "LINK_MASS_2",
    }
    PARAMETERS: ClassVar[dict[str, str]] = {n: n for n in ATTRIBUTES}

    def _derive(self, base: Any) -> None:
        base.LINK_COM_POS_1 = 0.5 * base.LINK_LENGTH_1
        base.LINK_COM_POS_2 = 0.5 * base.LINK_LENGTH_2


class MountainCarPhysicsFamily(_ClassicPhysicsFamily):
    """MountainCar (discrete): ``force`` (default 0.001) and ``gravity`` (0.0025), in the env's own units."""

    type_name = "mountaincar_physics"
    ENV_CLASS = "MountainCarEnv"
    ATTRIBUTES: ClassVar[dict[str, str]] = {"force": "force", "gravity": "gravity"}
    PARAMETERS: ClassVar[dict[str, str]] = {n: n for n in ATTRIBUTES}


class ContinuousMountainCarPhysicsFamily(_ClassicPhysicsFamily):
    """MountainCarContinuous: ``power`` (default 0.0015; its gravity is a literal in the env's code)."""

    type_name = "continuous_mountaincar_physics"
    ENV_CLASS = "Continuous_MountainCarEnv"
    ATTRIBUTES: ClassVar[dict[str, str]] = {"power": "power"}
    PARAMETERS: ClassVar[dict[str, str]] = {n: n for n in ATTRIBUTES}


# --------------------------------------------------------------------------------------------------------------------
# Observation and action transforms
# --------------------------------------------------------------------------------------------------------------------


def _sample_permutation(
    rng: np.random.Generator, n: int, previous: Sequence[int] | None, ensure_change: bool
) -> np.ndarray:
    perm = rng.permutation(n)
    if ensure_change and previous is not None and n > 1:
        while np.array_equal(perm, previous):
            perm = rng.permutation(n)
    return perm


class ObservationPermutation(TaskFamily):
    """Shuffle the entries of a Box observation (flattened), optionally with random sign flips or a random orthogonal
    mixing ``y = Q x`` instead.

    With a permutation ``p`` and signs ``s`` the agent sees ``y[i] = s[i] * x[p[i]]``. The agent's observation space
    has the same shape and dtype as the env's; its bounds are the union over all entries (so one space covers every
    task): ``[min(low), max(high)]`` for a permutation, ``[-b, b]`` with ``b = max(|low|, |high|)`` with sign flips,
    and ``[-sqrt(n) b, sqrt(n) b]`` (``n`` entries; infinite when the env's bounds are) with mixing.

    :param sign_flips: also flip the sign of each entry with probability 1/2 (default False); float dtypes only.
    :param orthogonal: use a random orthogonal matrix (Haar distributed) instead of a permutation (default False);
        float dtypes and at most 4096 entries.
    :param ensure_change: redraw a permutation identical to the previous task's (default True).
    """

    type_name = "obs_permutation"
    transforms_observation = True

    def __init__(self, sign_flips: bool = False, orthogonal: bool = False, ensure_change: bool = True) -> None:
        if sign_flips and orthogonal:
            raise ValueError(
                "obs_permutation: sign_flips and orthogonal exclude each other (orthogonal already mixes signs)"
            )
        self.sign_flips = bool(sign_flips)
        self.orthogonal = bool(orthogonal)
        self.ensure_change = bool(ensure_change)
        self.size = 0
        self._perm: np.ndarray | None = None
        self._signs: np.ndarray | None = None
        self._matrix: np.ndarray | None = None

    def validate(self, env: gym.Env) -> None:
        space = env.observation_space
        if not isinstance(space, spaces.Box):
            raise ValueError(f"obs_permutation needs a Box observation space, got {space}")
        floating = np.issubdtype(space.dtype, np.floating)
        if (self.sign_flips or self.orthogonal) and not floating:
            raise ValueError(
                f"obs_permutation: sign_flips and orthogonal need a float observation dtype, got {space.dtype}"
            )
        self.size = int(np.prod(space.shape))
        if self.orthogonal and self.size > 4096:
            raise ValueError(f"obs_permutation: orthogonal mixing supports at most 4096 entries, got {self.size}")
        self._space = space

    def observation_space(self, space: spaces.Space) -> spaces.Space:
        assert isinstance(space, spaces.Box)
        low, high = space.low.astype(np.float64).ravel(), space.high.astype(np.float64).ravel()
        if self.orthogonal:
            bound = np.max(np.maximum(np.abs(low), np.abs(high)))
            # |y_i| <= sum_j |Q_ij| * bound <= sqrt(n) * bound for any orthogonal Q
            b = bound * math.sqrt(self.size) if np.isfinite(bound) else np.inf
            new_low, new_high = np.full(self.size, -b), np.full(self.size, b)
        elif self.sign_flips:
            b = np.max(np.maximum(np.abs(low), np.abs(high)))
            new_low, new_high = np.full(self.size, -b), np.full(self.size, b)
        else:
            new_low, new_high = np.full(self.size, low.min()), np.full(self.size, high.max())
        dtype = space.dtype
        return spaces.Box(
            new_low.reshape(space.shape).astype(dtype), new_high.reshape(space.shape).astype(dtype), dtype=dtype
        )

    def sample(self, rng: np.random.Generator, index: int, previous: Task | None) -> Task:
        seed = _draw_seed(rng)
        sub = np.random.default_rng(seed)
        if self.orthogonal:
            q, r = np.linalg.qr(sub.standard_normal((self.size, self.size)))
            q = q * np.sign(np.diag(r))  # Haar measure
            return {"seed": seed, "matrix": q.tolist()}
        prev = previous.get("permutation") if previous else None
        task: Task = {
            "seed": seed,
            "permutation": _sample_permutation(sub, self.size, prev, self.ensure_change).tolist(),
        }
        if self.sign_flips:
            task["signs"] = (1 - 2 * sub.integers(0, 2, self.size)).tolist()
        return task

    def validate_task(self, task: Mapping[str, Any]) -> None:
        if self.orthogonal:
            q = np.asarray(task.get("matrix", []), dtype=np.float64)
            if q.shape != (self.size, self.size) or not np.allclose(q @ q.T, np.eye(self.size), atol=1e-6):
                raise ValueError(f"obs_permutation: task 'matrix' must be an orthogonal {self.size}x{self.size} matrix")
            return
        perm = np.asarray(task.get("permutation", []))
        if perm.shape != (self.size,) or not np.array_equal(np.sort(perm), np.arange(self.size)):
            raise ValueError(f"obs_permutation: task 'permutation' must be a permutation of 0..{self.size - 1}")
        if self.sign_flips:
            signs = np.asarray(task.get("signs", []))
            if signs.shape != (self.size,) or not np.all(np.abs(signs) == 1):
                raise ValueError(f"obs_permutation: task 'signs' must be {self.size} values of +1 or -1")

    def apply(self, env: gym.Env, task: Task) -> None:
        if self.orthogonal:
            self._matrix = np.asarray(task["matrix"], dtype=np.float64)
        else:
            self._perm = np.asarray(task["permutation"], dtype=np.intp)
            self._signs = np.asarray(task["signs"], dtype=np.float64) if self.sign_flips else None

    def observation(self, obs: Any) -> Any:
        arr = np.asarray(obs)
        flat = arr.reshape(-1)
        if self._matrix is not None:
            out = self._matrix @ flat
        else:
            out = flat[self._perm]
            if self._signs is not None:
                out = out * self._signs
        return out.reshape(arr.shape).astype(self._space.dtype, copy=False)

    def inverse_observation(self, obs: Any, task: Task) -> np.ndarray:
        """The env's observation that ``task`` turns into ``obs`` (undoes :meth:`observation`)."""
        arr = np.asarray(obs)
        flat = arr.reshape(-1)
        if self.orthogonal:
            out = np.asarray(task["matrix"], dtype=np.float64).T @ flat
        else:
            perm = np.asarray(task["permutation"], dtype=np.intp)
            y = flat * np.asarray(task["signs"], dtype=np.float64) if self.sign_flips else flat
            out = np.empty_like(y)
            out[perm] = y
        return out.reshape(arr.shape).astype(self._space.dtype, copy=False)


class ActionPermutation(TaskFamily):
    """Relabel the actions: a permutation of a Discrete action set, or of the dimensions of a 1-D Box action space
    (optionally with random sign flips).

    Discrete: agent action ``a`` becomes env action ``start + p[a - start]``. Box: the action is mapped to ``[-1, 1]``
    per dimension with the env's bounds, env dimension ``i`` takes ``s[i] * u[p[i]]``, and the result is mapped back
    to the env's bounds (so bounds may differ between dimensions, but must be finite).

    :param sign_flips: Box actions only; flip each dimension with probability 1/2 (default False).
    :param ensure_change: redraw a permutation identical to the previous task's (default True; with sign flips the
        signs alone may make the change).
    """

    type_name = "action_permutation"
    transforms_action = True

    def __init__(self, sign_flips: bool = False, ensure_change: bool = True) -> None:
        self.sign_flips = bool(sign_flips)
        self.ensure_change = bool(ensure_change)
        self.size = 0
        self._perm: np.ndarray | None = None
        self._signs: np.ndarray | None = None

    def validate(self, env: gym.Env) -> None:
        space = env.action_space
        self._space = space
        if isinstance(space, spaces.Discrete):
            if self.sign_flips:
                raise ValueError("action_permutation: sign_flips needs a Box action space, got Discrete")
            self.size = int(space.n)
            self._start = int(space.start)
        elif isinstance(space, spaces.Box) and len(space.shape) == 1:
            if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
                raise ValueError(f"action_permutation needs finite Box action bounds, got {space}")
            self.size = int(space.shape[0])
            self._low = space.low.astype(np.float64)
            self._half = (space.high.astype(np.float64) - self._low) / 2.0
        else:
            raise ValueError(f"action_permutation supports Discrete and 1-D Box action spaces, got {space}")

    def sample(self, rng: np.random.Generator, index: int, previous: Task | None) -> Task:
        seed = _draw_seed(rng)
        sub = np.random.default_rng(seed)
        prev = previous.get("permutation") if previous else None
        ensure = self.ensure_change and not self.sign_flips
        task: Task = {"seed": seed, "permutation": _sample_permutation(sub, self.size, prev, ensure).tolist()}
        if self.sign_flips:
            task["signs"] = (1 - 2 * sub.integers(0, 2, self.size)).tolist()
        return task

    def validate_task(self, task: Mapping[str, Any]) -> None:
        perm = np.asarray(task.get("permutation", []))
        if perm.shape != (self.size,) or not np.array_equal(np.sort(perm), np.arange(self.size)):
            raise ValueError(f"action_permutation: task 'permutation' must be a permutation of 0..{self.size - 1}")

    def apply(self, env: gym.Env, task: Task) -> None:
        self._perm = np.asarray(task["permutation"], dtype=np.intp)
        self._signs = np.asarray(task["signs"], dtype=np.float64) if self.sign_flips else None

    def action(self, action: Any) -> Any:
        assert self._perm is not None
        if isinstance(self._space, spaces.Discrete):
            return self._start + int(self._perm[int(action) - self._start])
        u = (np.asarray(action, dtype=np.float64) - self._low) / self._half - 1.0
        u = u[self._perm]
        if self._signs is not None:
            u = u * self._signs
        return (self._low + (u + 1.0) * self._half).astype(self._space.dtype)


class BanditRelabel(TaskFamily):
    """A new random correct action for every input of a
    :class:`~syre_rl.nonstationary.bandit.ContextualBanditEnv` (uniform over the actions, independent per input)."""

    type_name = "bandit_relabel"

    def validate(self, env: gym.Env) -> None:
        from syre_rl.nonstationary.bandit import ContextualBanditEnv

        if not isinstance(env.unwrapped, ContextualBanditEnv):
            raise ValueError(f"bandit_relabel needs a ContextualBanditEnv, got {type(env.unwrapped).__name__}")
        self.n_inputs = env.unwrapped.n_inputs
        self.n_actions = env.unwrapped.n_actions

    def sample(self, rng: np.random.Generator, index: int, previous: Task | None) -> Task:
        seed = _draw_seed(rng)
        labels = np.random.default_rng(seed).integers(0, self.n_actions, self.n_inputs)
        return {"seed": seed, "labels": labels.tolist()}

    def validate_task(self, task: Mapping[str, Any]) -> None:
        labels = np.asarray(task.get("labels", []))
        if labels.shape != (self.n_inputs,) or labels.min() < 0 or labels.max() >= self.n_actions:
            raise ValueError(f"bandit_relabel: task 'labels' must be {self.n_inputs} ints in [0, {self.n_actions})")

    def apply(self, env: gym.Env, task: Task) -> None:
        bandit: Any = env.unwrapped
        bandit.set_labels(task["labels"])


class EnvCycle(TaskFamily):
    """Switch between the envs of an :class:`~syre_rl.nonstationary.env_sequence.EnvSequence`.

    Task ``k`` is env ``k mod n`` (``order="cycle"``, the default) or a uniformly drawn env different from the
    previous one (``order="random"``). A switch takes effect at the next reset.

    :param order: ``"cycle"`` or ``"random"``.
    """

    type_name = "env_cycle"
    requires_reset = True
    ORDERS: ClassVar[tuple[str, ...]] = ("cycle", "random")

    def __init__(self, order: str = "cycle") -> None:
        self.order = check_choice("env_cycle: order", order, self.ORDERS)

    def validate(self, env: gym.Env) -> None:
        from syre_rl.nonstationary.env_sequence import EnvSequence

        if not isinstance(env.unwrapped, EnvSequence):
            raise ValueError(
                f"env_cycle needs an EnvSequence env (base_env 'syre_rl/EnvSequence-v0' with env_ids), "
                f"got {type(env.unwrapped).__name__}"
            )
        self.env_ids = list(env.unwrapped.env_ids)

    def sample(self, rng: np.random.Generator, index: int, previous: Task | None) -> Task:
        n = len(self.env_ids)
        if self.order == "cycle" or n == 1:
            i = index % n
        else:
            i = int(rng.integers(0, n - 1))
            if previous is not None and i >= previous["env_index"]:
                i += 1
        return {"env_index": i, "env_id": self.env_ids[i]}

    def validate_task(self, task: Mapping[str, Any]) -> None:
        i = task.get("env_index")
        if not isinstance(i, int) or not 0 <= i < len(self.env_ids):
            raise ValueError(f"env_cycle: task 'env_index' must be an int in [0, {len(self.env_ids)}), got {i!r}")

    def apply(self, env: gym.Env, task: Task) -> None:
        sequence: Any = env.unwrapped
        sequence.select(int(task["env_index"]))


FAMILIES: dict[str, type[TaskFamily]] = {
    cls.type_name: cls
    for cls in (
        MujocoPhysicsFamily,
        CartPolePhysicsFamily,
        PendulumPhysicsFamily,
        AcrobotPhysicsFamily,
        MountainCarPhysicsFamily,
        ContinuousMountainCarPhysicsFamily,
        ObservationPermutation,
        ActionPermutation,
        BanditRelabel,
        EnvCycle,
    )
}


def register_task_family(name: str, cls: type[TaskFamily]) -> type[TaskFamily]:
    """Make a user-defined :class:`TaskFamily` subclass available to specs and scenario recipes as ``{type: name}``.

    Instances of any subclass can be given to :class:`~syre_rl.nonstationary.wrapper.TaskSwitchingWrapper` without
    registering; registering is needed only to name the class in a dict spec or an ``envs/*.yaml`` recipe. The class
    must be importable wherever the spec is built (e.g. in every worker process of a grid of runs).

    :param name: the type name recipes use; also set as the class's ``type_name`` when it has none.
    :param cls: the family class.
    :return: ``cls``.
    :raises ValueError: ``name`` taken by another class, or ``cls`` not a :class:`TaskFamily` subclass.
    """
    register_type(FAMILIES, name, cls, TaskFamily, "task family")
    if not cls.type_name:
        cls.type_name = name
    return cls
