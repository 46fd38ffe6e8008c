"""Measure what PlasticityCallback costs at its default cadence: PPO (or SAC, TD3, DQN) with and without it, in
paired runs.

For every seed, the algorithm trains twice on the same environment with the same seed and hyperparameters, once plain
and once with ``PlasticityCallback`` at its defaults, one run right after the other; the order alternates between
seeds so that drifts in machine load hit both sides. The callback does not touch the random streams of on-policy
training, so both PPO runs of a pair train identically and differ only by the measurement work. The figure is the
time ratio ``with / without`` of ``learn()`` per pair, in wall-clock seconds and in CPU seconds of the process (less
disturbed by other programs sharing the machine); the median, minimum and maximum over pairs are printed and every
run is written to a CSV. The callback also times itself (``overhead_seconds``: measurements, per-step bookkeeping,
gradient-norm hooks); its share of the run's wall time is printed too, a figure much less noisy than the pair ratios
when the machine is shared. The hyperparameters (RL Zoo's CartPole settings with 4 envs x 64 steps per rollout, batch
128, 10 epochs) give small rollouts, the least favourable case for a cadence counted in rollouts.

``--algorithm sac|td3|dqn`` measures an off-policy algorithm instead: one env (Pendulum-v1 for SAC and TD3,
CartPole-v1 for DQN), SB3's defaults except a [64, 64] MLP, a 50k replay buffer and one gradient step per env step
(``train_freq=1``: every env step is a "rollout", the least favourable case for the per-rollout bookkeeping). At the
default cadence the callback measures after the first step and then every 2048 env steps, on a batch of 1024
transitions drawn from the replay buffer; the buffer samples with numpy's global generator, as in training, so after
the first measurement the two runs of a pair draw different training batches (the work per step is the same on
Pendulum, whose episodes have a fixed length). Their runs are short, so by default the two runs of a pair advance in
turns of 200 env steps (``--chunk``; each ``learn`` call continues the run with the same callback), the run that goes
first alternating from turn to turn, so that both meet the same machine load. For these a markdown summary table is
written next to the CSV.

Reproduce the README figure:
    python scripts/bench_callback_overhead.py --steps 25600 --seeds 0 1 2 3 4 5
Off-policy (the sizes measured on a shared 2-core machine: one measurement on a replay batch per run, after step
2048; the defaults, 4200 steps x 4 pairs, give two):
    python scripts/bench_callback_overhead.py --algorithm sac --steps 2100 --seeds 0 1
    python scripts/bench_callback_overhead.py --algorithm dqn --steps 2100 --seeds 0 1
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from stable_baselines3 import DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env

from syre_rl.experiments.paired import advance_in_turn
from syre_rl.plasticity import PlasticityCallback

HYPERPARAMETERS: dict[str, Any] = dict(
    n_steps=64,
    batch_size=128,
    n_epochs=10,
    learning_rate=1e-3,
    gamma=0.98,
    gae_lambda=0.8,
    policy_kwargs=dict(net_arch=[64, 64], activation_fn=torch.nn.ReLU),
)
# algorithm -> (class, default env, default n_envs, default steps)
ALGORITHMS: dict[str, tuple[type[BaseAlgorithm], str, int, int]] = {
    "ppo": (PPO, "CartPole-v1", 4, 25_600),
    "sac": (SAC, "Pendulum-v1", 1, 4_200),
    "td3": (TD3, "Pendulum-v1", 1, 4_200),
    "dqn": (DQN, "CartPole-v1", 1, 4_200),
}
# Off-policy settings: SB3's defaults, except a small MLP, a smaller buffer and one gradient step per env step.
OFF_POLICY_HYPERPARAMETERS: dict[str, Any] = dict(
    buffer_size=50_000, learning_starts=100, train_freq=1, gradient_steps=1, policy_kwargs=dict(net_arch=[64, 64])
)
# Target: the callback adds less than this fraction of the run's time.
TARGET_OVERHEAD = 0.05


class TimedRun:
    """One run, trained by one or several ``learn`` calls (each continuing the run, with the same callback) whose
    wall-clock and CPU seconds add up.

    :param env_id: gymnasium id.
    :param n_envs: parallel envs.
    :param seed: seed of the algorithm and its envs.
    :param with_callback: train with ``PlasticityCallback``, writing into ``log_dir``.
    :param log_dir: the callback's folder.
    :param algorithm: ``ppo``, ``sac``, ``td3`` or ``dqn``.
    :param every_n_rollouts: the callback's cadence; None: its default.
    """

    def __init__(
        self,
        env_id: str,
        n_envs: int,
        seed: int,
        with_callback: bool,
        log_dir: str,
        algorithm: str = "ppo",
        every_n_rollouts: int | None = None,
    ) -> None:
        algorithm_class = ALGORITHMS[algorithm][0]
        hyperparameters = HYPERPARAMETERS if algorithm == "ppo" else OFF_POLICY_HYPERPARAMETERS
        env = make_vec_env(env_id, n_envs=n_envs, seed=seed)
        self.model = algorithm_class("MlpPolicy", env, seed=seed, device="cpu", **hyperparameters)
        self.callback = PlasticityCallback(log_dir, every_n_rollouts=every_n_rollouts) if with_callback else None
        self.wall = self.cpu = 0.0

    def advance(self, steps: int) -> None:
        """Train ``steps`` more environment steps (the first call starts the run).

        :param steps: environment steps of this call.
        """
        first = self.model.num_timesteps == 0
        start, start_cpu = time.perf_counter(), time.process_time()
        self.model.learn(steps, callback=self.callback, reset_num_timesteps=first)
        self.wall += time.perf_counter() - start
        self.cpu += time.process_time() - start_cpu

    def result(self) -> dict[str, float]:
        """Wall and CPU seconds of ``learn`` and, with the callback, its self-timed cost and its measurements."""
        return {
            "wall_s": self.wall,
            "cpu_s": self.cpu,
            "callback_s": self.callback.overhead_seconds if self.callback else 0.0,
            "measurements": self.callback.n_measurements if self.callback else 0,
        }


def timed_run(
    env_id: str,
    n_envs: int,
    steps: int,
    seed: int,
    with_callback: bool,
    algorithm: str = "ppo",
    every_n_rollouts: int | None = None,
) -> dict[str, float]:
    """Train once, in one ``learn`` call; return :meth:`TimedRun.result`.

    :param env_id: gymnasium id.
    :param n_envs: parallel envs.
    :param steps: environment steps.
    :param seed: seed of the algorithm and its envs.
    :param with_callback: train with ``PlasticityCallback``.
    :param algorithm: ``ppo``, ``sac``, ``td3`` or ``dqn``.
    :param every_n_rollouts: the callback's cadence; None: its default.
    """
    with tempfile.TemporaryDirectory() as log_dir:
        run = TimedRun(env_id, n_envs, seed, with_callback, log_dir, algorithm, every_n_rollouts)
        run.advance(steps)
    return run.result()


def run_pair(
    env_id: str,
    n_envs: int,
    steps: int,
    seed: int,
    order: tuple[bool, bool],
    algorithm: str,
    every_n_rollouts: int | None,
    chunk: int,
) -> dict[bool, dict[str, float]]:
    """Train both runs of a pair; return :meth:`TimedRun.result` by ``with_callback``.

    :param env_id: gymnasium id.
    :param n_envs: parallel envs.
    :param steps: environment steps of each run.
    :param seed: seed of both runs.
    :param order: ``with_callback`` of the run that trains first (whole runs, or the first chunk), then the other.
    :param algorithm: ``ppo``, ``sac``, ``td3`` or ``dqn``.
    :param every_n_rollouts: the callback's cadence; None: its default.
    :param chunk: 0: each run whole, one after the other; else both runs advance by ``chunk`` steps in turn, the
        run that goes first alternating from chunk to chunk, so that both meet the same machine load.
    """
    if chunk <= 0:
        return {w: timed_run(env_id, n_envs, steps, seed, w, algorithm, every_n_rollouts) for w in order}
    with tempfile.TemporaryDirectory() as log_dir:
        runs = {w: TimedRun(env_id, n_envs, seed, w, log_dir, algorithm, every_n_rollouts) for w in order}
        advance_in_turn(runs, order, steps, chunk)
    return {w: runs[w].result() for w in order}


def _describe(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f}  (min {min(values):.3f}, max {max(values):.3f})"


def write_table(path: Path, title: str, ratios: dict[str, list[float]]) -> None:
    """Write the summary as a markdown table.

    :param path: the ``.md`` file.
    :param title: the line above the table (algorithm, env, sizes).
    :param ratios: per measure (``"wall"``, ``"CPU"``, ``"inside"``), one value per pair.
    """
    labels = {
        "wall": "time ratio with / without, wall",
        "CPU": "time ratio with / without, CPU",
        "inside": "time inside the callback / wall",
    }
    lines = [title, "", "| measure | pairs | median | min | max | overhead < 5% |", "|---|---|---|---|---|---|"]
    for key, values in ratios.items():
        median = statistics.median(values)
        overhead = median if key == "inside" else median - 1.0
        met = "yes" if overhead < TARGET_OVERHEAD else "no"
        lines.append(
            f"| {labels[key]} | {len(values)} | {median:.3f} | {min(values):.3f} | {max(values):.3f} | {met} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Run the paired benchmark (see the module docstring).

    :param argv: command-line arguments; default ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithm", choices=sorted(ALGORITHMS), default="ppo", help="the algorithm (default ppo)")
    parser.add_argument("--env", default=None, help="gymnasium id (default CartPole-v1; Pendulum-v1 for sac, td3)")
    parser.add_argument("--n-envs", type=int, default=None, help="parallel envs (default 4 for ppo, 1 otherwise)")
    parser.add_argument(
        "--steps", type=int, default=None, help="environment steps per run (default 25600 for ppo, 4200 otherwise)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3], help="one pair per seed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--out",
        default=None,
        help="CSV of every run (default results/bench_callback_overhead.csv for ppo, "
        "results/bench_offpolicy/bench_callback_overhead_<algorithm>.csv otherwise)",
    )
    parser.add_argument(
        "--chunk",
        type=int,
        default=None,
        help="interleave the two runs of a pair in chunks of this many env steps, the run going first alternating "
        "(each learn() call continues the run); 0: whole runs one after the other (default 0 for ppo, 200 otherwise)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run to test the script: one short pair, no warm-up; off-policy, a measurement every 64 steps",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    args = parser.parse_args(argv)
    _, default_env, default_n_envs, default_steps = ALGORITHMS[args.algorithm]
    off_policy = args.algorithm != "ppo"
    env_id = args.env or default_env
    n_envs = args.n_envs or default_n_envs
    warmup, every_n_rollouts = 2_000, None
    if off_policy:  # a shorter warm-up, with one measurement on replay data and a watched update
        warmup = OFF_POLICY_HYPERPARAMETERS["learning_starts"] + 200
    if args.smoke:
        args.steps = args.steps or (128 if off_policy else 512)
        args.seeds, warmup = args.seeds[:1], 0
        every_n_rollouts = 64 if off_policy else None
    steps = args.steps or default_steps
    chunk = (200 if off_policy else 0) if args.chunk is None else args.chunk
    if steps < 1 or n_envs < 1 or args.threads < 1:
        parser.error("--steps, --n-envs and --threads must be >= 1")
    if args.out is None:
        default_out = f"results/bench_offpolicy/bench_callback_overhead_{args.algorithm}.csv"
        args.out = default_out if off_policy else "results/bench_callback_overhead.csv"
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        parser.error(f"--out {out} exists; pass --overwrite to replace it or choose another path")
    torch.set_num_threads(args.threads)
    if warmup:  # warm-up: imports, allocator, first-call costs
        timed_run(env_id, n_envs, warmup, 123, True, args.algorithm, 128 if off_policy else None)

    rows = []
    for k, seed in enumerate(args.seeds):
        order = (False, True) if k % 2 == 0 else (True, False)
        results = run_pair(env_id, n_envs, steps, seed, order, args.algorithm, every_n_rollouts, chunk)
        for with_callback in order:
            result = results[with_callback]
            row: dict[str, Any] = {"algorithm": args.algorithm} if off_policy else {}
            rows.append({**row, "seed": seed, "callback": with_callback, **result})
            print(f"seed {seed} callback={with_callback!s:5}  wall {result['wall_s']:.2f}s  cpu {result['cpu_s']:.2f}s")

    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    by_pair = {(r["seed"], r["callback"]): r for r in rows}
    wall = [by_pair[(s, True)]["wall_s"] / by_pair[(s, False)]["wall_s"] for s in args.seeds]
    cpu = [by_pair[(s, True)]["cpu_s"] / by_pair[(s, False)]["cpu_s"] for s in args.seeds]
    own = [by_pair[(s, True)]["callback_s"] / by_pair[(s, True)]["wall_s"] for s in args.seeds]
    measurements = by_pair[(args.seeds[0], True)]["measurements"]
    setting = f"{n_envs} envs, {steps} steps, {len(args.seeds)} pairs, {measurements} measurements"
    name = ALGORITHMS[args.algorithm][0].__name__
    print(f"\n{name} on {env_id}, {setting}")
    print(f"time ratio with / without callback, wall: {_describe(wall)}")
    print(f"time ratio with / without callback, CPU:  {_describe(cpu)}")
    print(f"time inside the callback / wall:          {_describe(own)}")
    print(f"runs written to {out}")
    if off_policy:
        table = out.with_suffix(".md")
        cadence = "default cadence" if every_n_rollouts is None else f"every {every_n_rollouts} rollouts"
        title = f"PlasticityCallback ({cadence}) on {name}, {env_id}: {setting}; target: overhead < 5%"
        write_table(table, title, {"wall": wall, "CPU": cpu, "inside": own})
        print(f"summary table written to {table}")


if __name__ == "__main__":
    main()
