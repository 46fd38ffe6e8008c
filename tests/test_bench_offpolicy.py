"""The paired cost benchmarks (scripts/bench_syre_speed.py, scripts/bench_callback_overhead.py): their smallest run
(``--smoke``) trains both sides of a pair for every algorithm and writes the CSV (and, off-policy, the markdown
table). Nothing here asserts a timing."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"script_{name}", REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("algorithm", ["ppo", "sac", "td3", "dqn"])
def test_syre_speed_smoke_writes_both_sides_of_the_pair(algorithm: str, tmp_path: Path) -> None:
    out = tmp_path / "speed.csv"
    script("bench_syre_speed").main(["--algorithm", algorithm, "--smoke", "--out", str(out)])
    rows = read_csv(out)
    assert [row["algorithm"] for row in rows] == [f"{algorithm}_l2", f"syre_{algorithm}"]
    assert all(row["seed"] == "0" and float(row["steps_per_wall_s"]) > 0 for row in rows)
    assert float(rows[0]["decay_hook_share"]) == 0.0 and float(rows[1]["decay_hook_share"]) > 0.0
    table = out.with_suffix(".md")
    if algorithm == "ppo":  # the PPO output is the CSV alone, as before --algorithm existed
        assert list(rows[0]) == [
            "env",
            "device",
            "seed",
            "algorithm",
            "steps",
            "steps_per_wall_s",
            "steps_per_cpu_s",
            "decay_hook_share",
        ]
        assert not table.exists()
    else:  # learning starts at step 100: the smoke run makes 28 gradient steps per side
        assert [row["gradient_steps"] for row in rows] == ["28", "28"]
        text = table.read_text()
        assert "| per wall-clock second | 1 |" in text and "| per CPU second | 1 |" in text


@pytest.mark.parametrize("algorithm", ["ppo", "sac", "dqn"])
def test_callback_overhead_smoke_writes_both_runs_of_the_pair(algorithm: str, tmp_path: Path) -> None:
    out = tmp_path / "overhead.csv"
    script("bench_callback_overhead").main(["--algorithm", algorithm, "--smoke", "--out", str(out)])
    rows = read_csv(out)
    assert [row["callback"] for row in rows] == ["False", "True"]
    assert float(rows[0]["callback_s"]) == 0.0 and float(rows[1]["callback_s"]) > 0.0
    assert int(rows[0]["measurements"]) == 0 and int(rows[1]["measurements"]) >= 1
    table = out.with_suffix(".md")
    if algorithm == "ppo":
        assert "algorithm" not in rows[0] and not table.exists()
    else:  # a measurement after the first step and one on a replay batch 64 steps later
        assert all(row["algorithm"] == algorithm for row in rows) and rows[1]["measurements"] == "2"
        assert "| time inside the callback / wall | 1 |" in table.read_text()


@pytest.mark.parametrize("name", ["bench_syre_speed", "bench_callback_overhead"])
def test_an_existing_csv_is_refused_before_training(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "taken.csv"
    out.write_text("someone's results\n")
    with pytest.raises(SystemExit) as info:
        script(name).main(["--algorithm", "sac", "--smoke", "--out", str(out)])
    assert info.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert out.read_text() == "someone's results\n"
