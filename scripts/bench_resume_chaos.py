#!/usr/bin/env python
"""Kill -9 a training run at random moments, resume it each time, and check that it ends as the uninterrupted run.

For each agent, ``scripts/train.py`` trains once without interruption (the reference), then once more as a chain of
sessions: each session is started (with ``--resume`` after the first), killed with SIGKILL at a random moment and
resumed, ``--kills`` times; one more session per ``--write-kills`` is killed in the middle of writing a checkpoint
(it is started through this script, which makes the checkpoint writer stop halfway through one of the checkpoint's
files, and killed there); a last session runs to the end. A random moment is a random step of the run: the kill
comes a random 0-50 ms after the session's ``episodes.csv`` passes that step, so it can fall in a rollout, an update,
a measurement or a checkpoint write. The kill steps are drawn uniformly over the run and sorted.

Checked: after every kill, that ``episodes.csv`` and ``metrics.csv`` (up to their last complete row) are prefixes of
the reference's, byte for byte; at the end, that ``episodes.csv``, ``tasks.csv`` and ``metrics.csv`` are identical
byte for byte and that every tensor of ``model.zip`` (weights, optimizer state, syre anchors) is identical. Every
run uses one torch thread.

Continual backprop and ReDo act within a short run only with shorter periods than their recipes' (maturity 10000
optimizer steps, every 100 rollouts): unless ``--recipe-settings``, ppo_cbp runs with ``maturity_threshold=64,
replacement_rate=0.01`` and ppo_redo with ``every_n_rollouts=2``.

Example (about 6 minutes on 2 cores):
    python scripts/bench_resume_chaos.py --out results/chaos --agents ppo syre_ppo ppo_cbp ppo_redo --kills 10
        --write-kills 1 --steps 16384 --checkpoint-every 2048

The output folder holds one folder per agent (``reference/`` and ``chaos/`` run folders, ``sessions.csv``) and
``summary.csv``; an existing, non-empty output folder is refused.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import runpy
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
TRAIN = SCRIPTS / "train.py"
LOGS = ("episodes.csv", "tasks.csv", "metrics.csv")
GROWING_LOGS = ("episodes.csv", "metrics.csv")
ACTIVE = {
    "ppo_cbp": ["interventions.0.maturity_threshold=64", "interventions.0.replacement_rate=0.01"],
    "ppo_redo": ["interventions.0.every_n_rollouts=2"],
}
SESSION_COLUMNS = ("kind", "target_step", "killed", "exit_code", "last_step", "where", "seconds", "prefix_ok")
# First argument of this script when it runs a session that stops in a checkpoint write.
_CHILD = "--session-stopping-in-a-checkpoint-write"
POLL_S = 0.005


@dataclass
class AgentResult:
    """What one agent's chain of sessions gave."""

    agent: str
    kills: int = 0
    write_kills: int = 0
    resumes: int = 0
    prefixes_ok: int = 0
    logs_identical: bool = False
    weights_identical: bool = False
    seconds: float = 0.0
    sessions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.logs_identical and self.weights_identical and self.prefixes_ok == self.kills + self.write_kills


def train_command(args: argparse.Namespace, agent: str, out: Path, resume: bool) -> list[str]:
    overrides = [f"checkpoint_every={args.checkpoint_every}", *args.overrides]
    if not args.recipe_settings:
        overrides += ACTIVE.get(agent, [])
    command = ["--agent", agent, "--env", args.env, "--seed", str(args.seed), "--steps", str(args.steps)]
    command += ["--out", str(out), "--no-progress", "--threads", "1"]
    for override in overrides:
        command += ["--set", override]
    return command + (["--resume"] if resume else [])


