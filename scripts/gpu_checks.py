#!/usr/bin/env python
"""GPU measurements of the batched path, all in one go (under 8 minutes on one GPU), on a machine with CUDA.

1. steps/s of one SyrePPO run with ``--device cuda`` on the batched relabelled bandit and permuted CartPole
   (``relabelled_bandit_long`` and ``permuted_cartpole_long``) at 1024 envs, through ``scripts/train.py``
   (plasticity callback and checkpoints included, as in any run), the recipe's batch size and epochs;
2. the aggregate steps/s of 8 concurrent SyrePPO runs sharing the GPU, through
   ``scripts/benchmark.py --device cuda --workers 8`` (the batched bandit at 1024 envs, 8 seeds): the sum of the
   runs' steps over the wall time of the whole command (process start and CUDA set-up included), and the sum of
   the runs' own steps/s (from their ``done`` markers);
3. the torch-device batched path (``env_device: cuda``) against the numpy path, PPO on the GPU, at 1024 envs
   (``scripts/bench_throughput.py --env-device cuda``);
4. the batched Ant on MuJoCo Warp (``slippery_ant_gpu``), environment alone, at 1024, 4096 and 8192 worlds
   (``scripts/bench_warp_ant.py``), with the projected time of 20M environment steps;
5. SyrePPO end to end on ``slippery_ant_gpu`` at 1024, 4096 and 8192 worlds (three rollouts each, through
   ``scripts/train.py``), with the projected time of a 20M-step run at that rate (needs the extra ``gpu``).

Each step gets a share of the time budget and is stopped when it runs out (then reported as timed out, with no
figure). Without a CUDA device the script stops at once with exit status 2; ``--smoke`` runs the same commands on
the CPU with tiny budgets to check the plumbing, and its figures are not GPU measurements.

    python scripts/gpu_checks.py --out results/gpu_checks [--budget 450]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
N_ENVS = 1024
# scenario -> n_steps per env at N_ENVS (rollouts of 16384 and 8192 samples) and steps of one run (20 and 40 rollouts)
SINGLE_RUNS = {"relabelled_bandit_long": (16, 327_680), "permuted_cartpole_long": (8, 327_680)}
CONCURRENT = {"scenario": "relabelled_bandit_long", "n_steps": 16, "steps": 163_840, "workers": 8}
# share of the budget each step may use: two single runs, then the concurrent runs
SHARES = (0.1, 0.1, 0.2)
TORCH_SHARE, WARP_ENV_SHARE, WARP_PPO_SHARE = 0.1, 0.2, 0.3
WARP_SIZES = (1024, 4096, 8192)
WARP_ROLLOUT_STEPS = 16  # n_steps of slippery_ant_gpu
RUN_STEPS = 20_000_000


def cuda_description() -> str | None:
    """The GPU's name and torch's CUDA version, or None without a CUDA device."""
    import torch

    if not torch.cuda.is_available():
        return None
    return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__}, CUDA {torch.version.cuda})"


def run(cmd: list[str], timeout: float) -> tuple[float, int | None, str]:
    """Run a command; return its wall time, exit status (None when stopped at ``timeout``) and the end of its
    output."""
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=max(1.0, timeout))
        code: int | None = done.returncode
        tail = (done.stdout + done.stderr)[-2000:]
    except subprocess.TimeoutExpired as err:
        code = None
        tail = str(err)
    return time.perf_counter() - start, code, tail


def read_done(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "done").read_text())


def train_once(
    scenario: str,
    n_envs: int,
    steps: int,
    device: str,
    out: Path,
    budget: float,
    deadline: float,
    n_steps: int | None = None,
    projected_steps: int | None = None,
    sets: tuple[str, ...] = (),
) -> tuple[str, bool]:
    """One SyrePPO run through ``scripts/train.py``: its result line (steps/s, and with ``projected_steps`` the time
    of that many steps at that rate) and whether it finished within ``min(budget, deadline - now)`` seconds."""
    cmd = [sys.executable, str(SCRIPTS / "train.py"), "--agent", "syre_ppo", "--env", scenario, "--device", device]
    cmd += ["--steps", str(steps), "--set", f"n_envs={n_envs}", "--out", str(out), "--no-progress"]
    if n_steps is not None:
        cmd += ["--set", f"n_steps={n_steps}"]
    for item in sets:
        cmd += ["--set", item]
    print(" ".join(cmd[1:]), flush=True)
    wall, code, tail = run(cmd, min(budget, deadline - time.perf_counter()))
    label = f"syre_ppo {scenario} {n_envs} envs {device}: "
    if code != 0:
        print(tail, file=sys.stderr)
        line = label + ("timed out" if code is None else f"failed ({code})")
        print(line, flush=True)
        return line, False
    done = read_done(out)
    rate = done["steps_per_second"]
    line = label + f"{rate:.0f} steps/s ({done['num_timesteps']} steps in {done['seconds']:.1f} s; {wall:.1f} s "
    line += "with start-up)"
    if projected_steps is not None:
        line += f"; {projected_steps:,} steps at this rate: {projected_steps / rate / 60:.1f} min"
    print(line, flush=True)
    return line, True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the run folders (must not exist)")
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for all measurements (default 450)")
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny budgets: checks the plumbing, measures nothing")
    args = parser.parse_args(argv)
    if args.out.exists():
        print(f"error: {args.out} exists; not overwriting it", file=sys.stderr)
        return 2
    if args.smoke:
        device, scale, gpu = "cpu", 1 / 80, "none (smoke test on the CPU: not a GPU measurement)"
    else:
        described = cuda_description()
        if described is None:
            print("error: no CUDA device (torch.cuda.is_available() is False); nothing measured", file=sys.stderr)
            return 2
        device, scale, gpu = "cuda", 1.0, described
    print(f"device: {gpu}", flush=True)
    deadline = time.perf_counter() + args.budget
    python = sys.executable
    results: list[str] = []
    failed = False

    for (scenario, (n_steps, steps)), share in zip(SINGLE_RUNS.items(), SHARES, strict=False):
        steps = max(N_ENVS * n_steps, int(steps * scale) // (N_ENVS * n_steps) * N_ENVS * n_steps)
        line, ok = train_once(
            scenario, N_ENVS, steps, device, args.out / "single" / scenario, share * args.budget, deadline, n_steps
        )
        failed = failed or not ok
        results.append(line)

    workers = CONCURRENT["workers"]
    n_steps, scenario = int(CONCURRENT["n_steps"]), str(CONCURRENT["scenario"])
    rollout = N_ENVS * n_steps
    steps = max(rollout, int(int(CONCURRENT["steps"]) * scale) // rollout * rollout)
    out = args.out / "concurrent"
    cmd = [python, str(SCRIPTS / "benchmark.py"), "--agents", "syre_ppo", "--envs", scenario, "--seeds", str(workers)]
    cmd += ["--workers", str(workers), "--device", device, "--steps", str(steps), "--reference", "none"]
    cmd += ["--set", f"n_envs={N_ENVS}", "--set", f"n_steps={n_steps}", "--out", str(out)]
    print(" ".join(cmd[1:]), flush=True)
    wall, code, tail = run(cmd, deadline - time.perf_counter())
    dones = [read_done(p.parent) for p in out.rglob("done")]
    if code == 0 and len(dones) == workers:
        total = sum(d["num_timesteps"] for d in dones)
        own = sum(d["steps_per_second"] for d in dones)
        line = (
            f"{workers} concurrent syre_ppo runs, {scenario} {N_ENVS} envs {device}: {total / wall:.0f} steps/s "
            f"aggregate over the command's {wall:.1f} s ({total} steps), {own:.0f} steps/s summed over the runs"
        )
    else:
        failed = True
        status = "timed out" if code is None else f"failed ({code}, {len(dones)} of {workers} runs done)"
        line = f"{workers} concurrent syre_ppo runs, {scenario} {N_ENVS} envs {device}: {status}"
        print(tail, file=sys.stderr)
    print(line, flush=True)
    results.append(line)

    sizes = WARP_SIZES if not args.smoke else (4,)
    torch_cmd = [python, str(SCRIPTS / "bench_throughput.py"), "--out", str(args.out / "bench_torch_env.csv")]
    torch_cmd += ["--scenarios", "relabelled_bandit_long", "permuted_cartpole_long", "--n-envs", str(N_ENVS)]
    torch_cmd += ["--env-device", device, "--device", device, "--rollouts", "8", "--repeats", "1"]
    warp_cmd = [python, str(SCRIPTS / "bench_warp_ant.py"), "--n-envs", *map(str, sizes), "--device", device]
    warp_cmd += ["--steps", "100" if not args.smoke else "3", "--out", str(args.out / "bench_warp_ant.csv")]
    for label, cmd, share in (
        ("torch-device batched env vs numpy, PPO on " + device, torch_cmd, TORCH_SHARE),
        ("MuJoCo Warp Ant, environment alone", warp_cmd, WARP_ENV_SHARE),
    ):
        print(" ".join(cmd[1:]), flush=True)
        wall, code, tail = run(cmd, min(share * args.budget, deadline - time.perf_counter()))
        status = "done" if code == 0 else ("timed out" if code is None else f"failed ({code})")
        failed = failed or code != 0
        lines = [ln for ln in tail.splitlines() if "steps/s" in ln or ln.startswith("|")]
        print(tail if code != 0 else "\n".join(lines), file=sys.stderr if code != 0 else sys.stdout, flush=True)
        results.append(f"{label}: {status} in {wall:.1f} s; " + "; ".join(lines[-6:]))

    for n in sizes:
        budget = WARP_PPO_SHARE * args.budget / len(sizes)
        line, ok = train_once(
            "slippery_ant_gpu",
            n,
            3 * n * WARP_ROLLOUT_STEPS,
            device,
            args.out / "warp_ppo" / str(n),
            budget,
            deadline,
            projected_steps=RUN_STEPS,
            # the recipe's minibatch of 8192 needs 512+ worlds; the smoke test's few worlds take one minibatch
            sets=() if n * WARP_ROLLOUT_STEPS >= 8192 else (f"batch_size={n * WARP_ROLLOUT_STEPS}",),
        )
        failed = failed or not ok
        results.append(line)

    print("\nsummary (" + gpu + ")")
    for line in results:
        print("  " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
