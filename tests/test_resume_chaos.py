"""Chaos: training processes killed with SIGKILL at random moments (one in a checkpoint write) and resumed end as the
uninterrupted run, on both env paths (a smaller run of scripts/bench_resume_chaos.py)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_resume_chaos.py"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("agents", "extra"),
    [(["ppo", "ppo_cbp"], []), (["ppo_redo"], ["--set", "scenario.backend=wrapper"])],
    ids=["batched", "wrapper"],
)
def test_killed_and_resumed_runs_end_as_the_uninterrupted_run(agents: list[str], extra: list[str], tmp_path: Path):
    out = tmp_path / "chaos"
    command = [sys.executable, str(SCRIPT), "--out", str(out), "--agents", *agents, "--kills", "3"]
    command += ["--write-kills", "1", "--steps", "4096", "--checkpoint-every", "1024", "--seed", "1", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["agent"] for row in rows] == agents
    for row in rows:
        assert (row["logs_identical"], row["weights_identical"]) == ("True", "True"), row
        assert int(row["kills"]) + int(row["write_kills"]) >= 3, row  # the kills landed before the runs finished
        assert int(row["prefixes_ok"]) == int(row["kills"]) + int(row["write_kills"]), row
    # An existing output folder is refused.
    again = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "exists and is not an empty folder" in again.stderr
