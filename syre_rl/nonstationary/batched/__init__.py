"""The batched path: ``n_envs`` task-switching sub-envs stepped as numpy arrays by one object (gymnasium and numpy
only), with the same task sequence, switch steps and dynamics as ``n_envs`` envs of
:class:`~syre_rl.nonstationary.wrapper.TaskSwitchingWrapper`.

* :class:`BatchedTaskEnv`: a gymnasium ``VectorEnv`` (same-step autoreset); :func:`make_batched_env` builds one from
  a scenario recipe, on the arrays its ``env_device`` names (numpy by default).
* :class:`TorchBatchedTaskEnv`: the same env stepped in torch on any torch device (``env_device: cpu | cuda |
  cuda:N | auto``), with :class:`TorchStep` for code that consumes the device tensors; it lives in
  :mod:`~syre_rl.nonstationary.batched.torch_env` (with the torch twins of the dynamics and families), imported
  when first used, so the numpy path needs no torch.
* :class:`BatchedVecEnv`: its Stable-Baselines3 ``VecEnv`` (a subclass of SB3's); :func:`make_batched_vec_env` builds
  one from a scenario recipe. Both live in :mod:`~syre_rl.nonstationary.batched.vec_env`, the one module here that
  imports SB3, and are imported from it when first used, so ``import syre_rl.nonstationary.batched`` needs
  gymnasium and numpy only.
* Batched base envs: :data:`BATCHED_DYNAMICS` (CartPole, Pendulum, the contextual bandit); batched families:
  :data:`BATCHED_FAMILIES` (``cartpole_physics``, ``pendulum_physics``, ``obs_permutation``,
  ``action_permutation``, ``bandit_relabel``); every schedule.
"""

from typing import TYPE_CHECKING, Any

from syre_rl.nonstationary.batched.devices import make_batched_env
from syre_rl.nonstationary.batched.dynamics import BATCHED_DYNAMICS, BatchedDynamics, make_dynamics
from syre_rl.nonstationary.batched.env import (
    BATCHED_STATE_VERSION,
    BatchedStep,
    BatchedTaskEnv,
    SubEnv,
)
from syre_rl.nonstationary.batched.families import (
    BATCHED_FAMILIES,
    BATCHED_FAMILY_NAMES,
    BatchedFamily,
    make_batched_family,
)
from syre_rl.nonstationary.batched.tasks import TaskClocks

if TYPE_CHECKING:
    from syre_rl.nonstationary.batched.torch_env import TorchBatchedTaskEnv, TorchStep
    from syre_rl.nonstationary.batched.vec_env import BatchedVecEnv, make_batched_vec_env

_SB3_NAMES = ("BatchedVecEnv", "make_batched_vec_env")
_TORCH_NAMES = ("TorchBatchedTaskEnv", "TorchStep")


def __getattr__(name: str) -> Any:
    if name in _SB3_NAMES:
        from syre_rl.nonstationary.batched import vec_env

        return getattr(vec_env, name)
    if name in _TORCH_NAMES:
        from syre_rl.nonstationary.batched import torch_env

        return getattr(torch_env, name)
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
    "TorchBatchedTaskEnv",
    "TorchStep",
    "make_batched_env",
    "make_batched_family",
    "make_batched_vec_env",
    "make_dynamics",
]
