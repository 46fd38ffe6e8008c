"""What the MuJoCo Warp backend can run, and the checks made before anything heavy is imported (gymnasium only).

The backend needs the optional extra ``gpu`` (``pip install "syre-rl[gpu]"``: MuJoCo Warp and NVIDIA Warp); a
recipe may name ``backend: warp`` without it, and the error comes when the env is made.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from syre_rl.nonstationary.families import MujocoPhysicsFamily, TaskFamily

#: the optional dependency group that installs MuJoCo Warp
EXTRA = "gpu"
#: entry points of the gymnasium envs with a MuJoCo Warp version
WARP_ENTRY_POINTS = ("gymnasium.envs.mujoco.ant_v5:AntEnv",)
#: task families with a MuJoCo Warp version (exact classes)
WARP_FAMILIES: tuple[type[TaskFamily], ...] = (MujocoPhysicsFamily,)
WARP_FAMILY_NAMES = sorted(cls.type_name for cls in WARP_FAMILIES)


def _entry_point_name(entry_point: Any) -> str:
    if callable(entry_point):
        return f"{entry_point.__module__}:{entry_point.__name__}"
    return str(entry_point)


def warp_support(base_env: str, family: TaskFamily) -> str | None:
    """Why a base env and task family cannot run on the MuJoCo Warp backend, or None when they can. Nothing heavy
    is imported: the base env is recognised from its registered entry point, the family by its exact class.

    :param base_env: gymnasium id of the stationary env.
    :param family: the task family.
    """
    reasons = []
    spec = gym.registry.get(base_env)
    if spec is None or _entry_point_name(spec.entry_point) not in WARP_ENTRY_POINTS:
        ids = sorted(i for i, s in gym.registry.items() if _entry_point_name(s.entry_point) in WARP_ENTRY_POINTS)
        reasons.append(f"base env {base_env!r} has no MuJoCo Warp version (warp base envs: {ids})")
    if type(family) not in WARP_FAMILIES:
        name = family.type_name or type(family).__name__
        reasons.append(f"task family {name!r} has no MuJoCo Warp version (warp families: {WARP_FAMILY_NAMES})")
    return "; ".join(reasons) or None


def require_mujoco_warp() -> None:
    """Import MuJoCo Warp and NVIDIA Warp, or say which extra installs them.

    :raises ImportError: either package is missing, with the install command.
    """
    try:
        import mujoco_warp  # noqa: F401
        import warp  # noqa: F401
    except ImportError as err:
        raise ImportError(
            f"backend 'warp' needs MuJoCo Warp, which is not installed ({err}); install the optional extra "
            f'with: pip install "syre-rl[{EXTRA}]" (or, in a checkout: pip install -e ".[{EXTRA}]")'
        ) from err


def warp_device(device: str | None) -> str | None:
    """The Warp device for a torch-style device name: ``"auto"`` and None give Warp's default (the first CUDA
    device when there is one, else the CPU); ``"cpu"``, ``"cuda"`` and ``"cuda:N"`` are passed on.

    :param device: the run's ``device`` setting (default ``"auto"`` in configs).
    """
    if device is None or device == "auto":
        return None
    return str(device)
