#!/usr/bin/env python
"""Run agents x scenarios x seeds, then write summary.csv and print the summary table.

    python scripts/benchmark.py --agents ppo ppo_l2 syre_ppo --envs relabelled_bandit --seeds 3 --out results/bench
        [--first-seed 0]
        [--steps N] [--set key=value ...] [--sweep [AGENT,...:]KEY=V1,V2,... ...]
        [--backend local|ray] [--workers N] [--address ADDR] [--reference NAME|none]

Rerunning the same command skips finished runs and resumes interrupted ones; a failing run is reported with its
error and the others go on.

A sweep ``--sweep weight_decay=0.001,0.01`` runs every agent asked for once per value (not the reference);
``--sweep syre_ppo,ppo_l2:weight_decay=0.01,0.05`` only those agents; several sweeps run their product. Values are
typed like ``--set`` values (``[8, 8],[16, 16]`` are two lists). A variant's runs go to
``<scenario>/<agent>[<key>=<value>,...]/seed_<seed>`` and are summarised as ``agent [key=value, ...]``.

An intervention that cannot act in the planned runs (e.g. continual backprop maturing after the run's last
gradient step) is warned about before the runs start, and one that never acted is warned about in the summary.
"""

from __future__ import annotations

import sys
from pathlib import Path

from syre_rl.experiments.cli import OneLineParser, int_at_least, non_negative_float, print_result, report_failures


def build_parser() -> OneLineParser:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", nargs="+", default=[], help="agent recipe names")
    parser.add_argument("--envs", nargs="+", default=[], help="scenario recipe names")
    parser.add_argument(
        "--seeds", type=int_at_least(1), default=3, help="number of seeds per agent and scenario (default 3)"
    )
    parser.add_argument(
        "--first-seed", type=int_at_least(0), default=0, help="seeds are first-seed .. first-seed+seeds-1"
    )
    parser.add_argument("--out", type=Path, required=True, help="benchmark folder")
    parser.add_argument(
        "--steps", type=int_at_least(1), default=None, help="environment steps per run (default: the scenario's)"
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--sweep",
        dest="sweeps",
        action="append",
        default=[],
        metavar="[AGENT,...:]KEY=V1,V2",
        help="run each value of a --set key (agents asked for, or those named); several sweeps: their product",
    )
    parser.add_argument("--device", default="cpu", help="torch device of every run (default cpu)")
    parser.add_argument("--backend", choices=["local", "ray"], default="local")
    parser.add_argument("--workers", type=int_at_least(1), default=None, help="local pool size (default: CPU cores)")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray instance)")
    parser.add_argument(
        "--gpus-per-run", type=non_negative_float, default=0.0, help="Ray: GPUs reserved per run (default 0)"
    )
    parser.add_argument(
        "--reference",
        default="auto",
        help="reset-reference agent added to the grid (default ppo_reset when it exists; 'none' for no reference)",
    )
    parser.add_argument("--summary-only", action="store_true", help="only summarise the finished runs in --out")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    from syre_rl.analysis.report import idle_warnings, print_table, write_summary
    from syre_rl.experiments.config import check_device_available, parse_overrides
    from syre_rl.experiments.firing import plan_warnings
    from syre_rl.experiments.grid import plan_grid, run_benchmark
    from syre_rl.experiments.sweeps import parse_sweep
    from syre_rl.run_layout import SUMMARY_FILE

    reference = None if args.reference.lower() == "none" else args.reference
    if not args.summary_only and not (args.agents and args.envs):
        parser.fail("--agents and --envs are required (unless --summary-only)")
    if args.out.exists() and not args.out.is_dir():
        parser.fail(f"--out {str(args.out)!r} is a file; a benchmark folder is a folder")
    if args.summary_only and not args.out.is_dir():
        parser.fail(f"--summary-only: benchmark folder {str(args.out)!r} does not exist")
    if not args.summary_only:
        try:
            if args.backend == "local" or args.gpus_per_run == 0:
                check_device_available(args.device)  # a Ray cluster's nodes may have devices this machine lacks
            specs = plan_grid(
                args.agents,
                args.envs,
                range(args.first_seed, args.first_seed + args.seeds),
                reference=reference,
                overrides=parse_overrides(args.overrides),
                total_steps=args.steps,
                device=args.device,
                sweeps=[parse_sweep(text) for text in args.sweeps],
            )
            for line in plan_warnings(specs):
                print(f"warning: {line}", file=sys.stderr)
        except (ValueError, OSError) as exc:
            parser.fail(exc)
        print(f"{len(specs)} runs into {args.out} ({args.backend} backend)", flush=True)

        results = run_benchmark(
            specs,
            args.out,
            backend=args.backend,
            workers=args.workers,
            address=args.address,
            gpus_per_run=args.gpus_per_run,
            report=print_result,
        )
        failed = [r for r in results if r.status == "failed"]
    else:
        failed = []
    try:
        summary = write_summary(args.out, reference=reference)
    except (ValueError, OSError) as exc:
        if not failed:
            parser.fail(exc)
        print(f"no summary: {exc}", file=sys.stderr)  # every run failed: their list follows
    else:
        print_table(summary)
        print(f"summary written to {args.out / SUMMARY_FILE}")
        for line in idle_warnings(summary):
            print(f"warning: {line}", file=sys.stderr)
    return report_failures(failed)


if __name__ == "__main__":
    sys.exit(main())
