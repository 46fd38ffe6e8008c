"""The run folder's ownership: overwrite deletes only a folder of ours, and a failed start leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from syre_rl.experiments.config import resolve_config
from syre_rl.experiments.run import train
from syre_rl.experiments.run_dir import (
    NotARunFolderError,
    RunExistsError,
    check_run_folder,
    prepare_run_dir,
    undo_failed_start,
)


@pytest.fixture(scope="module")
def config() -> dict:
    return resolve_config("ppo", "relabelled_bandit_quick", total_steps=256, device="cpu")


def make_run(folder: Path, config: dict, **extra: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (folder / "episodes.csv").write_text("timesteps,task_id,return,length\n")
    (folder / "tb").mkdir()
    (folder / "tb" / "events").write_text("x")
    (folder / "tasks.csv.tmp").write_text("cut short")
    for name, text in extra.items():
        (folder / name).write_text(text)
    return folder


def test_overwrite_deletes_a_run_folder_of_ours(tmp_path: Path, config: dict) -> None:
    run = make_run(tmp_path / "run", config, done='{"num_timesteps": 256}')
    assert prepare_run_dir(config, run, resume=False, overwrite=True) == config
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]


@pytest.mark.parametrize(
    ("extra", "message"), [({"notes.txt": "mine"}, "notes.txt"), ({"data": "mine", "x.py": "mine"}, "data, x.py")]
)
def test_overwrite_refuses_a_folder_with_foreign_files(tmp_path: Path, config: dict, extra, message) -> None:
    run = make_run(tmp_path / "run", config, **extra)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(NotARunFolderError, match=message):
        prepare_run_dir(config, run, resume=False, overwrite=True)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_overwrite_refuses_a_folder_without_config(tmp_path: Path, config: dict) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "episodes.csv").write_text("mine")
    with pytest.raises(NotARunFolderError, match=r"no config\.yaml"):
        prepare_run_dir(config, folder, resume=False, overwrite=True)
    assert (folder / "episodes.csv").read_text() == "mine"
    with pytest.raises(NotARunFolderError, match="is a file"):
        prepare_run_dir(config, folder / "episodes.csv", resume=False, overwrite=True)
    with pytest.raises(NotARunFolderError, match="not a folder"):
        check_run_folder(tmp_path / "missing")


def test_failed_start_in_a_new_folder_leaves_nothing(tmp_path: Path, config: dict) -> None:
    run = tmp_path / "new" / "run"
    with pytest.raises(RuntimeError), undo_failed_start(run):
        prepare_run_dir(config, run, resume=False, overwrite=False)
        (run / "episodes.csv").write_text("rows")
        raise RuntimeError("bad hyperparameter found by the env")
    assert not run.exists()
    prepare_run_dir(config, run, resume=False, overwrite=False)  # the corrected command is not refused


def test_failed_start_restores_an_existing_folder_and_never_touches_foreign_files(tmp_path: Path, config: dict) -> None:
    run = make_run(tmp_path / "run", config, **{"notes.txt": "mine", "error.txt": "old traceback"})
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    changed = resolve_config("ppo", "relabelled_bandit_quick", total_steps=512, device="cpu")
    with pytest.raises(KeyboardInterrupt), undo_failed_start(run):
        prepare_run_dir(changed, run, resume=True, overwrite=False)
        (run / "metrics.csv").write_text("new")
        (run / "notes.txt").write_text("the user's, changed meanwhile")
        raise KeyboardInterrupt
    before[run / "notes.txt"] = b"the user's, changed meanwhile"
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_failed_overwrite_leaves_an_empty_folder_and_a_checkpoint_keeps_the_run(tmp_path: Path, config: dict) -> None:
    run = make_run(tmp_path / "run", config)
    with pytest.raises(ValueError), undo_failed_start(run, overwrite=True):
        prepare_run_dir(config, run, resume=False, overwrite=True)
        raise ValueError("model could not be built")
    assert list(run.iterdir()) == []
    run.rmdir()
    with pytest.raises(ValueError), undo_failed_start(run):
        prepare_run_dir(config, run, resume=False, overwrite=False)
        (run / "checkpoints").mkdir()
        (run / "checkpoints" / "step_128.zip").write_text("model")
        (run / "checkpoints" / "step_128.pkl").write_text("state")
        raise ValueError("failed after a checkpoint")
    assert (run / "config.yaml").is_file() and (run / "checkpoints" / "step_128.pkl").is_file()


def test_train_start_failing_when_the_model_is_built_can_be_corrected(tmp_path: Path) -> None:
    bad = resolve_config(
        "ppo",
        "relabelled_bandit_quick",
        overrides=["policy_kwargs.activation_fn=torch.nn.NotThere"],
        total_steps=256,
        device="cpu",
    )
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="NotThere"), undo_failed_start(run):
        train(bad, run)
    assert not run.exists()
    run.mkdir()
    (run / "config.yaml").write_text("x")
    with pytest.raises(RunExistsError):
        prepare_run_dir(bad, run, resume=False, overwrite=False)
