"""Measure what syre costs in training: SyrePPO (SyreSAC, SyreTD3, SyreDQN) against the same algorithm with the same
plain weight decay.

Paired runs: for every seed, the plain algorithm with Adam(weight_decay=gamma) and its syre form
(weight_decay=gamma) train on the same environment with the same seed and hyperparameters, one after the other
(order alternating between seeds, so drifts of machine load hit both sides). The figure is the ratio of environment
steps per second, syre / plain, per pair, measured both per wall-clock second and per CPU second of the training
process; the script reports the median, minimum and maximum of each, and writes every run to a CSV.

``--algorithm`` picks the pair (default ``ppo``: PPO vs SyrePPO on CartPole-v1, 4 envs, n_steps 256, batch 256,
4 epochs). The off-policy pairs ``sac`` and ``td3`` (Pendulum-v1) and ``dqn`` (CartPole-v1) train one env with SB3's
defaults except a [64, 64] MLP, a 50k replay buffer and one gradient step per env step (``train_freq=1``,
``gradient_steps=1``, learning from step 100), so a run of N steps makes N - 100 gradient steps, each followed by
syre's decay hook on every optimizer step. Their runs are short, so by default the two runs of a pair advance in
turns of 100 env steps (``--chunk``; each ``learn`` call continues the run), the side that goes first alternating
from turn to turn: both sides then meet the same machine load, which on a shared machine varies faster than a whole
run lasts. For them a markdown summary table is written next to the CSV as well.

Reproduce the README figure (2 CPU cores):
    python scripts/bench_syre_speed.py --env CartPole-v1 --steps 30000 --seeds 0 1 2 3 4 5
Off-policy pairs (the sizes measured on a shared 2-core machine; the defaults, 3000 steps x 5 pairs, suit an idle one):
    python scripts/bench_syre_speed.py --algorithm sac --steps 500 --seeds 0 1 2 3
    python scripts/bench_syre_speed.py --algorithm td3 --steps 600 --seeds 0 1 2 3
    python scripts/bench_syre_speed.py --algorithm dqn --steps 1100 --seeds 0 1 2 3
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from stable_baselines3 import DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env

from syre_rl import SyreDQN, SyrePPO, SyreSAC, SyreTD3
from syre_rl.experiments.paired import advance_in_turn

# algorithm -> (plain class, syre class, default env, default steps)
ALGORITHMS: dict[str, tuple[type[BaseAlgorithm], type[BaseAlgorithm], str, int]] = {
    "ppo": (PPO, SyrePPO, "CartPole-v1", 50_000),
    "sac": (SAC, SyreSAC, "Pendulum-v1", 3_000),
    "td3": (TD3, SyreTD3, "Pendulum-v1", 3_000),
    "dqn": (DQN, SyreDQN, "CartPole-v1", 3_000),
}
# Off-policy settings: SB3's defaults, except a small MLP, a smaller buffer and one gradient step per env step.
OFF_POLICY_HYPERPARAMETERS: dict[str, Any] = dict(
    buffer_size=50_000, learning_starts=100, train_freq=1, gradient_steps=1, policy_kwargs=dict(net_arch=[64, 64])
)
# Target of the ratio syre / plain (steps per second).
TARGET_RATIO = 0.97


def variant_names(algorithm: str) -> tuple[str, str]:
    """The CSV names of the pair: plain with L2 (``ppo_l2``) and syre (``syre_ppo``)."""
    return f"{algorithm}_l2", f"syre_{algorithm}"


def build(algorithm: str, syre: bool, env_id: str, seed: int, weight_decay: float, device: str) -> BaseAlgorithm:
    """One side of a pair: the plain algorithm with Adam's own ``weight_decay`` (L2 toward 0), or its syre form with
    the decay re-centred on ``theta_0``; same seed and hyperparameters otherwise.

    :param algorithm: ``ppo``, ``sac``, ``td3`` or ``dqn``.
    :param syre: build the syre form.
    :param env_id: gymnasium id.
    :param seed: seed of the algorithm and its env.
    :param weight_decay: gamma of both sides.
    :param device: torch device.
    """
    plain, syre_class, _, _ = ALGORITHMS[algorithm]
    if algorithm == "ppo":
        env = make_vec_env(env_id, n_envs=4, seed=seed)
        common: dict[str, Any] = dict(n_steps=256, batch_size=256, n_epochs=4, seed=seed, device=device)
        optimizer_kwargs: dict[str, Any] = dict(eps=1e-5)
    else:
        env = make_vec_env(env_id, n_envs=1, seed=seed)
        common = dict(OFF_POLICY_HYPERPARAMETERS, seed=seed, device=device)
        optimizer_kwargs = {}
    policy_kwargs = dict(common.pop("policy_kwargs", {}))
    if syre:
        return syre_class("MlpPolicy", env, weight_decay=weight_decay, policy_kwargs=policy_kwargs, **common)
    policy_kwargs["optimizer_kwargs"] = dict(optimizer_kwargs, weight_decay=weight_decay)
    return plain("MlpPolicy", env, policy_kwargs=policy_kwargs, **common)


class TimedRun:
    """One side of a pair, trained by one or several ``learn`` calls (each continuing the run) whose wall-clock and
    CPU seconds add up; on the syre side, the time inside syre's decay hook is summed too.

    CPU time of this process is less disturbed than wall time by other programs sharing the machine; the hook's own
    share is the most precise figure of syre's added cost, since it does not depend on the two runs' trajectories.

    :param algorithm: ``ppo``, ``sac``, ``td3`` or ``dqn``.
    :param variant: one of :func:`variant_names` of the algorithm.
    :param env_id: gymnasium id.
    :param seed: seed of the algorithm and its env.
    :param weight_decay: gamma of both sides.
    :param device: torch device.
    """

    def __init__(self, algorithm: str, variant: str, env_id: str, seed: int, weight_decay: float, device: str) -> None:
        self.model = build(algorithm, variant.startswith("syre_"), env_id, seed, weight_decay, device)
        self.wall = self.cpu = self.hook_seconds = 0.0
        if variant.startswith("syre_"):
            decay = self.model.anchored_decay  # type: ignore[attr-defined]
            apply = decay.apply

            def timed_apply(optimizer: torch.optim.Optimizer) -> None:
                t0 = time.perf_counter()
                apply(optimizer)
                self.hook_seconds += time.perf_counter() - t0

            decay.apply = timed_apply

    def advance(self, steps: int) -> None:
        """Train ``steps`` more environment steps (the first call starts the run).

        :param steps: environment steps of this call.
        """
        first = self.model.num_timesteps == 0
        start, start_cpu = time.perf_counter(), time.process_time()
        self.model.learn(steps, reset_num_timesteps=first)
        self.wall += time.perf_counter() - start
        self.cpu += time.process_time() - start_cpu

    def result(self) -> tuple[float, float, float, int]:
        """Environment steps per wall-clock second and per CPU second of ``learn``, the share of wall time spent
        inside syre's decay hook (0 for the plain side) and the number of gradient steps (updates)."""
        steps, updates = self.model.num_timesteps, int(getattr(self.model, "_n_updates", 0))
        return steps / self.wall, steps / self.cpu, self.hook_seconds / self.wall, updates


