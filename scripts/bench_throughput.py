"""Throughput of PPO training on the batched path vs the wrapper path, and where a run's time goes.

For each scenario and number of sub-envs, PPO trains in pairs of runs with the same seed and hyperparameters (the
scenario recipe's), once on each path, built by ``syre_rl.experiments.build.make_vec_env`` with the recipe's
``backend`` set to ``wrapper`` (``n_envs`` ``Monitor(TaskSwitchingWrapper(...))`` sub-envs in a DummyVecEnv) and to
``batched`` (one :class:`~syre_rl.nonstationary.batched.BatchedVecEnv`). The runs go in rounds: each round runs
every setting's pair once, the order within a pair alternating, so that drifts in machine load hit both paths, and
the ratio against the wrapper path at the recipe's ``n_envs`` (the target's measure) is taken within each round.
Every run keeps the recipe's rollout size (``n_steps x n_envs`` samples per update, so ``n_steps = recipe rollout /
n_envs``), batch size and epochs: both paths, at every ``n_envs``, do the same updates per sample. A callback
splits the wall time of ``learn()`` into the env's ``step`` calls, the rest of the rollout (policy forward pass,
buffer) and the PPO update.

With ``--env-device DEVICE`` the pair is instead the batched path on numpy and the batched path in torch on DEVICE
(``cpu``, ``cuda``, ``cuda:N``: the recipe key ``env_device``); ``--device`` puts the PPO model on a torch device
(default ``cpu``). The table then also gives each path's env-only throughput (samples over the time in ``step``).

Two speed-ups of the PPO update that change nothing in the algorithm can be applied to every run, on both paths
alike: ``--fused-adam`` builds Adam with ``fused=True`` (in a run config: ``--set
policy_kwargs.optimizer_kwargs.fused=true``), the same updates up to float rounding; ``--no-validate`` turns off the
argument checks of ``torch.distributions`` (in a run config: ``--set validate_distributions=false``), which change
no number but stop a run with an error naming NaN logits.

Every run is written to a CSV (an existing file is never overwritten) and a table of medians is printed. Besides
wall time, each run records the CPU time of the process (``cpu_s``): on a machine shared with other work, samples
per CPU second compare runs better than samples per wall second.

"One CPU core" is best measured pinned to one, e.g. ``taskset -c 1 python scripts/bench_throughput.py ...``
(``--threads 1``, the default, keeps torch on one thread).

Example (a few minutes on a 2-core machine):
    python scripts/bench_throughput.py --out bench_throughput.csv --rollouts 4 --repeats 3
The long scenarios at their own settings (64 envs) only:
    python scripts/bench_throughput.py --out bench_long.csv --scenarios relabelled_bandit_long \
        permuted_cartpole_long --n-envs 64
With both speed-ups of the update:
    python scripts/bench_throughput.py --out bench_fast.csv --fused-adam --no-validate
The ratios against the recipe's n_envs over every round of several script runs (measures nothing):
    python scripts/bench_throughput.py --pool bench_1.csv bench_2.csv bench_3.csv
The torch path on a GPU against the numpy path, model on the GPU too:
    python scripts/bench_throughput.py --out bench_torch_cuda.csv --scenarios relabelled_bandit_long \
        permuted_cartpole_long --n-envs 1024 4096 --env-device cuda --device cuda --rollouts 8 --repeats 3
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
from syre_rl.experiments.config import check_device_available, policy_optimizer_defaults
from syre_rl.experiments.run import distribution_validation
from syre_rl.experiments.scenarios import load_scenario

PATHS = ("wrapper", "batched")  # the recipe key backend
TORCH_PATHS = ("batched", "torch")  # with --env-device: the batched path on numpy and in torch
COLUMNS = (
    "scenario",
    "path",
    "env_device",
    "device",
    "n_envs",
    "n_steps",
    "batch_size",
    "n_epochs",
    "fused_adam",
    "validate",
    "repeat",
    "timesteps",
    "wall_s",
    "steps_per_s",
    "cpu_s",
    "env_s",
    "forward_s",
    "update_s",
)
TEXT_COLUMNS = frozenset({"scenario", "path", "env_device", "device", "fused_adam", "validate"})
INT_COLUMNS = frozenset({"n_envs", "n_steps", "batch_size", "n_epochs", "repeat", "timesteps"})  # the rest: floats


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


def make_env(path: str, recipe: dict[str, Any], n_envs: int, seed: int, env_device: str = "numpy") -> Any:
    """The run's vector env as the harness builds it, with the recipe's ``backend`` set to ``path`` (``torch``: the
    batched backend with ``env_device`` set to ``env_device``)."""
    scenario = {**recipe, "backend": path}
    if path == "torch":
        scenario.update(backend="batched", env_device=env_device)
    return make_vec_env({"n_envs": n_envs, "scenario_recipe": scenario, "seed": seed})


def one_run(
    path: str,
    recipe: dict[str, Any],
    n_envs: int,
    rollouts: int,
    seed: int,
    env_device: str = "numpy",
    device: str = "cpu",
    fused_adam: bool = False,
    validate: bool = True,
) -> dict[str, Any]:
    """Train ``rollouts`` updates' worth of steps; return the timings.

    :param path: ``wrapper``, ``batched`` (numpy) or ``torch`` (the batched path in torch on ``env_device``).
    :param env_device: torch device of the ``torch`` path (default ``numpy``, unused by the other paths).
    :param device: torch device of the PPO model (default ``cpu``).
    :param fused_adam: build Adam with ``fused=True`` (added to the recipe's ``optimizer_kwargs``; default False).
    :param validate: leave the argument checks of ``torch.distributions`` at torch's default (on); False turns
        them off for this run (default True).
    """
    hp = dict(recipe["hyperparameters"])
    rollout_size = hp["n_steps"] * recipe["n_envs"]
    hp["n_steps"] = max(1, rollout_size // n_envs)
    hp["policy_kwargs"] = build_policy_kwargs(hp.get("policy_kwargs") or {})
    if fused_adam:  # added to the recipe's optimizer_kwargs, or to SB3's own (Adam's eps 1e-5) if it has none
        current = hp["policy_kwargs"].get("optimizer_kwargs")
        if current is None:
            current = policy_optimizer_defaults({"algorithm": "PPO", "policy": "MlpPolicy", "policy_kwargs": {}})
        hp["policy_kwargs"]["optimizer_kwargs"] = {**current, "fused": True}
    env = make_env(path, recipe, n_envs, seed, env_device)
    env_time = time_env_steps(env)
    with distribution_validation(None if validate else False):
        model = PPO("MlpPolicy", env, seed=seed, device=device, **hp)
        timer = PhaseTimer()
        steps = rollouts * hp["n_steps"] * n_envs
        start, cpu_start = time.perf_counter(), time.process_time()
        model.learn(steps, callback=timer)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    env.close()
    env_s = env_time()
    return {
        "path": path,
        "env_device": env_device if path == "torch" else ("numpy" if path == "batched" else ""),
        "device": device,
        "n_envs": n_envs,
        "n_steps": hp["n_steps"],
        "batch_size": hp["batch_size"],
        "n_epochs": hp["n_epochs"],
        "fused_adam": fused_adam,
        "validate": validate,
        "timesteps": int(model.num_timesteps),
        "wall_s": wall,
        "steps_per_s": model.num_timesteps / wall,
        "cpu_s": cpu,
        "env_s": env_s,
        "forward_s": timer.rollout_s - env_s,
        "update_s": wall - timer.rollout_s,
    }


def summary(
    rows: list[dict[str, Any]], recipe_n_envs: dict[str, int], paths: tuple[str, str] = PATHS
) -> list[dict[str, Any]]:
    """Medians over repeats, per scenario and n_envs, with the ratio of steps/s of ``paths[1]`` over ``paths[0]``
    (paired), and ``vs_recipe``: the median over repeats of ``paths[1]`` against ``paths[0]`` at the recipe's
    ``n_envs`` (how runs were made before), each ratio within one round, with its ``vs_recipe_range`` (min, max).
    Shares of wall time are fractions; ``env_steps_per_s`` is samples over the time in the env's ``step``."""
    base_path, other_path = paths
    out = []
    keys = sorted({(r["scenario"], r["n_envs"]) for r in rows}, key=lambda k: (k[0], k[1]))
    for scenario, n_envs in keys:
        line: dict[str, Any] = {"scenario": scenario, "n_envs": n_envs}
        for path in paths:
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
            med["env_steps_per_s"] = statistics.median(r["timesteps"] / r["env_s"] for r in runs)
            cpu = [r["timesteps"] / r["cpu_s"] for r in runs if r.get("cpu_s")]
            med["cpu_steps_per_s"] = statistics.median(cpu) if cpu else float("nan")
            line[path] = med
        line["ratio"] = statistics.median(
            b["steps_per_s"] / w["steps_per_s"]
            for w, b in zip(
                [r for r in rows if (r["scenario"], r["n_envs"], r["path"]) == (scenario, n_envs, base_path)],
                [r for r in rows if (r["scenario"], r["n_envs"], r["path"]) == (scenario, n_envs, other_path)],
                strict=True,
            )
        )
        out.append(line)
    for line in out:
        ratios = vs_recipe_ratios(rows, line["scenario"], line["n_envs"], recipe_n_envs[line["scenario"]], paths)
        line["vs_recipe"] = statistics.median(ratios) if ratios else float("nan")
        line["vs_recipe_range"] = (min(ratios), max(ratios)) if ratios else (float("nan"), float("nan"))
    return out


def vs_recipe_ratios(
    rows: list[dict[str, Any]], scenario: str, n_envs: int, recipe_n_envs: int, paths: tuple[str, str] = PATHS
) -> list[float]:
    """Steps/s of ``paths[1]`` at ``n_envs`` over ``paths[0]`` at the recipe's ``n_envs``, one ratio per repeat that
    has both runs (paired by repeat: both ran in the same round, minutes apart at most)."""
    base_path, other_path = paths

    def by_repeat(path: str, n: int) -> dict[int, float]:
        return {
            r["repeat"]: r["steps_per_s"]
            for r in rows
            if (r["scenario"], r["n_envs"], r["path"]) == (scenario, n, path)
        }

    base, other = by_repeat(base_path, recipe_n_envs), by_repeat(other_path, n_envs)
    return [other[k] / base[k] for k in sorted(base.keys() & other.keys())]


def read_runs(path: Path) -> list[dict[str, Any]]:
    """The rows of a CSV this script wrote, with numbers as numbers; ValueError naming the file if it is not one."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = set(COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path} is not a CSV written by this script: no column {', '.join(sorted(missing))}")
        try:
            return [
                {k: v if k in TEXT_COLUMNS else int(v) if k in INT_COLUMNS else float(v) for k, v in row.items()}
                for row in reader
            ]
        except ValueError as err:
            raise ValueError(f"{path}: a value is not a number ({err})") from None


def pooled_rounds(
    runs_per_file: list[list[dict[str, Any]]], recipe_n_envs: dict[str, int], paths: tuple[str, str] = PATHS
) -> list[dict[str, Any]]:
    """The ratios against the recipe's ``n_envs`` of every round of several script runs (one list of rows per CSV),
    per scenario and ``n_envs``: how many rounds, their median, min and max, and how many reach 3x and 4x."""
    ratios: dict[tuple[str, int], list[float]] = {}
    for rows in runs_per_file:
        for scenario, n_envs in sorted({(r["scenario"], r["n_envs"]) for r in rows}):
            found = vs_recipe_ratios(rows, scenario, n_envs, recipe_n_envs[scenario], paths)
            ratios.setdefault((scenario, n_envs), []).extend(found)
    return [
        {
            "scenario": scenario,
            "n_envs": n_envs,
            "rounds": len(found),
            "median": statistics.median(found),
            "min": min(found),
            "max": max(found),
            "at_least_3x": sum(x >= 3 for x in found),
            "at_least_4x": sum(x >= 4 for x in found),
        }
        for (scenario, n_envs), found in sorted(ratios.items())
        if found
    ]


def print_table(lines: list[dict[str, Any]], paths: tuple[str, str] = PATHS) -> None:
    a, b = paths
    head = (
        f"{'scenario':<24} {'n_envs':>6} {a + '/s':>10} {b + '/s':>10} {'ratio':>6} {'vs rec.':>7}   "
        f"{a + ': env fwd upd':>22}   {b + ': env fwd upd':>22}   {a + ' env/s':>14} {b + ' env/s':>14}   "
        f"{a + ' /cpu-s':>14} {b + ' /cpu-s':>14}"
    )
    print(head)
    print("-" * len(head))
    for line in lines:
        low, high = line["vs_recipe_range"]
        vs_range = f"({low:.2f}-{high:.2f}x)"
        shares = {p: " ".join(f"{100 * line[p][k]:5.1f}%" for k in ("env_s", "forward_s", "update_s")) for p in paths}
        print(
            f"{line['scenario']:<24} {line['n_envs']:>6} {line[a]['steps_per_s']:>10.0f} "
            f"{line[b]['steps_per_s']:>10.0f} {line['ratio']:>5.2f}x {line['vs_recipe']:>6.2f}x {vs_range:>13}   "
            f"{shares[a]:>22}   {shares[b]:>22}   "
            f"{line[a]['env_steps_per_s']:>14.0f} {line[b]['env_steps_per_s']:>14.0f}   "
            f"{line[a]['cpu_steps_per_s']:>14.0f} {line[b]['cpu_steps_per_s']:>14.0f}"
        )
    print(f"(steps/s and ratio: medians over paired repeats; vs rec.: {b} steps/s over the {a} path's at the")
    print(" recipe's n_envs, median and range of the ratios within each round; env / fwd / upd: median shares of")
    print(" wall time in the env's step, the rest of the rollout (policy forward pass, buffer), and the PPO update;")
    print(" env/s: samples per second of time in the env's step;")
    print(" /cpu-s: samples per second of the process's CPU time, which other load on the machine barely changes)")


def print_pooled(files: list[Path]) -> int:
    """Print :func:`pooled_rounds` of the CSVs ``files``; 2 (with the reason) if one is missing or not this script's."""
    runs_per_file = []
    for file in files:
        if not file.is_file():
            print(f"error: --pool: no such file {file}", file=sys.stderr)
            return 2
        try:
            runs_per_file.append(read_runs(file))
        except ValueError as err:
            print(f"error: --pool: {err}", file=sys.stderr)
            return 2
    names = {r["scenario"] for rows in runs_per_file for r in rows}
    torch_pair = any(r["path"] == "torch" for rows in runs_per_file for r in rows)
    try:
        recipe_n_envs = {name: load_scenario(name)["n_envs"] for name in names}
    except ValueError as err:  # a scenario the CSV names that this checkout does not have
        print(f"error: --pool: {err}", file=sys.stderr)
        return 2
    lines = pooled_rounds(runs_per_file, recipe_n_envs, TORCH_PATHS if torch_pair else PATHS)
    print(f"{'scenario':<24} {'n_envs':>6} {'rounds':>6} {'median':>7} {'min-max':>13} {'>= 3x':>6} {'>= 4x':>6}")
    for line in lines:
        print(
            f"{line['scenario']:<24} {line['n_envs']:>6} {line['rounds']:>6} {line['median']:>6.2f}x "
            f"{line['min']:>5.2f}-{line['max']:.2f}x {line['at_least_3x']:>6} {line['at_least_4x']:>6}"
        )
    a, b = TORCH_PATHS if torch_pair else PATHS
    print(f"({b} steps/s over the {a} path's at the recipe's n_envs, within each round; {len(files)} files)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="CSV file to write (must not exist)")
    parser.add_argument(
        "--pool",
        type=Path,
        nargs="+",
        metavar="CSV",
        help="measure nothing: pool the rounds of these CSVs (earlier script runs) and print the ratios against the "
        "recipe's n_envs over all of them",
    )
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
    parser.add_argument(
        "--env-device",
        default=None,
        help="compare the batched path on numpy with the batched path in torch on this device (cpu, cuda, cuda:N); "
        "default: compare the wrapper and batched (numpy) paths",
    )
    parser.add_argument("--device", default="cpu", help="torch device of the PPO model (default cpu)")
    parser.add_argument(
        "--fused-adam", action="store_true", help="every run builds Adam with fused=True (both paths alike)"
    )
    parser.add_argument(
        "--no-validate",
        action="store_true",
        help="every run turns off the argument checks of torch.distributions (both paths alike)",
    )
    args = parser.parse_args(argv)
    if args.pool:
        return print_pooled(args.pool)
    if args.out is None:
        print("error: --out is required (a CSV file to write), unless --pool is given", file=sys.stderr)
        return 2
    if args.out.exists():
        print(f"error: {args.out} exists; not overwriting it", file=sys.stderr)
        return 2
    if args.rollouts < 1 or args.repeats < 1:
        print("error: --rollouts and --repeats must be >= 1", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    paths = PATHS if args.env_device is None else TORCH_PATHS
    env_device = args.env_device or "numpy"
    speedups = {"fused_adam": args.fused_adam, "validate": not args.no_validate}
    try:
        if args.env_device is not None and args.env_device in ("numpy", "auto"):
            raise ValueError(f"--env-device must name a torch device (cpu, cuda, cuda:N), got {args.env_device!r}")
        check_device_available(args.device)
        recipes = {name: load_scenario(name) for name in args.scenarios}
        for path in paths:  # warm up torch, the imports and the devices (and check them)
            one_run(path, recipes[args.scenarios[0]], 4, 1, args.seed, env_device, args.device, **speedups)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows: list[dict[str, Any]] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("x", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        # Rounds: every setting once per repeat, so each ratio against the recipe's n_envs pairs runs made within
        # one round, and a drift of the machine's speed between rounds cancels.
        settings = [
            (name, n_envs)
            for name, recipe in recipes.items()
            for n_envs in sorted(set(args.n_envs or [recipe["n_envs"], 64, 256]))
        ]
        for repeat in range(args.repeats):
            for i, (name, n_envs) in enumerate(settings):
                for path in paths if (repeat + i) % 2 == 0 else paths[::-1]:
                    row = {
                        "scenario": name,
                        "repeat": repeat,
                        **one_run(
                            path, recipes[name], n_envs, args.rollouts, args.seed, env_device, args.device, **speedups
                        ),
                    }
                    rows.append(row)
                    writer.writerow(row)
                    f.flush()
                    print(
                        f"{name} {path:>7} n_envs={n_envs:<4} repeat {repeat}: {row['steps_per_s']:.0f} steps/s",
                        file=sys.stderr,
                    )
    print_table(summary(rows, {name: recipe["n_envs"] for name, recipe in recipes.items()}, paths), paths)
    on = [
        name for name, flag in (("fused Adam", args.fused_adam), ("no distribution checks", args.no_validate)) if flag
    ]
    print(f"(update speed-ups on both paths: {', '.join(on) if on else 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
