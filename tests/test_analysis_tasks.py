"""The per-task summary of run folders written by hand."""

import pytest

from syre_rl.analysis.runs import load_metrics
from syre_rl.analysis.tasks import task_summary
from syre_rl.plasticity.records import write_table


def _run(path, final_returns):
    path.mkdir()
    table = [
        {"task_id": k, "steps": 10, "n_episodes": 1, "final_return": r, "auc": r, "best_return": r}
        for k, r in enumerate(final_returns)
    ]
    write_table(path / "tasks.csv", table)
    return path


def test_task_summary_relative_to_first_task_and_reference(tmp_path):
    run = _run(tmp_path / "run", [100.0, 50.0, 25.0])
    reference = _run(tmp_path / "reset", [100.0, 100.0, 50.0])
    summary = task_summary(run, reference)
    assert list(summary["relative_to_first"]) == pytest.approx([1.0, 0.5, 0.25])
    assert list(summary["gap_to_first"]) == pytest.approx([0.0, -50.0, -75.0])
    assert list(summary["relative_to_reference"]) == pytest.approx([1.0, 0.5, 0.5])
    assert list(summary["gap_to_reference"]) == pytest.approx([0.0, -50.0, -25.0])
    alone = task_summary(run)
    assert alone["relative_to_reference"].isna().all()


def test_ratios_are_nan_for_non_positive_denominators(tmp_path):
    summary = task_summary(_run(tmp_path / "run", [-10.0, -5.0]))
    assert summary["relative_to_first"].isna().all()
    assert list(summary["gap_to_first"]) == pytest.approx([0.0, 5.0])


def test_bad_run_folders(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        task_summary(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither"):
        task_summary(tmp_path / "empty")
    with pytest.raises(ValueError, match=r"metrics\.csv"):
        load_metrics(tmp_path / "empty")
