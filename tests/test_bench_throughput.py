"""scripts/bench_throughput.py: one timed run on each path, the update speed-ups applied alike, the summary."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from stable_baselines3 import PPO
from torch.distributions import Distribution

from syre_rl.experiments.scenarios import load_scenario

REPO = Path(__file__).resolve().parents[1]


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("script_bench_throughput", REPO / "scripts" / "bench_throughput.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_recipe() -> dict[str, Any]:
    recipe = load_scenario("relabelled_bandit")
    recipe["hyperparameters"].update(
        n_steps=16, batch_size=32, n_epochs=1, policy_kwargs={"net_arch": [8, 8], "activation_fn": "relu"}
    )
    return recipe


class RecordingPPO(PPO):
    """PPO that keeps its instances and the default ``validate_args`` of torch.distributions while it learns."""

    made: list[RecordingPPO] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.validate_seen: bool | None = None
        RecordingPPO.made.append(self)

    def learn(self, *args: Any, **kwargs: Any) -> Any:
        self.validate_seen = bool(Distribution._validate_args)
        return super().learn(*args, **kwargs)


@pytest.mark.parametrize("path", ["wrapper", "batched"])
@pytest.mark.parametrize("speedups", [False, True])
def test_one_run_applies_the_speedups_on_both_paths(monkeypatch: pytest.MonkeyPatch, path: str, speedups: bool) -> None:
    module = bench()
    monkeypatch.setattr(module, "PPO", RecordingPPO)
    RecordingPPO.made = []
    before = Distribution._validate_args
    row = module.one_run(path, tiny_recipe(), 4, 2, seed=0, fused_adam=speedups, validate=not speedups)
    (model,) = RecordingPPO.made
    assert row["timesteps"] == 2 * 16 * 4 and row["n_steps"] == 16 and row["path"] == path
    assert (row["fused_adam"], row["validate"]) == (speedups, not speedups)
    assert bool(model.policy.optimizer.defaults["fused"]) is speedups
    assert model.policy.optimizer.defaults["eps"] == 1e-5  # SB3's eps for PPO's Adam, kept by --fused-adam
    assert model.validate_seen is (before if not speedups else False)
    assert Distribution._validate_args is before
    assert row["env_s"] > 0 and row["update_s"] > 0 and row["wall_s"] >= row["env_s"] and row["cpu_s"] > 0


def test_summary_ratios() -> None:
    module = bench()
    rows = []
    for n_envs, wrapper, batched in ((4, 100.0, 120.0), (64, 200.0, 400.0)):
        for path, rate in (("wrapper", wrapper), ("batched", batched)):
            rows.append(
                {"scenario": "s", "n_envs": n_envs, "path": path, "steps_per_s": rate, "wall_s": 1.0, "timesteps": 8}
                | {"env_s": 0.2, "forward_s": 0.3, "update_s": 0.5, "repeat": 0}
            )
    lines = module.summary(rows, {"s": 4})
    assert [line["ratio"] for line in lines] == [1.2, 2.0]
    assert [line["vs_recipe"] for line in lines] == [1.2, 4.0]
    assert lines[1]["vs_recipe_range"] == (4.0, 4.0)


def test_ratio_against_the_recipe_is_paired_within_each_round() -> None:
    # The machine runs twice as fast in round 1 as in round 0: within each round the batched path at 64 envs is 4x
    # the wrapper path at the recipe's 4 envs, whereas medians taken over rounds separately would not show it.
    module = bench()
    rows = []
    speeds = {(0, 4, "wrapper"): 100.0, (0, 64, "batched"): 400.0, (1, 4, "wrapper"): 200.0}
    speeds |= {(1, 64, "batched"): 800.0, (2, 4, "wrapper"): 100.0, (2, 64, "batched"): 400.0}
    speeds |= {(0, 4, "batched"): 100.0, (1, 4, "batched"): 200.0, (2, 4, "batched"): 100.0}
    speeds |= {(0, 64, "wrapper"): 200.0, (1, 64, "wrapper"): 400.0, (2, 64, "wrapper"): 200.0}
    for (repeat, n_envs, path), rate in speeds.items():
        rows.append(
            {"scenario": "s", "n_envs": n_envs, "path": path, "steps_per_s": rate, "wall_s": 1.0, "timesteps": 8}
            | {"env_s": 0.2, "forward_s": 0.3, "update_s": 0.5, "repeat": repeat}
        )
    rows = [r for r in rows if not (r["repeat"] == 2 and r["n_envs"] == 64)]  # a round cut short
    line = module.summary(rows, {"s": 4})[1]
    assert module.vs_recipe_ratios(rows, "s", 64, 4) == [4.0, 4.0]
    assert line["vs_recipe"] == 4.0 and line["vs_recipe_range"] == (4.0, 4.0)


def test_refuses_an_existing_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bench.csv"
    out.write_text("")
    assert bench().main(["--out", str(out), "--fused-adam", "--no-validate"]) == 2
    assert "exists" in capsys.readouterr().err


def _round_rows(ratios: dict[int, float]) -> list[dict]:
    """One round per repeat: the wrapper path at the recipe's 4 envs at 100 steps/s, the batched path at 64 envs
    at ``ratios[repeat]`` times that."""
    rows = []
    for repeat, ratio in ratios.items():
        for n_envs, path, rate in ((4, "wrapper", 100.0), (4, "batched", 100.0), (64, "wrapper", 150.0)):
            rows.append({"scenario": "s", "n_envs": n_envs, "path": path, "steps_per_s": rate, "repeat": repeat})
        rows.append({"scenario": "s", "n_envs": 64, "path": "batched", "steps_per_s": 100.0 * ratio, "repeat": repeat})
    return rows


def test_pooled_rounds_count_every_round_of_every_file() -> None:
    module = bench()
    lines = module.pooled_rounds([_round_rows({0: 3.5, 1: 4.5}), _round_rows({0: 4.0, 1: 2.0, 2: 5.0})], {"s": 4})
    line = next(x for x in lines if x["n_envs"] == 64)
    assert (line["rounds"], line["median"], line["min"], line["max"]) == (5, 4.0, 2.0, 5.0)
    assert (line["at_least_3x"], line["at_least_4x"]) == (4, 3)


def test_pool_reads_written_csvs_and_refuses_others(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    module = bench()
    written = tmp_path / "runs.csv"
    with written.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=module.COLUMNS)
        writer.writeheader()
        for row in _round_rows({0: 4.2, 1: 3.9}):
            full = dict.fromkeys(module.COLUMNS, "1") | {"env_device": "", "device": "cpu"}
            full |= {"fused_adam": "False", "validate": "True"}
            writer.writerow(full | row | {"scenario": "relabelled_bandit"})
    assert module.main(["--pool", str(written)]) == 0
    out = capsys.readouterr().out
    assert "relabelled_bandit" in out and "4.05x" in out  # median of 4.2 and 3.9 at 64 envs
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    assert module.main(["--pool", str(written), str(other)]) == 2
    assert "no column" in capsys.readouterr().err
    assert module.main(["--pool", str(tmp_path / "absent.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(written.read_text().replace("relabelled_bandit", "no_such_scenario"))
    assert module.main(["--pool", str(renamed)]) == 2
    assert "unknown scenario 'no_such_scenario'" in capsys.readouterr().err
    assert module.main([]) == 2
    assert "--out is required" in capsys.readouterr().err
