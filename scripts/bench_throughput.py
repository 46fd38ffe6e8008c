"""Throughput of PPO training on the batched path vs the wrapper path, and where a run's time goes.

For each scenario and number of sub-envs, PPO trains in pairs of runs with the same seed and hyperparameters (the
scenario recipe's), once on each path, built by ``syre_rl.experiments.build.make_vec_env`` with the recipe's
``backend`` set to ``wrapper`` (``n_envs`` ``Monitor(TaskSwitchingWrapper(...))`` sub-envs in a DummyVecEnv) and to
``batched`` (one :class:`~syre_rl.nonstationary.batched.BatchedVecEnv`); the order alternates between repeats so
that drifts in machine load hit both. Every run keeps the recipe's rollout size (``n_steps x n_envs`` samples per
update, so ``n_steps = recipe rollout / n_envs``), batch size and epochs: both paths, at every ``n_envs``, do the
same updates per sample. A callback splits the wall time of ``learn()`` into the env's ``step`` calls, the rest of
the rollout (policy forward pass, buffer) and the PPO update.

Every run is written to a CSV (an existing file is never overwritten) and a table of medians is printed.

Example (a few minutes on a 2-core machine):
    python scripts/bench_throughput.py --out bench_throughput.csv --rollouts 4 --repeats 3
The long scenarios at their own settings (64 envs) only:
    python scripts/bench_throughput.py --out bench_long.csv --scenarios relabelled_bandit_long \
        permuted_cartpole_long --n-envs 64
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from syre_rl.experiments.build import make_vec_env
from syre_rl.experiments.classes import build_policy_kwargs
from syre_rl.experiments.scenarios import load_scenario

PATHS = ("wrapper", "batched")  # the recipe key backend
COLUMNS = (
    "scenario",
    "path",
    "n_envs",
    "n_steps",
    "batch_size",
    "n_epochs",
    "repeat",
    "timesteps",
    "wall_s",
    "steps_per_s",
    "env_s",
    "forward_s",
    "update_s",
)


class PhaseTimer(BaseCallback):
    """Wall time inside rollouts (from ``_on_rollout_start`` to ``_on_rollout_end``); the rest of ``learn`` is the
    update (and SB3's logging)."""

    def __init__(self) -> None:
        super().__init__()
        self.rollout_s = 0.0
        self._start = 0.0

    def _on_rollout_start(self) -> None:
        self._start = time.perf_counter()

    def _on_rollout_end(self) -> None:
        self.rollout_s += time.perf_counter() - self._start

    def _on_step(self) -> bool:
        return True


def time_env_steps(env: Any) -> Callable[[], float]:
    """Wrap ``env.step_wait`` (where both vector envs do their work) to add up its time; return a reader."""
    inner, total = env.step_wait, [0.0]

    def step_wait() -> Any:
        start = time.perf_counter()
        out = inner()
        total[0] += time.perf_counter() - start
        return out

    env.step_wait = step_wait
    return lambda: total[0]


def make_env(path: str, recipe: dict[str, Any], n_envs: int, seed: int) -> Any:
    """The run's vector env as the harness builds it, with the recipe's ``backend`` set to ``path``."""
    return make_vec_env({"n_envs": n_envs, "scenario_recipe": {**recipe, "backend": path}, "seed": seed})


def one_run(path: str, recipe: dict[str, Any], n_envs: int, rollouts: int, seed: int) -> dict[str, Any]:
    """Train ``rollouts`` updates' worth of steps; return the timings."""
    hp = dict(recipe["hyperparameters"])
    rollout_size = hp["n_steps"] * recipe["n_envs"]
    hp["n_steps"] = max(1, rollout_size // n_envs)
    hp["policy_kwargs"] = build_policy_kwargs(hp.get("policy_kwargs") or {})
    env = make_env(path, recipe, n_envs, seed)
    env_time = time_env_steps(env)
    model = PPO("MlpPolicy", env, seed=seed, device="cpu", **hp)
    timer = PhaseTimer()
    steps = rollouts * hp["n_steps"] * n_envs
    start = time.perf_counter()
    model.learn(steps, callback=timer)
    wall = time.perf_counter() - start
    env.close()
    env_s = env_time()
    return {
        "path": path,
        "n_envs": n_envs,
        "n_steps": hp["n_steps"],
        "batch_size": hp["batch_size"],
        "n_epochs": hp["n_epochs"],
        "timesteps": int(model.num_timesteps),
        "wall_s": wall,
        "steps_per_s": model.num_timesteps / wall,
        "env_s": env_s,
        "forward_s": timer.rollout_s - env_s,
        "update_s": wall - timer.rollout_s,
    }


def summary(rows: list[dict[str, Any]], recipe_n_envs: dict[str, int]) -> list[dict[str, Any]]:
    """Medians over repeats, per scenario and n_envs, with the batched / wrapper ratio of steps/s (paired) and the
    batched path against the wrapper path at the recipe's ``n_envs`` (how runs are made today)."""
    out = []
    keys = sorted({(r["scenario"], r["n_envs"]) for r in rows}, key=lambda k: (k[0], k[1]))
    for scenario, n_envs in keys:
        line: dict[str, Any] = {"scenario": scenario, "n_envs": n_envs}
        for path in PATHS:
            runs = [r for r in rows if (r["scenario"], r["n_envs"], r["path"]) == (scenario, n_envs, path)]
            med = {
                k: statistics.median(r[k] / r["wall_s"] if k != "steps_per_s" else r[k] for r in runs)
                for k in (
                    "steps_per_s",
                    "env_s",
                    "forward_s",
                    "update_s",
                )
            }
            line[path] = med
        line["ratio"] = statistics.median(
            b["steps_per_s"] / w["steps_per_s"]
            for w, b in zip(
                [r for r in rows if (r["scenario"], r["n_envs"], r["path"]) == (scenario, n_envs, "wrapper")],
                [r for r in rows if (r["scenario"], r["n_envs"], r["path"]) == (scenario, n_envs, "batched")],
                strict=True,
            )
        )
        out.append(line)
    for line in out:
        base = [x for x in out if x["scenario"] == line["scenario"] and x["n_envs"] == recipe_n_envs[line["scenario"]]]
        line["vs_recipe"] = line["batched"]["steps_per_s"] / base[0]["wrapper"]["steps_per_s"] if base else float("nan")
    return out


def print_table(lines: list[dict[str, Any]]) -> None:
    head = (
        f"{'scenario':<24} {'n_envs':>6} {'wrapper/s':>10} {'batched/s':>10} {'ratio':>6} {'vs rec.':>7}   "
        f"{'wrapper: env fwd upd':>22}   {'batched: env fwd upd':>22}"
    )
    print(head)
    print("-" * len(head))
    for line in lines:
        shares = {p: " ".join(f"{100 * line[p][k]:5.1f}%" for k in ("env_s", "forward_s", "update_s")) for p in PATHS}
        print(
            f"{line['scenario']:<24} {line['n_envs']:>6} {line['wrapper']['steps_per_s']:>10.0f} "
            f"{line['batched']['steps_per_s']:>10.0f} {line['ratio']:>5.2f}x {line['vs_recipe']:>6.2f}x   "
            f"{shares['wrapper']:>22}   "
            f"{shares['batched']:>22}"
        )
    print("(steps/s and ratio: medians over paired repeats; vs rec.: batched steps/s over the wrapper path's at the")
    print(" recipe's n_envs; env / fwd / upd: median shares of wall time in the env's step, the rest of the rollout")
    print(" (policy forward pass, buffer), and the PPO update)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write (must not exist)")
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=["relabelled_bandit", "permuted_cartpole", "action_permuted_cartpole", "cartpole_drift"],
        help="scenario recipes",
    )
    parser.add_argument(
        "--n-envs", nargs="+", type=int, default=None, help="numbers of sub-envs (default: the recipe's, 64, 256)"
    )
    parser.add_argument("--rollouts", type=int, default=4, help="rollouts (and updates) per run (default 4)")
    parser.add_argument("--repeats", type=int, default=3, help="paired runs per setting (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    if args.out.exists():
        print(f"error: {args.out} exists; not overwriting it", file=sys.stderr)
        return 2
    if args.rollouts < 1 or args.repeats < 1:
        print("error: --rollouts and --repeats must be >= 1", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    try:
        recipes = {name: load_scenario(name) for name in args.scenarios}
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    one_run("batched", recipes[args.scenarios[0]], 4, 1, args.seed)  # warm up torch and the imports
    rows: list[dict[str, Any]] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("x", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for name, recipe in recipes.items():
            for n_envs in sorted(set(args.n_envs or [recipe["n_envs"], 64, 256])):
                for repeat in range(args.repeats):
                    order = PATHS if repeat % 2 == 0 else PATHS[::-1]
                    for path in order:
                        row = {
                            "scenario": name,
                            "repeat": repeat,
                            **one_run(path, recipe, n_envs, args.rollouts, args.seed),
                        }
                        rows.append(row)
                        writer.writerow(row)
                        f.flush()
                        print(
                            f"{name} {path:>7} n_envs={n_envs:<4} repeat {repeat}: {row['steps_per_s']:.0f} steps/s",
                            file=sys.stderr,
                        )
    print_table(summary(rows, {name: recipe["n_envs"] for name, recipe in recipes.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
