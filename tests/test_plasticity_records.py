"""Per-task statistics of hand-written records, and the CSV round trip."""

import math

import pytest

from syre_rl.plasticity.records import (
    CsvAppender,
    Episode,
    TaskProgress,
    read_episodes,
    read_task_progress,
    task_table,
    write_table,
)

EPISODES = [
    # task 0 spans timesteps 0..100: final window = episodes ending at >= 90
    Episode(20, 0, 10.0, 20),
    Episode(60, 0, 30.0, 40),
    Episode(95, 0, 50.0, 35),
    Episode(100, 0, 70.0, 5),
    # task 1 spans 100..200, only one episode near the start: the window falls back to the last episode
    Episode(130, 1, 8.0, 30),
]
PROGRESS = {
    0: TaskProgress(steps=100, first_timestep=0, last_timestep=100, params={"gravity": 9.8, "perm": [1, 0]}),
    1: TaskProgress(steps=100, first_timestep=100, last_timestep=200, params={"gravity": 3.7, "perm": [0, 1]}),
}


def test_task_table_statistics():
    table = task_table(EPISODES, PROGRESS)
    first, second = table
    assert first["task_id"] == 0 and first["gravity"] == 9.8 and first["perm"] == "[1, 0]"
    assert first["steps"] == 100 and first["n_episodes"] == 4
    assert first["final_return"] == pytest.approx(60.0)
    assert first["auc"] == pytest.approx((10 * 20 + 30 * 40 + 50 * 35 + 70 * 5) / 100)
    assert first["best_return"] == 70.0
    assert second["final_return"] == 8.0 and second["auc"] == 8.0


def test_task_without_episodes_has_nan_returns_and_steps_default_to_lengths():
    table = task_table(EPISODES[:4], {5: TaskProgress(steps=7)})
    assert table[0]["steps"] == 100  # sum of episode lengths when no step count is known
    assert table[1]["task_id"] == 5 and math.isnan(table[1]["final_return"])
    with pytest.raises(ValueError, match="final_fraction"):
        task_table(EPISODES, final_fraction=0.0)


def test_csv_round_trip(tmp_path):
    writer = CsvAppender(tmp_path / "episodes.csv", ("timesteps", "task_id", "return", "length"))
    writer.write([(e.timesteps, e.task_id, e.ret, e.length) for e in EPISODES[:2]])
    writer.close()
    writer.write([(e.timesteps, e.task_id, e.ret, e.length) for e in EPISODES[2:]])  # reopens in append mode
    writer.close()
    assert read_episodes(tmp_path / "episodes.csv") == EPISODES
    write_table(tmp_path / "tasks.csv", task_table(EPISODES, PROGRESS))
    progress = read_task_progress(tmp_path / "tasks.csv")
    assert progress[1].steps == 100 and progress[1].first_timestep == 100
    assert progress[0].params == {"gravity": 9.8, "perm": [1, 0]}
