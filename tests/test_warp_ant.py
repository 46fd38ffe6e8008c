"""The MuJoCo Warp backend (Warp's CPU device): Ant-v5 semantics against gymnasium's env, per-world physics
parameters, task switches, the SB3 VecEnv face and exact resume. Tests that need MuJoCo Warp are skipped without it
(the extra ``gpu``)."""

from __future__ import annotations

import sys
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import pytest

from syre_rl.experiments.scenarios import load_scenario
from syre_rl.nonstationary.families import MujocoPhysicsFamily
from syre_rl.nonstationary.scenarios import validate_recipe
from syre_rl.nonstationary.warp.support import require_mujoco_warp, warp_support

# Tolerances (absolute, on observations and rewards) of MuJoCo Warp's float32 physics against MuJoCo C's float64
# physics (gymnasium's Ant-v5). Measured with MuJoCo Warp 4.0 on Warp's CPU device: one env step from the same
# well-conditioned state differs by at most 3.3e-4 (a clipped contact force; positions 2e-7, velocities 3e-5, rewards
# 5e-6); 50-step rollouts in the settings of the rollout test by at most 3e-4 (rewards 2e-5).
STEP_TOLERANCE = 2e-3
ROLLOUT_TOLERANCE = 5e-3


@pytest.fixture(scope="module")
def warp_env() -> Any:
    """The WarpTaskEnv class (skips the test without MuJoCo Warp)."""
    pytest.importorskip("mujoco_warp")
    from syre_rl.nonstationary.warp.env import WarpTaskEnv

    return WarpTaskEnv


def make(warp_env: Any, tasks: list[dict], n_envs: int, seed: int = 0, **kwargs: Any) -> Any:
    names = sorted(tasks[0])
    family = {"type": "mujoco_physics", "parameters": {name: [1e-6, 100.0] for name in names}}
    return warp_env("Ant-v5", family, {"type": "manual"}, n_envs, seed=seed, tasks=tasks, device="cpu", **kwargs)


def gym_ant(task: dict, seed: int) -> gym.Env:
    """gymnasium's Ant-v5 with ``task`` applied as the wrapper path applies it, reset with ``seed``."""
    env = gym.make("Ant-v5")
    family = MujocoPhysicsFamily({name: [1e-6, 100.0] for name in task})
    family.validate(env)
    family.apply(env, task)
    env.reset(seed=seed)
    return env


def test_plane_capsule_contact_frames_are_mujoco_cs(warp_env: Any) -> None:
    """A lower leg steeper than 60 degrees on the floor: MuJoCo Warp's contact frame is MuJoCo C's (first tangent
    along the leg's axis projected onto the floor) once WarpAnt is built, which the pyramidal friction cone needs."""
    import mujoco_warp as mjw

    env = gym.make("Ant-v5").unwrapped
    model, data = env.model, mujoco.MjData(env.model)
    data.qpos[:] = env.init_qpos
    data.qpos[2], data.qpos[7:] = 0.3, [0.0, 1.2, 0.0, -1.2, 0.0, -1.2, 0.0, 1.2]
    mujoco.mj_forward(model, data)
    make(warp_env, [{"friction": 1.0}], 1)  # installs the frames
    m, d = mjw.put_model(model), mjw.make_data(model, nworld=1)
    d.qpos.assign(data.qpos[None].astype(np.float32))
    mjw.forward(m, d)
    assert data.ncon == int(d.nacon.numpy()[0]) == 4
    c = 0.5**0.5
    expected = {4: [-c, -c, 0.0], 7: [c, -c, 0.0], 10: [c, c, 0.0], 13: [-c, c, 0.0]}  # the four feet
    for i in range(4):
        geom = int(data.contact[i].geom[1])
        np.testing.assert_allclose(data.contact[i].frame[3:6], expected[geom], atol=1e-6)
        assert int(d.contact.geom.numpy()[i][1]) == geom
        np.testing.assert_allclose(d.contact.frame.numpy()[i][1], expected[geom], atol=1e-6)


