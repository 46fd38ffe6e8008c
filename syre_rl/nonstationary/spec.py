"""Build task families and schedules from recipe dicts such as ``{type: fixed_interval, steps_per_task: 20000}``."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def build_from_spec(registry: Mapping[str, type[T]], spec: Mapping[str, Any] | T, kind: str) -> T:
    """Instantiate ``registry[spec["type"]]`` with the other keys of ``spec`` as keyword arguments.

    :param registry: type name -> class.
    :param spec: the recipe dict, or an already built object (returned as is).
    :param kind: what is built, for error messages ("task family", "schedule").
    :raises ValueError: unknown type (lists the valid ones), unknown or missing arguments (lists the valid ones).
    """
    if not isinstance(spec, Mapping):
        if isinstance(spec, tuple(registry.values())):
            return spec  # type: ignore[return-value]
        raise ValueError(f"A {kind} must be a dict with a 'type' key or a {kind} object, got {spec!r}")
    if "type" not in spec:
        raise ValueError(f"A {kind} dict needs a 'type' key, one of {sorted(registry)}; got {dict(spec)}")
    type_name = spec["type"]
    if type_name not in registry:
        raise ValueError(f"Unknown {kind} type {type_name!r}; valid types: {sorted(registry)}")
    cls = registry[type_name]
    kwargs = {k: v for k, v in spec.items() if k != "type"}
    params = inspect.signature(cls.__init__).parameters
    keyword_kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    valid = [p for p in params if p != "self" and params[p].kind in keyword_kinds]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"Unknown argument(s) {unknown} for {kind} {type_name!r}; valid arguments: {valid}")
    missing = [p for p in valid if params[p].default is inspect.Parameter.empty and p not in kwargs]
    if missing:
        raise ValueError(f"Missing argument(s) {missing} for {kind} {type_name!r}; valid arguments: {valid}")
    return cls(**kwargs)
