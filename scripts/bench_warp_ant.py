#!/usr/bin/env python
"""Steps per second of the batched Ant on MuJoCo Warp (the slippery_ant_gpu scenario), environment alone, at
several numbers of parallel worlds, and the projected time of a 20M-step run at that rate.

    python scripts/bench_warp_ant.py --n-envs 1024 4096 8192 --steps 200 --device cuda [--out bench_warp_ant.csv]

Each size: build the env (kernel compilation is timed apart), step ``--warmup`` times, then time ``--steps``
vector steps of uniform random actions through the SB3 face (numpy at the boundary, as PPO sees it). Needs the
extra ``gpu`` (``pip install "syre-rl[gpu]"``); on Warp's CPU device it runs, slowly (use small sizes). SyrePPO end
to end is measured by ``scripts/train.py --env slippery_ant_gpu --device cuda`` (see scripts/gpu_checks.py).
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

from syre_rl.experiments.cli import OneLineParser, int_at_least

RUN_STEPS = 20_000_000


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-envs", type=int_at_least(1), nargs="+", default=[1024, 4096, 8192])
    parser.add_argument("--steps", type=int_at_least(1), default=200, help="timed vector steps (default 200)")
    parser.add_argument("--warmup", type=int_at_least(0), default=20, help="untimed vector steps (default 20)")
    parser.add_argument("--device", default=None, help="Warp device, e.g. cuda:0 or cpu (default: Warp's default)")
    parser.add_argument("--out", type=Path, default=None, help="CSV of the results (must not exist)")
    args = parser.parse_args(argv)
    if args.out is not None and args.out.exists():
        parser.fail(f"--out {str(args.out)!r} exists; not overwriting it")

    import numpy as np

    from syre_rl.experiments.scenarios import load_scenario
    from syre_rl.nonstationary.warp.vec_env import make_warp_vec_env

    recipe = load_scenario("slippery_ant_gpu")
    rows = []
    for n in args.n_envs:
        start = time.perf_counter()
        try:
            env = make_warp_vec_env(recipe, seed=0, n_envs=n, device=args.device)
        except (ImportError, ValueError) as exc:
            parser.fail(exc)
        env.reset()
        rng = np.random.default_rng(0)
        low, high = env.action_space.low, env.action_space.high
        for _ in range(args.warmup):
            env.step(rng.uniform(low, high, size=(n, *low.shape)).astype(np.float32))
        setup = time.perf_counter() - start
        actions = [rng.uniform(low, high, size=(n, *low.shape)).astype(np.float32) for _ in range(args.steps)]
        start = time.perf_counter()
        for a in actions:
            env.step(a)
        seconds = time.perf_counter() - start
        env.close()
        rate = n * args.steps / seconds
        row = {
            "n_envs": n,
            "device": args.device or "default",
            "steps_per_second": round(rate),
            "setup_seconds": round(setup, 1),
            "projected_minutes_20M_env_only": round(RUN_STEPS / rate / 60, 1),
        }
        rows.append(row)
        print(
            f"{n} worlds: {rate:.0f} env steps/s ({args.steps} vector steps in {seconds:.2f} s; set-up and warm-up "
            f"{setup:.1f} s); 20M env steps alone: {RUN_STEPS / rate / 60:.1f} min",
            flush=True,
        )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