def reference_steps(friction: float, seed: int, scale: float, n_steps: int) -> list[dict]:
    """States along gymnasium's Ant-v5 trajectory (uniform random actions times ``scale``), each with the action
    taken from it, what gymnasium's step returned, and how far that step's observation moves when the state is
    perturbed by 1e-6 (``sensitivity``, see :func:`sensitivity`); after an episode end the env is reset."""
    env = gym_ant({"friction": friction}, seed)
    ant = env.unwrapped
    out = []
    for k, action in enumerate(scale * np.random.default_rng(seed).uniform(-1, 1, (n_steps, 8)).astype(np.float32)):
        state = {name: getattr(ant.data, name).copy() for name in ("qpos", "qvel", "qacc_warmstart")}
        state["xy_before"] = ant.data.body(ant._main_body).xpos[:2].copy()
        obs, reward, terminated, _, info = env.step(action)
        out.append({**state, "friction": friction, "action": action, "obs": obs, "reward": reward, "info": info})
        out[-1]["terminated"] = terminated
        out[-1]["sensitivity"] = sensitivity(ant.model, out[-1])
        if terminated:
            env.reset(seed=seed + k)
    return out


def sensitivity(model: mujoco.MjModel, ref: dict) -> float:
    """The largest change of gymnasium's next observation when MuJoCo C steps from ``ref``'s state with qpos[2:]
    and qvel perturbed by 1e-6 (three seeded draws): large where a contact starts or ends within a hair's breadth
    in one of the RK4 stages, which float32 physics cannot resolve."""
    env = gym.make("Ant-v5").unwrapped
    env.model.geom_friction[:] = model.geom_friction
    largest = 0.0
    for draw in range(3):
        noise = 1e-6 * np.random.default_rng(draw).standard_normal(model.nq + model.nv)
        noise[:2] = 0.0  # x and y: a symmetry of the Ant
        env.set_state(ref["qpos"] + noise[: model.nq], ref["qvel"] + noise[model.nq :])
        env.data.qacc_warmstart[:] = ref["qacc_warmstart"]
        obs = env.step(ref["action"])[0]
        largest = max(largest, float(np.abs(obs - ref["obs"]).max()))
    return largest


def thrown_up(friction: float) -> dict:
    """A state from which the torso leaves the healthy z range within one step (termination)."""
    env = gym_ant({"friction": friction}, seed=3)
    ant = env.unwrapped
    qpos, qvel = ant.data.qpos.copy(), ant.data.qvel.copy()
    qpos[2], qvel[2] = 0.98, 2.0
    ant.set_state(qpos, qvel)
    state = {name: getattr(ant.data, name).copy() for name in ("qpos", "qvel", "qacc_warmstart")}
    state["xy_before"] = ant.data.body(ant._main_body).xpos[:2].copy()
    action = np.full(8, 0.5, dtype=np.float32)
    obs, reward, terminated, _, info = env.step(action)
    out = {**state, "friction": friction, "action": action, "obs": obs, "reward": reward, "info": info}
    return {**out, "terminated": terminated, "sensitivity": sensitivity(ant.model, out)}


