"""Registration of the stationary building blocks of this package as gymnasium ids under the ``syre_rl/`` namespace.

The scenario ids (``syre_rl/PermutedCartPole-v0``, ...) load recipe files, so they are registered by
:mod:`syre_rl.experiments.scenarios`; ``import syre_rl`` registers both.
"""

from __future__ import annotations

import gymnasium as gym

NAMESPACE = "syre_rl"

#: stationary building blocks: registered id (without namespace) -> entry point
BASE_IDS: dict[str, str] = {
    "ContextualBandit-v0": "syre_rl.nonstationary.bandit:ContextualBanditEnv",
    "EnvSequence-v0": "syre_rl.nonstationary.env_sequence:EnvSequence",
}


def register_envs() -> None:
    """Register every id of :data:`BASE_IDS` once (idempotent)."""
    for name, entry_point in BASE_IDS.items():
        env_id = f"{NAMESPACE}/{name}"
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point)
