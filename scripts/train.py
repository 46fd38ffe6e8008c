#!/usr/bin/env python
"""Train one agent on one scenario into a run folder.

    python scripts/train.py --agent syre_ppo --env permuted_cartpole --seed 0 [--steps N] [--device auto|cpu|cuda]
        [--out DIR] [--set key=value ...] [--resume | --overwrite]

The run folder (default ``runs/<env>/<agent>/seed_<seed>``) receives config.yaml, tb/, metrics.csv, episodes.csv,
tasks.csv, checkpoints/, model.zip and a ``done`` marker. An existing run folder is only touched with ``--resume``
(continue from the newest checkpoint) or ``--overwrite``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", required=True, help="agent recipe name (agents/NAME.yaml) or a YAML path")
    parser.add_argument("--env", required=True, help="scenario recipe name (envs/NAME.yaml) or a YAML path")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--steps", type=int, default=None, help="environment steps (default: the scenario's)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default runs/<env>/<agent>/seed_<seed>)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a hyperparameter, e.g. --set learning_rate=1e-4 --set policy_kwargs.net_arch=[32,32]",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue an existing run folder from its last checkpoint")
    mode.add_argument("--overwrite", action="store_true", help="delete an existing run folder first")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    from syre_rl.experiments.config import resolve_config
    from syre_rl.experiments.run import RunExistsError, default_run_dir, train

    try:
        config = resolve_config(
            args.agent, args.env, seed=args.seed, overrides=args.overrides, total_steps=args.steps, device=args.device
        )
    except ValueError as exc:
        parser.error(str(exc))
    run_dir = args.out if args.out is not None else default_run_dir(config)

    import torch

    torch.set_num_threads(max(1, args.threads))
    start = time.perf_counter()
    try:
        train(config, run_dir, resume=args.resume, overwrite=args.overwrite, progress_bar=not args.no_progress)
    except RunExistsError as exc:
        parser.error(f"{exc} (pass --resume or --overwrite)")
    print(
        f"finished {config['agent']} on {config['scenario']} (seed {config['seed']}, {config['total_steps']} steps) "
        f"in {time.perf_counter() - start:.1f} s: {run_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
