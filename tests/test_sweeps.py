"""Sweeps: the --sweep grammar, variant folders, the grid's product and refusals, a swept benchmark end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import TINY_OVERRIDES

from syre_rl.experiments.grid import plan_grid
from syre_rl.experiments.sweeps import Sweep, parse_sweep, variant_folder, variant_label, variants

REPO = Path(__file__).resolve().parents[1]


def test_parse_sweep_grammar() -> None:
    assert parse_sweep("weight_decay=0.001,0.01,0.05") == Sweep("weight_decay", (0.001, 0.01, 0.05))
    assert parse_sweep("syre_ppo,ppo_l2:weight_decay=1e-3, 1") == Sweep(
        "weight_decay", (0.001, 1), ("syre_ppo", "ppo_l2")
    )
    assert parse_sweep("policy_kwargs.net_arch=[8, 8],[16]").values == ([8, 8], [16])
    assert parse_sweep("plasticity.probe_every=0").values == (0,)
    for bad in ("weight_decay", "=1,2", "weight_decay=", "syre ppo:weight_decay=1"):
        with pytest.raises(ValueError, match="sweep"):
            parse_sweep(bad)


def test_variants_are_the_product_in_order_and_folders_are_safe() -> None:
    sweeps = [parse_sweep("weight_decay=0.01,0.05"), parse_sweep("syre_ppo:sigma_scale=0.01,1")]
    assert variants(sweeps, "ppo_l2") == [(("weight_decay", 0.01),), (("weight_decay", 0.05),)]
    assert variants(sweeps, "syre_ppo")[1] == (("weight_decay", 0.01), ("sigma_scale", 1))
    assert variants([], "ppo") == [()]
    with pytest.raises(ValueError, match="swept more than once"):
        variants([*sweeps, parse_sweep("weight_decay=1")], "ppo")
    variant = (("weight_decay", 0.01), ("sigma_scale", 1))
    assert variant_folder("syre_ppo", variant) == "syre_ppo[weight_decay=0.01,sigma_scale=1]"
    assert variant_folder("ppo", ()) == "ppo"
    assert variant_folder("ppo", (("policy_kwargs.net_arch", [8, 8]), ("x", "a/b c"))) == (
        "ppo[policy_kwargs.net_arch=_8,8_,x=a_bc]"
    )
    assert variant_label(variant) == "weight_decay=0.01, sigma_scale=1"


def test_plan_grid_runs_the_product_per_agent_and_refuses_bad_keys() -> None:
    sweeps = [parse_sweep("weight_decay=0.01,0.05"), parse_sweep("syre_ppo:sigma_scale=0.01,1")]
    specs = plan_grid(["ppo_l2", "syre_ppo"], ["relabelled_bandit"], [0, 1], reference="ppo_reset", sweeps=sweeps)
    folders = sorted({s.run_dir("b").parent.name for s in specs})
    assert folders == [
        "ppo_l2[weight_decay=0.01]",
        "ppo_l2[weight_decay=0.05]",
        "ppo_reset",  # the reference is not swept
        "syre_ppo[weight_decay=0.01,sigma_scale=0.01]",
        "syre_ppo[weight_decay=0.01,sigma_scale=1]",
        "syre_ppo[weight_decay=0.05,sigma_scale=0.01]",
        "syre_ppo[weight_decay=0.05,sigma_scale=1]",
    ]
    assert len(specs) == 7 * 2
    config = next(s for s in specs if s.variant == (("weight_decay", 0.05), ("sigma_scale", 1))).config()
    assert config["sweep"] == {"weight_decay": 0.05, "sigma_scale": 1}
    assert config["hyperparameters"]["weight_decay"] == 0.05 and config["hyperparameters"]["sigma_scale"] == 1
    assert "sweep" not in specs[-1].config()  # outside sweeps the config is as before
    with pytest.raises(ValueError, match=r"sweep key 'weight_decay' is not accepted by agent 'ppo'; valid keys: \["):
        plan_grid(["ppo", "syre_ppo"], ["relabelled_bandit"], [0], sweeps=sweeps[:1])
    with pytest.raises(ValueError, match=r"names agents \['ppo_l2'\] that are not in the grid"):
        plan_grid(["syre_ppo"], ["relabelled_bandit"], [0], sweeps=[parse_sweep("ppo_l2:weight_decay=1")])
    # Restricted to the agents that accept it, the sweep is fine.
    restricted = [parse_sweep("syre_ppo:weight_decay=0.01,0.05")]
    assert len(plan_grid(["ppo", "syre_ppo"], ["relabelled_bandit"], [0], reference=None, sweeps=restricted)) == 3


def test_swept_benchmark_names_folders_and_groups_the_summary(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import benchmark
    finally:
        sys.path.pop(0)
    out = tmp_path / "bench"
    argv = ["--agents", "syre_ppo", "--envs", "relabelled_bandit", "--seeds", "1", "--steps", "512"]
    argv += ["--workers", "1", "--reference", "none", "--out", str(out), "--sweep", "sigma_scale=0.01,1"]
    argv += [arg for item in TINY_OVERRIDES for arg in ("--set", item)]
    assert benchmark.main(argv) == 0
    runs = sorted(p.parent.relative_to(out).as_posix() for p in out.rglob("done"))
    assert runs == [
        "relabelled_bandit/syre_ppo[sigma_scale=0.01]/seed_0",
        "relabelled_bandit/syre_ppo[sigma_scale=1]/seed_0",
    ]
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    assert list(summary.columns[:3]) == ["scenario", "agent", "variant"]
    assert sorted(set(summary["variant"])) == ["sigma_scale=0.01", "sigma_scale=1"]
    assert (summary.groupby("variant").size() == 6).all()
    markdown = (out / "summary.md").read_text()
    assert "| syre_ppo [sigma_scale=0.01] | 1 |" in markdown and "| syre_ppo [sigma_scale=1] | 1 |" in markdown
    plan = yaml.safe_load((out / "benchmark.yaml").read_text())
    assert plan["sweeps"]["relabelled_bandit/syre_ppo[sigma_scale=1]/seed_0"] == "sigma_scale=1"
    # The same command again skips both runs; a sweep key the agent lacks is refused before anything runs.
    assert benchmark.main(argv) == 0
    with pytest.raises(SystemExit):
        benchmark.main([*argv, "--sweep", "nope=1"])