def last_step(path: Path) -> int:
    """The ``timesteps`` of the last complete row of a CSV log (-1 when there is none)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - 4096))
            tail = f.read()
    except FileNotFoundError:
        return -1
    lines = tail[: tail.rfind(b"\n")].split(b"\n")
    try:
        return int(float(lines[-1].split(b",")[0]))
    except ValueError:
        return -1


def complete_rows(data: bytes) -> bytes:
    return data[: data.rfind(b"\n") + 1]


def torch_files(model_zip: Path) -> dict[str, Any]:
    import torch

    with zipfile.ZipFile(model_zip) as z:
        return {n: torch.load(io.BytesIO(z.read(n)), weights_only=False) for n in z.namelist() if n.endswith(".pth")}


def same_tensors(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_tensors(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same_tensors(x, y) for x, y in zip(a, b))
    return bool(a == b)


def run_session(
    command: list[str], run_dir: Path, kill_step: int | None, write_kill: bool, rng: random.Random, log: Path
) -> dict[str, Any]:
    """One session: start it, kill it (at ``kill_step``, or halfway through a checkpoint write), or let it finish."""
    marker = run_dir.parent / "stopped_in_write"
    marker.unlink(missing_ok=True)
    if write_kill:
        argv = [sys.executable, __file__, _CHILD, str(marker), str(rng.randint(1, 4)), *command]
    else:
        argv = [sys.executable, str(TRAIN), *command]
    episodes = run_dir / "episodes.csv"
    before = last_step(episodes)
    start = time.perf_counter()
    with open(log, "ab") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        rewound = before < 0
        while process.poll() is None:
            if write_kill and marker.is_file():
                break
            if kill_step is not None:
                step = last_step(episodes)
                rewound = rewound or step != before  # the logs were cut back to the session's checkpoint
                if rewound and step >= kill_step:
                    time.sleep(rng.uniform(0.0, 0.05))
                    break
            time.sleep(POLL_S)
        killed = process.poll() is None
        if killed:
            process.send_signal(signal.SIGKILL)
        code = process.wait()
    return {
        "kind": "write kill" if write_kill else ("kill" if kill_step is not None else "to the end"),
        "target_step": kill_step if kill_step is not None else "",
        "killed": killed,
        "exit_code": code,
        "last_step": last_step(episodes),
        "where": marker.read_text() if write_kill and marker.is_file() else "",
        "seconds": round(time.perf_counter() - start, 2),
    }


def prefixes_match(run_dir: Path, reference: Path) -> bool:
    for name in GROWING_LOGS:
        path = run_dir / name
        data = complete_rows(path.read_bytes()) if path.is_file() else b""
        if not (reference / name).read_bytes().startswith(data):
            return False
    return True


def run_agent(args: argparse.Namespace, agent: str, folder: Path, rng: random.Random) -> AgentResult:
    folder.mkdir(parents=True)
    log = folder / "output.log"
    start = time.perf_counter()
    reference = folder / "reference"
    with open(log, "ab") as out:
        command = [sys.executable, str(TRAIN), *train_command(args, agent, reference, False)]
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the reference run of {agent} failed (exit code {done.returncode})")
    result = AgentResult(agent)
    chaos = folder / "chaos"
    kill_steps = sorted(rng.randrange(1, args.steps) for _ in range(args.kills))
    plan: list[int | None] = list(kill_steps)
    for _ in range(args.write_kills):
        plan.insert(rng.randint(0, len(plan)), None)
    sessions = [(step, step is None) for step in plan] + [(None, False)]
    for index, (kill_step, write_kill) in enumerate(sessions):
        command = train_command(args, agent, chaos, resume=index > 0)
        session = run_session(command, chaos, kill_step, write_kill, rng, log)
        result.resumes += index > 0
        if session["killed"]:
            result.kills += not write_kill
            result.write_kills += write_kill
            session["prefix_ok"] = prefixes_match(chaos, reference)
            result.prefixes_ok += session["prefix_ok"]
        result.sessions.append(session)
        if (chaos / "done").is_file():
            break
    if not (chaos / "done").is_file():
        session = run_session(train_command(args, agent, chaos, resume=True), chaos, None, False, rng, log)
        result.resumes += 1
        result.sessions.append(session)
    if (chaos / "done").is_file():
        result.logs_identical = all((chaos / n).read_bytes() == (reference / n).read_bytes() for n in LOGS)
        got, want = torch_files(chaos / "model.zip"), torch_files(reference / "model.zip")
        result.weights_identical = got.keys() == want.keys() and all(same_tensors(got[k], want[k]) for k in want)
    result.seconds = round(time.perf_counter() - start, 1)
    with open(folder / "sessions.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=SESSION_COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(result.sessions)
    return result


def stop_in_a_checkpoint_write(marker: Path, which: int, train_args: list[str]) -> None:
    """Run ``train.py`` with a checkpoint writer that stops for good halfway through the ``which``-th file it writes
    into ``checkpoints/`` (1: the model zip, 2: the state, 3: the tasks copy, 4: the manifest of a checkpoint), after
    writing ``marker``."""
    from syre_rl.experiments import checkpoints
    from syre_rl.run_layout import CHECKPOINT_DIR

    real_write = checkpoints.write_atomic
    written = 0

    def write_and_stop(path: Path, data: bytes) -> None:
        nonlocal written
        written += path.parent.name == CHECKPOINT_DIR
        if written == which:
            path.with_name(path.name + ".tmp").write_bytes(data[: len(data) // 2])
            marker.write_text(path.name)
            time.sleep(3600)
        real_write(path, data)

    checkpoints.write_atomic = write_and_stop
    sys.argv = [str(TRAIN), *train_args]
    runpy.run_path(str(TRAIN), run_name="__main__")


def print_table(results: list[AgentResult]) -> None:
    header = ("agent", "kills", "write kills", "resumes", "prefixes ok", "CSVs identical", "weights identical", "s")
    rows = [
        (
            r.agent,
            str(r.kills),
            str(r.write_kills),
            str(r.resumes),
            f"{r.prefixes_ok}/{r.kills + r.write_kills}",
            "yes" if r.logs_identical else "NO",
            "yes" if r.weights_identical else "NO",
            f"{r.seconds:.0f}",
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [_CHILD]:
        stop_in_a_checkpoint_write(Path(argv[1]), int(argv[2]), argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="output folder (must not exist or be empty)")
    parser.add_argument("--agents", nargs="+", default=["ppo", "syre_ppo", "ppo_cbp", "ppo_redo"])
    parser.add_argument("--env", default="relabelled_bandit_quick", help="scenario (default relabelled_bandit_quick)")
    parser.add_argument("--steps", type=int, default=16384, help="environment steps of each run (default 16384)")
    parser.add_argument("--checkpoint-every", type=int, default=2048, help="steps between checkpoints (default 2048)")
    parser.add_argument("--kills", type=int, default=10, help="kills at random moments per agent (default 10)")
    parser.add_argument("--write-kills", type=int, default=1, help="kills in a checkpoint write per agent (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="run seed and seed of the kill moments (default 0)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--recipe-settings", action="store_true", help="run ppo_cbp and ppo_redo as their recipes say")
    args = parser.parse_args(argv)
    for name in ("steps", "checkpoint_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.kills < 0 or args.write_kills < 0:
        parser.error("--kills and --write-kills must be >= 0")
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        parser.error(f"--out {args.out} exists and is not an empty folder; choose another path")
    args.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    results = [run_agent(args, agent, args.out / agent, rng) for agent in args.agents]
    with open(args.out / "summary.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["agent", "kills", "write_kills", "resumes", "prefixes_ok", "logs_identical", "weights_identical"]
        )
        for r in results:
            writer.writerow(
                [r.agent, r.kills, r.write_kills, r.resumes, r.prefixes_ok, r.logs_identical, r.weights_identical]
            )
    print_table(results)
    return 0 if all(r.identical for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
