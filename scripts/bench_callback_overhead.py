"""Measure what PlasticityCallback costs at its default cadence: PPO with and without it, in paired runs.

For every seed, PPO trains twice on the same environment with the same seed and hyperparameters, once plain and once
with ``PlasticityCallback`` at its defaults, one run right after the other; the order alternates between seeds so
that drifts in machine load hit both sides. The callback does not touch the random streams of training, so both runs
of a pair train identically and differ only by the measurement work. The figure is the time ratio
``with / without`` of ``learn()`` per pair, in wall-clock seconds and in CPU seconds of the process (less disturbed by
other programs sharing the machine); the median, minimum and maximum over pairs are printed and every run is written
to a CSV. The callback also times itself (``overhead_seconds``: measurements, per-step bookkeeping, gradient-norm
hooks); its share of the run's wall time is printed too, a figure much less noisy than the pair ratios when the
machine is shared. The hyperparameters (RL Zoo's CartPole settings with 4 envs x 64 steps per rollout, batch 128, 10
epochs) give small rollouts, the least favourable case for a cadence counted in rollouts.

Reproduce the README figure:
    python scripts/bench_callback_overhead.py --steps 25600 --seeds 0 1 2 3 4 5
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
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

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


def timed_run(env_id: str, n_envs: int, steps: int, seed: int, with_callback: bool) -> dict[str, float]:
    """Train once; return wall and CPU seconds of ``learn`` and, with the callback, its self-timed cost."""
    model = PPO("MlpPolicy", make_vec_env(env_id, n_envs=n_envs, seed=seed), seed=seed, device="cpu", **HYPERPARAMETERS)
    with tempfile.TemporaryDirectory() as log_dir:
        callback = PlasticityCallback(log_dir) if with_callback else None
        start, start_cpu = time.perf_counter(), time.process_time()
        model.learn(steps, callback=callback)
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "callback_s": callback.overhead_seconds if callback else 0.0,
        "measurements": callback.n_measurements if callback else 0,
    }


def _describe(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f}  (min {min(values):.3f}, max {max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1", help="gymnasium id (default CartPole-v1)")
    parser.add_argument("--n-envs", type=int, default=4, help="parallel envs (default 4)")
    parser.add_argument("--steps", type=int, default=25_600, help="environment steps per run (default 25600)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3], help="one pair per seed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", default="results/bench_callback_overhead.csv", help="CSV of every run")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    args = parser.parse_args()
    if args.steps < 1 or args.n_envs < 1 or args.threads < 1:
        parser.error("--steps, --n-envs and --threads must be >= 1")
    torch.set_num_threads(args.threads)
    timed_run(args.env, args.n_envs, 2_000, 123, True)  # warm-up: imports, allocator, first-call costs

    rows = []
    for k, seed in enumerate(args.seeds):
        order = (False, True) if k % 2 == 0 else (True, False)
        for with_callback in order:
            result = timed_run(args.env, args.n_envs, args.steps, seed, with_callback)
            rows.append({"seed": seed, "callback": with_callback, **result})
            print(f"seed {seed} callback={with_callback!s:5}  wall {result['wall_s']:.2f}s  cpu {result['cpu_s']:.2f}s")

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        parser.error(f"--out {out} exists; pass --overwrite to replace it or choose another path")
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
    setting = f"{args.n_envs} envs, {args.steps} steps, {len(args.seeds)} pairs, {measurements} measurements"
    print(f"\nPPO on {args.env}, {setting}")
    print(f"time ratio with / without callback, wall: {_describe(wall)}")
    print(f"time ratio with / without callback, CPU:  {_describe(cpu)}")
    print(f"time inside the callback / wall:          {_describe(own)}")
    print(f"runs written to {out}")


if __name__ == "__main__":
    main()
