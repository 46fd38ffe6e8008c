"""One run end to end: the run folder, refusing to overwrite, and resuming after an interruption."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import TINY_RUN, Interrupt

from syre_rl.experiments.checkpoints import list_checkpoints
from syre_rl.experiments.config import resolve_config
from syre_rl.experiments.run import RunExistsError, train

# Torch device of these runs; the same tests run on a GPU with SYRE_RL_TEST_DEVICE=cuda.
DEVICE = os.environ.get("SYRE_RL_TEST_DEVICE", "cpu")
TINY = TINY_RUN


def tiny_config(agent: str = "syre_ppo", steps: int = 2048, seed: int = 0) -> dict:
    return resolve_config(agent, "relabelled_bandit", seed=seed, overrides=TINY, total_steps=steps, device=DEVICE)


def test_run_folder_has_every_file(tmp_path: Path) -> None:
    run_dir = train(tiny_config(steps=1024), tmp_path / "run")
    for name in ("config.yaml", "metrics.csv", "episodes.csv", "tasks.csv", "model.zip", "done"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "tb").rglob("events.out.tfevents.*"))
    assert list_checkpoints(run_dir), "periodic checkpoints"
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["agent"] == "syre_ppo" and config["hyperparameters"]["weight_decay"] == 0.002
    assert json.loads((run_dir / "done").read_text())["num_timesteps"] == 1024
    episodes = pd.read_csv(run_dir / "episodes.csv")
    assert episodes["timesteps"].max() == 1024 and set(episodes["task_id"]) == {0, 1}
    tasks = pd.read_csv(run_dir / "tasks.csv")
    assert tasks["task_id"].tolist() == [0, 1] and tasks["steps"].tolist() == [512, 512]
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert {"dormant_0.025", "srank", "collapsed", "weight_mean_abs"} <= set(metrics["metric"])


def test_existing_run_folder_is_refused_unless_resumed_or_overwritten(tmp_path: Path) -> None:
    config = tiny_config(steps=256)
    run_dir = train(config, tmp_path / "run")
    done = (run_dir / "done").read_text()
    with pytest.raises(RunExistsError, match="already exists"):
        train(config, run_dir)
    train(config, run_dir, resume=True)  # finished: nothing to do
    assert (run_dir / "done").read_text() == done
    with pytest.raises(ValueError, match=r"different config: \['hyperparameters'\]"):
        train(
            resolve_config(
                "syre_ppo", "relabelled_bandit", overrides=[*TINY, "n_epochs=2"], total_steps=256, device=DEVICE
            ),
            run_dir,
            resume=True,
        )
    train(config, run_dir, overwrite=True)
    assert json.loads((run_dir / "done").read_text())["finished"]
    # A finished run resumed with a larger budget continues from its final model.
    train(tiny_config(steps=512), run_dir, resume=True)
    assert json.loads((run_dir / "done").read_text())["num_timesteps"] == 512
    assert pd.read_csv(run_dir / "episodes.csv").groupby("timesteps").size().index.tolist() == list(range(4, 513, 4))


def test_resume_continues_tasks_and_episodes_without_gaps_or_duplicates(tmp_path: Path) -> None:
    config = tiny_config(steps=2048)
    reference = train(config, tmp_path / "reference")

    run_dir = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        train(config, run_dir, extra_callbacks=[Interrupt(at=1100)])
    assert not (run_dir / "done").exists()
    assert list_checkpoints(run_dir)[-1].steps == 1024
    assert pd.read_csv(run_dir / "episodes.csv")["timesteps"].max() > 1024  # rows past the checkpoint exist
    train(config, run_dir, resume=True)

    ref_episodes = pd.read_csv(reference / "episodes.csv")
    episodes = pd.read_csv(run_dir / "episodes.csv")
    # One-step episodes: every step ends one, 4 per vector step, each logged exactly once, with the task of the
    # uninterrupted run at the same step.
    pd.testing.assert_series_equal(episodes["timesteps"], ref_episodes["timesteps"])
    pd.testing.assert_series_equal(episodes["task_id"], ref_episodes["task_id"])
    assert episodes["timesteps"].is_monotonic_increasing
    tasks, ref_tasks = pd.read_csv(run_dir / "tasks.csv"), pd.read_csv(reference / "tasks.csv")
    assert tasks["task_id"].tolist() == [0, 1, 2, 3]
    assert tasks["steps"].tolist() == ref_tasks["steps"].tolist() == [512] * 4
    assert tasks["n_episodes"].tolist() == ref_tasks["n_episodes"].tolist()
    # The labels of each task (the task's parameters) are those of the uninterrupted run.
    label_columns = [c for c in ref_tasks.columns if c not in {"final_return", "auc", "best_return"}]
    pd.testing.assert_frame_equal(tasks[label_columns], ref_tasks[label_columns])
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert not metrics.duplicated(["timesteps", "network", "layer", "metric"]).any()
    assert json.loads((run_dir / "done").read_text())["num_timesteps"] == 2048


def test_logs_are_cut_back_to_the_checkpoint_byte_for_byte(tmp_path: Path) -> None:
    from syre_rl.experiments.checkpoints import _truncate_log

    path = tmp_path / "episodes.csv"
    kept = "timesteps,task_id,return,length\n4,0,1.0,1\n8,0,0.10000000000000001,1\n"
    path.write_text(kept + "12,1,0.0,1\n1")  # "1" is a row cut short by a kill
    _truncate_log(path, 8)
    assert path.read_text() == kept
    _truncate_log(path, 100)  # nothing to cut
    assert path.read_text() == kept


def test_a_finished_run_extends_with_the_default_checkpoint_cadence(tmp_path: Path) -> None:
    overrides = [o for o in TINY if not o.startswith("checkpoint_every")]
    short = resolve_config("ppo", "relabelled_bandit", overrides=overrides, total_steps=1024, device=DEVICE)
    longer = resolve_config("ppo", "relabelled_bandit", overrides=overrides, total_steps=2048, device=DEVICE)
    assert short["checkpoint_every"] != longer["checkpoint_every"]
    run_dir = train(short, tmp_path / "run")
    train(longer, run_dir, resume=True)
    assert json.loads((run_dir / "done").read_text())["num_timesteps"] == 2048


def test_neighbouring_seeds_do_not_share_sub_env_streams() -> None:
    from syre_rl.experiments.build import make_vec_env

    seeds = {}
    for seed in (0, 1):
        env = make_vec_env(tiny_config(seed=seed))
        seeds[seed] = env.seed(seed)
    assert len(set(seeds[0]) | set(seeds[1])) == 8


def test_resume_measures_distance_to_the_step_0_weights(tmp_path: Path) -> None:
    config = tiny_config(agent="ppo", steps=1536)
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(config, run_dir, extra_callbacks=[Interrupt(at=800)])
    reference = (run_dir / "plasticity_init.pt").read_bytes()
    train(config, run_dir, resume=True)
    assert (run_dir / "plasticity_init.pt").read_bytes() == reference
    metrics = pd.read_csv(run_dir / "metrics.csv")
    dist = metrics[(metrics.metric == "weight_dist_init")].groupby("timesteps")["value"].mean()
    assert dist.loc[dist.index > 800].min() > 0  # not restarted from zero at the checkpoint


def test_resuming_a_finished_run_with_fewer_steps_changes_nothing(tmp_path: Path) -> None:
    run_dir = train(tiny_config(agent="ppo", steps=1024), tmp_path / "run")
    before = {name: (run_dir / name).read_bytes() for name in ("config.yaml", "done", "episodes.csv")}
    train(tiny_config(agent="ppo", steps=512), run_dir, resume=True)
    assert {name: (run_dir / name).read_bytes() for name in before} == before