def test_one_step_from_the_same_state_agrees_with_gymnasium(warp_env: Any) -> None:
    """The acceptance test of Ant-v5 semantics: from 162 states of gymnasium's Ant-v5 (default friction and friction
    0.3; trajectories with full random actions and with zero actions, and a state thrown above the healthy range),
    each put into a world of the Warp env, one env step (5 RK4 physics steps and everything of ``AntEnv.step``) gives
    the observation (qpos[2:], qvel, clipped cfrc_ext), the reward, its contact cost and the termination gymnasium
    gives, to :data:`STEP_TOLERANCE` (float32 against float64).

    Excepted are the few states from which MuJoCo C itself is not reproducible to that tolerance (a contact that
    starts or ends within float32 resolution of its margin in an RK4 stage; :func:`sensitivity` above
    :data:`STEP_TOLERANCE`): there the Warp env's observation must lie within MuJoCo C's own spread plus the
    tolerance. For the same reason long
    rollouts cannot be held to such a tolerance (see :func:`test_agrees_with_gymnasium_over_50_steps`)."""
    refs = []
    for friction in (1.0, 0.3):
        refs += reference_steps(friction, seed=7, scale=1.0, n_steps=40)
        refs += reference_steps(friction, seed=5, scale=0.0, n_steps=40)
        refs.append(thrown_up(friction))
    n = len(refs)
    # the states cover contacts, both frictions and both outcomes of the health check; few are ill-conditioned
    assert n == 162 and sum(np.abs(r["obs"][27:]).max() > 0 for r in refs) >= 80
    assert sum(r["terminated"] for r in refs) == 2
    ill = [i for i, r in enumerate(refs) if r["sensitivity"] > STEP_TOLERANCE]
    assert len(ill) <= 12, ill
    env = make(warp_env, [{"friction": 1.0}, {"friction": 0.3}], n)
    for i, r in enumerate(refs):
        if r["friction"] == 0.3:
            env.sub_envs[i].force_switch(1)
    dynamics = env.dynamics
    snapshot = dynamics.snapshot()
    for name in ("qpos", "qvel", "qacc_warmstart", "xy_before"):
        snapshot[name] = np.stack([r[name] for r in refs])
    dynamics.restore(snapshot, env._rngs)
    obs, rewards, terminated = dynamics.step(np.stack([r["action"] for r in refs]))
    for i, r in enumerate(refs):
        message = f"state {i} (friction {r['friction']}, sensitivity {r['sensitivity']:.1e})"
        assert bool(terminated[i]) == r["terminated"], message
        if i in ill:
            assert np.abs(obs[i] - r["obs"]).max() <= r["sensitivity"] + STEP_TOLERANCE, message
            continue
        np.testing.assert_allclose(obs[i], r["obs"], atol=STEP_TOLERANCE, rtol=0, err_msg=message)
        assert abs(rewards[i] - r["reward"]) < STEP_TOLERANCE, message
        contact_cost = 5e-4 * np.sum(np.square(obs[i][27:]))
        assert abs(contact_cost + r["info"]["reward_contact"]) < STEP_TOLERANCE, message


@pytest.mark.slow
def test_agrees_with_gymnasium_over_50_steps(warp_env: Any) -> None:
    """Same reset state, same actions, 50 env steps through the env: observations and rewards agree with gymnasium's
    to :data:`ROLLOUT_TOLERANCE`, for the default friction (reset seed 4, no actions: the Ant falls, lands on its
    feet and settles, 3-4 contacts) and for friction 0.3 (reset seed 5, random actions of half amplitude).

    The two settings are ones in which MuJoCo C is itself reproducible over 50 steps, which this test checks first:
    a 1e-6 perturbation of the reset state moves no observation by more than 1e-2 there. In most other settings it
    does (contacts start a physics step earlier or later and a clipped contact force jumps by 1), and float32
    physics cannot be held to any tolerance that a float64 run perturbed by 1e-6 does not meet."""
    settings = [(1.0, 4, 0.0), (0.3, 5, 0.5)]
    n = len(settings)
    env = make(warp_env, [{"friction": 1.0}, {"friction": 0.3}], n, reset_seeds=[seed for _, seed, _ in settings])
    refs, perturbed = [], []
    for i, (friction, seed, _) in enumerate(settings):
        if friction != 1.0:
            env.sub_envs[i].force_switch(1)
        refs.append(gym_ant({"friction": friction}, seed))
        perturbed.append(gym_ant({"friction": friction}, seed))
        ant = perturbed[-1].unwrapped
        noise = 1e-6 * np.random.default_rng(0).standard_normal(ant.model.nq + ant.model.nv)
        noise[:2] = 0.0  # x and y: a symmetry of the Ant
        ant.set_state(ant.data.qpos + noise[: ant.model.nq], ant.data.qvel + noise[ant.model.nq :])
        assert np.abs(env._obs[i] - refs[-1].unwrapped._get_obs()).max() < 1e-6  # same initial state
    base = np.random.default_rng(1).uniform(-1, 1, (50, 8))
    contacts = np.zeros(n, dtype=int)
    for step in range(50):
        actions = np.stack([scale * base[step] for _, _, scale in settings]).astype(np.float32)
        obs, rewards, terminated = env.dynamics.step(actions)
        for i, ref in enumerate(refs):
            ref_obs, ref_reward, ref_terminated, _, _ = ref.step(actions[i])
            other_obs = perturbed[i].step(actions[i])[0]
            assert np.abs(other_obs - ref_obs).max() < 1e-2, f"MuJoCo C is not reproducible in setting {i}"
            np.testing.assert_allclose(obs[i], ref_obs, atol=ROLLOUT_TOLERANCE, rtol=0, err_msg=f"{i} step {step}")
            assert abs(rewards[i] - ref_reward) < ROLLOUT_TOLERANCE, (i, step, rewards[i], ref_reward)
            assert bool(terminated[i]) == ref_terminated
            contacts[i] += ref.unwrapped.data.ncon > 0
    assert contacts.min() >= 25  # both settings test contact dynamics


