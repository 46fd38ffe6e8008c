"""SyreDQN and AnchoredDecayDQN: Stable-Baselines3's DQN with an anchored decay on its policy, of any class."""

from __future__ import annotations

from typing import ClassVar

from stable_baselines3 import DQN

from syre_rl.anchored_algorithm import AnchoredDecayAlgorithm, SyreAlgorithm
from syre_rl.decay import Anchor


class AnchoredDecayDQN(AnchoredDecayAlgorithm, DQN):
    """DQN (Mnih et al. 2015) with weight decay toward an anchor: L2 (``anchor="zero"``, the default), L2-Init
    (``"init"``) or syre (``"syre"``, as :class:`SyreDQN`).  Same arguments as :class:`stable_baselines3.DQN`, plus the
    decay settings of :class:`~syre_rl.anchored_algorithm.AnchoredDecayAlgorithm`; same training loop and
    ``save``/``load``; ``policy`` is one of DQN's aliases or any of its policy classes. The decay treats the Q-network
    (its optimizer's parameters); the target Q-network is copied from it every ``target_update_interval`` steps and
    starts from the shifted Q-network."""

    default_anchor: ClassVar[Anchor] = "zero"


class SyreDQN(SyreAlgorithm, AnchoredDecayDQN):
    """DQN (Mnih et al. 2015) whose networks are trained as ``theta + theta_0`` with weight decay on ``theta`` (syre): a
    drop-in replacement for :class:`stable_baselines3.DQN`, with the syre settings of :class:`SyrePPO
    <syre_rl.SyrePPO>`."""
