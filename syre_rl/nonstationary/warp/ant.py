"""Gymnasium's ``Ant-v5`` on MuJoCo Warp: ``n_envs`` worlds of one model stepped together, each with its own
friction, body masses and gravity.

What one world computes is what ``AntEnv`` computes for one env, read from a template instance (so its
``env_kwargs`` apply): the same MJCF (the template's compiled model), ``frame_skip`` physics steps per env step
followed by ``rne_postconstraint`` (for ``cfrc_ext``), the observation ``qpos[2:]``, ``qvel`` and ``cfrc_ext[1:]``
clipped to ``contact_force_range`` (with the template's exclusion flags), the reward
``healthy_reward + forward_reward - ctrl_cost - contact_cost`` with the forward velocity taken from the main body's
``xpos`` before and after the step, the healthy-z termination, and resets drawn from one generator per world
exactly as ``AntEnv.reset_model`` draws them (uniform ``qpos`` noise, normal ``qvel`` noise, both scaled by
``reset_noise_scale``). The time limit is the batched env's job.

Differences from the CPU env: MuJoCo Warp computes in float32 (the observations are returned as float64, the
CPU env's dtype). Its plane-capsule contacts take MuJoCo C's contact frame
(:func:`~syre_rl.nonstationary.warp.collision.use_mujoco_c_capsule_frames`, installed when a ``WarpAnt`` is built):
MuJoCo Warp 4.0's own frame differs for a steep leg, which changes the pyramidal friction forces. One env step from
the same state then agrees with gymnasium's to about 1e-4 (observations, rewards, termination), except where a
contact starts or ends within float32 resolution of its margin inside a physics step. Such contact events make long
rollouts of the Ant sensitive: MuJoCo C itself, perturbed by 1e-6, drifts apart by up to 1 in an observation within
50 steps in most settings, and so do the two engines. On a CUDA device the physics of one env step runs as one
captured CUDA graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import mujoco_warp as mjw
import numpy as np
import warp as wp
from gymnasium.envs.mujoco.ant_v5 import AntEnv

from syre_rl.nonstationary.batched.dynamics import BatchedDynamics
from syre_rl.nonstationary.warp.collision import use_mujoco_c_capsule_frames
from syre_rl.nonstationary.warp.kernels import observe, scatter_rows

# Warp prints a line for every kernel module it loads; a vector env loads dozens.
wp.config.quiet = True  # type: ignore[attr-defined]

#: per-world model parameters (host copies in :attr:`WarpAnt.params`) -> the Model field they are uploaded to
PARAMETER_FIELDS = {
    "geom_friction": "geom_friction",
    "body_mass": "body_mass",
    "body_inertia": "body_inertia",
    "gravity": "opt.gravity",
}


class WarpAnt(BatchedDynamics):
    """``n_envs`` Ant-v5 envs as the worlds of one MuJoCo Warp model (see the module docstring for what matches).

    :attr:`params` holds each world's model parameters on the host, float64: ``geom_friction`` ``(n, ngeom, 3)``,
    ``body_mass`` ``(n, nbody)``, ``body_inertia`` ``(n, nbody, 3)`` and ``gravity`` ``(n, 3)`` (m/s^2); after
    changing them call :meth:`params_changed`, and they are uploaded before the next step.

    :param template: an unwrapped ``AntEnv`` (its model, constants and spaces are used).
    :param n_envs: number of worlds (>= 1).
    :param device: Warp device (``"cpu"``, ``"cuda"``, ``"cuda:N"``); None: Warp's default device.
    :param graph: capture one env step's physics as a CUDA graph and replay it (default None: on CUDA devices).
    """

    ENV_CLASS: ClassVar[type[Any]] = AntEnv

    def __init__(self, template: Any, n_envs: int, device: str | None = None, graph: bool | None = None) -> None:
        super().__init__(template, n_envs)
        use_mujoco_c_capsule_frames()
        env: AntEnv = template
        mjm = env.model
        self.device = wp.get_device(device)
        self.use_graph = self.device.is_cuda if graph is None else bool(graph)
        if self.use_graph and not self.device.is_cuda:
            raise ValueError(f"WarpAnt: graph capture needs a CUDA device, got {self.device}")
        self.nq, self.nv, self.nu = int(mjm.nq), int(mjm.nv), int(mjm.nu)
        self.frame_skip = int(env.frame_skip)
        self.dt = float(env.dt)
        self.init_qpos = np.array(env.init_qpos, dtype=np.float64, copy=True)
        self.init_qvel = np.array(env.init_qvel, dtype=np.float64, copy=True)
        self.reset_noise_scale = float(env._reset_noise_scale)
        self.main_body = int(env.data.body(env._main_body).id)
        self.skip_qpos = 2 if env._exclude_current_positions_from_observation else 0
        self.with_cfrc = bool(env._include_cfrc_ext_in_observation)
        self.constants = (
            self.dt,
            float(env._forward_reward_weight),
            float(env._ctrl_cost_weight),
            float(env._contact_cost_weight),
            float(env._healthy_reward),
            float(env._healthy_z_range[0]),
            float(env._healthy_z_range[1]),
            float(env._contact_force_range[0]),
            float(env._contact_force_range[1]),
            int(bool(env._terminate_when_unhealthy)),
        )
        self.obs_size = int(np.prod(env.observation_space.shape or ()))
        self.params = {
            "geom_friction": np.tile(np.asarray(mjm.geom_friction, dtype=np.float64), (n_envs, 1, 1)),
            "body_mass": np.tile(np.asarray(mjm.body_mass, dtype=np.float64), (n_envs, 1)),
            "body_inertia": np.tile(np.asarray(mjm.body_inertia, dtype=np.float64), (n_envs, 1, 1)),
            "gravity": np.tile(np.asarray(mjm.opt.gravity, dtype=np.float64), (n_envs, 1)),
        }
        with wp.ScopedDevice(self.device):
            batched = {"geom_friction": n_envs, "body_mass": n_envs, "body_inertia": n_envs}
            self.model = mjw.put_model(mjm, batch_sizes=batched)
            # Option fields cannot be batched through put_model; the kernels index gravity by world as well.
            self.model.opt.gravity = wp.array(self.params["gravity"], dtype=wp.vec3)
            self.data = mjw.make_data(mjm, nworld=n_envs)
            self._obs = wp.zeros((n_envs, self.obs_size), dtype=float)
            self._reward = wp.zeros(n_envs, dtype=float)
            self._terminated = wp.zeros(n_envs, dtype=bool)
            self._xy_before = wp.zeros((n_envs, 2), dtype=float)
            self._reset_mask = wp.zeros(n_envs, dtype=bool)
        self._params_dirty = False
        self._graph: Any = None

    # ---------------------------------------------------------------------------------------------------------------
    # parameters
    # ---------------------------------------------------------------------------------------------------------------
    def params_changed(self) -> None:
        """Mark :attr:`params` as changed: they are uploaded to the device before the next step."""
        self._params_dirty = True

    def _model_field(self, name: str) -> Any:
        field: Any = self.model
        for part in PARAMETER_FIELDS[name].split("."):
            field = getattr(field, part)
        return field

    def _upload_params(self) -> None:
        # assign() copies in place, so a captured graph keeps reading the same device buffers.
        for name, values in self.params.items():
            self._model_field(name).assign(values.astype(np.float32))
        self._params_dirty = False

    def device_params(self) -> dict[str, np.ndarray]:
        """The per-world parameters as the device holds them (float32 copies; for checks)."""
        return {name: self._model_field(name).numpy().reshape(values.shape) for name, values in self.params.items()}

    # ---------------------------------------------------------------------------------------------------------------
    # stepping
    # ---------------------------------------------------------------------------------------------------------------
    def _launch_observe(self, at_reset: bool) -> None:
        d = self.data
        wp.launch(
            observe,
            dim=self.n_envs,
            inputs=[
                d.qpos,
                d.qvel,
                d.cfrc_ext,
                d.xpos,
                d.ctrl,
                self._reset_mask,
                int(at_reset),
                self.main_body,
                self.skip_qpos,
                int(self.with_cfrc),
                *self.constants,
            ],
            outputs=[self._xy_before, self._obs, self._reward, self._terminated],
        )

    def _simulate(self) -> None:
        for _ in range(self.frame_skip):
            mjw.step(self.model, self.data)
        # As gymnasium's MujocoEnv: cfrc_ext is only computed on request.
        mjw.rne_postconstraint(self.model, self.data)
        self._launch_observe(at_reset=False)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Apply ``actions`` (one row of ``nu`` controls per world) for ``frame_skip`` physics steps; return the
        observations (float64), rewards (float64) and terminations."""
        ctrl = np.asarray(actions, dtype=np.float32).reshape(self.n_envs, self.nu)
        with wp.ScopedDevice(self.device):
            if self._params_dirty:
                self._upload_params()
            self.data.ctrl.assign(ctrl)
            if not self.use_graph:
                self._simulate()
            elif self._graph is None:
                self._simulate()  # the first step compiles the kernels, which a capture cannot do
                with wp.ScopedCapture(device=self.device) as capture:
                    self._simulate()
                self._graph = capture.graph
            else:
                wp.capture_launch(self._graph)
            obs = self._obs.numpy().astype(np.float64)
            rewards = self._reward.numpy().astype(np.float64)
            terminated = self._terminated.numpy().astype(bool)
        return obs, rewards, terminated

    def reset_envs(self, indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """Start new episodes in worlds ``indices``: ``mj_resetData``, then ``AntEnv.reset_model``'s noise drawn
        from ``rngs[i]``; return their observations."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) == 0:
            return np.zeros((0, self.obs_size))
        scale = self.reset_noise_scale
        qpos = np.empty((len(indices), self.nq))
        qvel = np.empty((len(indices), self.nv))
        for j, i in enumerate(indices.tolist()):
            rng = rngs[i]
            qpos[j] = self.init_qpos + rng.uniform(low=-scale, high=scale, size=self.nq)
            qvel[j] = self.init_qvel + scale * rng.standard_normal(self.nv)
        mask = np.zeros(self.n_envs, dtype=bool)
        mask[indices] = True
        with wp.ScopedDevice(self.device):
            if self._params_dirty:
                self._upload_params()
            self._reset_mask.assign(mask)
            mjw.reset_data(self.model, self.data, self._reset_mask)
            rows: Any = wp.array(indices.astype(np.int32), dtype=wp.int32)
            for values, out in ((qpos, self.data.qpos), (qvel, self.data.qvel)):
                wp.launch(
                    scatter_rows,
                    dim=values.shape,
                    inputs=[rows, wp.array(values.astype(np.float32), dtype=float)],
                    outputs=[out],
                )
            # Positions of every world are recomputed (the next step recomputes them anyway); only the reset
            # worlds' observations and main-body positions are read from them.
            mjw.kinematics(self.model, self.data)
            self._launch_observe(at_reset=True)
            obs = self._obs.numpy()[indices].astype(np.float64)
        return obs

    def torch_views(self) -> dict[str, Any]:
        """Torch tensors sharing memory with the device arrays (``warp.to_torch``, no copy): ``obs`` ``(n, obs)``,
        ``reward`` ``(n,)``, ``terminated`` ``(n,)`` of the latest step, and the physics state ``qpos``, ``qvel``.
        They change with every step; needs torch."""
        arrays = {
            "obs": self._obs,
            "reward": self._reward,
            "terminated": self._terminated,
            "qpos": self.data.qpos,
            "qvel": self.data.qvel,
        }
        return {name: wp.to_torch(array) for name, array in arrays.items()}

    # ---------------------------------------------------------------------------------------------------------------
    # complete state
    # ---------------------------------------------------------------------------------------------------------------
    #: Data arrays that, with the parameters and the main body's last position, decide every later step
    DATA_STATE: ClassVar[tuple[str, ...]] = ("qpos", "qvel", "act", "qacc_warmstart", "time")

    def snapshot(self) -> dict[str, Any]:
        """Host copies of each world's physics state (``qpos``, ``qvel``, ``act``, ``qacc_warmstart``, ``time``),
        the main body's position after the latest step, and :attr:`params`."""
        with wp.ScopedDevice(self.device):
            out: dict[str, Any] = {name: getattr(self.data, name).numpy().copy() for name in self.DATA_STATE}
            out["xy_before"] = self._xy_before.numpy().copy()
        out["params"] = {name: values.copy() for name, values in self.params.items()}
        return out

    def restore(self, snapshot: Mapping[str, Any], rngs: Sequence[np.random.Generator]) -> None:
        """Put back a :meth:`snapshot` of a ``WarpAnt`` of the same model and size.

        :raises ValueError: an array is missing or has another shape.
        """
        arrays = {name: np.asarray(snapshot[name]) for name in (*self.DATA_STATE, "xy_before") if name in snapshot}
        params = {name: np.asarray(v) for name, v in dict(snapshot.get("params", {})).items()}
        with wp.ScopedDevice(self.device):
            current = {name: getattr(self.data, name) for name in self.DATA_STATE}
            current["xy_before"] = self._xy_before
            for name, array in current.items():
                if name not in arrays or arrays[name].shape != array.shape:
                    got = arrays[name].shape if name in arrays else None
                    raise ValueError(f"WarpAnt: state array {name!r} has shape {got}, expected {array.shape}")
            for name, values in self.params.items():
                if name not in params or params[name].shape != values.shape:
                    got = params[name].shape if name in params else None
                    raise ValueError(f"WarpAnt: parameter {name!r} has shape {got}, expected {values.shape}")
            for name, array in current.items():
                if array.size:
                    array.assign(arrays[name].astype(np.float32))
            for name in self.params:
                self.params[name] = np.array(params[name], dtype=np.float64, copy=True)
            self._upload_params()
