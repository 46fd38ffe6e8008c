"""An SB3 MLP extractor whose actor and critic networks a subclass builds, for policies that change only the hidden
layers (LayerNorm, concatenating activations)."""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.torch_layers import MlpExtractor
from stable_baselines3.common.utils import get_device
from torch import nn


class BuiltMlpExtractor(MlpExtractor):
    """SB3's :class:`~stable_baselines3.common.torch_layers.MlpExtractor` with the same arguments and ``net_arch``
    forms, its ``policy_net`` and ``value_net`` made by :meth:`build_network` (subclasses define it)."""

    def __init__(
        self,
        feature_dim: int,
        net_arch: list[int] | dict[str, list[int]],
        activation_fn: type[nn.Module],
        device: Any = "auto",
    ) -> None:
        nn.Module.__init__(self)  # MlpExtractor's own layers are not built, so no random draws are wasted
        if isinstance(net_arch, dict):
            pi_sizes, vf_sizes = list(net_arch.get("pi", [])), list(net_arch.get("vf", []))
        else:
            pi_sizes = vf_sizes = list(net_arch)
        policy_net, self.latent_dim_pi = self.build_network(feature_dim, pi_sizes, activation_fn)
        value_net, self.latent_dim_vf = self.build_network(feature_dim, vf_sizes, activation_fn)
        device = get_device(device)
        self.policy_net = policy_net.to(device)
        self.value_net = value_net.to(device)

    @staticmethod
    def build_network(in_dim: int, sizes: list[int], activation_fn: type[nn.Module]) -> tuple[nn.Sequential, int]:
        """One network of hidden layers of the given ``sizes`` on ``in_dim`` inputs; returns it and its output width."""
        raise NotImplementedError
