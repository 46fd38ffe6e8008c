# mypy: ignore-errors
# (Warp kernel bodies index Warp arrays, which Warp's type stubs do not describe.)
"""Warp kernels of :class:`~syre_rl.nonstationary.warp.ant.WarpAnt`: scattering reset states into worlds, and
Ant-v5's observation, reward and termination per world."""

import warp as wp


@wp.kernel
def scatter_rows(rows: wp.array[wp.int32], values: wp.array2d[float], out: wp.array2d[float]):
    j, k = wp.tid()
    out[rows[j], k] = values[j, k]


@wp.kernel
def observe(
    qpos: wp.array2d[float],
    qvel: wp.array2d[float],
    cfrc_ext: wp.array2d[wp.spatial_vector],
    xpos: wp.array2d[wp.vec3],
    ctrl: wp.array2d[float],
    reset: wp.array[bool],
    at_reset: int,
    main_body: int,
    skip_qpos: int,
    with_cfrc: int,
    dt: float,
    forward_weight: float,
    ctrl_weight: float,
    contact_weight: float,
    healthy_reward: float,
    z_low: float,
    z_high: float,
    force_low: float,
    force_high: float,
    terminate_when_unhealthy: int,
    xy_before: wp.array2d[float],
    obs: wp.array2d[float],
    reward: wp.array[float],
    terminated: wp.array[bool],
):
    w = wp.tid()
    if at_reset != 0 and not reset[w]:
        return
    # Warp needs int()/float() to make a variable that loops may change.
    k = int(0)  # noqa: UP018, RUF046
    healthy = int(1)  # noqa: UP018, RUF046
    for i in range(qpos.shape[1]):
        v = qpos[w, i]
        if not wp.isfinite(v):
            healthy = 0
        if i >= skip_qpos:
            obs[w, k] = v
            k += 1
    for i in range(qvel.shape[1]):
        v = qvel[w, i]
        if not wp.isfinite(v):
            healthy = 0
        obs[w, k] = v
        k += 1
    z = qpos[w, 2]
    if z < z_low or z > z_high:
        healthy = 0
    contact = float(0.0)  # noqa: UP018
    for b in range(cfrc_ext.shape[1]):
        f = cfrc_ext[w, b]
        for j in range(6):
            # A reset env's forces are those of mj_resetData: zero until the first step.
            c = float(0.0)  # noqa: UP018
            if at_reset == 0:
                c = wp.clamp(f[j], force_low, force_high)
            contact += c * c
            if with_cfrc != 0 and b >= 1:
                obs[w, k] = c
                k += 1
    p = xpos[w, main_body]
    if at_reset == 0:
        x_velocity = (p[0] - xy_before[w, 0]) / dt
        ctrl_cost = float(0.0)  # noqa: UP018
        for i in range(ctrl.shape[1]):
            ctrl_cost += ctrl[w, i] * ctrl[w, i]
        reward[w] = (
            forward_weight * x_velocity
            + healthy_reward * float(healthy)
            - ctrl_weight * ctrl_cost
            - contact_weight * contact
        )
        terminated[w] = terminate_when_unhealthy != 0 and healthy == 0
    xy_before[w, 0] = p[0]
    xy_before[w, 1] = p[1]