def timed_run(
    algorithm: str, variant: str, env_id: str, steps: int, seed: int, weight_decay: float, device: str
) -> tuple[float, float, float, int]:
    """Train once in one ``learn`` call; return :meth:`TimedRun.result`.

    :param algorithm: ``ppo``, ``sac``, ``td3`` or ``dqn``.
    :param variant: one of :func:`variant_names` of the algorithm.
    :param env_id: gymnasium id.
    :param steps: environment steps.
    :param seed: seed of the algorithm and its env.
    :param weight_decay: gamma of both sides.
    :param device: torch device.
    """
    run = TimedRun(algorithm, variant, env_id, seed, weight_decay, device)
    run.advance(steps)
    return run.result()


def run_pair(
    algorithm: str,
    order: list[str],
    env_id: str,
    steps: int,
    seed: int,
    weight_decay: float,
    device: str,
    chunk: int,
) -> dict[str, tuple[float, float, float, int]]:
    """Train both sides of a pair; return :meth:`TimedRun.result` by variant.

    :param algorithm: ``ppo``, ``sac``, ``td3`` or ``dqn``.
    :param order: the two variants, in the order they train (whole runs, or the first chunk).
    :param env_id: gymnasium id.
    :param steps: environment steps of each run.
    :param seed: seed of both runs.
    :param weight_decay: gamma of both sides.
    :param device: torch device.
    :param chunk: 0: each run whole, one after the other; else both runs advance by ``chunk`` steps in turn, the
        side that goes first alternating from chunk to chunk, so that both meet the same machine load.
    """
    if chunk <= 0:
        return {name: timed_run(algorithm, name, env_id, steps, seed, weight_decay, device) for name in order}
    runs = {name: TimedRun(algorithm, name, env_id, seed, weight_decay, device) for name in order}
    advance_in_turn(runs, order, steps, chunk)
    return {name: runs[name].result() for name in order}


