"""User-defined task families and schedules: passed as objects without registering, or registered under a type name
so that specs and scenario recipes can name them."""

import gymnasium as gym
import numpy as np
import pytest

from syre_rl.nonstationary import (
    FAMILIES,
    SCHEDULES,
    Schedule,
    TaskFamily,
    TaskSwitchingWrapper,
    register_schedule,
    register_task_family,
)
from syre_rl.nonstationary.scenarios import make_scenario_env


class PoleLength(TaskFamily):
    """CartPole with a pole half-length drawn from [low, high] per task."""

    def __init__(self, low: float = 0.4, high: float = 0.6) -> None:
        self.low, self.high = low, high

    def sample(self, rng, index, previous):
        return {"length": float(rng.uniform(self.low, self.high))}

    def apply(self, env, task):
        env.unwrapped.length = task["length"]


class EveryNSteps(Schedule):
    """Switch after ``n`` total steps in a task (a stand-in for a user's own rule)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def due(self, clock, at_reset, rng):
        return not at_reset and clock.global_steps - clock.task_start >= self.n


@pytest.fixture
def registries():
    families, schedules = dict(FAMILIES), dict(SCHEDULES)
    yield
    for registry, saved in ((FAMILIES, families), (SCHEDULES, schedules)):
        registry.clear()
        registry.update(saved)


def _lengths(env, steps):
    env.reset(seed=0)
    seen = []
    for _ in range(steps):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        seen.append((info["task_id"], env.unwrapped.length))
        if terminated or truncated:
            env.reset()
    return seen


def test_instances_of_unregistered_subclasses_are_accepted():
    env = TaskSwitchingWrapper(gym.make("CartPole-v1"), PoleLength(), EveryNSteps(5), seed=3)
    seen = _lengths(env, 12)
    assert [task for task, _ in seen] == [0] * 5 + [1] * 5 + [2] * 2
    lengths = [length for _, length in seen]
    assert len(set(lengths)) == 3 and all(0.4 <= x <= 0.6 for x in lengths)
    assert lengths[5] == env.task_sequence(2)[1]["length"]
    assert "pole_length" not in FAMILIES and "every_n_steps" not in SCHEDULES


def test_registered_types_build_from_specs_and_scenario_recipes(registries):
    assert register_task_family("pole_length", PoleLength) is PoleLength
    assert register_schedule("every_n_steps", EveryNSteps) is EveryNSteps
    assert PoleLength.type_name == "pole_length" and EveryNSteps.type_name == "every_n_steps"
    by_spec = TaskSwitchingWrapper(
        gym.make("CartPole-v1"), {"type": "pole_length", "low": 0.5}, {"type": "every_n_steps", "n": 5}, seed=3
    )
    by_object = TaskSwitchingWrapper(gym.make("CartPole-v1"), PoleLength(low=0.5), EveryNSteps(5), seed=3)
    assert _lengths(by_spec, 12) == _lengths(by_object, 12)

    recipe = {
        "name": "pole_lengths",
        "description": "CartPole with a new pole length every 5 steps",
        "source": "a test",
        "base_env": "CartPole-v1",
        "family": {"type": "pole_length", "high": 0.8},
        "schedule": {"type": "every_n_steps", "n": 5},
        "n_envs": 1,
        "total_steps": 100,
    }
    env = make_scenario_env(recipe, seed=1)
    assert isinstance(env.family, PoleLength) and env.family.high == 0.8
    with pytest.raises(ValueError, match=r"Unknown argument\(s\) \['width'\] for task family 'pole_length'"):
        TaskSwitchingWrapper(gym.make("CartPole-v1"), {"type": "pole_length", "width": 1}, EveryNSteps(5))


def test_registration_refuses_name_clashes_and_wrong_base_classes(registries):
    before_families, before_schedules = dict(FAMILIES), dict(SCHEDULES)
    with pytest.raises(ValueError, match="task family type 'obs_permutation' is already registered for"):
        register_task_family("obs_permutation", PoleLength)
    with pytest.raises(ValueError, match="schedule type 'manual' is already registered for"):
        register_schedule("manual", EveryNSteps)
    with pytest.raises(ValueError, match="a schedule class must be a subclass of Schedule"):
        register_schedule("pole_length", PoleLength)
    with pytest.raises(ValueError, match="a task family class must be a subclass of TaskFamily"):
        register_task_family("dict", dict)
    assert FAMILIES == before_families and SCHEDULES == before_schedules
    register_task_family("pole_length", PoleLength)
    register_task_family("pole_length", PoleLength)  # registering the same class again is harmless
    with pytest.raises(ValueError, match=r"already registered for .*PoleLength"):
        register_task_family("pole_length", type("Other", (PoleLength,), {}))


def test_unregistered_user_family_stays_deterministic_per_seed():
    a = TaskSwitchingWrapper(gym.make("CartPole-v1"), PoleLength(), EveryNSteps(5), seed=7)
    b = TaskSwitchingWrapper(gym.make("CartPole-v1"), PoleLength(), EveryNSteps(5), seed=7)
    np.testing.assert_array_equal([t["length"] for t in a.task_sequence(4)], [t["length"] for t in b.task_sequence(4)])
