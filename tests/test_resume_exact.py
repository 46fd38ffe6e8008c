"""Exact resume: a run interrupted at any step and resumed writes the same logs and ends with the same weights as the
uninterrupted run, bit for bit, for every agent recipe; damaged checkpoints and logs are skipped, repaired or
refused, never used."""

from __future__ import annotations

import copy
import io
import json
import pickle
import shutil
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from helpers import TINY_RUN, Interrupt
from stable_baselines3 import DQN
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from syre_rl.experiments import checkpoints as ckpt_module
from syre_rl.experiments import list_agents
from syre_rl.experiments.agents import load_agent
from syre_rl.experiments.build import make_vec_env
from syre_rl.experiments.checkpoints import (
    CheckpointError,
    final_checkpoint,
    get_env_state,
    list_checkpoints,
    load_newest_checkpoint,
    read_state,
    replay_buffer_nbytes,
    set_env_state,
)
from syre_rl.experiments.classes import resolve_algorithm
from syre_rl.experiments.config import resolve_config
from syre_rl.experiments.run import train
from syre_rl.experiments.scenarios import load_scenario
from syre_rl.run_layout import DONE_FILE

LOGS = ("episodes.csv", "tasks.csv", "metrics.csv")
STEPS = 1024
TINY = TINY_RUN
# Settings under which every intervention acts within the tiny run (and uses its counters and generators).
ACTIVE = {
    "ppo_cbp": ["interventions.0.maturity_threshold=4", "interventions.0.replacement_rate=0.05"],
    "ppo_redo": ["interventions.0.every_n_rollouts=1", "interventions.0.tau=0.5", "interventions.0.batch_size=96"],
    "ppo_shrink_perturb": ["interventions.0.every_n_rollouts=3"],
    "dqn_redo": ["interventions.0.every_n_updates=12", "interventions.0.tau=0.5"],
    "dqn_reset": ["interventions.0.every_n_updates=20"],
    "sac_redo": ["interventions.0.every_n_updates=24", "interventions.0.tau=0.5"],
    "sac_reset": ["interventions.0.every_n_updates=40"],
    "td3_reset": ["interventions.0.every_n_updates=40"],
}


# Off-policy recipes: a small network and replay buffer, a few gradient steps. DQN on the bandit (4 envs): a rollout
# (train_freq per env) of 64 steps; SAC on a short Pendulum with drifting gravity (1 env): a rollout every step, and
# a shorter run, a checkpoint every 128 steps.
OFF_POLICY_TINY = [
    "policy_kwargs.net_arch=[16, 16]",
    "buffer_size=3000",
    "learning_starts=100",
    "batch_size=32",
    "plasticity.batch_size=64",
    "plasticity.probe_every=0",
    "plasticity.every_n_rollouts=2",
]
DQN_TINY = ["train_freq=16", "gradient_steps=4", "target_update_interval=50", "checkpoint_every=256"]
SAC_TINY = ["train_freq=8", "gradient_steps=8", "checkpoint_every=128"]
SAC_STEPS = 512
# Pendulum whose gravity drifts as a random walk on a log scale between 5 and 20 m/s^2.
PENDULUM_DRIFT = {
    "name": "pendulum_drift",
    "description": "Pendulum with gravity drifting between 5 and 20 m/s^2",
    "source": "random-walk parameter drift of ns-gym",
    "base_env": "Pendulum-v1",
    "env_kwargs": {},
    "family": {"type": "pendulum_physics", "parameters": {"g": [5.0, 20.0]}, "log_uniform": True},
    "schedule": {"type": "random_walk", "steps_per_task": 200, "scale": 0.2, "align_to_episode": False},
    "backend": "batched",
    "n_envs": 1,
    "total_steps": SAC_STEPS,
}


ALL_AGENTS = list_agents()


