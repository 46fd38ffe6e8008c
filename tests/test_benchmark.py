"""Benchmarks: grid planning, the local pool, skipping and resuming, failures, the summary statistics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import SMOKE, TINY_OVERRIDES, agent_family

from syre_rl.analysis.report import format_table, write_summary
from syre_rl.analysis.summary import summarize
from syre_rl.experiments.config import parse_overrides
from syre_rl.experiments.grid import RunSpec, plan_grid, run_benchmark

REPO = Path(__file__).resolve().parents[1]
TINY = [*TINY_OVERRIDES, "checkpoint_every=128"]
STEPS = 768


def tiny_grid(agents: list[str], seeds: list[int], reference: str | None = None) -> list[RunSpec]:
    return plan_grid(
        agents, ["relabelled_bandit"], seeds, reference=reference, overrides=parse_overrides(TINY), total_steps=STEPS
    )


def test_plan_grid_adds_the_reference_and_checks_names() -> None:
    specs = tiny_grid(["ppo", "syre_ppo"], [0, 1], reference="ppo_reset")
    assert len(specs) == 6 and {s.agent for s in specs} == {"ppo", "syre_ppo", "ppo_reset"}
    assert specs[0].run_dir("bench") == Path("bench/relabelled_bandit/ppo/seed_0")
    with pytest.raises(ValueError, match=r"unknown agent 'nope'.*available"):
        tiny_grid(["nope"], [0])
    with pytest.raises(ValueError, match=r"unknown scenario 'nowhere'; available"):
        plan_grid(["ppo"], ["nowhere"], [0])


def test_local_pool_runs_skips_and_reports_failures(tmp_path: Path) -> None:
    specs = tiny_grid(["ppo", "syre_ppo"], [0], reference="ppo_reset")
    broken = RunSpec("ppo", "relabelled_bandit", 7, (*specs[0].overrides, ("learning_rate", "fast")), STEPS)
    seen = []
    results = run_benchmark([*specs, broken], tmp_path, workers=2, report=seen.append)
    status = {r.spec.label: r.status for r in results}
    assert len(seen) == 4
    assert status.pop(broken.label) == "failed"
    assert set(status.values()) == {"done"}
    failed = next(r for r in results if r.status == "failed")
    assert "learning_rate" in failed.error
    assert (broken.run_dir(tmp_path) / "error.txt").read_text() == failed.error

    # Rerun: finished runs are skipped, the broken one fails again, nothing else is touched.
    again = run_benchmark([*specs, broken], tmp_path, workers=2)
    assert sorted(r.status for r in again) == ["failed", "skipped", "skipped", "skipped"]

    summary = write_summary(tmp_path, reference="ppo_reset")
    assert (tmp_path / "summary.csv").is_file() and (tmp_path / "runs.csv").is_file()
    rows = summary.set_index(["agent", "metric"])
    assert rows.loc[("syre_ppo", "final_task_return"), "n"] == 1
    assert np.isfinite(rows.loc[("syre_ppo", "reference_relative_return"), "mean"])
    assert np.isfinite(rows.loc[("ppo", "dormant_ratio"), "mean"])
    assert np.isfinite(rows.loc[("ppo", "srank"), "mean"])
    table = format_table(summary)
    assert ("relabelled_bandit", "syre_ppo") in table.index and "final-task return" in table.columns


def test_interrupted_benchmark_resumes_and_completes(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    command = [
        sys.executable,
        str(REPO / "scripts" / "benchmark.py"),
        "--agents", "ppo", "syre_ppo",
        "--envs", "relabelled_bandit",
        "--seeds", "2",
        "--steps", str(STEPS),
        "--workers", "1",
        "--reference", "none",
        "--out", str(out),
        *[arg for item in TINY for arg in ("--set", item)],
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.time() + 90
    while time.time() < deadline and not list(out.rglob("done")):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # killed in the middle of the benchmark
    process.wait()
    finished = {p.parent for p in out.rglob("done")}
    assert 1 <= len(finished) < 4, "the kill should land after the first run and before the last"

    results = run_benchmark(tiny_grid(["ppo", "syre_ppo"], [0, 1]), out, workers=1)
    skipped = {r.spec.run_dir(out.resolve()) for r in results if r.status == "skipped"}
    assert skipped == {p.resolve() for p in finished}
    assert all(r.status in ("done", "skipped") for r in results)
    summary = summarize(out)
    assert summary[summary["metric"] == "final_task_return"]["n"].tolist() == [2, 2]
    for run_dir in out.rglob("seed_*"):
        episodes = pd.read_csv(run_dir / "episodes.csv")
        # One-step episodes, 4 envs: exactly 4 episodes end at every 4th step, none lost or logged twice.
        counts = episodes.groupby("timesteps").size()
        assert counts.index.tolist() == list(range(4, STEPS + 1, 4)) and set(counts) == {4}
        assert json.loads((run_dir / "done").read_text())["num_timesteps"] == STEPS


@pytest.mark.slow
def test_ray_backend_runs_a_tiny_grid(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}}
    )
    try:
        specs = tiny_grid(["ppo", "syre_ppo"], [0])
        results = run_benchmark(specs, tmp_path, backend="ray")
        assert sorted(r.status for r in results) == ["done", "done"], [r.error for r in results]
        again = run_benchmark(specs, tmp_path, backend="ray")
        assert [r.status for r in again] == ["skipped", "skipped"]
    finally:
        ray.shutdown()
    assert len(summarize(tmp_path)) == 2 * 6


def test_every_agent_recipe_finishes_a_smoke_benchmark(tmp_path: Path) -> None:
    from syre_rl.experiments.agents import list_agents

    agents = list_agents()
    specs = []
    for family, (scenario, overrides) in SMOKE.items():  # each agent on a scenario whose actions it takes
        members = [a for a in agents if agent_family(a) == family]
        assert members, f"no {family} agent in the catalogue"
        specs += plan_grid(
            members,
            [scenario],
            [0],
            reference=None,
            overrides=parse_overrides([*overrides, "checkpoint_every=128"]),
            total_steps=STEPS,
        )
    assert sorted(s.agent for s in specs) == agents
    results = run_benchmark(specs, tmp_path, workers=2)
    assert {r.spec.agent: r.status for r in results} == dict.fromkeys(agents, "done"), [r.message for r in results]
    summary = write_summary(tmp_path, reference="ppo_reset")
    assert set(summary["agent"]) == set(agents)
    assert set(summary["scenario"]) == {scenario for scenario, _ in SMOKE.values()}


def test_a_grid_pairing_an_agent_with_actions_it_cannot_take_is_refused() -> None:
    with pytest.raises(ValueError, match=r"agent 'sac' \(SAC\) acts in Box action spaces only.*Discrete\(8\)"):
        plan_grid(["ppo", "sac"], ["relabelled_bandit"], [0])
    with pytest.raises(ValueError, match=r"agent 'dqn' \(DQN\) acts in Discrete action spaces only.*Box\("):
        plan_grid(["dqn"], ["pendulum_physics"], [0])


def test_failure_report_is_the_whole_final_error_on_one_line() -> None:
    from syre_rl.experiments.grid import _failure

    try:
        raise ValueError("first line of the message\n  second line: the value 1.5")
    except ValueError as exc:
        result = _failure(RunSpec("ppo", "relabelled_bandit", 0), exc)
    assert result.message == "ValueError: first line of the message second line: the value 1.5"
    assert result.status == "failed" and "Traceback" in (result.error or "")


def test_a_recipe_given_as_a_path_does_not_nest_the_run_folder(tmp_path: Path) -> None:
    recipe = tmp_path / "recipes" / "custom.yaml"
    recipe.parent.mkdir()
    recipe.write_text((REPO / "agents" / "ppo.yaml").read_text().replace("ppo", "my_ppo"))
    specs = plan_grid([str(recipe)], ["relabelled_bandit"], [0], reference=None)
    assert specs[0].run_dir(tmp_path / "bench") == tmp_path / "bench" / "relabelled_bandit" / "my_ppo" / "seed_0"
    assert specs[0].label == "relabelled_bandit/my_ppo/seed_0"
    assert RunSpec("ppo", "relabelled_bandit", 1).run_dir("b") == Path("b/relabelled_bandit/ppo/seed_1")
