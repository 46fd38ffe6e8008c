"""Each recipe of plasticity injection, Parseval regularisation, normalize-and-project, CReLU, deep Fourier features,
TRAC and Kron finishes a smoke benchmark on the relabelled bandit, and each intervention among them acts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import TINY_OVERRIDES

from syre_rl.analysis.report import write_summary
from syre_rl.experiments.config import parse_overrides
from syre_rl.experiments.grid import plan_grid, run_benchmark

AGENTS = ["ppo_plasticity_injection", "ppo_parseval", "ppo_nap", "ppo_crelu", "ppo_fourier", "ppo_trac", "ppo_kron"]
# What each intervention's count must reach in 1024 steps: 4 tasks of 256 steps (3 switches); 8 rollouts of 128
# steps, each 2 minibatch steps of 64 in 1 epoch.
ACTED = {"ppo_plasticity_injection": 3, "ppo_parseval": 16, "ppo_nap": 16}


@pytest.mark.slow
def test_recipes_finish_a_smoke_benchmark(tmp_path: Path) -> None:
    specs = plan_grid(
        AGENTS,
        ["relabelled_bandit"],
        [0],
        reference=None,
        overrides=parse_overrides([*TINY_OVERRIDES, "checkpoint_every=128"]),
        total_steps=1024,
    )
    results = run_benchmark(specs, tmp_path, workers=2)
    assert {r.spec.agent: r.status for r in results} == dict.fromkeys(AGENTS, "done"), [r.message for r in results]
    for agent, acted in ACTED.items():
        done = json.loads((tmp_path / "relabelled_bandit" / agent / "seed_0" / "done").read_text())
        assert done["interventions"][0]["acted"] == acted, agent
    summary = write_summary(tmp_path, reference=None)
    assert set(summary["agent"]) == set(AGENTS)
