"""The command-line scripts: end to end with tiny budgets, and their error messages."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
from helpers import TINY_OVERRIDES

REPO = Path(__file__).resolve().parents[1]
TINY = TINY_OVERRIDES
SETS = [arg for item in TINY for arg in ("--set", item)]


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"script_{name}", REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fails(capsys: pytest.CaptureFixture, name: str, argv: list[str]) -> str:
    """Run a script expecting a usage error (exit status 2); return its stderr."""
    with pytest.raises(SystemExit) as info:
        script(name).main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


def test_train_benchmark_plot_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = tmp_path / "run"
    argv = ["--agent", "syre_ppo", "--env", "relabelled_bandit", "--seed", "1", "--steps", "512", "--out", str(run_dir)]
    assert script("train").main([*argv, *SETS, "--no-progress"]) == 0
    assert (run_dir / "done").is_file() and (run_dir / "model.zip").is_file()

    bench = tmp_path / "bench"
    argv = ["--agents", "ppo", "ppo_l2", "--envs", "relabelled_bandit", "--seeds", "1", "--steps", "512"]
    argv += ["--workers", "2", "--reference", "none", "--out", str(bench), *SETS]
    assert script("benchmark").main(argv) == 0
    out = capsys.readouterr().out
    assert "ppo_l2" in out and "final-task return" in out
    summary = pd.read_csv(bench / "summary.csv")
    assert set(summary["agent"]) == {"ppo", "ppo_l2"} and summary["mean"].notna().any()

    assert script("plot").main([str(bench), "--out", str(tmp_path / "plots")]) == 0
    png = tmp_path / "plots" / "returns.png"
    assert png.stat().st_size > 5000 and (tmp_path / "plots" / "returns.svg").is_file()


def test_train_refuses_an_existing_folder_then_resumes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["--agent", "ppo", "--env", "relabelled_bandit", "--steps", "256", "--out", str(tmp_path), *SETS]
    (tmp_path / "notes.txt").write_text("someone else's file")
    err = fails(capsys, "train", [*argv, "--no-progress"])
    assert "already exists" in err and "--resume or --overwrite" in err
    assert script("train").main([*argv, "--no-progress", "--resume"]) == 0
    assert (tmp_path / "done").is_file()


def test_unknown_agent_lists_agents(capsys: pytest.CaptureFixture) -> None:
    err = fails(capsys, "train", ["--agent", "syre", "--env", "relabelled_bandit"])
    assert "unknown agent 'syre'" in err and "'syre_ppo'" in err and "'ppo_l2'" in err
    err = fails(capsys, "benchmark", ["--agents", "ppo", "nope", "--envs", "relabelled_bandit", "--out", "x"])
    assert "unknown agent 'nope'" in err and "'syre_ppo'" in err


def test_unknown_scenario_lists_scenarios(capsys: pytest.CaptureFixture) -> None:
    err = fails(capsys, "train", ["--agent", "ppo", "--env", "bandit"])
    assert "unknown scenario 'bandit'" in err and "'relabelled_bandit'" in err and "'permuted_cartpole'" in err


def test_unknown_set_key_lists_valid_keys(capsys: pytest.CaptureFixture) -> None:
    err = fails(capsys, "train", ["--agent", "ppo", "--env", "relabelled_bandit", "--set", "lr=1e-4"])
    assert "unknown --set key 'lr'" in err and "'learning_rate'" in err and "'policy_kwargs.net_arch'" in err
    err = fails(capsys, "train", ["--agent", "ppo", "--env", "relabelled_bandit", "--set", "learning_rate"])
    assert "key=value" in err


def test_plot_without_runs_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert "no run folders" in fails(capsys, "plot", [str(tmp_path)])
