"""The MuJoCo Warp backend: thousands of MuJoCo sub-envs stepped together on a GPU (or on Warp's CPU device), with
the task machinery of the batched path (same task sequence, switch steps, infos and checkpoints).

* :class:`~syre_rl.nonstationary.warp.ant.WarpAnt`: gymnasium's ``Ant-v5`` (its MJCF, observation, reward,
  termination and reset noise) on MuJoCo Warp, one world per sub-env, each world with its own friction, masses and
  gravity; results hand over to torch without a copy (:meth:`~syre_rl.nonstationary.warp.ant.WarpAnt.torch_views`).
* :class:`~syre_rl.nonstationary.warp.env.WarpTaskEnv`: a
  :class:`~syre_rl.nonstationary.batched.env.BatchedTaskEnv` on it (gymnasium ``VectorEnv``, same-step autoreset,
  ``get_state``/``set_state``); :func:`~syre_rl.nonstationary.warp.env.make_warp_env` builds one from a recipe.
* :func:`~syre_rl.nonstationary.warp.vec_env.make_warp_vec_env`: its Stable-Baselines3 face (a
  :class:`~syre_rl.nonstationary.batched.vec_env.BatchedVecEnv`, numpy at the boundary).

Needs the optional extra ``gpu`` (MuJoCo Warp). This package face imports only the support checks; the Warp
modules load when one of the names above is first used.
"""

from typing import TYPE_CHECKING, Any

from syre_rl.nonstationary.warp.support import (
    EXTRA,
    WARP_ENTRY_POINTS,
    WARP_FAMILIES,
    WARP_FAMILY_NAMES,
    require_mujoco_warp,
    warp_device,
    warp_support,
)

if TYPE_CHECKING:
    from syre_rl.nonstationary.warp.ant import WarpAnt
    from syre_rl.nonstationary.warp.env import WarpTaskEnv, make_warp_env
    from syre_rl.nonstationary.warp.families import WarpMujocoPhysics
    from syre_rl.nonstationary.warp.vec_env import make_warp_vec_env

_LAZY = {
    "WarpAnt": "ant",
    "WarpTaskEnv": "env",
    "make_warp_env": "env",
    "WarpMujocoPhysics": "families",
    "make_warp_vec_env": "vec_env",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "EXTRA",
    "WARP_ENTRY_POINTS",
    "WARP_FAMILIES",
    "WARP_FAMILY_NAMES",
    "WarpAnt",
    "WarpMujocoPhysics",
    "WarpTaskEnv",
    "make_warp_env",
    "make_warp_vec_env",
    "require_mujoco_warp",
    "warp_device",
    "warp_support",
]
