"""SyreTD3 and AnchoredDecayTD3: Stable-Baselines3's TD3 with an anchored decay on its policy, of any class."""

from __future__ import annotations

from typing import ClassVar

from stable_baselines3 import TD3

from syre_rl.anchored_algorithm import AnchoredDecayAlgorithm, SyreAlgorithm
from syre_rl.decay import Anchor


class AnchoredDecayTD3(AnchoredDecayAlgorithm, TD3):
    """TD3 (Fujimoto et al. 2018) with weight decay toward an anchor: L2 (``anchor="zero"``, the default), L2-Init
    (``"init"``) or syre (``"syre"``, as :class:`SyreTD3`).  Same arguments as :class:`stable_baselines3.TD3`, plus the
    decay settings of :class:`~syre_rl.anchored_algorithm.AnchoredDecayAlgorithm`; same training loop and
    ``save``/``load``; ``policy`` is one of TD3's aliases or any of its policy classes. The decay treats the actor and
    the critics (their optimizers' parameters); the target actor and critics follow by Polyak averaging and start from
    the shifted online networks."""

    default_anchor: ClassVar[Anchor] = "zero"


class SyreTD3(SyreAlgorithm, AnchoredDecayTD3):
    """TD3 (Fujimoto et al. 2018) whose networks are trained as ``theta + theta_0`` with weight decay on ``theta``
    (syre): a drop-in replacement for :class:`stable_baselines3.TD3`, with the syre settings of :class:`SyrePPO
    <syre_rl.SyrePPO>`."""