def family(agent: str) -> str:
    """``"on_policy"``, ``"discrete"`` (DQN) or ``"continuous"`` (SAC, TD3): which scenario and settings fit."""
    algorithm = resolve_algorithm(load_agent(agent)["algorithm"])
    if not issubclass(algorithm, OffPolicyAlgorithm):
        return "on_policy"
    return "discrete" if issubclass(algorithm, DQN) else "continuous"


def config_of(agent: str, scenario: str = "relabelled_bandit", extra: tuple[str, ...] = (), steps: int = STEPS) -> dict:
    kind = family(agent)
    if kind == "on_policy":
        overrides = [*TINY, *ACTIVE.get(agent, []), *extra]
        return resolve_config(agent, scenario, seed=0, overrides=overrides, total_steps=steps, device="cpu")
    # The scenarios' hyperparameters are PPO's; off-policy agents take theirs from the agent recipe.
    if kind == "continuous":
        recipe, overrides, steps = copy.deepcopy(PENDULUM_DRIFT), [*OFF_POLICY_TINY, *SAC_TINY], min(steps, SAC_STEPS)
    else:
        recipe, overrides = load_scenario(scenario), [*OFF_POLICY_TINY, *DQN_TINY]
    recipe["hyperparameters"] = {}
    overrides += [*ACTIVE.get(agent, []), *extra]
    return resolve_config(agent, recipe, seed=0, overrides=overrides, total_steps=steps, device="cpu")


_REFERENCES: dict[str, Path] = {}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory):
    """The uninterrupted run of a config, trained once per module."""

    def get(config: dict) -> Path:
        key = json.dumps(config, sort_keys=True, default=str)
        if key not in _REFERENCES:
            _REFERENCES[key] = train(config, tmp_path_factory.mktemp("reference"))
        return _REFERENCES[key]

    return get


def interrupted(config: dict, run_dir: Path, at: int) -> Path:
    with pytest.raises(KeyboardInterrupt):
        train(config, run_dir, extra_callbacks=[Interrupt(at)])
    return run_dir


def _tensors_equal(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_tensors_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_tensors_equal(x, y) for x, y in zip(a, b))
    return bool(a == b)


def torch_files(model_zip: Path) -> dict[str, Any]:
    """Every torch file of an SB3 zip (policy, optimizer state, extra variables), loaded."""
    with zipfile.ZipFile(model_zip) as z:
        return {n: torch.load(io.BytesIO(z.read(n)), weights_only=False) for n in z.namelist() if n.endswith(".pth")}


def assert_same_run(run: Path, ref: Path) -> None:
    for name in LOGS:
        got, want = (run / name).read_bytes(), (ref / name).read_bytes()
        if got != want:
            lines = zip(got.splitlines(), want.splitlines())
            first = next((i for i, (a, b) in enumerate(lines) if a != b), min(got.count(b"\n"), want.count(b"\n")))
            pytest.fail(f"{name} differs from line {first + 1} on")
    got, want = torch_files(run / "model.zip"), torch_files(ref / "model.zip")
    assert got.keys() == want.keys()
    for name in want:
        assert _tensors_equal(got[name], want[name]), f"{name} differs"


# --------------------------------------------------------------------------------------------------- exact resume
@pytest.mark.parametrize("agent", ALL_AGENTS)
def test_every_recipe_resumes_exactly(agent: str, tmp_path: Path, reference) -> None:
    config = config_of(agent)
    every, steps = config["checkpoint_every"], config["total_steps"]
    at = int(np.random.default_rng(ALL_AGENTS.index(agent)).integers(every + 4, steps - 4))
    run_dir = interrupted(config, tmp_path / "run", at)
    rollout = 64 if family(agent) == "discrete" else 1  # checkpoints fall at the start of a rollout
    assert list_checkpoints(run_dir)[-1].steps == at // every * every // rollout * rollout
    train(config, run_dir, resume=True)
    uninterrupted = reference(config)
    assert_same_run(run_dir, uninterrupted)
    # Every intervention acts in the tiny run (so its state is part of what resumes), as often as without the stop.
    counts = json.loads((run_dir / DONE_FILE).read_text()).get("interventions", [])
    assert counts == json.loads((uninterrupted / DONE_FILE).read_text()).get("interventions", [])
    assert all(count["acted"] > 0 for count in counts), counts