def _describe(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f}, min {min(values):.3f}, max {max(values):.3f}"


def write_table(
    path: Path,
    algorithm: str,
    env_id: str,
    steps: int,
    ratios: list[float],
    cpu: list[float],
    shares: list[float],
    updates: int,
) -> None:
    """Write the summary as a markdown table (one row per measure of the ratio).

    :param path: the ``.md`` file.
    :param algorithm: ``sac``, ``td3`` or ``dqn`` (or ``ppo``).
    :param env_id: gymnasium id.
    :param steps: environment steps of each run.
    :param ratios: the wall-clock ratios syre / plain, one per pair.
    :param cpu: the CPU-time ratios, one per pair.
    :param shares: the decay hook's share of the syre runs' wall time, one per pair.
    :param updates: gradient steps of one run.
    """
    plain, syre, _, _ = ALGORITHMS[algorithm]
    lines = [
        f"{syre.__name__} / {plain.__name__} + L2 (Adam weight_decay), {env_id}, {len(ratios)} pairs x {steps} steps "
        f"({updates} gradient steps per run); ratio of env steps per second, target >= {TARGET_RATIO}",
        "",
        "| measure | pairs | median ratio | min | max | target met |",
        "|---|---|---|---|---|---|",
    ]
    for label, values in (("per wall-clock second", ratios), ("per CPU second", cpu)):
        median = statistics.median(values)
        met = "yes" if median >= TARGET_RATIO else "no"
        lines.append(f"| {label} | {len(values)} | {median:.3f} | {min(values):.3f} | {max(values):.3f} | {met} |")
    share = (
        f"median {100 * statistics.median(shares):.2f}% (min {100 * min(shares):.2f}%, max {100 * max(shares):.2f}%)"
    )
    lines += ["", f"Time inside syre's decay hook: {share} of the syre runs' wall time."]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Run the paired benchmark (see the module docstring).

    :param argv: command-line arguments; default ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithm", choices=sorted(ALGORITHMS), default="ppo", help="the pair (default ppo)")
    parser.add_argument("--env", default=None, help="gymnasium id (default CartPole-v1; Pendulum-v1 for sac, td3)")
    parser.add_argument(
        "--steps", type=int, default=None, help="environment steps per run (default 50000 for ppo, 3000 otherwise)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="one pair per seed")
    parser.add_argument("--weight-decay", type=float, default=0.002, help="gamma for both sides (default 0.002)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--out",
        default=None,
        help="CSV of every run (default results/bench_syre_speed.csv for ppo, "
        "results/bench_offpolicy/bench_syre_speed_<algorithm>.csv otherwise)",
    )
    parser.add_argument(
        "--chunk",
        type=int,
        default=None,
        help="interleave the two runs of a pair in chunks of this many env steps, the side going first alternating "
        "(each learn() call continues the run); 0: whole runs one after the other (default 0 for ppo, 100 otherwise)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run (one short pair, no warm-up) to test the script"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    args = parser.parse_args(argv)
    plain_class, syre_class, default_env, default_steps = ALGORITHMS[args.algorithm]
    env_id = args.env or default_env
    off_policy = args.algorithm != "ppo"
    warmup = OFF_POLICY_HYPERPARAMETERS["learning_starts"] + 200 if off_policy else 2048
    if args.smoke:
        args.steps = args.steps or (OFF_POLICY_HYPERPARAMETERS["learning_starts"] + 28 if off_policy else 1024)
        args.seeds, warmup = args.seeds[:1], 0
    steps = args.steps or default_steps
    chunk = (100 if off_policy else 0) if args.chunk is None else args.chunk
    if steps < 1 or args.threads < 1:
        parser.error("--steps and --threads must be >= 1")
    if args.out is None:
        default_out = f"results/bench_offpolicy/bench_syre_speed_{args.algorithm}.csv"
        args.out = default_out if off_policy else "results/bench_syre_speed.csv"
    if Path(args.out).exists() and not args.overwrite:
        parser.error(f"--out {args.out} exists; pass --overwrite to replace it or choose another path")
    torch.set_num_threads(args.threads)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plain, syre = variant_names(args.algorithm)
    rows, ratios, cpu_ratios, shares, updates = [], [], [], [], 0
    if warmup:  # warm-up: imports, allocator, caches
        timed_run(args.algorithm, syre, env_id, warmup, 0, args.weight_decay, args.device)
    for i, seed in enumerate(args.seeds):
        order = [plain, syre] if i % 2 == 0 else [syre, plain]
        sps = run_pair(args.algorithm, order, env_id, steps, seed, args.weight_decay, args.device, chunk)
        ratios.append(sps[syre][0] / sps[plain][0])
        cpu_ratios.append(sps[syre][1] / sps[plain][1])
        shares.append(sps[syre][2])
        updates = sps[syre][3]
        for name in order:
            wall, cpu, hook_share, n_updates = sps[name]
            row: dict[str, Any] = dict(env=env_id, device=args.device, seed=seed, algorithm=name, steps=steps)
            row |= {
                "steps_per_wall_s": round(wall, 1),
                "steps_per_cpu_s": round(cpu, 1),
                "decay_hook_share": round(hook_share, 5),
            }
            if off_policy:
                row["gradient_steps"] = n_updates
            rows.append(row)
        print(
            f"seed {seed}: {plain} {sps[plain][0]:.0f} steps/s, {syre} {sps[syre][0]:.0f} steps/s, "
            f"ratio {ratios[-1]:.3f} (per CPU second {cpu_ratios[-1]:.3f})",
            flush=True,
        )
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\n{env_id}, {steps} steps x {len(args.seeds)} paired seeds, device {args.device}")
    if off_policy:
        names = f"{syre_class.__name__} / {plain_class.__name__}+L2"
        print(f"gradient steps per run: {updates}")
    else:
        names = "SyrePPO / PPO+L2"
    for label, values in (("per wall-clock second", ratios), ("per CPU second", cpu_ratios)):
        print(f"steps/s ratio {names}, {label}: {_describe(values)}")
    print(
        f"time inside syre's decay hook: median {100 * statistics.median(shares):.2f}% of "
        f"{'SyrePPO' if not off_policy else syre_class.__name__}'s wall time"
    )
    print(f"runs written to {out}")
    if off_policy:
        table = out.with_suffix(".md")
        write_table(table, args.algorithm, env_id, steps, ratios, cpu_ratios, shares, updates)
        print(f"summary table written to {table}")


if __name__ == "__main__":
    main()