@pytest.mark.slow
def test_gravity_is_per_world(warp_env: Any) -> None:
    env = make(warp_env, [{"gravity": 1e-6}, {"gravity": 9.81}], 2, reset_seeds=[11, 11])
    env.sub_envs[1].force_switch(1)
    for _ in range(10):
        env.dynamics.step(np.zeros((2, 8), dtype=np.float32))
    qpos = env.dynamics.data.qpos.numpy()
    assert qpos[1, 2] < qpos[0, 2] - 0.1  # the world with gravity fell


@pytest.mark.slow
def test_per_world_friction_makes_rollouts_diverge(warp_env: Any) -> None:
    env = make(warp_env, [{"friction": 1.0}, {"friction": 0.05}], 2, reset_seeds=[3, 3])
    env.sub_envs[1].force_switch(1)
    assert np.array_equal(env._obs[0], env._obs[1])  # same initial state
    for action in np.random.default_rng(3).uniform(-1, 1, (40, 8)).astype(np.float32):
        obs, _, _ = env.dynamics.step(np.repeat(action[None], 2, axis=0))
    device = env.dynamics.device_params()["geom_friction"]
    assert np.allclose(device[0][:, 0], 1.0) and np.allclose(device[1][:, 0], 0.05)
    assert np.abs(obs[0] - obs[1]).max() > 0.1


def test_a_task_switch_changes_only_the_scheduled_worlds(warp_env: Any) -> None:
    env = make(warp_env, [{"friction": 1.0}, {"friction": 0.1}], 3)
    before = env.dynamics.device_params()
    env.sub_envs[1].force_switch()
    env.step(np.zeros((3, 8), dtype=np.float32))  # parameters reach the device before the step
    after = env.dynamics.device_params()
    assert env.task_ids.tolist() == [0, 1, 0]
    for world in (0, 2):
        assert np.array_equal(after["geom_friction"][world], before["geom_friction"][world])
    assert np.allclose(after["geom_friction"][1][:, 0], 0.1)
    assert np.array_equal(after["body_mass"], before["body_mass"])


def vec_recipe(**env_kwargs: Any) -> dict:
    recipe = load_scenario("slippery_ant_gpu")
    recipe["schedule"] = {"type": "fixed_interval", "steps_per_task": 9, "align_to_episode": True}
    recipe["total_steps"], recipe["env_kwargs"] = 1000, env_kwargs
    return recipe


