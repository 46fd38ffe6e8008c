"""EpisodeRecorder keeps a task's episodes only while a sub-env is on it, writes the same tasks.csv as a computation
from every episode, continues exactly from its files or from its state_dict; EpisodeMonitor keeps no episode lists."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor

from syre_rl.experiments.monitor import EpisodeMonitor
from syre_rl.plasticity.recorder import EpisodeRecorder
from syre_rl.plasticity.records import TaskProgress, read_episodes, task_table, write_table

N_ENVS, STEPS = 3, 900


def stream(seed: int = 0):
    """Step infos of 3 sub-envs switching tasks at different steps (every 100 steps, shifted by 7 per sub-env),
    episodes ending with probability 0.3: yields ``(timesteps, infos, rewards, dones)``."""
    rng = np.random.default_rng(seed)
    for step in range(1, STEPS + 1):
        infos, dones = [], rng.random(N_ENVS) < 0.3
        for rank in range(N_ENVS):
            task = max(0, (step - 7 * rank) // 100)
            info = {"task_id": task, "task": {"k": task, "scale": 0.5 * task}}
            if dones[rank]:
                info["episode"] = {"r": round(float(rng.normal()), 6), "l": int(rng.integers(1, 20)), "t": 0.0}
            infos.append(info)
        yield step * N_ENVS, infos, rng.normal(size=N_ENVS), dones


def drive(recorder: EpisodeRecorder, start: int = 0, stop: int = STEPS * N_ENVS, state=None) -> EpisodeRecorder:
    """Feed ``recorder`` the steps of :func:`stream` with ``start < timesteps <= stop``, as SB3 would."""
    env = SimpleNamespace(num_envs=N_ENVS)
    recorder.model = SimpleNamespace(logger=None, get_env=lambda: env)
    recorder._on_training_start()
    if state is not None:
        recorder.load_state_dict(state)
    for t, infos, rewards, dones in stream():
        if start < t <= stop:
            recorder.num_timesteps = t
            recorder.locals = {"infos": infos, "rewards": rewards, "dones": dones}
            recorder._on_step()
    return recorder


def reference_tasks(folder: Path, out: Path) -> bytes:
    """tasks.csv computed at once from every episode and the step counts of the stream."""
    progress: dict[int, TaskProgress] = {}
    for t, infos, _, _ in stream():
        for info in infos:
            p = progress.setdefault(info["task_id"], TaskProgress(first_timestep=t))
            p.steps, p.last_timestep = p.steps + 1, t
            p.params = p.params or dict(info["task"])
    write_table(out, task_table(read_episodes(folder / "episodes.csv"), progress))
    return out.read_bytes()


def test_tasks_csv_matches_all_episodes_while_memory_holds_only_open_tasks(tmp_path: Path) -> None:
    recorder = EpisodeRecorder(tmp_path / "run")
    drive(recorder)
    kept = sum(len(v) for v in recorder._open.values())
    assert recorder.n_episodes > 700 and kept < 200  # only the episodes of the tasks a sub-env is still on
    assert set(recorder.progress) == {8, 9} and sorted(recorder._rows) == list(range(8))
    recorder._on_training_end()
    expected = reference_tasks(tmp_path / "run", tmp_path / "reference.csv")
    assert (tmp_path / "run" / "tasks.csv").read_bytes() == expected
    assert [row["task_id"] for row in recorder.tasks()] == list(range(10))
    assert len(recorder.episodes) == recorder.n_episodes


def test_resumed_from_files_at_any_step_writes_the_same_tasks_csv(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    drive(EpisodeRecorder(whole))._on_training_end()
    for stop in (297, 306, 312, 1500):  # mid-switch (sub-envs on two tasks), just after, mid-task
        folder = tmp_path / f"split_{stop}"
        first = drive(EpisodeRecorder(folder), stop=stop)
        first._on_training_end()
        second = drive(EpisodeRecorder(folder), start=stop)
        second._on_training_end()
        assert (folder / "tasks.csv").read_bytes() == (whole / "tasks.csv").read_bytes(), stop
        assert (folder / "episodes.csv").read_bytes() == (whole / "episodes.csv").read_bytes(), stop


def test_state_dict_round_trip_continues_exactly(tmp_path: Path) -> None:
    whole = drive(EpisodeRecorder(tmp_path / "whole"))
    whole._on_training_end()
    first = drive(EpisodeRecorder(tmp_path / "split"), stop=306)
    state = pickle.loads(pickle.dumps(first.state_dict()))
    first._on_training_end()
    assert set(state) >= {"progress", "open", "rows", "detector", "ep_return", "ep_length", "task_started"}
    # The files are set back to another moment on purpose: the state decides.
    shutil.copy(tmp_path / "split" / "tasks.csv", tmp_path / "tasks_at_306.csv")
    (tmp_path / "split" / "tasks.csv").write_text("task_id,steps\n0,1\n")
    second = drive(EpisodeRecorder(tmp_path / "split"), start=306, state=state)
    second._on_training_end()
    assert (tmp_path / "split" / "tasks.csv").read_bytes() == (tmp_path / "whole" / "tasks.csv").read_bytes()
    assert second.tasks() == whole.tasks() and second.n_episodes == whole.n_episodes
    assert second.state_dict()["rows"] == whole.state_dict()["rows"]


def test_episode_monitor_reports_the_same_episodes_and_keeps_no_lists() -> None:
    def run(monitor_class: type[Monitor]) -> tuple[list[dict], Monitor]:
        env = monitor_class(gym.make("CartPole-v1"))
        env.reset(seed=0)
        env.action_space.seed(0)
        episodes = []
        for _ in range(500):
            *_, terminated, truncated, info = env.step(env.action_space.sample())
            if terminated or truncated:
                episodes.append({k: v for k, v in info["episode"].items() if k != "t"})
                env.reset()
        return episodes, env

    plain, _ = run(Monitor)
    bounded, env = run(EpisodeMonitor)
    assert len(plain) > 10 and bounded == plain
    assert env.episode_returns == env.episode_lengths == env.episode_times == []
