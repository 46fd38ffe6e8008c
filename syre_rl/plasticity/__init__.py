"""Plasticity measurement: metrics on tensors, layer discovery and activation capture, an SB3 training callback,
and per-task summaries of run folders.

:mod:`~syre_rl.plasticity.metrics` and :mod:`~syre_rl.plasticity.capture` need torch only; the callback needs
Stable-Baselines3 and the summary pandas. Names are imported lazily so each part can be used without the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "PlasticityCallback": "syre_rl.plasticity.callback",
    "HiddenLayer": "syre_rl.plasticity.capture",
    "WeightLayer": "syre_rl.plasticity.capture",
    "capture_activations": "syre_rl.plasticity.capture",
    "find_hidden_layers": "syre_rl.plasticity.capture",
    "find_layers": "syre_rl.plasticity.capture",
    "find_weight_layers": "syre_rl.plasticity.capture",
    "task_summary": "syre_rl.plasticity.summary",
    "load_metrics": "syre_rl.plasticity.summary",
}

__all__ = [
    "HiddenLayer",
    "PlasticityCallback",
    "WeightLayer",
    "capture_activations",
    "find_hidden_layers",
    "find_layers",
    "find_weight_layers",
    "load_metrics",
    "task_summary",
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
    from syre_rl.plasticity.summary import load_metrics, task_summary


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'syre_rl.plasticity' has no attribute {name!r}")
