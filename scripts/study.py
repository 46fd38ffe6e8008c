#!/usr/bin/env python
"""Run a study plan (agents x scenarios x seeds x sweeps, see syre_rl.experiments.study) and write its report.

    python scripts/study.py studies/smoke.yaml [--out DIR] [--backend local|ray] [--workers N] [--address ADDR]
        [--scenarios A,B] [--report-dir DIR] [--report-only] [--no-figures]

Runs go to DIR (default results/<plan name>); rerunning skips finished runs and resumes interrupted ones. The report
folder DIR/report holds report.md, summary.csv, runs.csv, summary.md, improvement.csv, interventions.csv and
figures/, generated from the run folders only (--report-dir puts it elsewhere, e.g. docs/ to commit it). A long plan
runs in parts with --scenarios: each part runs the plan's runs of those scenarios, and the report covers every
finished run in DIR. A plan with a ``symmetry_trap`` key also runs the symmetry-trap trials into DIR/symmetry_trap
(resumable; kept after the first part), whose counts the report's verdict on claim 1 reads.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from syre_rl.experiments.cli import OneLineParser, int_at_least, print_result, report_failures


def build_parser() -> OneLineParser:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("plan", type=Path, help="study plan (YAML)")
    parser.add_argument("--out", type=Path, default=None, help="study folder (default results/<plan name>)")
    parser.add_argument("--backend", choices=["local", "ray"], default="local")
    parser.add_argument("--workers", type=int_at_least(1), default=None, help="local pool size (default: CPU cores)")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray instance)")
    parser.add_argument(
        "--scenarios", default=None, help="run only the plan's runs of these scenarios (comma-separated), one part"
    )
    parser.add_argument("--report-dir", type=Path, default=None, help="report folder (default DIR/report)")
    parser.add_argument("--report-only", action="store_true", help="only write the report of the finished runs")
    parser.add_argument("--no-figures", action="store_true", help="write the report without figures")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    from syre_rl.analysis.study import write_report
    from syre_rl.experiments.grid import run_benchmark
    from syre_rl.experiments.study import StudyPlan
    from syre_rl.run_layout import REPORT_DIR, REPORT_FILE

    try:
        plan = StudyPlan.load(args.plan)
    except (ValueError, OSError) as exc:
        parser.fail(f"study plan {str(args.plan)!r}: {exc}")
    if args.scenarios is not None:
        chosen = [name.strip() for name in args.scenarios.split(",") if name.strip()]
        unknown = [name for name in chosen if name not in plan.scenarios]
        if not chosen or unknown:
            parser.fail(f"--scenarios {args.scenarios!r}: the plan's scenarios are {plan.scenarios}")
        plan.scenarios = chosen
    out = args.out or Path("results") / plan.name
    if out.exists() and not out.is_dir():
        parser.fail(f"--out {str(out)!r} is a file; a study folder is a folder")
    failed = []
    if not args.report_only:
        try:
            specs, warnings = plan.specs()
        except (ValueError, OSError) as exc:
            parser.fail(exc)
        for line in warnings:
            print(f"warning: {line}", file=sys.stderr)
        print(f"study {plan.name}: {len(specs)} runs into {out} ({args.backend} backend)", flush=True)

        results = run_benchmark(
            specs, out, backend=args.backend, workers=args.workers, address=args.address, report=print_result
        )
        failed = [r for r in results if r.status == "failed"]
        if plan.symmetry_trap is not None:
            from syre_rl.experiments.symmetry_trap import TrapSettings, run_trap_experiment
            from syre_rl.run_layout import TRAP_DIR

            trap = plan.symmetry_trap
            print(f"symmetry trap: {trap['seeds']} seeds per trap, decay and gamma into {out / TRAP_DIR}", flush=True)
            try:
                run_trap_experiment(
                    out / TRAP_DIR, range(trap["seeds"]), trap["weight_decay"], TrapSettings(steps=trap["steps"])
                )
            except (ValueError, OSError) as exc:
                parser.fail(exc)
        out.mkdir(parents=True, exist_ok=True)
        if args.plan.resolve() != (out / "study.yaml").resolve():
            shutil.copyfile(args.plan, out / "study.yaml")
    elif not out.is_dir():
        parser.fail(f"--report-only: study folder {str(out)!r} does not exist")
    try:
        path = write_report(
            out,
            args.report_dir or out / REPORT_DIR,
            reference=plan.reference,
            focus=plan.focus,
            title=f"Study {plan.name}",
            description=plan.description,
            figures=not args.no_figures,
        )
    except (ValueError, OSError) as exc:
        parser.fail(exc)
    print(f"report written to {path} ({REPORT_FILE} and the summary files in {path.parent})")
    return report_failures(failed)


if __name__ == "__main__":
    sys.exit(main())
