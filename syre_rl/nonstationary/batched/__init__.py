"""The batched path: ``n_envs`` task-switching sub-envs stepped as numpy arrays by one object (gymnasium and numpy
only), with the same task sequence, switch steps and dynamics as ``n_envs`` envs of
:class:`~syre_rl.nonstationary.wrapper.TaskSwitchingWrapper`.

* :class:`BatchedTaskEnv`: a gymnasium ``VectorEnv`` (same-step autoreset); :func:`make_batched_env` builds one from
  a scenario recipe.
* :class:`BatchedVecEnv`: its Stable-Baselines3 ``VecEnv`` (a subclass of SB3's); :func:`make_batched_vec_env` builds
  one from a scenario recipe. Both live in :mod:`~syre_rl.nonstationary.batched.vec_env`, the one module here that
  imports SB3, and are imported from it when first used, so ``import syre_rl.nonstationary.batched`` needs
  gymnasium and numpy only.
* Batched base envs: :data:`BATCHED_DYNAMICS` (CartPole, Pendulum, the contextual bandit); batched families:
  :data:`BATCHED_FAMILIES` (``cartpole_physics``, ``pendulum_physics``, ``obs_permutation``,
  ``action_permutation``, ``bandit_relabel``); every schedule.
"""

from typing import TYPE_CHECKING, Any

from syre_rl.nonstationary.batched.dynamics import BATCHED_DYNAMICS, BatchedDynamics, make_dynamics
from syre_rl.nonstationary.batched.env import (
    BATCHED_STATE_VERSION,
    BatchedStep,
    BatchedTaskEnv,
    SubEnv,
    make_batched_env,
)
from syre_rl.nonstationary.batched.families import (
    BATCHED_FAMILIES,
    BATCHED_FAMILY_NAMES,
    BatchedFamily,
    make_batched_family,
)
from syre_rl.nonstationary.batched.tasks import TaskClocks

if TYPE_CHECKING:
    from syre_rl.nonstationary.batched.vec_env import BatchedVecEnv, make_batched_vec_env

_SB3_NAMES = ("BatchedVecEnv", "make_batched_vec_env")


def __getattr__(name: str) -> Any:
    if name in _SB3_NAMES:
        from syre_rl.nonstationary.batched import vec_env

        return getattr(vec_env, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BATCHED_DYNAMICS",
    "BATCHED_FAMILIES",
    "BATCHED_FAMILY_NAMES",
    "BATCHED_STATE_VERSION",
    "BatchedDynamics",
    "BatchedFamily",
    "BatchedStep",
    "BatchedTaskEnv",
    "BatchedVecEnv",
    "SubEnv",
    "TaskClocks",
    "make_batched_env",
    "make_batched_family",
    "make_batched_vec_env",
    "make_dynamics",
]
