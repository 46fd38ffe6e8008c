"""Measure what syre costs in training: SyrePPO against PPO with the same plain weight decay.

Paired runs: for every seed, PPO with Adam(weight_decay=gamma) and SyrePPO(weight_decay=gamma) train on the
same environment with the same seed and hyperparameters, one after the other (order alternating between seeds, so
drifts of machine load hit both sides). The figure is the ratio of environment steps per second,
SyrePPO / PPO, per pair, measured both per wall-clock second and per CPU second of the training process; the script
reports the median, minimum and maximum of each, and writes every run to a CSV.

Reproduce the README figure (2 CPU cores):
    python scripts/bench_syre_speed.py --env CartPole-v1 --steps 30000 --seeds 0 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from syre_rl import SyrePPO


def timed_run(
    algorithm: str, env_id: str, steps: int, seed: int, weight_decay: float, device: str
) -> tuple[float, float, float]:
    """Train once; return environment steps per wall-clock second and per CPU second of ``learn``, and the share of
    wall time spent inside syre's decay hook (0 for PPO).

    CPU time of this process is less disturbed than wall time by other programs sharing the machine; the hook's own
    share is the most precise figure of syre's added cost, since it does not depend on the two runs' trajectories.
    """
    env = make_vec_env(env_id, n_envs=4, seed=seed)
    common = dict(n_steps=256, batch_size=256, n_epochs=4, seed=seed, device=device, policy_kwargs={})
    if algorithm == "ppo_l2":
        common["policy_kwargs"] = dict(optimizer_kwargs=dict(eps=1e-5, weight_decay=weight_decay))
        model = PPO("MlpPolicy", env, **common)
    else:
        model = SyrePPO("MlpPolicy", env, weight_decay=weight_decay, **common)
    hook_seconds = [0.0]
    if algorithm == "syre_ppo":
        apply = model.policy.syre.apply

        def timed_apply(optimizer: torch.optim.Optimizer) -> None:
            t0 = time.perf_counter()
            apply(optimizer)
            hook_seconds[0] += time.perf_counter() - t0

        model.policy.syre.apply = timed_apply  # type: ignore[method-assign]
    start, start_cpu = time.perf_counter(), time.process_time()
    model.learn(steps)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    return model.num_timesteps / wall, model.num_timesteps / cpu, hook_seconds[0] / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1", help="gymnasium id (default CartPole-v1)")
    parser.add_argument("--steps", type=int, default=50_000, help="environment steps per run (default 50000)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="one pair per seed")
    parser.add_argument("--weight-decay", type=float, default=0.002, help="gamma for both sides (default 0.002)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", default="results/bench_syre_speed.csv", help="CSV of every run")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    args = parser.parse_args()
    if Path(args.out).exists() and not args.overwrite:
        parser.error(f"--out {args.out} exists; pass --overwrite to replace it or choose another path")
    torch.set_num_threads(args.threads)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows, ratios, cpu_ratios = [], [], []
    timed_run("syre_ppo", args.env, 2048, 0, args.weight_decay, args.device)  # warm-up: imports, allocator, caches
    for i, seed in enumerate(args.seeds):
        order = ["ppo_l2", "syre_ppo"] if i % 2 == 0 else ["syre_ppo", "ppo_l2"]
        sps = {name: timed_run(name, args.env, args.steps, seed, args.weight_decay, args.device) for name in order}
        ratios.append(sps["syre_ppo"][0] / sps["ppo_l2"][0])
        cpu_ratios.append(sps["syre_ppo"][1] / sps["ppo_l2"][1])
        for name in order:
            wall, cpu, hook_share = sps[name]
            row = dict(env=args.env, device=args.device, seed=seed, algorithm=name, steps=args.steps)
            rows.append(
                {
                    **row,
                    "steps_per_wall_s": round(wall, 1),
                    "steps_per_cpu_s": round(cpu, 1),
                    "decay_hook_share": round(hook_share, 5),
                }
            )
        print(
            f"seed {seed}: ppo_l2 {sps['ppo_l2'][0]:.0f} steps/s, syre_ppo {sps['syre_ppo'][0]:.0f} steps/s, "
            f"ratio {ratios[-1]:.3f} (per CPU second {cpu_ratios[-1]:.3f})",
            flush=True,
        )
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\n{args.env}, {args.steps} steps x {len(args.seeds)} paired seeds, device {args.device}")
    for label, values in (("per wall-clock second", ratios), ("per CPU second", cpu_ratios)):
        print(
            f"steps/s ratio SyrePPO / PPO+L2, {label}: median {statistics.median(values):.3f}, "
            f"min {min(values):.3f}, max {max(values):.3f}"
        )
    shares = [r["decay_hook_share"] for r in rows if r["algorithm"] == "syre_ppo"]
    print(f"time inside syre's decay hook: median {100 * statistics.median(shares):.2f}% of SyrePPO's wall time")
    print(f"runs written to {out}")


if __name__ == "__main__":
    main()
