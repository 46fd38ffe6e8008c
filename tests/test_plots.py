"""Figures from run folders: files written, one colour per agent, switches found, CI helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from syre_rl.analysis.plots import agent_color, binned_curve, figure_colors, plot_benchmark, task_switches


def fake_run(root: Path, agent: str, seed: int, scenario: str = "tiny", slope: float = 0.0) -> Path:
    """A run folder with the files plots read, without training: 3 tasks of 1000 steps."""
    run_dir = root / scenario / agent / f"seed_{seed}"
    run_dir.mkdir(parents=True)
    config = {"agent": agent, "scenario": scenario, "seed": seed, "total_steps": 3000}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    steps = np.arange(50, 3001, 50)
    task = (steps - 1) // 1000
    rng = np.random.default_rng(seed)
    returns = 1.0 + slope * task + 0.01 * rng.standard_normal(len(steps))
    pd.DataFrame({"timesteps": steps, "task_id": task, "return": returns, "length": 1}).to_csv(
        run_dir / "episodes.csv", index=False
    )
    rows = []
    for t in range(200, 3001, 200):
        for layer in ("0", "1"):
            for metric, value in (("dormant_0.025", 0.1 + 0.01 * t / 1000), ("srank", 30.0), ("weight_mean_abs", 0.2)):
                rows.append((t, (t - 1) // 1000, "actor", layer, metric, value))
    pd.DataFrame(rows, columns=["timesteps", "task_id", "network", "layer", "metric", "value"]).to_csv(
        run_dir / "metrics.csv", index=False
    )
    pd.DataFrame({"task_id": [0, 1, 2], "final_return": [1.0, 1.0 + slope, 1.0 + 2 * slope]}).to_csv(
        run_dir / "tasks.csv", index=False
    )
    (run_dir / "done").write_text("{}")
    return run_dir


def test_plot_benchmark_writes_png_and_svg(tmp_path: Path) -> None:
    for seed in range(2):
        fake_run(tmp_path / "bench", "ppo", seed, slope=-0.2)
        fake_run(tmp_path / "bench", "syre_ppo", seed, slope=0.0)
    paths = plot_benchmark(tmp_path / "bench", tmp_path / "plots")
    names = sorted(p.name for p in paths)
    assert names == sorted(
        f"{stem}.{ext}" for stem in ("returns", "metrics_tiny", "relative_tiny") for ext in ("png", "svg")
    )
    for path in paths:
        assert path.stat().st_size > 1000
    with open(tmp_path / "plots" / "returns.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_plot_without_runs_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no run folders"):
        plot_benchmark(tmp_path, tmp_path / "plots")


def test_agent_colours_are_fixed_and_distinct() -> None:
    shipped = ["ppo", "ppo_l2", "syre_ppo", "ppo_l2_init", "ppo_reset", "ppo_redo", "ppo_cbp", "ppo_shrink_perturb"]
    colours = [agent_color(a) for a in shipped]
    assert len(set(colours)) == len(colours)
    assert agent_color("my_new_agent") == agent_color("my_new_agent")  # stable for unknown names too


def test_task_switches_from_episode_log(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path, "ppo", 0)
    # Episodes end every 50 steps; tasks change after step 1000 and 2000.
    assert task_switches(run_dir) == [1000, 2000]


def test_binned_curve_means_and_fills() -> None:
    edges = np.array([0.0, 10.0, 20.0, 30.0])
    curve = binned_curve(np.array([1, 2, 25]), np.array([1.0, 3.0, 5.0]), edges)
    np.testing.assert_allclose(curve, [2.0, 2.0, 5.0])  # the empty middle bin repeats the previous one


def test_sweep_variants_are_drawn_and_summarised_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import syre_rl.analysis.plots as plots
    from syre_rl.analysis.report import format_table
    from syre_rl.analysis.summary import summarize

    for scale, slope in ((0.01, -0.2), (1, 0.0)):
        for seed in range(2):
            run_dir = fake_run(tmp_path / "bench", f"syre_ppo[sigma_scale={scale}]", seed, slope=slope)
            config = yaml.safe_load((run_dir / "config.yaml").read_text())
            config.update(agent="syre_ppo", sweep={"sigma_scale": scale})
            (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    drawn = []
    band = plots._band
    monkeypatch.setattr(
        plots,
        "_band",
        lambda ax, x, curves, agent, n, color: drawn.append(agent) or band(ax, x, curves, agent, n, color),
    )
    plot_benchmark(tmp_path / "bench", tmp_path / "plots")
    assert sorted(set(drawn)) == ["syre_ppo [sigma_scale=0.01]", "syre_ppo [sigma_scale=1]"]
    summary = summarize(tmp_path / "bench")
    relative = summary[summary["metric"] == "relative_return"].set_index("variant")["mean"]
    assert relative.to_dict() == pytest.approx({"sigma_scale=0.01": 0.7, "sigma_scale=1": 1.0})
    assert list(format_table(summary).index.get_level_values("agent")) == list(sorted(set(drawn)))


def test_figure_colours_stay_distinct_for_many_variants() -> None:
    variants = [
        f"{a} [replay_ratio={r}]" for a in ("dqn", "syre_dqn", "dqn_l2", "dqn_redo", "dqn_reset") for r in (1, 8)
    ]
    colours = figure_colors([*variants, "ppo", "syre_ppo"])
    assert len(set(colours.values())) == 12
    assert colours["ppo"] == agent_color("ppo") and colours["syre_ppo"] == agent_color("syre_ppo")
    assert figure_colors(variants) == figure_colors(list(reversed(variants)))  # independent of the order drawn
    # Off-policy agents take the colour of the PPO agent with the same method.
    assert agent_color("syre_dqn") == agent_color("syre_sac") == agent_color("syre_ppo")
    assert agent_color("dqn_l2") == agent_color("ppo_l2") and agent_color("sac_reset") == agent_color("ppo_reset")
    assert agent_color("dqn") == agent_color("ppo") and agent_color("dqnx") != agent_color("ppo")
