#!/usr/bin/env python
"""The main job (``make demo``): PPO, PPO + L2 and PPO + syre on the relabelled bandit and permuted CartPole, 3 seeds
each, with the reset-at-every-switch reference; then the summary table and the figures.

    python scripts/demo.py [--out results/demo] [--seeds 3] [--workers N] [--backend local|ray]

About 5 minutes on 2 CPU cores. Rerunning it is safe: finished runs are kept and skipped, interrupted runs resume
from their last checkpoint (delete the output folder to start over).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

from syre_rl.experiments.cli import OneLineParser, int_at_least, print_result

AGENTS = ("ppo", "ppo_l2", "syre_ppo")
SCENARIOS = ("relabelled_bandit_quick", "permuted_cartpole")
REFERENCE = "ppo_reset"


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/demo"), help="output folder (default results/demo)")
    parser.add_argument("--seeds", type=int_at_least(1), default=3, help="number of seeds (default 3)")
    parser.add_argument("--workers", type=int_at_least(1), default=None, help="parallel runs (default: CPU cores)")
    parser.add_argument("--backend", choices=["local", "ray"], default="local")
    parser.add_argument(
        "--steps", type=int_at_least(1), default=None, help="steps per run (default: each scenario's budget)"
    )
    args = parser.parse_args(argv)

    from syre_rl.analysis.plots import plot_benchmark
    from syre_rl.analysis.report import print_table, write_summary
    from syre_rl.experiments.grid import plan_grid, run_benchmark
    from syre_rl.run_layout import PLOTS_DIR, SUMMARY_FILE

    if args.out.exists() and not args.out.is_dir():
        parser.fail(f"--out {str(args.out)!r} is a file; the demo writes a folder")
    try:
        specs = plan_grid(AGENTS, SCENARIOS, range(args.seeds), reference=REFERENCE, total_steps=args.steps)
    except (ValueError, OSError) as exc:
        parser.fail(exc)
    cores = os.cpu_count()
    print(
        f"syre-rl demo: {len(specs)} runs ({', '.join(AGENTS)} + {REFERENCE} on {', '.join(SCENARIOS)}, "
        f"{args.seeds} seeds) into {args.out}; {cores} CPU cores, {platform.processor() or platform.machine()}",
        flush=True,
    )
    start = time.perf_counter()

    def report(result) -> None:
        print_result(result, prefix=f"[{time.perf_counter() - start:6.0f} s] ")

    results = run_benchmark(specs, args.out, backend=args.backend, workers=args.workers, report=report)
    failed = [r for r in results if r.status == "failed"]
    try:
        summary = write_summary(args.out, reference=REFERENCE)
        print_table(summary)
        figures = plot_benchmark(args.out, args.out / PLOTS_DIR)
    except ValueError as exc:  # no finished run to summarise: every run failed
        print(f"no summary: {exc}", file=sys.stderr)
    else:
        print(f"summary: {args.out / SUMMARY_FILE}")
        print(f"figures: {', '.join(str(p) for p in figures if p.suffix == '.png')}")
    print(f"total wall time: {time.perf_counter() - start:.0f} s")
    if failed:
        print(f"{len(failed)} run(s) failed; rerun to retry them, details in their error.txt", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
