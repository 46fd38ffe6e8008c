"""The symmetry-trap experiment (claim 1), its summary with Wilson intervals, and the verdict rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from syre_rl.analysis.runs import agent_label
from syre_rl.analysis.statistics import wilson_interval
from syre_rl.analysis.trap import trap_summary
from syre_rl.analysis.verdicts import claim_verdicts, verdicts_markdown
from syre_rl.experiments.study import StudyPlan
from syre_rl.experiments.symmetry_trap import (
    TrapSettings,
    _student,
    collapse,
    run_trap_experiment,
    run_trial,
)

FEW = TrapSettings(steps=150)


def test_collapse_makes_exact_copies_or_dead_units() -> None:
    net = _student(0)
    collapse(net, "duplicate", 3)
    w, b, out = net[0].weight, net[0].bias, net[2].weight
    assert torch.equal(w[1], w[0]) and torch.equal(w[2], w[0]) and not torch.equal(w[3], w[0])
    assert b[1] == b[0] and torch.equal(out[:, 2], out[:, 0])
    collapse(net, "dead", 2)
    assert w[:2].abs().max() == 0 and b[:2].abs().max() == 0 and out[:, :2].abs().max() == 0


@pytest.mark.parametrize("condition", ["none", "l2", "l2_init"])
def test_plain_training_and_plain_decays_keep_copies_identical_and_dead_units_dead(condition: str) -> None:
    copies = run_trial("duplicate", condition, seed=1, settings=FEW)
    assert copies["trapped_spread"] == 0.0 and copies["trapped_collapsed"] == 4 and not copies["escaped"]
    dead = run_trial("dead", condition, seed=1, settings=FEW)
    assert dead["trapped_collapsed"] == 4 and dead["trapped_silent"] == 4 and not dead["escaped"]


def test_syre_lets_dead_units_and_copies_escape() -> None:
    dead = run_trial("dead", "syre", seed=1, settings=FEW)
    assert dead["escaped"] and dead["trapped_collapsed"] == 0
    copies = run_trial("duplicate", "syre_sigma_1", seed=1, settings=FEW)
    assert copies["escaped"] and float(copies["trapped_spread"]) > 0.1  # type: ignore[arg-type]


def test_bad_trial_settings_are_refused_with_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="trap must be one of"):
        run_trial("mirrored", "syre", seed=0)
    with pytest.raises(ValueError, match="condition must be one of"):
        run_trial("dead", "adamw", seed=0)
    with pytest.raises(ValueError, match="n_trapped"):
        TrapSettings(n_trapped=17)


def test_experiment_resumes_and_refuses_other_settings(tmp_path) -> None:
    quick = TrapSettings(steps=3)
    kwargs = {"traps": ["dead"], "conditions": ["none", "syre"], "settings": quick}
    run_trap_experiment(tmp_path, [0], [0.01], **kwargs)
    seen: list[object] = []
    run_trap_experiment(tmp_path, [0, 1], [0.01], progress=seen.append, **kwargs)
    trials = pd.read_csv(tmp_path / "trials.csv")
    assert len(trials) == 4 and len(seen) == 2  # the seed-0 trials were kept, not rerun
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert set(summary["condition"]) == {"none", "syre"} and (summary["trials"] == 2).all()
    with pytest.raises(ValueError, match="holds trials made with"):
        run_trap_experiment(tmp_path, [0], [0.01], traps=["dead"], settings=TrapSettings(steps=4))
    assert len(pd.read_csv(tmp_path / "trials.csv")) == 4  # refused without touching the results
    with pytest.raises(ValueError, match="trap must be one of"):
        run_trap_experiment(tmp_path / "other", [0], traps=["mirrored"])


def test_wilson_interval_known_values() -> None:
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(10, 10)[1] == 1.0
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(3, 2)


def _trap_frame(syre_escapes: int) -> pd.DataFrame:
    rows = []
    for condition, escapes in (("none", 0), ("l2", 1), ("syre", syre_escapes)):
        for seed in range(20):
            rows.append(
                {
                    "trap": "dead",
                    "condition": condition,
                    "seed": seed,
                    "weight_decay": 0.01,
                    "escaped": seed < escapes,
                    "trapped_spread": 0.0,
                    "final_loss": 0.1,
                }
            )
    return pd.DataFrame(rows)


def test_trap_verdict_follows_the_intervals() -> None:
    summary = trap_summary(_trap_frame(20))
    row = summary.set_index("condition").loc["l2"]
    assert row.escaped == 1 and row.trials == 20 and row.ci_low < 0.05 < row.ci_high
    assert [v.verdict for v in claim_verdicts(pd.DataFrame(), summary)] == ["supported"]
    assert claim_verdicts(pd.DataFrame(), trap_summary(_trap_frame(3)))[0].verdict.startswith("not shown")


def _runs(ppo_late: float, syre_late: float, l2_late: float, ppo_rank: float = 0.6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for agent, late, rank in (("ppo", ppo_late, ppo_rank), ("syre_ppo", syre_late, 1.0), ("ppo_l2", l2_late, 0.9)):
        for seed in range(10):
            rows.append(
                {
                    "scenario": "bandit",
                    "agent": agent,
                    "label": agent,
                    "seed": seed,
                    "weight_decay": float("nan") if agent == "ppo" else 0.002,
                    "late_relative_return": late + 0.01 * rng.standard_normal(),
                    "mean_task_return": late + 0.01 * rng.standard_normal(),
                    "srank_retained": rank + 0.01 * rng.standard_normal(),
                }
            )
    return pd.DataFrame(rows)


def test_loss_and_equal_decay_verdicts() -> None:
    verdicts = {(v.claim, v.comparison): v.verdict for v in claim_verdicts(_runs(0.4, 0.9, 0.9))}
    assert verdicts[(2, "syre_ppo vs ppo")] == "supported"
    assert verdicts[(3, "syre_ppo vs ppo")] == "supported"
    assert verdicts[(4, "syre_ppo vs ppo_l2 (gamma 0.002)")].startswith("not shown")
    reversed_ = {(v.claim, v.comparison): v.verdict for v in claim_verdicts(_runs(0.4, 0.3, 0.9))}
    assert reversed_[(3, "syre_ppo vs ppo")].startswith("contradicted")
    assert reversed_[(4, "syre_ppo vs ppo_l2 (gamma 0.002)")].startswith("contradicted")
    # PPO keeps its return (ratio about 1): syre being better is not the claim "keeps it where PPO loses it"
    kept = {(v.claim, v.comparison): v.verdict for v in claim_verdicts(_runs(1.0, 1.2, 0.9, ppo_rank=1.0))}
    assert kept[(3, "syre_ppo vs ppo")].startswith("not shown: ppo does not lose")
    assert "| 3 | bandit | syre_ppo vs ppo |" in verdicts_markdown(claim_verdicts(_runs(0.4, 0.9, 0.9)))


def test_plan_symmetry_trap_settings_are_checked() -> None:
    plan = {"name": "p", "agents": ["ppo"], "scenarios": ["relabelled_bandit"], "seeds": 1}
    assert StudyPlan.from_mapping(plan).symmetry_trap is None
    parsed = StudyPlan.from_mapping({**plan, "symmetry_trap": {"seeds": 5, "weight_decay": 0.002}})
    assert parsed.symmetry_trap == {"seeds": 5, "weight_decay": [0.002], "steps": 400}
    with pytest.raises(ValueError, match="symmetry_trap"):
        StudyPlan.from_mapping({**plan, "symmetry_trap": {"trials": 5}})
    with pytest.raises(ValueError, match=r"symmetry_trap\.seeds"):
        StudyPlan.from_mapping({**plan, "symmetry_trap": {"seeds": 0}})


def test_equal_decay_verdict_is_mixed_when_the_two_numbers_disagree() -> None:
    runs = _runs(0.4, 0.9, 0.5)
    l2 = runs["agent"] == "ppo_l2"
    runs.loc[l2, "mean_task_return"] = 2.0  # L2 better in absolute return, syre better relative to its task 1
    verdict = {(v.claim, v.comparison): v.verdict for v in claim_verdicts(runs)}[
        (4, "syre_ppo vs ppo_l2 (gamma 0.002)")
    ]
    assert verdict == ("mixed: syre_ppo better on late_relative_return, ppo_l2 better on mean_task_return")


def test_layernorm_agents_are_compared_with_their_own_counterparts() -> None:
    plain = _runs(0.4, 0.9, 0.5)
    names = {"ppo": "ppo_layernorm", "syre_ppo": "syre_ppo_layernorm", "ppo_l2": "ppo_layernorm_l2"}
    layernorm = plain.assign(agent=plain["agent"].map(names), label=plain["label"].map(names))
    layernorm["late_relative_return"] = 1.0 - layernorm["late_relative_return"] / 2  # now the syre variant is worst
    verdicts = {(v.claim, v.comparison): v.verdict for v in claim_verdicts(pd.concat([plain, layernorm]))}
    assert verdicts[(3, "syre_ppo vs ppo")] == "supported"
    assert verdicts[(3, "syre_ppo_layernorm vs ppo_layernorm")].startswith("contradicted")
    assert (4, "syre_ppo_layernorm vs ppo_layernorm_l2 (gamma 0.002)") in verdicts
    assert (4, "syre_ppo vs ppo_layernorm_l2 (gamma 0.002)") not in verdicts


def test_swept_settings_are_compared_only_at_equal_settings() -> None:
    """DQN swept over the replay ratio: syre at ratio 8 meets DQN and DQN + L2 at ratio 8, never at ratio 1."""
    names = {"ppo": "dqn", "syre_ppo": "syre_dqn", "ppo_l2": "dqn_l2"}
    frames = []
    for ratio, plain_late in ((1, 1.0), (8, 0.4)):
        runs = _runs(plain_late, 0.9 if ratio == 8 else 1.0, 0.5)
        runs["agent"] = runs["agent"].map(names)
        runs["variant"] = f"replay_ratio={ratio}"
        runs["label"] = [agent_label(a, v) for a, v in zip(runs["agent"], runs["variant"])]
        frames.append(runs)
    verdicts = {(v.claim, v.comparison): v.verdict for v in claim_verdicts(pd.concat(frames))}
    high, low = "syre_dqn [replay_ratio=8]", "syre_dqn [replay_ratio=1]"
    assert verdicts[(3, f"{high} vs dqn [replay_ratio=8]")] == "supported"
    assert verdicts[(3, f"{low} vs dqn [replay_ratio=1]")].startswith("not shown: dqn [replay_ratio=1] does not lose")
    assert (4, f"{high} vs dqn_l2 [replay_ratio=8] (gamma 0.002)") in verdicts
    assert not [key for key in verdicts if "replay_ratio=8" in key[1] and "replay_ratio=1" in key[1]]
    assert len([key for key in verdicts if key[0] == 3]) == 2


def test_a_ratio_undefined_for_the_plain_agent_is_not_read_as_kept() -> None:
    """Negative returns (Pendulum) leave the ratio to task 1 undefined: the verdict says so, not "does not lose it"."""
    runs = _runs(0.4, 0.9, 0.5)
    runs.loc[runs["agent"] == "ppo", "late_relative_return"] = np.nan
    verdict = {(v.claim, v.comparison): v.verdict for v in claim_verdicts(runs)}[(3, "syre_ppo vs ppo")]
    assert verdict == "not shown: late_relative_return is defined for fewer than 2 runs of ppo"
