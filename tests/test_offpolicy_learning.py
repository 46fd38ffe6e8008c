"""SyreSAC, SyreTD3 and SyreDQN learn known easy tasks (slow tests, seeds fixed).

Each agent runs with the RL Zoo's hyperparameters for its task (rl-baselines3-zoo ``hyperparams/sac.yml``,
``td3.yml`` and ``dqn.yml``) and syre's defaults (``weight_decay=0.002``, ``sigma_scale=0.01``, coupled). Every
``EVAL_EVERY`` steps the greedy policy is evaluated on 10 episodes of a separately seeded env; a task counts as
reached when one of these evaluations, or the final one, has a mean return at or above the threshold within the step
budget (the best and the final mean returns are printed, run with ``-s`` to see them).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.noise import NormalActionNoise

from syre_rl import SyreDQN, SyreSAC, SyreTD3

EVAL_EPISODES = 10


def learn_and_evaluate(model: Any, env_id: str, steps: int, every: int, log_path: Path) -> tuple[float, float]:
    """Train ``model`` for ``steps`` env steps, evaluating every ``every``; return the best and the final mean."""
    eval_env = make_vec_env(env_id, n_envs=1, seed=1000)
    callback = EvalCallback(eval_env, eval_freq=every, n_eval_episodes=EVAL_EPISODES, log_path=str(log_path), verbose=0)
    start = time.perf_counter()
    model.learn(steps, callback=callback)
    final, _ = evaluate_policy(model, make_vec_env(env_id, n_envs=1, seed=2000), n_eval_episodes=EVAL_EPISODES)
    best = max(float(callback.best_mean_reward), float(final))
    seconds = time.perf_counter() - start
    curve = [round(float(np.mean(r)), 1) for r in callback.evaluations_results]
    print(f"{type(model).__name__} on {env_id}: best {best:.1f}, final {final:.1f}, {seconds:.0f} s; curve {curve}")
    return best, float(final)


@pytest.mark.slow
def test_syre_sac_solves_pendulum_within_20k_steps(tmp_path: Path) -> None:
    # rl-baselines3-zoo hyperparams/sac.yml, Pendulum-v1: learning rate 1e-3, SB3's defaults otherwise.
    model = SyreSAC("MlpPolicy", make_vec_env("Pendulum-v1", n_envs=1, seed=0), learning_rate=1e-3, seed=0)
    best, _ = learn_and_evaluate(model, "Pendulum-v1", 20_000, every=2_000, log_path=tmp_path)
    assert best >= -250


@pytest.mark.slow
def test_syre_td3_solves_pendulum_within_20k_steps(tmp_path: Path) -> None:
    # rl-baselines3-zoo hyperparams/td3.yml, Pendulum-v1: gamma 0.98, buffer 200k, 10k random steps first, Gaussian
    # action noise of std 0.1, learning rate 1e-3, network [400, 300]; one gradient step per env step.
    model = SyreTD3(
        "MlpPolicy",
        make_vec_env("Pendulum-v1", n_envs=1, seed=0),
        gamma=0.98,
        buffer_size=200_000,
        learning_starts=10_000,
        action_noise=NormalActionNoise(mean=np.zeros(1), sigma=0.1 * np.ones(1)),
        learning_rate=1e-3,
        train_freq=1,
        gradient_steps=1,
        policy_kwargs={"net_arch": [400, 300]},
        seed=0,
    )
    best, _ = learn_and_evaluate(model, "Pendulum-v1", 20_000, every=2_000, log_path=tmp_path)
    assert best >= -250


@pytest.mark.slow
def test_syre_dqn_solves_cartpole_within_60k_steps(tmp_path: Path) -> None:
    # rl-baselines3-zoo hyperparams/dqn.yml, CartPole-v1 (the dqn recipe's settings).
    model = SyreDQN(
        "MlpPolicy",
        make_vec_env("CartPole-v1", n_envs=1, seed=0),
        learning_rate=2.3e-3,
        batch_size=64,
        buffer_size=100_000,
        learning_starts=1000,
        gamma=0.99,
        target_update_interval=10,
        train_freq=256,
        gradient_steps=128,
        exploration_fraction=0.16,
        exploration_final_eps=0.04,
        policy_kwargs={"net_arch": [256, 256]},
        seed=0,
    )
    best, _ = learn_and_evaluate(model, "CartPole-v1", 60_000, every=5_000, log_path=tmp_path)
    assert best >= 195