@pytest.mark.slow
def test_vec_env_shapes_dones_and_terminal_observations(warp_env: Any) -> None:
    from syre_rl.nonstationary.warp.vec_env import make_warp_vec_env

    vec = make_warp_vec_env(vec_recipe(max_episode_steps=4), seed=0, n_envs=3, device="cpu")
    obs = vec.reset()
    assert obs.shape == (3, 105) and vec.action_space.shape == (8,)
    ends = 0
    for step in range(1, 9):
        obs, rewards, dones, infos = vec.step(np.zeros((3, 8), dtype=np.float32))
        assert obs.shape == (3, 105) and rewards.dtype == np.float32 and dones.dtype == bool
        assert dones.tolist() == [step % 4 == 0] * 3
        for done, info in zip(dones, infos, strict=True):
            assert {"task_id", "task", "task_switch"} <= set(info)
            assert ("terminal_observation" in info) == done == ("episode" in info)
            if done:
                ends += 1
                assert info["terminal_observation"].shape == (105,) and info["TimeLimit.truncated"]
                assert not np.array_equal(info["terminal_observation"], obs[0])  # the new episode's first obs
    assert ends == 6
    assert [info["task_id"] for info in infos] == [1, 1, 1]  # switched at the episode end after 9 total steps


@pytest.mark.slow
def test_checkpoint_resume_continues_identically(warp_env: Any) -> None:
    from syre_rl.nonstationary.warp.vec_env import make_warp_vec_env

    recipe = vec_recipe(max_episode_steps=3)
    actions = np.random.default_rng(2).uniform(-1, 1, (10, 2, 8)).astype(np.float32)
    vec = make_warp_vec_env(recipe, seed=4, n_envs=2, device="cpu")
    vec.reset()
    for a in actions[:4]:
        vec.step(a)
    state = vec.get_state()
    tail = [vec.step(a) for a in actions[4:]]
    resumed = make_warp_vec_env(recipe, seed=4, n_envs=2, device="cpu")
    resumed.set_state(state)
    for a, (obs, rewards, dones, infos) in zip(actions[4:], tail, strict=True):
        obs2, rewards2, dones2, infos2 = resumed.step(a)
        np.testing.assert_array_equal(obs2, obs)
        np.testing.assert_array_equal(rewards2, rewards)
        np.testing.assert_array_equal(dones2, dones)
        assert [i["task_id"] for i in infos2] == [i["task_id"] for i in infos]
        for i, j in zip(infos, infos2, strict=True):
            if "terminal_observation" in i:
                np.testing.assert_array_equal(i["terminal_observation"], j["terminal_observation"])


def test_torch_views_share_memory(warp_env: Any) -> None:
    torch = pytest.importorskip("torch")
    env = make(warp_env, [{"friction": 1.0}], 2)
    env.step(np.zeros((2, 8), dtype=np.float32))
    views = env.dynamics.torch_views()
    assert isinstance(views["obs"], torch.Tensor) and tuple(views["obs"].shape) == (2, 105)
    assert views["obs"].data_ptr() == env.dynamics._obs.ptr  # no copy
    np.testing.assert_allclose(views["obs"].numpy(), env._obs, atol=1e-6)


def test_the_backend_is_checked_without_mujoco_warp(monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = load_scenario("slippery_ant_gpu")
    assert recipe["backend"] == "warp" and recipe["n_envs"] == 4096
    assert recipe["schedule"] == {"type": "fixed_interval", "steps_per_task": 2_000_000, "align_to_episode": True}
    assert warp_support("Ant-v5", MujocoPhysicsFamily({"friction": [0.02, 2.0]})) is None
    bad = {**recipe, "base_env": "CartPole-v1", "family": {"type": "obs_permutation"}}
    with pytest.raises(ValueError, match="backend 'warp' is not available: base env 'CartPole-v1'"):
        validate_recipe(bad)
    monkeypatch.setitem(sys.modules, "mujoco_warp", None)
    with pytest.raises(ImportError, match=r"pip install \"syre-rl\[gpu\]\""):
        require_mujoco_warp()


def test_gymnasium_reference_has_no_contacts_at_reset() -> None:
    """The reset observation's contact forces are zero in gymnasium's Ant (mj_resetData, then mj_forward without
    rne_postconstraint), which the Warp reset reproduces."""
    env = gym.make("Ant-v5")
    obs, _ = env.reset(seed=0)
    assert np.all(obs[27:] == 0.0) and isinstance(env.unwrapped.data, mujoco.MjData)
