"""Study plans, intervention firing checks and the study report, end to end on the shipped smoke plan."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import TINY_OVERRIDES

from syre_rl.analysis.report import write_summary
from syre_rl.experiments.config import parse_overrides, resolve_config
from syre_rl.experiments.firing import cbp_maturity, gradient_steps_per_rollout, idle_reasons
from syre_rl.experiments.grid import plan_grid, run_benchmark
from syre_rl.experiments.study import StudyPlan

REPO = Path(__file__).resolve().parents[1]


def test_firing_checks_know_the_gradient_steps_of_the_scenarios() -> None:
    full = resolve_config("ppo_cbp", "relabelled_bandit")
    assert gradient_steps_per_rollout(full) == 4 * (256 * 4 // 256)
    # Continual backprop's default maturity (10,000 optimizer steps) is never reached in either run.
    assert idle_reasons(full) == [
        "ppo_cbp on relabelled_bandit: interventions.0 (cbp) never replaces a unit: maturity_threshold 10000 >= "
        "the run's 7200 gradient steps"
    ]
    assert "1920 gradient steps" in idle_reasons(resolve_config("ppo_cbp", "relabelled_bandit_quick"))[0]
    # The study rule: 0.2 x one task's gradient steps (30 rollouts x 16, and 40 rollouts x 10).
    assert cbp_maturity(full) == 96
    assert cbp_maturity(resolve_config("ppo_cbp", "permuted_cartpole_long")) == 80
    assert (
        idle_reasons(
            resolve_config("ppo_cbp", "relabelled_bandit", overrides={"interventions.0.maturity_threshold": 96})
        )
        == []
    )
    assert idle_reasons(resolve_config("ppo_redo", "relabelled_bandit")) == []
    tiny = resolve_config("ppo_redo", "relabelled_bandit", overrides=TINY_OVERRIDES, total_steps=768)
    assert idle_reasons(tiny) == [
        "ppo_redo on relabelled_bandit: interventions.0 (redo) never checks: every_n_rollouts 100 > the run's 6 "
        "rollouts"
    ]
    single = resolve_config("ppo_reset", "relabelled_bandit", total_steps=30720)
    assert idle_reasons(single) == [
        "ppo_reset on relabelled_bandit: interventions.0 (reset_on_switch) never resets: the run has a single task"
    ]
    assert idle_reasons(resolve_config("ppo_reset", "relabelled_bandit")) == []


def test_a_run_whose_intervention_never_acted_is_counted_and_warned(tmp_path: Path) -> None:
    overrides = parse_overrides([*TINY_OVERRIDES, "checkpoint_every=256"])
    specs = plan_grid(
        ["ppo_cbp"], ["relabelled_bandit"], [0], reference="ppo_reset", overrides=overrides, total_steps=768
    )
    assert all(r.status == "done" for r in run_benchmark(specs, tmp_path, workers=1))
    done = json.loads((tmp_path / "relabelled_bandit" / "ppo_cbp" / "seed_0" / "done").read_text())
    assert done["interventions"] == [{"type": "cbp", "acted": 0, "unit": "units replaced"}]
    reset = json.loads((tmp_path / "relabelled_bandit" / "ppo_reset" / "seed_0" / "done").read_text())
    assert reset["interventions"] == [{"type": "reset_on_switch", "acted": 2, "unit": "resets"}]  # 3 tasks
    summary = write_summary(tmp_path, reference="ppo_reset").set_index(["agent", "metric"])
    assert summary.loc[("ppo_cbp", "final_task_return"), "idle_runs"] == 1
    assert summary.loc[("ppo_reset", "final_task_return"), "idle_runs"] == 0
    assert summary.loc[("ppo_reset", "intervention_acted"), "mean"] == 2
    markdown = (tmp_path / "summary.md").read_text()
    assert "ppo_cbp on relabelled_bandit: intervention cbp never acted in 1 of 1 runs" in markdown
    assert "ppo_reset on relabelled_bandit" not in markdown.partition("**Warning**")[2]
    per_run = pd.read_csv(tmp_path / "runs.csv", keep_default_na=False).set_index("agent")
    assert (
        per_run.loc["ppo_cbp", "idle_interventions"] == "cbp" and per_run.loc["ppo_reset", "idle_interventions"] == ""
    )


def test_study_plan_is_checked_and_refuses_interventions_that_cannot_act(tmp_path: Path) -> None:
    base = yaml.safe_load((REPO / "studies" / "smoke.yaml").read_text())
    with pytest.raises(ValueError, match=r"unknown keys \['seed'\]"):
        StudyPlan.from_mapping({**base, "seed": 1})
    with pytest.raises(ValueError, match="'seeds' must be"):
        StudyPlan.from_mapping({**base, "seeds": 0})
    with pytest.raises(ValueError, match="not in the grid"):
        StudyPlan.from_mapping({**base, "agent_overrides": {"ppo_l2": {"weight_decay": 0.1}}}).specs()
    no_rule = {**base, "cbp_maturity_fraction": None}
    with pytest.raises(ValueError, match=r"never replaces a unit: maturity_threshold 10000 >= the run's 12 gradient"):
        StudyPlan.from_mapping(no_rule).specs()
    specs, warnings = StudyPlan.from_mapping({**no_rule, "allow_idle_interventions": True}).specs()
    assert len(specs) == 10 and len(warnings) == 1
    specs, warnings = StudyPlan.from_mapping(base).specs()
    assert warnings == []
    cbp = [s for s in specs if s.agent == "ppo_cbp"]
    assert dict(cbp[0].overrides)["interventions.0.maturity_threshold"] == 1  # 0.2 x 4 gradient steps, at least 1
    assert {s.seed for s in specs} == {0, 1} and specs[0].total_steps == 768


def test_smoke_study_runs_resumes_and_reports(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import study
    finally:
        sys.path.pop(0)
    out = tmp_path / "smoke"
    assert study.main([str(REPO / "studies" / "smoke.yaml"), "--out", str(out), "--workers", "1", "--no-figures"]) == 0
    assert len(list(out.rglob("done"))) == 10 and (out / "study.yaml").is_file()
    report = (out / "report" / "report.md").read_text()
    assert "## relabelled_bandit" in report and "| syre_ppo [sigma_scale=1.0] | 2 |" in report
    assert "| syre_ppo [sigma_scale=0.01] | ppo | " in report  # probability of improvement over ppo
    assert "| ppo_cbp | cbp | 2 |" in report and "## Warnings" not in report
    improvement = pd.read_csv(out / "report" / "improvement.csv")
    assert {"late_relative_return", "reference_relative_return", "mean_task_return", "srank", "dormant_ratio"} <= set(
        improvement["metric"]
    )  # and the other unit-level metrics where measured (srank_retained, symmetry_collapse)
    assert set(improvement["x"]) == {"syre_ppo [sigma_scale=0.01]", "syre_ppo [sigma_scale=1.0]"}
    assert improvement["poi"].between(0, 1).all() and (improvement[["n_x", "n_y"]] == 2).all().all()
    acted = pd.read_csv(out / "report" / "interventions.csv")
    assert (acted.loc[acted["intervention"] == "cbp", "acted"] > 0).all()
    runs = pd.read_csv(out / "report" / "runs.csv")
    assert runs["late_relative_return"].notna().any()  # NaN only where task 1's return is not positive
    # Again: every run is skipped; the report is rewritten from the run folders alone.
    (out / "report" / "report.md").unlink()
    assert study.main([str(REPO / "studies" / "smoke.yaml"), "--out", str(out), "--report-only", "--no-figures"]) == 0
    assert (out / "report" / "report.md").read_text() == report


def test_shipped_study_plans_plan_without_idle_interventions() -> None:
    plan = StudyPlan.load(REPO / "studies" / "plasticity_study.yaml")
    specs, warnings = plan.specs()
    assert warnings == []
    assert len(specs) == 2 * 13 * 10  # 13 agents (the reset reference among them), 2 scenarios, 10 seeds
    assert plan.symmetry_trap == {"seeds": 50, "weight_decay": [0.002, 0.01], "steps": 400}
    sweep_specs, sweep_warnings = StudyPlan.load(REPO / "studies" / "decay_sweep.yaml").specs()
    assert sweep_warnings == [] and len(sweep_specs) == (2 + 2 + 9) * 5
    maturity = {
        s.scenario: dict(s.overrides)["interventions.0.maturity_threshold"] for s in specs if s.agent == "ppo_cbp"
    }
    assert maturity == {"relabelled_bandit": 96, "permuted_cartpole_long": 80}


def test_shipped_off_policy_plans_sweep_the_replay_ratio() -> None:
    dqn_specs, dqn_warnings = StudyPlan.load(REPO / "studies" / "offpolicy_dqn.yaml").specs()
    assert dqn_warnings == [] and len(dqn_specs) == 5 * 2 * 2 * 3  # agents x replay ratios x scenarios x seeds
    for spec in dqn_specs:
        config = spec.config()
        hp, ratio = config["hyperparameters"], dict(spec.variant)["replay_ratio"]
        assert hp["gradient_steps"] / hp["train_freq"] == ratio * config["n_envs"]  # 4 envs: 4 or 32 per step
        assert config["policy_kwargs"]["net_arch"] == [64, 64] and hp["target_update_interval"] == 100
    sac_specs, sac_warnings = StudyPlan.load(REPO / "studies" / "offpolicy_sac.yaml").specs()
    assert sac_warnings == [] and len(sac_specs) == 4 * 3
    assert {spec.scenario for spec in sac_specs} == {"pendulum_physics"}
    cheetah_specs, cheetah_warnings = StudyPlan.load(REPO / "studies" / "offpolicy_halfcheetah.yaml").specs()
    assert cheetah_warnings == [] and len(cheetah_specs) == 2 * 2
    assert {spec.config()["total_steps"] for spec in cheetah_specs} == {100_000}


def test_off_policy_gradient_steps_and_idle_periodic_interventions() -> None:
    from syre_rl.experiments.firing import off_policy_gradient_steps

    # dqn_redo: train_freq 256 vector steps x 4 envs, 128 gradient steps each, learning from step 1000
    config = resolve_config("dqn_redo", "permuted_cartpole")
    assert off_policy_gradient_steps(config) == (81920 - 1000) // 1024 * 128
    assert idle_reasons(config) == []
    short = resolve_config("dqn_redo", "permuted_cartpole", total_steps=3000)
    assert off_policy_gradient_steps(short) == 128
    assert idle_reasons(short) == [
        "dqn_redo on permuted_cartpole: interventions.0 (redo) never checks: every_n_updates 1000 > the run's 128 "
        "gradient steps"
    ]
    assert off_policy_gradient_steps(resolve_config("ppo_redo", "permuted_cartpole")) is None
    # a periodic reset longer than a single-task run never fires
    single = resolve_config("sac_reset", "pendulum_physics", total_steps=5000)
    assert any("never resets" in line for line in idle_reasons(single))
