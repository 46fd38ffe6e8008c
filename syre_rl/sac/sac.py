"""SyreSAC and AnchoredDecaySAC: Stable-Baselines3's SAC with an anchored decay on its policy, of any class."""

from __future__ import annotations

from typing import ClassVar

from stable_baselines3 import SAC

from syre_rl.anchored_algorithm import AnchoredDecayAlgorithm, SyreAlgorithm
from syre_rl.decay import Anchor


class AnchoredDecaySAC(AnchoredDecayAlgorithm, SAC):
    """Soft Actor-Critic (Haarnoja et al. 2018) with weight decay toward an anchor: L2 (``anchor="zero"``, the default),
    L2-Init (``"init"``) or syre (``"syre"``, as :class:`SyreSAC`).  Same arguments as :class:`stable_baselines3.SAC`,
    plus the decay settings of :class:`~syre_rl.anchored_algorithm.AnchoredDecayAlgorithm`; same training loop and
    ``save``/``load``; ``policy`` is one of SAC's aliases or any of its policy classes. The decay treats the actor and
    both critics (their optimizers' parameters); the target critics follow by Polyak averaging and start from the
    shifted critics; the entropy coefficient, trained by its own optimizer on the algorithm, is not a policy parameter
    and is left untouched."""

    default_anchor: ClassVar[Anchor] = "zero"


class SyreSAC(SyreAlgorithm, AnchoredDecaySAC):
    """Soft Actor-Critic (Haarnoja et al. 2018) whose networks are trained as ``theta + theta_0`` with weight decay on
    ``theta`` (syre): a drop-in replacement for :class:`stable_baselines3.SAC`, with the syre settings of
    :class:`SyrePPO <syre_rl.SyrePPO>`."""
