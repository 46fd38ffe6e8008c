"""Non-stationary environments for studying loss of plasticity (gymnasium and numpy only).

* :class:`TaskSwitchingWrapper` switches tasks of a stationary env on a schedule, from its own seeded generator.
* Task families (:mod:`~syre_rl.nonstationary.families`): MuJoCo and classic-control physics, observation and action
  permutations, env cycling, relabelling of a contextual bandit.
* Schedules (:mod:`~syre_rl.nonstationary.schedules`): fixed interval (optionally aligned to episode ends), cyclic,
  random-walk and trend drift, every K episodes, memoryless, manual.
* Scenarios (:mod:`~syre_rl.nonstationary.scenarios`): a loaded scenario recipe (a dict) checked and turned into
  wrapped envs; its ``backend`` (:data:`BACKENDS`) says whether a run steps them one by one (``wrapper``) or all at
  once as arrays (``batched``, :mod:`syre_rl.nonstationary.batched`, imported on demand). The recipe files
  (``envs/*.yaml``) and their ``syre_rl/...`` ids belong to :mod:`syre_rl.experiments.scenarios`; the stationary
  building blocks are registered here, as ``syre_rl/ContextualBandit-v0`` and ``syre_rl/EnvSequence-v0``, on import.
"""

from syre_rl.nonstationary.bandit import ContextualBanditEnv
from syre_rl.nonstationary.env_sequence import EnvSequence
from syre_rl.nonstationary.families import (
    FAMILIES,
    AcrobotPhysicsFamily,
    ActionPermutation,
    BanditRelabel,
    CartPolePhysicsFamily,
    ContinuousMountainCarPhysicsFamily,
    EnvCycle,
    MountainCarPhysicsFamily,
    MujocoPhysicsFamily,
    ObservationPermutation,
    PendulumPhysicsFamily,
    TaskFamily,
    register_task_family,
)
from syre_rl.nonstationary.registration import BASE_IDS, register_envs
from syre_rl.nonstationary.scenarios import (
    BACKENDS,
    batched_support,
    env_seed,
    make_env_fns,
    make_scenario_env,
    validate_recipe,
)
from syre_rl.nonstationary.schedules import (
    SCHEDULES,
    Cyclic,
    EveryKEpisodes,
    FixedInterval,
    Manual,
    Memoryless,
    RandomWalk,
    Schedule,
    Trend,
    register_schedule,
)
from syre_rl.nonstationary.wrapper import TaskSwitchingWrapper

register_envs()

__all__ = [
    "BACKENDS",
    "BASE_IDS",
    "FAMILIES",
    "SCHEDULES",
    "AcrobotPhysicsFamily",
    "ActionPermutation",
    "BanditRelabel",
    "CartPolePhysicsFamily",
    "ContextualBanditEnv",
    "ContinuousMountainCarPhysicsFamily",
    "Cyclic",
    "EnvCycle",
    "EnvSequence",
    "EveryKEpisodes",
    "FixedInterval",
    "Manual",
    "Memoryless",
    "MountainCarPhysicsFamily",
    "MujocoPhysicsFamily",
    "ObservationPermutation",
    "PendulumPhysicsFamily",
    "RandomWalk",
    "Schedule",
    "TaskFamily",
    "TaskSwitchingWrapper",
    "Trend",
    "batched_support",
    "env_seed",
    "make_env_fns",
    "make_scenario_env",
    "register_envs",
    "register_schedule",
    "register_task_family",
    "validate_recipe",
]
