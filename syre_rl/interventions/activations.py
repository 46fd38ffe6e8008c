"""Concatenating activations as actor-critic policies: CReLU (Abbas et al., "Loss of Plasticity in Continual Deep
Reinforcement Learning", CoLLAs 2023) and deep Fourier features (Lewandowski et al., "Plastic Learning with Deep
Fourier Features", 2024).

Both map a layer's pre-activation ``z`` (width ``H``) to a feature of width ``2H``: CReLU to ``[relu(z), relu(-z)]``,
deep Fourier features to ``[sin(z), cos(z)]``. At least one half of each pair carries a gradient for every ``z``, so
no unit can go dormant for good. As in both papers (and Plasticine), ``net_arch`` gives the number of pre-activation
units ``H`` of each layer, so the next layer, and the heads, see ``2H`` inputs (twice the incoming weights of a ReLU
network of the same ``net_arch``). The policies are SB3's with only the MLP extractor replaced; the policy's
``activation_fn`` argument is ignored (the concatenating activation replaces it); SB3's orthogonal init treats the
``Linear`` layers as usual.
"""

from __future__ import annotations

import torch
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from syre_rl.interventions._mlp import BuiltMlpExtractor


class CReLU(nn.Module):
    """``[relu(x), relu(-x)]`` concatenated on the last dimension (width doubles)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((torch.relu(x), torch.relu(-x)), dim=-1)


class FourierFeatures(nn.Module):
    """``[sin(x), cos(x)]`` concatenated on the last dimension (width doubles)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((torch.sin(x), torch.cos(x)), dim=-1)


def _concat_mlp(in_dim: int, sizes: list[int], activation_fn: type[nn.Module]) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for size in sizes:
        layers += [nn.Linear(in_dim, size), activation_fn()]
        in_dim = 2 * size
    return nn.Sequential(*layers), in_dim


class ConcatActivationMlpExtractor(BuiltMlpExtractor):
    """SB3's :class:`~stable_baselines3.common.torch_layers.MlpExtractor` whose activation doubles the width: each
    hidden layer is ``Linear(in, H) -> activation`` with output width ``2H``; same ``net_arch`` forms.

    :param activation_fn: a concatenating activation class (:class:`CReLU`, :class:`FourierFeatures`).
    """

    build_network = staticmethod(_concat_mlp)


class CReLUActorCriticPolicy(ActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` (MlpPolicy) with CReLU hidden layers (width ``2H`` per layer); same arguments."""

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = ConcatActivationMlpExtractor(
            self.features_dim, net_arch=self.net_arch, activation_fn=CReLU, device=self.device
        )


class FourierActorCriticPolicy(ActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` (MlpPolicy) with deep Fourier features, ``[sin(z), cos(z)]``, as hidden layers
    (width ``2H`` per layer); same arguments."""

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = ConcatActivationMlpExtractor(
            self.features_dim, net_arch=self.net_arch, activation_fn=FourierFeatures, device=self.device
        )
