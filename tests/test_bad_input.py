"""Every user error of the command-line scripts is one line on stderr naming the bad value, exit status 2, no
traceback, and leaves every file as it was (a run folder and a user's files are compared byte for byte)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
import yaml

from syre_rl.experiments.config import resolve_config

REPO = Path(__file__).resolve().parents[1]
BANDIT = ["--agent", "ppo", "--env", "relabelled_bandit_quick", "--no-progress"]
BENCH = ["--agents", "ppo", "--envs", "relabelled_bandit_quick", "--reference", "none", "--out", "bench"]

# Files of the workspace every case runs in (cwd): recipes with errors, a user's files, run folders.
BAD_RECIPES = {
    "bad_syntax.yaml": "name: ppo\nalgorithm: [PPO\n",
    "wrong_types.yaml": "name: x\nalgorithm: PPO\npolicy: MlpPolicy\nhyperparameters: 5\n",
    "not_a_mapping.yaml": "- name\n- algorithm\n",
    "unknown_key.yaml": "name: x\nalgorithm: PPO\npolicy: MlpPolicy\nlearning_rate: 0.1\n",
    "slash_name.yaml": "name: ../escape\nalgorithm: PPO\npolicy: MlpPolicy\n",
    "bad_algorithm.yaml": "name: x\nalgorithm: NoSuchAlgo\npolicy: MlpPolicy\n",
    "trend_nan.yaml": (
        "name: trend_nan\ndescription: d\nsource: s\nbase_env: CartPole-v1\n"
        "family: {type: cartpole_physics, parameters: {gravity: [4.9, 19.6]}}\n"
        "schedule: {type: trend, steps_per_task: 2048, rate: .nan}\nn_envs: 1\ntotal_steps: 4096\n"
    ),
}


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bad_input_{name}", REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``root``: relative path -> bytes (None for a folder)."""
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("workspace")
    for name, text in BAD_RECIPES.items():
        (root / name).write_text(text)
    (root / "notes.txt").write_text("a user's file\n")
    (root / "mine").mkdir()
    (root / "mine" / "data.csv").write_text("a,b\n1,2\n")
    (root / "empty").mkdir()
    config = resolve_config("ppo", "relabelled_bandit_quick", total_steps=256, device="cpu")
    for name, extra in (("run", {}), ("run_with_notes", {"notes.txt": "mine\n"})):
        folder = root / name
        folder.mkdir()
        (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        (folder / "done").write_text('{"num_timesteps": 256}\n')
        (folder / "episodes.csv").write_text("timesteps,task_id,return,length\n4,0,1.0,1\n")
        for file, text in extra.items():
            (folder / file).write_text(text)
    (root / "no_config").mkdir()
    (root / "no_config" / "episodes.csv").write_text("timesteps,task_id,return,length\n")
    return root


T = "train"
CASES: list[tuple[str, list[str], str]] = [
    # recipes: unknown name, bad path, YAML syntax, wrong types, names that would leave the run folder
    (T, ["--agent", "nope", "--env", "relabelled_bandit_quick"], "unknown agent 'nope'"),
    (T, ["--agent", "ppo", "--env", "nope"], "unknown scenario 'nope'"),
    (T, ["--agent", "missing.yaml", "--env", "relabelled_bandit_quick"], "does not exist"),
    (T, ["--agent", "ppo", "--env", "missing.yaml"], "does not exist"),
    (T, ["--agent", "bad_syntax.yaml", "--env", "relabelled_bandit_quick"], "bad_syntax.yaml"),
    (T, ["--agent", "ppo", "--env", "bad_syntax.yaml"], "bad_syntax.yaml"),
    (T, ["--agent", "wrong_types.yaml", "--env", "relabelled_bandit_quick"], "hyperparameters must be a mapping"),
    (T, ["--agent", "not_a_mapping.yaml", "--env", "relabelled_bandit_quick"], "must be a mapping"),
    (T, ["--agent", "unknown_key.yaml", "--env", "relabelled_bandit_quick"], "unknown keys ['learning_rate']"),
    (T, ["--agent", "slash_name.yaml", "--env", "relabelled_bandit_quick"], "'../escape'"),
    (T, ["--agent", "bad_algorithm.yaml", "--env", "relabelled_bandit_quick"], "unknown algorithm 'NoSuchAlgo'"),
    (T, ["--agent", "ppo", "--env", "trend_nan.yaml"], "rate must be a finite number"),
    (T, ["--agent", "ppo", "--env", "ppo"], "unknown scenario 'ppo'"),
    # --set: unknown keys, malformed items, values out of range
    (T, [*BANDIT, "--set", "lr=1e-4"], "unknown --set key 'lr'"),
    (T, [*BANDIT, "--set", "backend=wrapper"], "unknown --set key 'backend' (did you mean 'scenario.backend'?)"),
    (T, [*BANDIT, "--set", "learning_rat=1e-4"], "(did you mean 'learning_rate'"),
    (T, [*BANDIT, "--set", "learning_rate"], "key=value"),
    (T, [*BANDIT, "--set", "=3"], "key=value"),
    (T, [*BANDIT, "--set", "policy_kwargs.nope=1"], "unknown --set key 'policy_kwargs.nope'"),
    (T, [*BANDIT, "--set", "plasticity.nope=1"], "unknown --set key 'plasticity.nope'"),
    (T, [*BANDIT, "--set", "interventions.0.tau=0.1"], "unknown --set key 'interventions.0.tau'"),
    (T, [*BANDIT, "--set", "scenario.nope=1"], "unknown --set key 'scenario.nope'"),
    (T, [*BANDIT, "--set", "scenario.schedule.steps_per_task=0"], "steps_per_task"),
    (T, [*BANDIT, "--set", "scenario.schedule.steps_per_task=.nan"], "steps_per_task"),
    (T, [*BANDIT, "--set", "learning_rate=-1"], "learning_rate must be a finite number > 0, got -1"),
    (T, [*BANDIT, "--set", "learning_rate=0"], "learning_rate must be"),
    (T, [*BANDIT, "--set", "learning_rate=abc"], "learning_rate must be"),
    (T, [*BANDIT, "--set", "learning_rate=.nan"], "learning_rate must be"),
    (T, [*BANDIT, "--set", "n_steps=0"], "n_steps must be a positive int, got 0"),
    (T, [*BANDIT, "--set", "n_steps=1.5"], "n_steps must be"),
    (T, [*BANDIT, "--set", "batch_size=0"], "batch_size must be an int >= 2, got 0"),
    (T, [*BANDIT, "--set", "batch_size=1"], "batch_size must be an int >= 2"),
    (T, [*BANDIT, "--set", "batch_size=100000"], "rollout size"),
    (T, [*BANDIT, "--set", "n_epochs=0"], "n_epochs must be"),
    (T, [*BANDIT, "--set", "gamma=1.5"], "gamma must be a number in (0, 1], got 1.5"),
    (T, [*BANDIT, "--set", "gamma=0"], "gamma must be"),
    (T, [*BANDIT, "--set", "gamma=-0.1"], "gamma must be"),
    (T, [*BANDIT, "--set", "gae_lambda=1.1"], "gae_lambda must be"),
    (T, [*BANDIT, "--set", "clip_range=-0.2"], "clip_range must be a finite number > 0, got -0.2"),
    (T, [*BANDIT, "--set", "clip_range=0"], "clip_range must be"),
    (T, [*BANDIT, "--set", "ent_coef=-0.01"], "ent_coef must be"),
    (T, [*BANDIT, "--set", "vf_coef=-1"], "vf_coef must be"),
    (T, [*BANDIT, "--set", "max_grad_norm=0"], "max_grad_norm must be"),
    (T, [*BANDIT, "--set", "target_kl=-0.1"], "target_kl must be"),
    (T, [*BANDIT, "--set", "n_envs=0"], "n_envs must be"),
    (T, [*BANDIT, "--set", "total_steps=0"], "total_steps must be"),
    (T, [*BANDIT, "--set", "checkpoint_every=0"], "checkpoint_every must be"),
    (T, [*BANDIT, "--set", "policy_kwargs.net_arch=[-1]"], "layer size must be a positive int, got -1"),
    (T, [*BANDIT, "--set", "policy_kwargs.net_arch=abc"], "net_arch must be"),
    (T, [*BANDIT, "--set", "policy_kwargs.activation_fn=nope"], "unknown activation_fn 'nope'"),
    (T, [*BANDIT, "--set", "plasticity.batch_size=0"], "plasticity: batch_size"),
    (T, [*BANDIT, "--set", "plasticity.final_fraction=2"], "final_fraction"),
    (T, ["--agent", "syre_ppo", "--env", "relabelled_bandit_quick", "--set", "weight_decay=-0.1"], "weight_decay"),
    (T, ["--agent", "syre_ppo", "--env", "relabelled_bandit_quick", "--set", "decay_mode=foo"], "decay_mode"),
    (T, ["--agent", "syre_ppo", "--env", "relabelled_bandit_quick", "--set", "sigma_scale=-1"], "sigma_scale"),
    (T, ["--agent", "ppo_l2", "--env", "relabelled_bandit_quick", "--set", "ar_spread=1.5"], "ar_spread"),
    (T, ["--agent", "ppo_redo", "--env", "relabelled_bandit_quick", "--set", "interventions.0.tau=-0.1"], "tau"),
    # numbers
    (T, [*BANDIT, "--steps", "0"], "--steps: must be a positive int, got 0"),
    (T, [*BANDIT, "--steps", "-100"], "--steps: must be a positive int, got -100"),
    (T, [*BANDIT, "--steps", "abc"], "--steps: must be a positive int, got 'abc'"),
    (T, [*BANDIT, "--seed", "-1"], "--seed"),
    (T, [*BANDIT, "--threads", "0"], "--threads"),
    # devices
    (T, [*BANDIT, "--device", "foo"], "device must be one of"),
    (T, [*BANDIT, "--device", "cuda:x"], "device must be one of"),
    (T, [*BANDIT, "--device", "gpu"], "'gpu'"),
    # folders: a file, an existing run, overwriting what is not only ours, resuming with another config
    (T, [*BANDIT, "--out", "notes.txt"], "is a file"),
    (T, [*BANDIT, "--steps", "256", "--out", "run"], "already exists"),
    (T, [*BANDIT, "--out", "mine", "--overwrite"], "data.csv"),
    (T, [*BANDIT, "--steps", "256", "--out", "run_with_notes", "--overwrite"], "notes.txt"),
    (T, [*BANDIT, "--out", "no_config", "--overwrite"], "no config.yaml"),
    (T, [*BANDIT, "--steps", "256", "--out", "run", "--resume", "--set", "n_epochs=2"], "different config"),
    (T, [*BANDIT, "--out", "run", "--resume", "--overwrite"], "not allowed with argument"),
    (T, ["--env", "relabelled_bandit_quick"], "--agent"),
    # a start that fails when the model is built: the folder is left as it was, a new one is not left behind
    (T, [*BANDIT, "--set", "policy_kwargs.activation_fn=torch.nn.NotThere", "--out", "fresh"], "NotThere"),
    # benchmark.py
    ("benchmark", ["--summary-only", "--out", "missing"], "does not exist"),
    ("benchmark", ["--summary-only", "--out", "notes.txt"], "is a file"),
    ("benchmark", ["--agents", "nope", "--envs", "relabelled_bandit_quick", "--out", "b"], "unknown agent 'nope'"),
    ("benchmark", ["--agents", "ppo", "--envs", "nope", "--out", "b"], "unknown scenario 'nope'"),
    ("benchmark", ["--agents", "ppo", "--out", "b"], "--agents and --envs are required"),
    ("benchmark", [*BENCH, "--workers", "0"], "--workers: must be a positive int, got 0"),
    ("benchmark", [*BENCH, "--seeds", "0"], "--seeds"),
    ("benchmark", [*BENCH, "--first-seed", "-1"], "--first-seed"),
    ("benchmark", [*BENCH, "--steps", "0"], "--steps"),
    ("benchmark", [*BENCH, "--set", "gamma=2"], "gamma must be"),
    ("benchmark", [*BENCH, "--set", "nope=2"], "unknown --set key 'nope'"),
    ("benchmark", [*BENCH, "--device", "foo"], "device must be one of"),
    ("benchmark", [*BENCH, "--gpus-per-run", "-1"], "--gpus-per-run"),
    ("benchmark", [*BENCH, "--backend", "slurm"], "invalid choice: 'slurm'"),
    ("benchmark", [*BENCH[:-1], "notes.txt"], "is a file"),
    # plot.py
    ("plot", ["missing"], "do not exist"),
    ("plot", ["empty"], "no run folders"),
    ("plot", ["run", "--out", "notes.txt"], "is a file"),
    # demo.py
    ("demo", ["--seeds", "0"], "--seeds"),
    ("demo", ["--workers", "0"], "--workers"),
    ("demo", ["--steps", "-5"], "--steps"),
    ("demo", ["--out", "notes.txt"], "is a file"),
]
if not torch.cuda.is_available():
    CASES += [
        (T, [*BANDIT, "--device", "cuda"], "no CUDA device"),
        (T, [*BANDIT, "--device", "cuda:0"], "no CUDA device"),
        ("benchmark", [*BENCH, "--device", "cuda"], "no CUDA device"),
    ]


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize(("name", "argv", "expected"), CASES, ids=[" ".join(c[1])[-60:] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(
    name: str,
    argv: list[str],
    expected: str,
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    monkeypatch.chdir(workspace)
    before = snapshot(workspace)
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        script(name).main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "error: " in err and "Traceback" not in err
    assert expected in err
    assert snapshot(workspace) == before


SUBPROCESS_CASES = [
    ("train", [*BANDIT, "--set", "gamma=1.5"], "gamma must be"),
    ("train", ["--agent", "bad_syntax.yaml", "--env", "relabelled_bandit_quick"], "bad_syntax.yaml"),
    ("benchmark", ["--summary-only", "--out", "missing"], "does not exist"),
    ("plot", ["missing"], "do not exist"),
]


@pytest.mark.parametrize(("name", "argv", "expected"), SUBPROCESS_CASES)
def test_bad_input_exit_status_from_a_process(name: str, argv: list[str], expected: str, workspace: Path) -> None:
    before = snapshot(workspace)
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / f"{name}.py"), *argv],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr and expected in proc.stderr
    assert proc.stdout == ""
    assert snapshot(workspace) == before
