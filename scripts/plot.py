#!/usr/bin/env python
"""Plot benchmark folders: returns, plasticity metrics and per-task relative performance, as PNG and SVG.

python scripts/plot.py results/bench [more folders ...] [--out DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

from syre_rl.experiments.cli import OneLineParser


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="benchmark or run folders")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default FIRST_FOLDER/plots)")
    args = parser.parse_args(argv)

    from syre_rl.analysis.plots import plot_benchmark
    from syre_rl.run_layout import PLOTS_DIR

    missing = [str(folder) for folder in args.folders if not folder.is_dir()]
    if missing:
        parser.fail(f"folders {missing} do not exist (or are not folders); give benchmark or run folders")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        parser.fail(f"--out {str(args.out)!r} is a file; figures go to a folder")
    try:
        paths = plot_benchmark(args.folders, args.out or args.folders[0] / PLOTS_DIR)
    except (ValueError, OSError) as exc:
        parser.fail(exc)
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
