# mypy: ignore-errors
# (Warp function bodies use Warp vector types, which Warp's type stubs do not describe.)
"""MuJoCo C's contact frame for plane-capsule contacts, installed into MuJoCo Warp.

With the pyramidal friction cone (gymnasium's Ant uses it) the friction forces depend on the contact's tangent
frame, so the frame must be MuJoCo C's for the two engines to agree. MuJoCo C (``mjc_PlaneCapsule`` then
``mju_makeFrame``) takes the capsule axis projected onto the plane as the first tangent, falling back to a fixed axis
only when the unprojected axis is shorter than 0.5, which a unit axis never is. MuJoCo Warp 4.0
(``collision_primitive_core.plane_capsule``) falls back to ``(0, 1, 0)`` whenever the *projected* axis is shorter
than 0.5, that is whenever the capsule is steeper than 60 degrees, as an Ant's lower leg is when its foot touches
the floor. :func:`use_mujoco_c_capsule_frames` puts MuJoCo C's rule in place of MuJoCo Warp's (the same function
with the fallback condition changed); everything else of the collision is MuJoCo Warp's. The replacement keeps the
signature and return layout of MuJoCo Warp's function (MuJoCo Warp is Apache-2.0 licensed), which its collision
kernel calls; the patch is meant to go once MuJoCo Warp takes MuJoCo C's rule.
"""

import inspect
import warnings
from typing import Tuple  # noqa: UP035  (Warp reads the annotation of a multi-value return)

import warp as wp
from mujoco_warp._src import collision_primitive, warp_util
from mujoco_warp._src.collision_primitive_core import mat23f, plane_sphere

_ARGS = ["plane_normal", "plane_pos", "capsule_pos", "capsule_axis", "capsule_radius", "capsule_half_length"]


@wp.func
def plane_capsule(
    plane_normal: wp.vec3,
    plane_pos: wp.vec3,
    capsule_pos: wp.vec3,
    capsule_axis: wp.vec3,
    capsule_radius: float,
    capsule_half_length: float,
) -> Tuple[wp.vec2, mat23f, wp.mat33]:  # noqa: UP006
    n = plane_normal
    tangent = capsule_axis - n * wp.dot(n, capsule_axis)
    length = wp.length(tangent)
    # mju_normalize3 of a vector shorter than mjMINVAL gives (1, 0, 0)
    if length < 1.0e-15:
        tangent = wp.vec3(1.0, 0.0, 0.0)
    else:
        tangent = tangent / length
    c = wp.cross(n, tangent)
    frame = wp.mat33(n[0], n[1], n[2], tangent[0], tangent[1], tangent[2], c[0], c[1], c[2])
    segment = capsule_axis * capsule_half_length
    dist1, pos1 = plane_sphere(n, plane_pos, capsule_pos + segment, capsule_radius)
    dist2, pos2 = plane_sphere(n, plane_pos, capsule_pos - segment, capsule_radius)
    return wp.vec2(dist1, dist2), mat23f(pos1[0], pos1[1], pos1[2], pos2[0], pos2[1], pos2[2]), frame


def use_mujoco_c_capsule_frames() -> bool:
    """Make MuJoCo Warp's plane-capsule collision build MuJoCo C's contact frame (see the module docstring), for
    every model of this process. Kernels built before are dropped from MuJoCo Warp's kernel cache, so that the next
    collision builds its kernel with this function. Idempotent.

    :returns: True when installed; False (with a warning) when this MuJoCo Warp's ``plane_capsule`` has another
        signature, in which case MuJoCo Warp's own is kept.
    """
    current = getattr(collision_primitive, "plane_capsule", None)
    if current is plane_capsule:
        return True
    try:
        args = list(inspect.signature(current.func).parameters)
    except (AttributeError, TypeError, ValueError):
        args = None
    if args != _ARGS:
        warnings.warn(
            "MuJoCo Warp's plane_capsule has another signature than expected; its own contact frames are kept, "
            "and plane-capsule friction may differ from MuJoCo C's",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    collision_primitive.plane_capsule = plane_capsule
    cache = warp_util._KERNEL_CACHE
    for key in [k for k in cache if k[-2:] == (collision_primitive.__name__, "_primitive_narrowphase")]:
        del cache[key]
    return True
