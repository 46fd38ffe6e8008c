"""Small pieces shared by several test modules."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback

# --set overrides that shrink any scenario run to a few seconds (tasks of 256 steps, tiny nets, no probe).
TINY_OVERRIDES = [
    "scenario.schedule.steps_per_task=256",
    "n_steps=32",
    "batch_size=64",
    "n_epochs=1",
    "policy_kwargs.net_arch=[8, 8]",
    "plasticity.batch_size=32",
    "plasticity.probe_every=0",
]

# --set overrides that shrink an off-policy run to a few seconds: tasks of 256 steps, a tiny net, a small replay buffer
# filled by a short random phase (the recipes' values are meant for long runs), no probe.
OFF_POLICY_SMOKE = [
    "scenario.schedule.steps_per_task=256",
    "learning_starts=64",
    "buffer_size=1000",
    "batch_size=32",
    "policy_kwargs.net_arch=[8, 8]",
    "plasticity.batch_size=32",
    "plasticity.probe_every=0",
]

# Per algorithm family (see agent_family): a catalogue scenario whose actions the family takes, and the --set
# overrides of a smoke run on it. DQN on the bandit (4 envs): 4 gradient steps every 16 vector-env steps; SAC and
# TD3 on the 1-env Pendulum: 2 gradient steps every 8 steps.
SMOKE: dict[str, tuple[str, list[str]]] = {
    "on_policy": ("relabelled_bandit", TINY_OVERRIDES),
    "discrete": ("relabelled_bandit", [*OFF_POLICY_SMOKE, "train_freq=16", "gradient_steps=4"]),
    "continuous": ("pendulum_physics", [*OFF_POLICY_SMOKE, "train_freq=8", "gradient_steps=2"]),
}


def agent_family(agent: str) -> str:
    """``"on_policy"`` (PPO and its forms: any action space), ``"discrete"`` (DQN: Discrete actions) or
    ``"continuous"`` (SAC, TD3: Box actions) for an agent recipe given by name or path."""
    from syre_rl.experiments.agents import load_agent
    from syre_rl.experiments.classes import accepted_action_spaces, resolve_algorithm

    accepted = accepted_action_spaces(resolve_algorithm(load_agent(agent)["algorithm"]))
    if accepted is None:
        return "on_policy"
    return "discrete" if spaces.Discrete in accepted else "continuous"


class SwitchAt(gym.Wrapper):
    """An env announcing task 0 at its first step and task 1 from its step ``at`` on, like the task-switching
    wrapper's info keys (``task_id``, ``task``, ``task_switch``)."""

    def __init__(self, env: gym.Env, at: int) -> None:
        super().__init__(env)
        self.at, self.t = at, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.t += 1
        task = int(self.t >= self.at)
        info.update(task_id=task, task={"k": task}, task_switch=self.t in (1, self.at))
        return obs, reward, terminated, truncated, info


class Interrupt(BaseCallback):
    """Stand-in for a killed process: raises once training passes ``at`` steps."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.at:
            raise KeyboardInterrupt(f"interrupted at {self.num_timesteps}")
        return True


# A small contextual bandit for batched-path tests.
BANDIT = {"n_inputs": 16, "dim": 4, "n_actions": 3, "input_seed": 0}

# Relabelled bandit, 4 envs, a task every 512 steps, a rollout (and a checkpoint) every 256 steps, a measurement
# every 2 rollouts.
TINY_RUN = [
    "scenario.schedule.steps_per_task=512",
    "n_steps=64",
    "batch_size=128",
    "n_epochs=1",
    "policy_kwargs.net_arch=[16, 16]",
    "plasticity.batch_size=64",
    "plasticity.probe_every=0",
    "plasticity.every_n_rollouts=2",
    "checkpoint_every=256",
]


def scenario_dict(base_env: str, family: dict, schedule: dict, n_envs: int = 4, **env_kwargs: Any) -> dict[str, Any]:
    """A scenario recipe as a dict, for tests that build their own scenario."""
    return {
        "name": "test",
        "description": "test scenario",
        "source": "test",
        "base_env": base_env,
        "env_kwargs": env_kwargs,
        "family": family,
        "schedule": schedule,
        "n_envs": n_envs,
        "total_steps": 100_000,
    }
