#!/usr/bin/env python
"""Run a study plan (agents x scenarios x seeds x sweeps, see syre_rl.experiments.study) and write its report.

    python scripts/study.py studies/smoke.yaml [--out DIR] [--backend local|ray] [--workers N] [--address ADDR]
        [--report-only] [--no-figures]

Runs go to DIR (default results/<plan name>); rerunning skips finished runs and resumes interrupted ones. The report
folder DIR/report holds report.md, summary.csv, runs.csv, summary.md, improvement.csv, interventions.csv and
figures/, generated from the run folders only.
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
        out.mkdir(parents=True, exist_ok=True)
        if args.plan.resolve() != (out / "study.yaml").resolve():
            shutil.copyfile(args.plan, out / "study.yaml")
    elif not out.is_dir():
        parser.fail(f"--report-only: study folder {str(out)!r} does not exist")
    try:
        path = write_report(
            out,
            out / REPORT_DIR,
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
