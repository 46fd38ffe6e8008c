"""Argument checks and the ``{type: NAME, **kwargs}`` spec builder shared by the whole package.

Pure Python (no numpy, torch or gymnasium), so every layer can use it. numpy scalars pass the checks: numpy
registers its integer and float types as :class:`numbers.Integral` and :class:`numbers.Real`. Booleans are not
accepted as numbers. Every check raises ``ValueError`` naming the argument, what is accepted and the value given.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _range_text(low: float, high: float, low_open: bool, high_open: bool) -> str:
    if math.isinf(low) and math.isinf(high):
        return "a finite number"
    if math.isinf(high):
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    if math.isinf(low):
        return f"a finite number {'<' if high_open else '<='} {high:g}"
    return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_real(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float if it is a finite real number in the range from ``low`` to ``high``.

    :param name: how the value is named in the error message (e.g. ``"tau"`` or ``"trend: rate"``).
    :param value: the value to check.
    :param low: lower end of the range. Default -inf (no lower bound).
    :param high: upper end of the range. Default +inf (no upper bound).
    :param low_open: exclude ``low`` itself. Default False.
    :param high_open: exclude ``high`` itself. Default False.
    :raises ValueError: e.g. ``"probe_lr must be a finite number > 0, got 0.0"``.
    """
    ok = _is_real(value) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        raise ValueError(f"{name} must be {_range_text(low, high, low_open, high_open)}, got {value!r}")
    return float(value)


def check_fraction(name: str, value: Any, low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float if it is a number in [0, 1] (ends excluded on request); see :func:`check_real`."""
    return check_real(name, value, 0.0, 1.0, low_open=low_open, high_open=high_open)


def check_int(name: str, value: Any, low: int = 0) -> int:
    """``value`` as an int if it is an integer (Python or numpy, not a bool) >= ``low``.

    :param name: how the value is named in the error message.
    :param value: the value to check.
    :param low: smallest accepted value. Default 0.
    :raises ValueError: e.g. ``"n_envs must be a positive int, got 0"``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        accepted = {0: "a non-negative int", 1: "a positive int"}.get(low, f"an int >= {low}")
        raise ValueError(f"{name} must be {accepted}, got {value!r}")
    return int(value)


def check_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` if it is one of ``choices``.

    :raises ValueError: e.g. ``"order must be one of ['cycle', 'random'], got 'shuffle'"``.
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def accepted_arguments(cls: type) -> list[str]:
    """Names of the keyword arguments of ``cls``'s constructor, in signature order."""
    params = inspect.signature(cls.__init__).parameters.values()  # type: ignore[misc]  # the class's constructor
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in params if p.name != "self" and p.kind in keyword]


def _required_arguments(cls: type) -> list[str]:
    params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]  # the class's constructor
    return [name for name in accepted_arguments(cls) if params[name].default is inspect.Parameter.empty]


def _common_base(classes: Collection[type]) -> type:
    """The most derived class that every one of ``classes`` derives from (``object`` if none other)."""
    classes = list(classes)
    if not classes:
        return object
    return next(c for c in classes[0].__mro__ if all(issubclass(k, c) for k in classes))


def _sentence(where: str, text: str) -> str:
    return f"{where}: {text}" if where else text[:1].upper() + text[1:]


def build_from_spec(registry: Mapping[str, type[T]], spec: Mapping[str, Any] | T, kind: str, where: str = "") -> T:
    """Instantiate ``registry[spec["type"]]`` with the other keys of ``spec`` as keyword arguments.

    :param registry: type name -> class.
    :param spec: the recipe dict, or an already built object: returned as is when it is an instance of the classes'
        common base class (e.g. any :class:`~syre_rl.nonstationary.families.TaskFamily`, registered or not).
    :param kind: what is built, for error messages (``"task family"``, ``"schedule"``, ``"intervention"``).
    :param where: where the spec comes from, put in front of error messages (e.g. ``"interventions[2]"``).
        Default none.
    :raises ValueError: not a dict, no ``type`` key, unknown type (lists the valid ones), unknown or missing
        arguments (lists the valid ones).
    """
    if not isinstance(spec, Mapping):
        base = _common_base(registry.values())
        if base is not object and isinstance(spec, base):
            return spec  # type: ignore[return-value]  # an instance of the registry's common base class
        raise ValueError(
            _sentence(where, f"{kind} spec must be a dict with a 'type' key or a {kind} object, got {spec!r}")
        )
    if "type" not in spec:
        raise ValueError(
            _sentence(where, f"{kind} spec needs a 'type' key, one of {sorted(registry)}; got {dict(spec)}")
        )
    type_name = spec["type"]
    if type_name not in registry:
        raise ValueError(_sentence(where, f"unknown {kind} type {type_name!r}; valid types: {sorted(registry)}"))
    cls = registry[type_name]
    kwargs = {k: v for k, v in spec.items() if k != "type"}
    valid = accepted_arguments(cls)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        message = f"unknown argument(s) {unknown} for {kind} {type_name!r}; valid arguments: {valid}"
        raise ValueError(_sentence(where, message))
    missing = [name for name in _required_arguments(cls) if name not in kwargs]
    if missing:
        message = f"missing argument(s) {missing} for {kind} {type_name!r}; valid arguments: {valid}"
        raise ValueError(_sentence(where, message))
    return cls(**kwargs)


def register_type(registry: dict[str, type[T]], name: str, cls: type, base: type[T], kind: str) -> type[T]:
    """Add ``cls`` to ``registry`` under ``name`` so that specs ``{type: name, ...}`` build it.

    :param registry: type name -> class (changed in place).
    :param name: the type name recipes use.
    :param cls: a subclass of ``base``.
    :param base: the base class every class of the registry derives from.
    :param kind: what is registered, for error messages (``"task family"``, ``"schedule"``).
    :return: ``cls``.
    :raises ValueError: ``name`` not a non-empty string, already taken by another class, or ``cls`` not a subclass of
        ``base``. Registering the same class under the same name again is allowed.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a {kind} type name must be a non-empty string, got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ValueError(f"a {kind} class must be a subclass of {base.__name__}, got {cls!r}")
    taken = registry.get(name)
    if taken is not None and taken is not cls:
        raise ValueError(f"{kind} type {name!r} is already registered for {taken.__module__}.{taken.__qualname__}")
    registry[name] = cls
    return cls
