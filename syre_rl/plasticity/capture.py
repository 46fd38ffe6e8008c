"""Find the hidden layers of a network, generically, and capture their activations with forward hooks.

A *hidden layer* is the output of an activation module (``nn.ReLU``, ``nn.Tanh``, ...) together with the weight
layer (``nn.Linear`` or convolution) that produces its pre-activations and the weight layers that consume it. Those
links give every unit its incoming weights (a row of the producer's weight, plus its bias) and outgoing weights (a
column of each consumer's weight), which symmetry-collapse metrics and unit-level interventions (ReDo, continual
backprop) need.

How layers are found
    The data flow is traced, not guessed from module names: one forward pass with a sample input records the order
    in which weight layers and activation modules run. For an SB3 actor-critic policy (anything with
    ``get_distribution``, ``predict_values`` and ``mlp_extractor``) the actor path (features extractor, policy net,
    action head) and the critic path (features extractor, value net, value head) are traced separately, so each
    layer is tagged ``"actor"``, ``"critic"`` or ``"shared"`` (used by both, e.g. a shared CNN). Other modules are
    traced with ``example_input`` as network ``"net"``; without one, registration order is used instead, with each
    top-level child of an SB3 policy as its own network: for the off-policy policies (SAC, TD3, DQN) ``actor``,
    ``critic`` (both Q-networks) and ``qf`` (DQN's ``q_net``, see :data:`OFF_POLICY_NETWORKS`); their target
    networks (``actor_target``, ``critic_target``, ``q_net_target``), Polyak copies that never run on the policy's
    forward pass and have no gradient of their own, are left out, and so is an activation after a network's last
    weight layer (TD3's tanh squashing the action).

Limits
    An activation module called more than once in one pass (one ``nn.ReLU`` instance reused by several layers) is
    ambiguous and skipped. A network whose activations are functional (``F.relu`` inside ``forward``) has no
    activation modules; its weight layers' outputs, except the last one's, are then taken as the hidden layers
    (kind ``"linear"``: pre-activations).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

# Activation module types and their kind (see syre_rl.plasticity.metrics.active_mask). Looked up along the MRO, so
# ReLU6 (a Hardtanh subclass) is a "relu".
ACTIVATION_TYPES: dict[type[nn.Module], str] = {
    nn.ReLU: "relu",
    nn.ReLU6: "relu",
    nn.LeakyReLU: "leaky_relu",
    nn.PReLU: "leaky_relu",
    nn.ELU: "elu",
    nn.CELU: "celu",
    nn.SELU: "selu",
    nn.GELU: "gelu",
    nn.SiLU: "silu",
    nn.Mish: "mish",
    nn.Tanh: "tanh",
    nn.Hardtanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.Hardsigmoid: "sigmoid",
}
WEIGHT_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.modules.conv._ConvNd)
# Network names of SB3 policies' top-level children where they differ from the attribute (DQN's Q-network).
OFF_POLICY_NETWORKS: dict[str, str] = {"q_net": "qf"}
# Target networks of SB3's off-policy policies: left out of the layers (see the module docstring).
TARGET_NETWORKS: frozenset[str] = frozenset({"actor_target", "critic_target", "q_net_target"})


def activation_kind(module: nn.Module) -> str | None:
    """The activation kind of a module (``"relu"``, ``"tanh"``, ...), or None if it is not an activation module."""
    for cls in type(module).__mro__:
        if cls in ACTIVATION_TYPES:
            return ACTIVATION_TYPES[cls]
    return None


def is_weight_layer(module: nn.Module) -> bool:
    """True for the layers whose weights have units on dim 0: ``nn.Linear`` and convolutions."""
    return isinstance(module, WEIGHT_TYPES)


def _weight(module: nn.Module) -> torch.Tensor:
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor):
        raise ValueError(f"{type(module).__name__} has no weight tensor")
    return weight


@dataclass(eq=False)
class WeightLayer:
    """A ``nn.Linear`` or convolution of the network, tagged with the network (actor/critic/shared/...) using it."""

    network: str
    name: str
    module: nn.Module

    def parameters(self) -> list[nn.Parameter]:
        """The layer's own parameters (weight and bias)."""
        return list(self.module.parameters(recurse=False))


