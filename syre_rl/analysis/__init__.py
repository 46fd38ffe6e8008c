"""Reading results: run folders in, tables and figures out. Never imports training code, torch or Stable-Baselines3,
so results copied from a cluster or a GPU machine are analysed anywhere pandas (and matplotlib, for figures) runs.

Modules, each one idea:

* :mod:`~syre_rl.analysis.runs`: finding run folders and reading their logs;
* :mod:`~syre_rl.analysis.tasks`: the per-task summary of one run (vs its first task and a reference run);
* :mod:`~syre_rl.analysis.metrics`: the plasticity metric names and the one reduction of ``metrics.csv`` rows;
* :mod:`~syre_rl.analysis.statistics`: statistics over seeds (mean, bootstrap CI, IQM, probability of improvement);
* :mod:`~syre_rl.analysis.summary`: the numbers of a benchmark summary;
* :mod:`~syre_rl.analysis.report`: the summary's files and tables;
* :mod:`~syre_rl.analysis.plots`: figures;
* :mod:`~syre_rl.analysis.study`: a study's report folder (``report.md``, summary CSVs, figures).

File names come from :mod:`syre_rl.run_layout`. Names are imported lazily; an ImportError for pandas, scipy,
rliable or matplotlib says which extra to install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "find_runs": "syre_rl.analysis.runs",
    "load_metrics": "syre_rl.analysis.runs",
    "task_summary": "syre_rl.analysis.tasks",
    "mean_and_ci": "syre_rl.analysis.statistics",
    "seed_statistics": "syre_rl.analysis.statistics",
    "probability_of_improvement": "syre_rl.analysis.statistics",
    "run_metrics": "syre_rl.analysis.summary",
    "summarize": "syre_rl.analysis.summary",
    "format_table": "syre_rl.analysis.report",
    "markdown_table": "syre_rl.analysis.report",
    "print_table": "syre_rl.analysis.report",
    "write_summary": "syre_rl.analysis.report",
    "plot_benchmark": "syre_rl.analysis.plots",
    "write_report": "syre_rl.analysis.study",
}
# Optional dependencies of the analysis layer and the extra that installs them.
_EXTRAS = {"pandas": "plots", "matplotlib": "plots", "scipy": "bench", "rliable": "bench"}

__all__ = [
    "find_runs",
    "format_table",
    "load_metrics",
    "markdown_table",
    "mean_and_ci",
    "plot_benchmark",
    "print_table",
    "probability_of_improvement",
    "run_metrics",
    "seed_statistics",
    "summarize",
    "task_summary",
    "write_report",
    "write_summary",
]

if TYPE_CHECKING:
    from syre_rl.analysis.plots import plot_benchmark
    from syre_rl.analysis.report import format_table, markdown_table, print_table, write_summary
    from syre_rl.analysis.runs import find_runs, load_metrics
    from syre_rl.analysis.statistics import mean_and_ci, probability_of_improvement, seed_statistics
    from syre_rl.analysis.study import write_report
    from syre_rl.analysis.summary import run_metrics, summarize
    from syre_rl.analysis.tasks import task_summary


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'syre_rl.analysis' has no attribute {name!r}")
    try:
        module = importlib.import_module(_LAZY[name])
    except ModuleNotFoundError as error:
        extra = _EXTRAS.get((error.name or "").partition(".")[0])
        if extra is None:
            raise
        raise ImportError(f"syre_rl.analysis.{name} needs {error.name}: pip install 'syre-rl[{extra}]'") from error
    return getattr(module, name)
