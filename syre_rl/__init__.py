"""syre-rl: study and fix loss of plasticity in deep RL with Stable-Baselines3.

The method lives in :mod:`syre_rl.syre` (torch only); SB3 integration in :mod:`syre_rl.policies` and
:class:`syre_rl.SyrePPO`. Names are imported lazily, so ``syre_rl.nonstationary`` (gymnasium and numpy only)
can be used without importing torch or SB3. Importing the package registers every ``syre_rl/...`` gymnasium id (the
scenarios of ``envs/`` and their building blocks), which needs gymnasium only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from syre_rl.experiments.scenarios import register_scenarios as _register_scenarios

__version__ = "0.1.0"

_LAZY = {
    "AnchoredDecay": "syre_rl.syre",
    "Syre": "syre_rl.syre",
    "apply_syre": "syre_rl.syre",
    "DecayConfig": "syre_rl.decay",
    "build_decay": "syre_rl.decay",
    "install_decay": "syre_rl.policies",
    "SyreActorCriticPolicy": "syre_rl.policies",
    "SyreActorCriticCnnPolicy": "syre_rl.policies",
    "SyreMultiInputActorCriticPolicy": "syre_rl.policies",
    "SyrePPO": "syre_rl.ppo",
    "AnchoredDecayPPO": "syre_rl.ppo",
    "SyreSAC": "syre_rl.sac",
    "AnchoredDecaySAC": "syre_rl.sac",
    "SyreTD3": "syre_rl.td3",
    "AnchoredDecayTD3": "syre_rl.td3",
    "SyreDQN": "syre_rl.dqn",
    "AnchoredDecayDQN": "syre_rl.dqn",
    "PlasticityCallback": "syre_rl.plasticity",
    "task_summary": "syre_rl.analysis",
    "TaskSwitchingWrapper": "syre_rl.nonstationary",
}

__all__ = [
    "AnchoredDecay",
    "AnchoredDecayDQN",
    "AnchoredDecayPPO",
    "AnchoredDecaySAC",
    "AnchoredDecayTD3",
    "DecayConfig",
    "PlasticityCallback",
    "Syre",
    "SyreActorCriticCnnPolicy",
    "SyreActorCriticPolicy",
    "SyreDQN",
    "SyreMultiInputActorCriticPolicy",
    "SyrePPO",
    "SyreSAC",
    "SyreTD3",
    "TaskSwitchingWrapper",
    "__version__",
    "apply_syre",
    "build_decay",
    "install_decay",
    "task_summary",
]

if TYPE_CHECKING:
    from syre_rl.analysis import task_summary
    from syre_rl.decay import DecayConfig, build_decay
    from syre_rl.dqn import AnchoredDecayDQN, SyreDQN
    from syre_rl.nonstationary import TaskSwitchingWrapper
    from syre_rl.plasticity import PlasticityCallback
    from syre_rl.policies import (
        SyreActorCriticCnnPolicy,
        SyreActorCriticPolicy,
        SyreMultiInputActorCriticPolicy,
        install_decay,
    )
    from syre_rl.ppo import AnchoredDecayPPO, SyrePPO
    from syre_rl.sac import AnchoredDecaySAC, SyreSAC
    from syre_rl.syre import AnchoredDecay, Syre, apply_syre
    from syre_rl.td3 import AnchoredDecayTD3, SyreTD3


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'syre_rl' has no attribute {name!r}")


_register_scenarios()