@pytest.mark.parametrize("backend", ["wrapper", "batched"])
def test_episodes_in_progress_continue_exactly(backend: str, tmp_path: Path, reference) -> None:
    # CartPole episodes run over many steps: the checkpoint falls in the middle of some.
    config = config_of("ppo", "permuted_cartpole", (f"scenario.backend={backend}",))
    run_dir = interrupted(config, tmp_path / "run", 700)
    state = read_state(list_checkpoints(run_dir)[-1].state_path)
    assert (state["algorithm"]["_last_episode_starts"] == 0).any(), "no episode in progress at the checkpoint"
    train(config, run_dir, resume=True)
    assert_same_run(run_dir, reference(config))


def test_resume_twice_from_the_same_session_is_exact(tmp_path: Path, reference) -> None:
    config = config_of("syre_ppo")
    run_dir = interrupted(config, tmp_path / "run", 300)
    with pytest.raises(KeyboardInterrupt):
        train(config, run_dir, resume=True, extra_callbacks=[Interrupt(800)])
    train(config, run_dir, resume=True)
    assert_same_run(run_dir, reference(config))


@pytest.mark.parametrize("part", ["callbacks", "rng"])
def test_resume_without_a_part_of_the_state_differs(
    part: str, tmp_path: Path, reference, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison is sharp: dropping the interventions' state or the generators' makes the run differ."""
    config = config_of("ppo_cbp")
    run_dir = interrupted(config, tmp_path / "run", 600)
    if part == "callbacks":
        monkeypatch.setattr(ckpt_module.RunCheckpoint, "resume", lambda self, resumed: None)
    else:
        monkeypatch.setattr(ckpt_module, "set_global_rng_state", lambda state: None)
    train(config, run_dir, resume=True)
    with pytest.raises(pytest.fail.Exception):
        assert_same_run(run_dir, reference(config))


@pytest.mark.parametrize(
    ("scenario", "n_envs"),
    [("relabelled_bandit", 2), ("permuted_cartpole", 2), ("classic_cycle", 2), ("slippery_ant_quick", 1)],
)
def test_sub_envs_continue_exactly_from_their_saved_state(scenario: str, n_envs: int) -> None:
    """The wrapper path's env state (sub-envs pickled whole; MuJoCo's physics included) continues like the original."""
    if scenario == "slippery_ant_quick":
        pytest.importorskip("mujoco")
    overrides = ["scenario.backend=wrapper", "scenario.schedule.steps_per_task=40", f"n_envs={n_envs}"]
    config = resolve_config("ppo", scenario, seed=3, overrides=overrides, total_steps=400)
    env = make_vec_env(config)
    env.seed(3)
    env.reset()
    env.action_space.seed(0)
    actions = [np.stack([env.action_space.sample() for _ in range(n_envs)]) for _ in range(120)]
    for action in actions[:50]:
        env.step(action)
    saved = pickle.loads(pickle.dumps(get_env_state(env)))

    def rest(vec_env) -> list:
        out = []
        for action in actions[50:]:
            obs, rewards, dones, infos = vec_env.step(action)
            out.append((obs.tobytes(), rewards.tobytes(), dones.tobytes(), [i.get("task_id") for i in infos]))
        return out

    original = rest(env)
    clone = make_vec_env(config)
    set_env_state(clone, saved)
    assert rest(clone) == original


# ------------------------------------------------------------------------------------------ damaged checkpoints
@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ppo run stopped at step 900: checkpoints at 512 and 768 on disk, logs written past 768."""
    run_dir = tmp_path_factory.mktemp("stopped") / "run"
    interrupted(config_of("ppo"), run_dir, 900)
    assert [c.steps for c in list_checkpoints(run_dir)] == [512, 768]
    return run_dir


