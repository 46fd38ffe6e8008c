"""Registration of the scenario catalogue as gymnasium ids under the ``syre_rl/`` namespace.

Scenario ids accept ``seed`` (task sequence seed), ``n_envs`` and ``rank`` keyword arguments, e.g.
``gym.make("syre_rl/PermutedCartPole-v0", seed=1, n_envs=4, rank=0)``.
"""

from __future__ import annotations

import gymnasium as gym

NAMESPACE = "syre_rl"

#: registered id (without namespace) -> scenario recipe name in envs/
SCENARIO_IDS: dict[str, str] = {
    "SlipperyAnt-v0": "slippery_ant",
    "SlipperyAntQuick-v0": "slippery_ant_quick",
    "SlipperyHalfCheetah-v0": "slippery_halfcheetah",
    "PermutedCartPole-v0": "permuted_cartpole",
    "ActionPermutedCartPole-v0": "action_permuted_cartpole",
    "CartPoleDrift-v0": "cartpole_drift",
    "ClassicCycle-v0": "classic_cycle",
    "RelabelledBandit-v0": "relabelled_bandit",
    "RelabelledBanditQuick-v0": "relabelled_bandit_quick",
}

#: stationary building blocks
BASE_IDS: dict[str, str] = {
    "ContextualBandit-v0": "syre_rl.nonstationary.bandit:ContextualBanditEnv",
    "EnvSequence-v0": "syre_rl.nonstationary.env_sequence:EnvSequence",
}


def register_envs() -> None:
    """Register every id once (idempotent)."""
    for name, entry_point in BASE_IDS.items():
        env_id = f"{NAMESPACE}/{name}"
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point)
    for name, scenario in SCENARIO_IDS.items():
        env_id = f"{NAMESPACE}/{name}"
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point="syre_rl.nonstationary.scenarios:make_registered_scenario",
                kwargs={"scenario": scenario},
            )
