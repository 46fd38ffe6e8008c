"""Non-stationary environments for studying loss of plasticity (gymnasium and numpy only).

* :class:`TaskSwitchingWrapper` switches tasks of a stationary env on a schedule, from its own seeded generator.
* Task families (:mod:`~syre_rl.nonstationary.families`): MuJoCo and classic-control physics, observation and action
  permutations, env cycling, relabelling of a contextual bandit.
* Schedules (:mod:`~syre_rl.nonstationary.schedules`): fixed interval (optionally aligned to episode ends), cyclic,
  random-walk and trend drift, every K episodes, memoryless, manual.
* Scenario recipes in ``envs/*.yaml`` (:mod:`~syre_rl.nonstationary.scenarios`), registered as ``syre_rl/...`` ids on
  import.
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
)
from syre_rl.nonstationary.registration import SCENARIO_IDS, register_envs
from syre_rl.nonstationary.scenarios import (
    list_scenarios,
    load_scenario,
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
)
from syre_rl.nonstationary.wrapper import TaskSwitchingWrapper

register_envs()

__all__ = [
    "FAMILIES",
    "SCENARIO_IDS",
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
    "list_scenarios",
    "load_scenario",
    "make_env_fns",
    "make_scenario_env",
    "register_envs",
    "validate_recipe",
]
