#!/usr/bin/env python
"""Plot benchmark folders: returns, plasticity metrics and per-task relative performance, as PNG and SVG.

python scripts/plot.py results/bench [more folders ...] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="benchmark or run folders")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default FIRST_FOLDER/plots)")
    args = parser.parse_args(argv)

    from syre_rl.analysis.plots import plot_benchmark
    from syre_rl.run_layout import PLOTS_DIR

    try:
        paths = plot_benchmark(args.folders, args.out or args.folders[0] / PLOTS_DIR)
    except ValueError as exc:
        parser.error(str(exc))
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
