"""Plasticity measurement: metrics on tensors, layer discovery and activation capture, an SB3 training callback,
and the CSV records it writes.

:mod:`~syre_rl.plasticity.metrics` and :mod:`~syre_rl.plasticity.capture` need torch only; the callback needs
Stable-Baselines3; :mod:`~syre_rl.plasticity.records` is plain Python. Names are imported lazily so each part can be
used without the others. Summaries of run folders are :mod:`syre_rl.analysis`' job.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "PlasticityCallback": "syre_rl.plasticity.callback",
    "EpisodeRecorder": "syre_rl.plasticity.recorder",
    "MetricSampler": "syre_rl.plasticity.sampler",
    "HiddenLayer": "syre_rl.plasticity.capture",
    "WeightLayer": "syre_rl.plasticity.capture",
    "capture_activations": "syre_rl.plasticity.capture",
    "find_hidden_layers": "syre_rl.plasticity.capture",
    "find_layers": "syre_rl.plasticity.capture",
    "find_weight_layers": "syre_rl.plasticity.capture",
}

__all__ = [
    "EpisodeRecorder",
    "HiddenLayer",
    "MetricSampler",
    "PlasticityCallback",
    "WeightLayer",
    "capture_activations",
    "find_hidden_layers",
    "find_layers",
    "find_weight_layers",
]

if TYPE_CHECKING:
    from syre_rl.plasticity.callback import PlasticityCallback
    from syre_rl.plasticity.capture import (
        HiddenLayer,
        WeightLayer,
        capture_activations,
        find_hidden_layers,
        find_layers,
        find_weight_layers,
    )
    from syre_rl.plasticity.recorder import EpisodeRecorder
    from syre_rl.plasticity.sampler import MetricSampler


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'syre_rl.plasticity' has no attribute {name!r}")
