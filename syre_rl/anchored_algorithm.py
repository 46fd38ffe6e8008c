"""An SB3 algorithm whose policy, of any class, is trained with an anchored decay (syre, L2 or L2-Init).

:class:`AnchoredDecayAlgorithm` is a mixin put before an SB3 algorithm class (``class SyrePPO(AnchoredDecayAlgorithm,
PPO)``). It adds the settings of :class:`~syre_rl.decay.DecayConfig` as keyword arguments, and nothing else: every
other argument, the training loop and ``save``/``load`` are the algorithm's own. After SB3 has built and initialised
the policy (``_setup_model``), the decay is installed on it with :func:`syre_rl.policies.install_decay`, whatever the
policy class: SB3's, a user's subclass with its own extractor or forward pass, or one of the anchored-decay policy
classes, which build the decay themselves from the same settings.

The settings are stored on the algorithm (``decay_config``), which SB3 saves; ``load`` rebuilds the policy, installs
the decay again and then restores the weights and the optimizer state, which holds the anchors, bit-exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

from syre_rl.decay import Anchor, DecayConfig
from syre_rl.policies import AnchoredDecayActorCriticPolicy, install_decay
from syre_rl.syre import AnchoredDecay, DecayMode, Syre


class AnchoredDecayAlgorithm:
    """Mixin for an SB3 algorithm: an anchored decay on its policy. Put it first among the bases.

    :param policy: the policy: an alias of the algorithm (``"MlpPolicy"``) or any policy class it accepts.
    :param env: the environment, as for the algorithm.
    :param anchor: ``"syre"``, ``"zero"`` (L2) or ``"init"`` (L2-Init); default :attr:`default_anchor`.
    :param weight_decay: gamma >= 0 (torch's weight_decay convention). Default 0.002.
    :param decay_mode: ``"coupled"`` (default) or ``"decoupled"``.
    :param sigma_scale: syre: ``sigma_0 = sigma_scale / sqrt(fan_in)``. Default 0.01.
    :param sigma_0: syre: one absolute offset std instead. Default None.
    :param ar_spread: syre-ar spread in [0, 1). Default 0.
    :param offset_seed: syre: seed of ``theta_0``; None follows the algorithm's ``seed``. Default None.
    :param decay_exclude: parameter names left untouched. Default ``("log_std",)``.
    :param kwargs: every other argument of the algorithm.

    See :class:`~syre_rl.decay.DecayConfig` for the settings' meaning.
    """

    #: The anchor used when ``anchor`` is not given.
    default_anchor: ClassVar[Anchor] = "zero"
    #: The decay settings (with the drawn offset seed, once the policy is built); saved with the model.
    decay_config: DecayConfig
    policy_aliases: ClassVar[dict[str, type]]
    policy_class: type
    policy_kwargs: dict[str, Any]
    policy: Any

    def __init__(
        self,
        policy: str | type,
        env: Any,
        *args: Any,
        anchor: Anchor | None = None,
        weight_decay: float = 0.002,
        decay_mode: DecayMode = "coupled",
        sigma_scale: float = 0.01,
        sigma_0: float | None = None,
        ar_spread: float = 0.0,
        offset_seed: int | None = None,
        decay_exclude: Sequence[str] = ("log_std",),
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        anchor = self.default_anchor if anchor is None else anchor
        self.decay_config = DecayConfig(
            anchor, weight_decay, decay_mode, sigma_scale, sigma_0, ar_spread, offset_seed, tuple(decay_exclude)
        )
        if isinstance(policy, str) and policy not in self.policy_aliases:
            raise ValueError(f"unknown policy {policy!r}; {name} accepts {sorted(self.policy_aliases)} or a class")
        clashing = sorted(set(kwargs.get("policy_kwargs") or {}) & set(DecayConfig.names()))
        if clashing:
            raise ValueError(f"pass {clashing} as {name} arguments, not inside policy_kwargs")
        super().__init__(policy, env, *args, **kwargs)  # type: ignore[call-arg]  # the algorithm's own arguments

    def _setup_model(self) -> None:
        builds_its_own = issubclass(self.policy_class, AnchoredDecayActorCriticPolicy)
        user_kwargs = self.policy_kwargs
        if builds_its_own:  # the policy class takes the settings and builds the decay in its constructor
            self.policy_kwargs = {**user_kwargs, **self.decay_config.as_kwargs()}
        try:
            super()._setup_model()  # type: ignore[misc]  # the algorithm's: builds and initialises the policy
        finally:
            self.policy_kwargs = user_kwargs  # saved as the user gave them
        decay = self.policy.anchored_decay if builds_its_own else install_decay(self.policy, self.decay_config)
        if isinstance(decay, Syre):  # keep the drawn seed: a rebuilt model draws the same theta_0
            self.decay_config = dataclasses.replace(self.decay_config, offset_seed=decay.seed)

    @property
    def anchored_decay(self) -> AnchoredDecay:
        """The decay installed on the policy (anchors, settings; see :class:`~syre_rl.syre.AnchoredDecay`)."""
        return self.policy.anchored_decay

    def learn(self, *args: Any, **kwargs: Any) -> Any:
        """The algorithm's ``learn``; TensorBoard runs are named after this class (e.g. ``SyrePPO_1``) by default."""
        if len(args) < 4:  # tb_log_name is learn's fourth argument in every SB3 algorithm
            kwargs.setdefault("tb_log_name", type(self).__name__)
        return super().learn(*args, **kwargs)  # type: ignore[misc]  # the algorithm's learn, after this mixin


class SyreAlgorithm(AnchoredDecayAlgorithm):
    """:class:`AnchoredDecayAlgorithm` with the syre anchor, the only one it accepts (``class SyreSAC(SyreAlgorithm,
    SAC)``). Arguments as :class:`AnchoredDecayAlgorithm`; :attr:`syre` gives ``theta_0`` and the decay."""

    default_anchor: ClassVar[Anchor] = "syre"

    def __init__(self, *args: Any, anchor: Anchor = "syre", **kwargs: Any) -> None:
        if anchor != "syre":
            name = type(self).__name__
            raise ValueError(f"{name} uses the anchor 'syre', got anchor={anchor!r}; use the AnchoredDecay class")
        super().__init__(*args, anchor=anchor, **kwargs)

    @property
    def syre(self) -> Syre:
        """The :class:`~syre_rl.syre.Syre` object on the policy: ``theta_0`` and the decay toward it."""
        return self.anchored_decay  # type: ignore[return-value]  # the syre anchor builds a Syre