def copy_of(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def folder_bytes(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("damaged", ["step_768.zip", "step_768.pkl", "step_768.json"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_older_one(
    damaged: str, stopped_run: Path, tmp_path: Path, reference
) -> None:
    run_dir = copy_of(stopped_run, tmp_path)
    path = run_dir / "checkpoints" / damaged
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.warns(UserWarning, match=rf"from step_512, skipping step_768: {damaged.split('.')[0]}"):
        train(config_of("ppo"), run_dir, resume=True)
    assert_same_run(run_dir, reference(config_of("ppo")))


def test_no_usable_checkpoint_is_refused_in_one_line_and_changes_nothing(stopped_run: Path, tmp_path: Path) -> None:
    run_dir = copy_of(stopped_run, tmp_path)
    for name in ("step_768.zip", "step_512.pkl"):
        path = run_dir / "checkpoints" / name
        path.write_bytes(path.read_bytes()[:100])
    before = folder_bytes(run_dir)
    with pytest.raises(CheckpointError) as error:
        train(config_of("ppo"), run_dir, resume=True)
    message = str(error.value)
    assert "\n" not in message
    assert "step_768: step_768.zip is damaged (100 bytes" in message
    assert "step_512: step_512.pkl is damaged (100 bytes" in message
    assert folder_bytes(run_dir) == before


def test_a_kill_during_a_checkpoint_write_resumes_from_the_previous_one(
    tmp_path: Path, reference, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_of("ppo_redo")
    real_write = ckpt_module.write_atomic

    def killed_at_the_third_checkpoint(path: Path, data: bytes) -> None:
        if path.name == "step_768.pkl":  # the model file is in place, the state half written, no manifest
            path.with_name(path.name + ".tmp").write_bytes(data[: len(data) // 2])
            raise KeyboardInterrupt("killed while writing a checkpoint")
        real_write(path, data)

    monkeypatch.setattr(ckpt_module, "write_atomic", killed_at_the_third_checkpoint)
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(config, run_dir)
    monkeypatch.setattr(ckpt_module, "write_atomic", real_write)
    assert (run_dir / "checkpoints" / "step_768.zip").is_file()
    assert [c.steps for c in list_checkpoints(run_dir)] == [256, 512]
    train(config, run_dir, resume=True)
    assert not list((run_dir / "checkpoints").glob("*.tmp"))
    assert_same_run(run_dir, reference(config))


def test_checkpoints_of_an_earlier_version_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "step_256.zip").write_bytes(b"PK")
    (folder / "step_256.pkl").write_bytes(pickle.dumps({"num_timesteps": 256, "task_states": []}))
    config = config_of("ppo")
    env = make_vec_env(config)
    with pytest.raises(CheckpointError, match="earlier version without exact resume"):
        load_newest_checkpoint(config, tmp_path / "run", env)


def test_extending_a_finished_run_with_a_damaged_model_keeps_it_finished(tmp_path: Path) -> None:
    run_dir = train(config_of("ppo", steps=512), tmp_path / "run")
    assert final_checkpoint(run_dir).steps == 512
    for path in (run_dir / "checkpoints").glob("step_*"):
        path.unlink()  # no periodic checkpoint to fall back to
    model = run_dir / "model.zip"
    model.write_bytes(model.read_bytes()[:-10])
    done = (run_dir / "done").read_bytes()
    with pytest.raises(CheckpointError, match=r"model\.zip is damaged"):
        train(config_of("ppo", steps=1024), run_dir, resume=True)
    assert (run_dir / "done").read_bytes() == done


def test_extending_a_finished_run_with_a_damaged_model_uses_its_last_checkpoint(tmp_path: Path, reference) -> None:
    run_dir = train(config_of("ppo", steps=768), tmp_path / "run")
    model = run_dir / "model.zip"
    model.write_bytes(model.read_bytes()[:-10])
    with pytest.warns(UserWarning, match="from step_512, skipping final: model.zip is damaged"):
        train(config_of("ppo"), run_dir, resume=True)
    assert_same_run(run_dir, reference(config_of("ppo")))


def test_a_finished_run_extends_exactly(tmp_path: Path, reference) -> None:
    run_dir = train(config_of("ppo_cbp", steps=768), tmp_path / "run")
    train(config_of("ppo_cbp"), run_dir, resume=True)
    assert_same_run(run_dir, reference(config_of("ppo_cbp")))


# --------------------------------------------------------------------------------------------------- damaged logs
def test_a_row_cut_by_a_kill_after_the_checkpoint_is_dropped(stopped_run: Path, tmp_path: Path, reference) -> None:
    run_dir = copy_of(stopped_run, tmp_path)
    with open(run_dir / "episodes.csv", "ab") as f:
        f.write(b"904,1,0.0")  # no newline: the write was cut
    train(config_of("ppo"), run_dir, resume=True)
    assert_same_run(run_dir, reference(config_of("ppo")))


def test_a_log_cut_between_the_checkpoints_resumes_from_the_older_one(
    stopped_run: Path, tmp_path: Path, reference
) -> None:
    run_dir = copy_of(stopped_run, tmp_path)
    sizes = {
        c.steps: json.loads(c.manifest_path.read_text())["logs"]["metrics.csv"]["size"]
        for c in list_checkpoints(run_dir)
    }
    assert sizes[512] < sizes[768]
    metrics = run_dir / "metrics.csv"
    metrics.write_bytes(metrics.read_bytes()[: (sizes[512] + sizes[768]) // 2])
    with pytest.warns(UserWarning, match="skipping step_768: metrics.csv holds"):
        train(config_of("ppo"), run_dir, resume=True)
    assert_same_run(run_dir, reference(config_of("ppo")))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("header", r"metrics\.csv holds 20 bytes, the checkpoint needs its first \d+ \(its header is cut\)"),
        ("row", r"episodes\.csv changed before the checkpoint's step \(line 3 has 3 fields, the header 4\)"),
    ],
)
def test_a_damaged_log_is_refused_in_one_line(damage: str, message: str, stopped_run: Path, tmp_path: Path) -> None:
    run_dir = copy_of(stopped_run, tmp_path)
    if damage == "header":
        metrics = run_dir / "metrics.csv"
        metrics.write_bytes(metrics.read_bytes()[:20])
    else:
        episodes = run_dir / "episodes.csv"
        lines = episodes.read_bytes().split(b"\n")
        head, _, tail = lines[2].rpartition(b",")
        lines[2] = head + b" " + tail  # same size, one field fewer
        episodes.write_bytes(b"\n".join(lines))
    before = folder_bytes(run_dir)
    with pytest.raises(CheckpointError, match=message) as error:
        train(config_of("ppo"), run_dir, resume=True)
    assert "\n" not in str(error.value)
    assert folder_bytes(run_dir) == before


# ------------------------------------------------------------------------------------------------ callbacks' state
def test_continual_backprop_state_round_trips_and_refuses_another_architecture() -> None:
    from gymnasium import spaces
    from stable_baselines3.common.policies import ActorCriticPolicy

    from syre_rl.interventions.cbp import ContinualBackpropState

    def policy(width: int) -> ActorCriticPolicy:
        obs = spaces.Box(-1.0, 1.0, (3,), np.float32)
        return ActorCriticPolicy(obs, spaces.Discrete(2), lambda _: 1e-3, net_arch=[width])

    torch.manual_seed(0)
    source = ContinualBackpropState(policy(4), replacement_rate=0.5, maturity_threshold=0)
    source.step({layer.name: torch.rand(4) for layer in source.layers})
    saved = pickle.loads(pickle.dumps(source.state_dict()))
    target = ContinualBackpropState(policy(4))
    target.load_state_dict(saved)
    assert _tensors_equal(target.state_dict(), source.state_dict())
    assert [st.replaced for st in target.stats.values()] == [2, 2]  # actor and critic: 0.5 x 4 mature units
    with pytest.raises(ValueError, match="shape"):
        ContinualBackpropState(policy(5)).load_state_dict(saved)


# ------------------------------------------------------------------------------------------------ off-policy runs
@pytest.fixture(scope="module")
def stopped_dqn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A syre_dqn run stopped at step 900: checkpoints at 512 and 768, each with its replay buffer."""
    run_dir = tmp_path_factory.mktemp("stopped_dqn") / "run"
    interrupted(config_of("syre_dqn"), run_dir, 900)
    return run_dir


def test_off_policy_checkpoints_hold_the_replay_buffer(stopped_dqn_run: Path) -> None:
    folder = stopped_dqn_run / "checkpoints"
    assert [c.steps for c in list_checkpoints(stopped_dqn_run)] == [512, 768]
    assert sorted(p.name for p in folder.glob("*.replay_buffer.pkl")) == [
        "step_512.replay_buffer.pkl",
        "step_768.replay_buffer.pkl",
    ]
    for ckpt in list_checkpoints(stopped_dqn_run):
        entry = json.loads(ckpt.manifest_path.read_text())["files"]["replay_buffer"]
        assert entry["size"] == ckpt.replay_buffer_path.stat().st_size
        replay = pickle.loads(ckpt.replay_buffer_path.read_bytes())
        assert 0 < entry["size"] - replay_buffer_nbytes(SimpleNamespace(replay_buffer=replay)) < 4096
        assert (replay.pos, replay.n_envs, replay.full) == (ckpt.steps // 4, 4, False)  # every transition so far
        assert replay.observations[: replay.pos].any() and not replay.observations[replay.pos :].any()


def test_on_policy_checkpoints_have_no_replay_buffer(stopped_run: Path) -> None:
    for ckpt in list_checkpoints(stopped_run):
        assert "replay_buffer" not in json.loads(ckpt.manifest_path.read_text())["files"]
        assert not ckpt.replay_buffer_path.exists()


def test_a_damaged_replay_buffer_falls_back_to_the_older_checkpoint(
    stopped_dqn_run: Path, tmp_path: Path, reference
) -> None:
    run_dir = copy_of(stopped_dqn_run, tmp_path)
    path = run_dir / "checkpoints" / "step_768.replay_buffer.pkl"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.warns(UserWarning, match="from step_512, skipping step_768: step_768.replay_buffer.pkl is damaged"):
        train(config_of("syre_dqn"), run_dir, resume=True)
    assert_same_run(run_dir, reference(config_of("syre_dqn")))


def test_an_off_policy_checkpoint_without_its_replay_buffer_is_refused(stopped_dqn_run: Path, tmp_path: Path) -> None:
    run_dir = copy_of(stopped_dqn_run, tmp_path)
    for ckpt in list_checkpoints(run_dir):
        manifest = json.loads(ckpt.manifest_path.read_text())
        del manifest["files"]["replay_buffer"]
        ckpt.manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="step_768: step_768 has no replay buffer; step_512: step_512 has no"):
        train(config_of("syre_dqn"), run_dir, resume=True)


def test_resume_with_the_replay_buffer_of_another_step_differs(
    stopped_dqn_run: Path, tmp_path: Path, reference, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison is sharp for the replay buffer: the newest checkpoint with the older one's buffer (a valid
    buffer, 256 transitions short) makes the run differ."""
    run_dir = copy_of(stopped_dqn_run, tmp_path)
    older = (run_dir / "checkpoints" / "step_512.replay_buffer.pkl").read_bytes()
    real_load = OffPolicyAlgorithm.load_replay_buffer
    monkeypatch.setattr(OffPolicyAlgorithm, "load_replay_buffer", lambda self, _: real_load(self, io.BytesIO(older)))
    train(config_of("syre_dqn"), run_dir, resume=True)
    with pytest.raises(pytest.fail.Exception):
        assert_same_run(run_dir, reference(config_of("syre_dqn")))