@dataclass(eq=False)
class HiddenLayer:
    """One hidden layer: the module whose output is captured and the weight layers around it.

    :param network: ``"actor"``, ``"critic"``, ``"shared"`` (SB3 actor-critic), or the network's name.
    :param name: dotted name of ``module`` inside the traced model (key of :func:`capture_activations`'s dict).
    :param module: the activation module (or, for functional activations, the weight layer) whose output is hooked.
    :param kind: activation kind (``"relu"``, ``"tanh"``, ``"sigmoid"``, ..., ``"linear"`` for pre-activations).
    :param in_layer: the weight layer producing the pre-activations (None if none was found or shapes differ).
    :param in_name: its dotted name.
    :param out_layers: the weight layers consuming the activations (several when a shared layer feeds both heads).
    :param out_names: their dotted names.
    """

    network: str
    name: str
    module: nn.Module
    kind: str
    in_layer: nn.Module | None = None
    in_name: str | None = None
    out_layers: list[nn.Module] = field(default_factory=list)
    out_names: list[str] = field(default_factory=list)

    @property
    def n_units(self) -> int | None:
        """Number of units (output features or channels of ``in_layer``), None without ``in_layer``."""
        return None if self.in_layer is None else int(_weight(self.in_layer).shape[0])

    def incoming(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(weight, bias)`` of ``in_layer``: unit ``i`` owns ``weight[i]`` and ``bias[i]``."""
        if self.in_layer is None:
            raise ValueError(f"hidden layer {self.name!r} has no producing weight layer")
        return _weight(self.in_layer), getattr(self.in_layer, "bias", None)

    def outgoing(self) -> list[torch.Tensor]:
        """Each consumer's weight viewed as ``(out, n_units, -1)``: unit ``i`` owns ``view[:, i]`` (shares storage)."""
        n = self.n_units
        if n is None:
            return []
        return [_weight(layer).view(_weight(layer).shape[0], n, -1) for layer in self.out_layers]


# ---------------------------------------------------------------------------------------------------- tracing
def _is_actor_critic(model: nn.Module) -> bool:
    return all(hasattr(model, a) for a in ("get_distribution", "predict_values", "mlp_extractor", "obs_to_tensor"))


def _tracked_modules(model: nn.Module) -> dict[str, nn.Module]:
    return {
        name: module
        for name, module in model.named_modules()
        if name and (is_weight_layer(module) or activation_kind(module) is not None)
    }


def _trace(model: nn.Module, run: Callable[[], Any]) -> list[tuple[str, int | None]]:
    """Names (with output dim 1) of the tracked modules in the order they run during ``run()``."""
    calls: list[tuple[str, int | None]] = []

    def hook(name: str) -> Callable[..., None]:
        def record(module: nn.Module, args: Any, output: Any) -> None:
            out = output[0] if isinstance(output, (tuple, list)) else output
            calls.append((name, int(out.shape[1]) if isinstance(out, torch.Tensor) and out.dim() > 1 else None))

        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in _tracked_modules(model).items()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            run()
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return calls


Chain = tuple[str, str | None, list[str]]


def _chains(calls: list[tuple[str, int | None]], modules: dict[str, nn.Module]) -> list[Chain]:
    """``(hidden_name, in_name, out_names)`` for each hidden layer of one traced path.

    A hidden layer is consumed by the first weight layer after it; the last one of the path also by every further
    weight layer taking exactly its width: parallel output heads (SAC's ``mu`` and ``log_std``)."""
    names = [name for name, _ in calls]
    dims = {name: dim for name, dim in calls}
    counts = {name: names.count(name) for name in set(names)}
    acts = [i for i, name in enumerate(names) if activation_kind(modules[name]) is not None]
    weights = [i for i, name in enumerate(names) if is_weight_layer(modules[name])]
    chains: list[Chain] = []
    if acts:
        for i in acts:
            name = names[i]
            if counts[name] > 1:
                continue
            before = [j for j in weights if j < i]
            after = [j for j in weights if j > i]
            in_name = names[before[-1]] if before else None
            if in_name is not None and _weight(modules[in_name]).shape[0] != dims.get(name):
                in_name = None
            outs = [names[after[0]]] if after else []
            if i == acts[-1]:
                outs += [names[j] for j in after[1:] if _weight(modules[names[j]]).shape[1] == dims.get(name)]
            chains.append((name, in_name, list(dict.fromkeys(outs))))
    else:
        ordered = list(dict.fromkeys(names[j] for j in weights))
        for k, name in enumerate(ordered[:-1]):
            chains.append((name, name, [ordered[k + 1]]))
    return chains


def _static_calls(model: nn.Module) -> list[tuple[str, int | None]]:
    calls = []
    for name, module in _tracked_modules(model).items():
        dim = int(_weight(module).shape[0]) if is_weight_layer(module) else None
        calls.append((name, dim))
    # Without a trace an activation's width is that of the weight layer before it.
    last = None
    for k, (name, dim) in enumerate(calls):
        if dim is None:
            calls[k] = (name, last)
        else:
            last = dim
    return calls


def _paths(model: Any, example_input: Any) -> dict[str, list[tuple[str, int | None]]]:
    if _is_actor_critic(model):
        if example_input is None:
            # A seeded copy of the space, so that tracing leaves the model's own random streams untouched.
            space = copy.deepcopy(model.observation_space)
            space.seed(0)
            example_input, _ = model.obs_to_tensor(space.sample())
        obs = example_input
        return {
            "actor": _trace(model, lambda: model.get_distribution(obs)),
            "critic": _trace(model, lambda: model.predict_values(obs)),
        }
    if example_input is not None:
        return {"net": _trace(model, lambda: model(example_input))}
    if hasattr(model, "observation_space") and hasattr(model, "action_space"):
        paths = {}
        for child_name, child in model.named_children():
            own = _static_calls(child)
            while own and activation_kind(child.get_submodule(own[-1][0])) is not None:
                own.pop()  # squashes the network's output (TD3's tanh on its action): not a hidden layer
            calls = [(f"{child_name}.{n}", d) for n, d in own]
            if calls and child_name not in TARGET_NETWORKS:
                paths[OFF_POLICY_NETWORKS.get(child_name, child_name)] = calls
        return paths
    return {"net": _static_calls(model)}


def find_layers(model: nn.Module, example_input: Any = None) -> tuple[list[HiddenLayer], list[WeightLayer]]:
    """Hidden layers and weight layers of ``model``, in data-flow order (see the module docstring).

    :param model: any ``nn.Module``; SB3 actor-critic policies are split into actor and critic.
    :param example_input: a batch the model accepts (for an SB3 policy: an observation tensor or dict of tensors).
        Default: for SB3 policies one sampled observation; for other modules, registration order is used.
    """
    modules = dict(model.named_modules())
    paths = _paths(model, example_input)
    hidden: dict[str, HiddenLayer] = {}
    networks: dict[str, set[str]] = {}
    weight_networks: dict[str, set[str]] = {}
    for network, calls in paths.items():
        for name, _ in calls:
            if is_weight_layer(modules[name]):
                weight_networks.setdefault(name, set()).add(network)
        for name, in_name, out_names in _chains(calls, modules):
            layer = hidden.get(name)
            if layer is None:
                layer = hidden[name] = HiddenLayer(
                    network=network,
                    name=name,
                    module=modules[name],
                    kind=activation_kind(modules[name]) or "linear",
                    in_layer=None if in_name is None else modules[in_name],
                    in_name=in_name,
                )
            networks.setdefault(name, set()).add(network)
            n = layer.n_units
            for out_name in out_names:
                if out_name in layer.out_names or n is None:
                    continue
                weight = _weight(modules[out_name])
                if weight.dim() >= 2 and weight.shape[1] % n == 0:
                    layer.out_layers.append(modules[out_name])
                    layer.out_names.append(out_name)

    def tag(found: set[str]) -> str:
        return next(iter(found)) if len(found) == 1 else "shared"

    for name, layer in hidden.items():
        layer.network = tag(networks[name])
    weights = [WeightLayer(tag(nets), name, modules[name]) for name, nets in weight_networks.items()]
    return list(hidden.values()), weights


def find_hidden_layers(model: nn.Module, example_input: Any = None) -> list[HiddenLayer]:
    """The hidden layers of ``model`` (see :func:`find_layers`)."""
    return find_layers(model, example_input)[0]


def find_weight_layers(model: nn.Module, example_input: Any = None) -> list[WeightLayer]:
    """The Linear and convolution layers of ``model`` with their network tag (see :func:`find_layers`)."""
    return find_layers(model, example_input)[1]


class HookPoint(Protocol):
    """Anything naming a module whose output is captured (:class:`HiddenLayer`, the interventions' unit layers)."""

    @property
    def name(self) -> str: ...

    @property
    def module(self) -> nn.Module: ...


@contextmanager
def capture_activations(layers: Sequence[HookPoint]) -> Iterator[dict[str, torch.Tensor]]:
    """Record the (detached) output of every layer's module during the ``with`` block, keyed by layer name.

    A module run several times in the block keeps its last output. Hooks are removed on exit, even on error::

        with capture_activations(find_hidden_layers(policy)) as acts:
            policy.get_distribution(obs)
        acts["mlp_extractor.policy_net.1"]  # (batch, 64)
    """
    store: dict[str, torch.Tensor] = {}

    def hook(name: str) -> Callable[..., None]:
        def record(module: nn.Module, args: Any, output: Any) -> None:
            out = output[0] if isinstance(output, (tuple, list)) else output
            store[name] = out.detach()

        return record

    handles = [layer.module.register_forward_hook(hook(layer.name)) for layer in layers]
    try:
        yield store
    finally:
        for handle in handles:
            handle.remove()
