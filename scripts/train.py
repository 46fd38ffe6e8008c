#!/usr/bin/env python
"""Train one agent on one scenario into a run folder.

    python scripts/train.py --agent syre_ppo --env permuted_cartpole --seed 0 [--steps N] [--device auto|cpu|cuda]
        [--out DIR] [--set key=value ...] [--resume | --overwrite]

The run folder (default ``runs/<env>/<agent>/seed_<seed>``) receives config.yaml, tb/, metrics.csv, episodes.csv,
tasks.csv, checkpoints/, model.zip and a ``done`` marker. An existing run folder is only touched with ``--resume``
(continue from the newest checkpoint) or ``--overwrite`` (only a folder holding nothing but a run's files). A user
error is one line on stderr with exit status 2; a start that fails before its first checkpoint leaves the folder as
it found it.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from syre_rl.experiments.cli import OneLineParser, int_at_least


def build_parser() -> OneLineParser:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", required=True, help="agent recipe name (agents/NAME.yaml) or a YAML path")
    parser.add_argument("--env", required=True, help="scenario recipe name (envs/NAME.yaml) or a YAML path")
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="seed (default 0)")
    parser.add_argument(
        "--steps", type=int_at_least(1), default=None, help="environment steps (default: the scenario's)"
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default auto)")
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
    parser.add_argument("--threads", type=int_at_least(1), default=1, help="torch CPU threads (default 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Notices such as "checkpoint step_N is damaged; resuming from step_M" are one line, without the source line.
    warnings.formatwarning = lambda message, category, *_args, **_kwargs: f"{category.__name__}: {message}\n"

    from syre_rl.experiments.config import check_device_available, resolve_config
    from syre_rl.experiments.run import RunExistsError, default_run_dir, train

    try:
        config = resolve_config(
            args.agent, args.env, seed=args.seed, overrides=args.overrides, total_steps=args.steps, device=args.device
        )
        check_device_available(config["device"])
    except (ValueError, OSError) as exc:
        parser.fail(exc)
    run_dir = args.out if args.out is not None else default_run_dir(config)
    if run_dir.exists() and not run_dir.is_dir():
        parser.fail(f"--out {str(run_dir)!r} is a file; a run folder is a folder")

    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    try:
        train(config, run_dir, resume=args.resume, overwrite=args.overwrite, progress_bar=not args.no_progress)
    except RunExistsError as exc:
        parser.fail(f"{exc} (pass --resume or --overwrite)")
    except (ValueError, OSError) as exc:  # a bad value caught by SB3, torch or the env, or a folder we cannot use
        parser.fail(exc)
    print(
        f"finished {config['agent']} on {config['scenario']} (seed {config['seed']}, {config['total_steps']} steps) "
        f"in {time.perf_counter() - start:.1f} s: {run_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
