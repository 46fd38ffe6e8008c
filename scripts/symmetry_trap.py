#!/usr/bin/env python
"""Count, over many seeded trials, how often units put at a symmetry-induced fixed point (exact copies, or dead
units) leave it under plain Adam, L2, L2-Init and syre (claim 1 of the syre paper; see
syre_rl.experiments.symmetry_trap).

    python scripts/symmetry_trap.py --seeds 50 --weight-decay 0.002 0.01 --out results/symmetry_trap

Writes OUT/trials.csv (one row per trial, appended as it ends: rerun to continue a killed run), OUT/summary.csv and
OUT/summary.md (escapes per trap and decay with a 95% Wilson interval). A study plan runs it with its
``symmetry_trap`` key.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from syre_rl.experiments.cli import OneLineParser, int_at_least, non_negative_float


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int_at_least(1), default=50, help="trials per cell (default 50)")
    parser.add_argument("--first-seed", type=int_at_least(0), default=0, help="first trial seed (default 0)")
    parser.add_argument(
        "--weight-decay", type=non_negative_float, nargs="+", default=[0.01], help="gammas (default 0.01)"
    )
    parser.add_argument("--steps", type=int_at_least(1), default=400, help="Adam steps per trial (default 400)")
    parser.add_argument("--out", type=Path, default=Path("results/symmetry_trap"), help="output folder")
    parser.add_argument("--overwrite", action="store_true", help="replace trials made with other settings")
    args = parser.parse_args(argv)

    from syre_rl.experiments.symmetry_trap import CONDITIONS, TRAPS, TrapSettings, run_trap_experiment
    from syre_rl.run_layout import SUMMARY_MARKDOWN

    if args.out.exists() and not args.out.is_dir():
        parser.fail(f"--out {str(args.out)!r} is a file; the trials go to a folder")
    total = args.seeds * len(args.weight_decay) * len(TRAPS) * len(CONDITIONS)
    start, count = time.perf_counter(), [0]

    def progress(record: object) -> None:
        count[0] += 1
        if count[0] % 25 == 0:
            print(f"  {count[0]} new trials ({time.perf_counter() - start:.0f} s; at most {total} in all)", flush=True)

    try:
        run_trap_experiment(
            args.out,
            range(args.first_seed, args.first_seed + args.seeds),
            args.weight_decay,
            TrapSettings(steps=args.steps),
            overwrite=args.overwrite,
            progress=progress,
        )
    except (ValueError, OSError) as exc:
        parser.fail(exc)
    print((args.out / SUMMARY_MARKDOWN).read_text())
    print(f"{count[0]} new trials in {time.perf_counter() - start:.0f} s; files in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
