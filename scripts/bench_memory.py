#!/usr/bin/env python
"""Resident memory (RSS) of one training run over a long bandit run: does it stay flat after warm-up?

    python scripts/bench_memory.py --out results/bench_memory.json [--agent ppo] [--env relabelled_bandit_quick]
        [--steps 1000000] [--every 50000] [--warmup 200000] [--set key=value ...]

Trains one run in this process (into a temporary run folder, deleted afterwards) and reads the process's RSS from
``/proc/self/status`` every ``--every`` environment steps. The growth is the RSS at the last sample minus the RSS
at the first sample after ``--warmup`` steps, in MB (10^6 bytes); the largest and smallest samples after warm-up are
reported too. Writes a JSON file with every sample; refuses to overwrite it.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from stable_baselines3.common.callbacks import BaseCallback

from syre_rl.experiments.cli import OneLineParser, int_at_least

MB = 1e6


def rss_bytes() -> int:
    """Resident set size of this process, in bytes (Linux ``/proc/self/status``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class RssSampler(BaseCallback):
    """Record ``(timesteps, rss_bytes)`` every ``every`` environment steps (all sub-envs together).

    :param every: steps between samples.
    """

    def __init__(self, every: int) -> None:
        super().__init__()
        self.every = every
        self.samples: list[tuple[int, int]] = []
        self._next = 0

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self.samples.append((self.num_timesteps, rss_bytes()))
            self._next = self.num_timesteps + self.every
        return True


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file of the results (must not exist)")
    parser.add_argument("--agent", default="ppo", help="agent recipe (default ppo)")
    parser.add_argument("--env", default="relabelled_bandit_quick", help="scenario (default relabelled_bandit_quick)")
    parser.add_argument("--steps", type=int_at_least(1), default=1_000_000, help="environment steps (default 1M)")
    parser.add_argument("--every", type=int_at_least(1), default=50_000, help="steps between samples (default 50k)")
    parser.add_argument(
        "--warmup", type=int_at_least(0), default=200_000, help="steps before the reference sample (default 200k)"
    )
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="seed (default 0)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    if args.out.exists():
        parser.fail(f"--out {str(args.out)!r} exists; choose another path (results are never overwritten)")
    if args.warmup >= args.steps:
        parser.fail(f"--warmup must be below --steps ({args.steps}), got {args.warmup}")

    import torch

    from syre_rl.experiments.config import resolve_config
    from syre_rl.experiments.run import train

    torch.set_num_threads(1)
    try:
        config = resolve_config(
            args.agent, args.env, seed=args.seed, overrides=args.overrides, total_steps=args.steps, device="cpu"
        )
    except ValueError as exc:
        parser.fail(exc)
    sampler = RssSampler(args.every)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        train(config, Path(folder) / "run", extra_callbacks=[sampler])
    seconds = time.perf_counter() - start
    after = [rss for steps, rss in sampler.samples if steps >= args.warmup]
    if len(after) < 2:
        parser.fail(f"fewer than 2 samples after warm-up; lower --every (now {args.every})")
    result = {
        "command": " ".join(["python scripts/bench_memory.py", *(argv if argv is not None else sys.argv[1:])]),
        "agent": args.agent,
        "scenario": args.env,
        "steps": args.steps,
        "backend": config["scenario_recipe"].get("backend"),
        "warmup": args.warmup,
        "growth_mb": round((after[-1] - after[0]) / MB, 2),
        "range_mb": round((max(after) - min(after)) / MB, 2),
        "rss_at_warmup_mb": round(after[0] / MB, 1),
        "seconds": round(seconds, 1),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "samples": [{"timesteps": steps, "rss_mb": round(rss / MB, 2)} for steps, rss in sampler.samples],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"{args.agent} on {args.env} ({result['backend']} backend), {args.steps} steps in {seconds:.0f} s: "
        f"RSS {result['rss_at_warmup_mb']} MB after {args.warmup} steps, growth {result['growth_mb']:+.2f} MB to the "
        f"end, range {result['range_mb']:.2f} MB after warm-up -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
