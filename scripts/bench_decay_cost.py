"""Measure what the default decay costs on a quick stationary task: PPO, PPO + L2, SyrePPO and SyrePPO without decay.

Every variant trains on CartPole-v1 with RL Zoo's PPO hyperparameters for it (8 envs, n_steps 32, batch 256,
20 epochs, gamma 0.98, GAE lambda 0.8, learning rate and clip range decaying linearly from 1e-3 and 0.2) for a fixed
budget, then plays ``--eval-episodes`` deterministic episodes on a separately seeded env. Variants run one after the
other for each seed, in an order that rotates between seeds. The task never changes, so nothing here is about
plasticity: it shows what the decay trades on a task that plain PPO learns quickly.

    ppo            stable_baselines3.PPO
    ppo_l2         AnchoredDecayPPO, anchor 0, weight_decay 0.002 (coupled, as SyrePPO)
    syre_ppo       SyrePPO with its defaults (weight_decay 0.002, sigma_scale 0.01)
    syre_ppo_wd0   SyrePPO with weight_decay 0: the offset theta_0 alone

Reproduce the README table (2 CPU cores):
    python scripts/bench_decay_cost.py --steps 50000 --seeds 0 1 2 3 4 5 6 7
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from syre_rl import AnchoredDecayPPO, SyrePPO

VARIANTS: dict[str, Callable[..., BaseAlgorithm]] = {
    "ppo": lambda env, **kw: PPO("MlpPolicy", env, **kw),
    "ppo_l2": lambda env, **kw: AnchoredDecayPPO("MlpPolicy", env, anchor="zero", weight_decay=0.002, **kw),
    "syre_ppo": lambda env, **kw: SyrePPO("MlpPolicy", env, **kw),
    "syre_ppo_wd0": lambda env, **kw: SyrePPO("MlpPolicy", env, weight_decay=0.0, **kw),
}


def rl_zoo_cartpole(seed: int) -> dict[str, Any]:
    """RL Zoo's PPO hyperparameters for CartPole-v1 (rl-baselines3-zoo, hyperparams/ppo.yml)."""
    return dict(
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=lambda progress: 1e-3 * progress,
        clip_range=lambda progress: 0.2 * progress,
        seed=seed,
        device="cpu",
    )


def run(variant: str, steps: int, seed: int, eval_episodes: int) -> dict[str, Any]:
    """Train one variant and evaluate it; returns a CSV row."""
    model = VARIANTS[variant](make_vec_env("CartPole-v1", n_envs=8, seed=seed), **rl_zoo_cartpole(seed))
    start = time.perf_counter()
    model.learn(steps)
    seconds = time.perf_counter() - start
    eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=10_000 + seed)
    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=eval_episodes, deterministic=True)
    return {"variant": variant, "seed": seed, "steps": steps, "eval_return": mean, "eval_std": std, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50_000, help="environment steps per run (default 50000)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="seeds (default 0-4)")
    parser.add_argument("--eval-episodes", type=int, default=20, help="evaluation episodes per run (default 20)")
    parser.add_argument("--out", default="results/bench_decay_cost.csv", help="CSV of every run")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    args = parser.parse_args()
    if args.steps < 1 or args.eval_episodes < 1:
        parser.error(f"--steps and --eval-episodes must be >= 1, got {args.steps} and {args.eval_episodes}")
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        parser.error(f"--out {args.out} exists; pass --overwrite to replace it or choose another path")
    torch.set_num_threads(1)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = list(VARIANTS)
    rows = []
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["variant", "seed", "steps", "eval_return", "eval_std", "seconds"])
        writer.writeheader()
        for i, seed in enumerate(args.seeds):
            for variant in names[i % len(names) :] + names[: i % len(names)]:
                rows.append(run(variant, args.steps, seed, args.eval_episodes))
                writer.writerow(rows[-1])
                f.flush()
                print(f"seed {seed} {variant:13s} return {rows[-1]['eval_return']:6.1f} ({rows[-1]['seconds']:.0f} s)")
    print(f"\nCartPole-v1, {args.steps} steps, {len(args.seeds)} seeds, {args.eval_episodes} evaluation episodes")
    print("variant        mean   median  min    max    runs at 500")
    for variant in names:
        returns = [r["eval_return"] for r in rows if r["variant"] == variant]
        solved = sum(r >= 500 for r in returns)
        print(
            f"{variant:13s} {statistics.mean(returns):6.1f} {statistics.median(returns):6.1f} "
            f"{min(returns):6.1f} {max(returns):6.1f}  {solved}/{len(returns)}"
        )
    print(f"runs written to {out}")


if __name__ == "__main__":
    main()
