"""scripts/bench_throughput.py: one timed run on each path, the update speed-ups applied alike, the summary."""

from __future__ import annotations

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
                | {"env_s": 0.2, "forward_s": 0.3, "update_s": 0.5}
            )
    lines = module.summary(rows, {"s": 4})
    assert [line["ratio"] for line in lines] == [1.2, 2.0]
    assert [line["vs_recipe"] for line in lines] == [1.2, 4.0]


def test_refuses_an_existing_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bench.csv"
    out.write_text("")
    assert bench().main(["--out", str(out), "--fused-adam", "--no-validate"]) == 2
    assert "exists" in capsys.readouterr().err
