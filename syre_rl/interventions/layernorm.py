"""LayerNorm actor-critic policies: every hidden layer of actor and critic is ``Linear -> LayerNorm -> activation``.

LayerNorm, alone or with weight decay, is a strong simple remedy for loss of plasticity (Lyle et al., "Disentangling
the Causes of Plasticity Loss in Neural Networks", 2024). The policies here are SB3's, with only the MLP extractor
replaced; SB3's orthogonal init treats the ``Linear`` layers as usual and each ``LayerNorm`` starts at scale 1,
shift 0. Combine it with an anchored decay through the algorithm: ``SyrePPO(LayerNormActorCriticPolicy, env)`` (the
LayerNorm scales and shifts take part in syre like every other parameter, offset std ``sigma_scale`` as their
fan-in is 1) or ``AnchoredDecayPPO(LayerNormActorCriticPolicy, env, anchor="zero")`` for L2.
"""

from __future__ import annotations

from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from syre_rl.interventions._mlp import BuiltMlpExtractor


def _layer_norm_mlp(in_dim: int, sizes: list[int], activation_fn: type[nn.Module]) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for size in sizes:
        layers += [nn.Linear(in_dim, size), nn.LayerNorm(size), activation_fn()]
        in_dim = size
    return nn.Sequential(*layers), in_dim


class LayerNormMlpExtractor(BuiltMlpExtractor):
    """SB3's :class:`~stable_baselines3.common.torch_layers.MlpExtractor` with a ``LayerNorm`` after each hidden
    ``Linear`` (before the activation); same arguments and ``net_arch`` forms."""

    build_network = staticmethod(_layer_norm_mlp)


class LayerNormActorCriticPolicy(ActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` (MlpPolicy) with LayerNorm hidden layers; same arguments."""

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = LayerNormMlpExtractor(
            self.features_dim, net_arch=self.net_arch, activation_fn=self.activation_fn, device=self.device
        )
