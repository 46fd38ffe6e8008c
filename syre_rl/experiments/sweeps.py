"""Sweeps: a benchmark grid over recipe values.

A sweep is written ``[AGENT[,AGENT...]:]KEY=V1,V2,...``: ``KEY`` is any ``--set`` key, the values are a YAML flow
sequence without its brackets (typed as ``--set`` types them, so ``[8, 8],[16, 16]`` are two lists), and the
optional ``AGENT,...:`` prefix restricts the sweep to those agents. A sweep without prefix applies to every agent
asked for (not to the reset reference added to the grid). Each agent runs the product of the sweeps that apply to
it; one combination of values is a *variant*, e.g. ``(("weight_decay", 0.01), ("sigma_scale", 1))``.

A variant's run folder is ``<scenario>/<agent>[<key>=<value>,...]/seed_<seed>`` (:func:`variant_folder`), and its
resolved config records the values under ``sweep``, so the analysis groups runs without parsing folder names.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from syre_rl.experiments.yaml_loader import parse_value

Variant = tuple[tuple[str, Any], ...]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.+=,-]")
_AGENT_LIST = re.compile(r"^[A-Za-z0-9_.,-]+$")


@dataclass(frozen=True)
class Sweep:
    """Values of one ``--set`` key to run, for some agents or all.

    :param key: a ``--set`` key, e.g. ``"weight_decay"``.
    :param values: the values, in order (at least one).
    :param agents: agents the sweep applies to; empty: every agent asked for.
    """

    key: str
    values: tuple[Any, ...]
    agents: tuple[str, ...] = ()

    def applies_to(self, agent: str) -> bool:
        """Whether the sweep varies ``agent``'s runs."""
        return not self.agents or agent in self.agents


def parse_sweep(text: str) -> Sweep:
    """A sweep from its command-line form ``[AGENT[,AGENT...]:]KEY=V1,V2,...``.

    :raises ValueError: no ``=``, an empty key or no value, in one line with an example.
    """
    head, sep, values_text = text.partition("=")
    example = "e.g. weight_decay=0.001,0.01 or syre_ppo:sigma_scale=0.01,1"
    agents_text, colon, key = head.rpartition(":")
    key = key.strip()
    if not sep or not key or not values_text.strip():
        raise ValueError(f"sweep {text!r} must look like [AGENT,...:]KEY=V1,V2,... ({example})")
    if colon and not _AGENT_LIST.match(agents_text.strip()):
        raise ValueError(f"sweep {text!r}: {agents_text!r} is not a comma-separated list of agents ({example})")
    values = parse_value(f"[{values_text}]")
    if not isinstance(values, list) or not values:
        raise ValueError(f"sweep {text!r}: the values must be a comma-separated list ({example})")
    agents = tuple(a for a in agents_text.strip().split(",") if a) if colon else ()
    return Sweep(key, tuple(values), agents)


def sweeps_from_mapping(per_agent: Mapping[str, Mapping[str, Sequence[Any]]]) -> list[Sweep]:
    """Sweeps from a study plan's ``{agent: {key: [values]}}`` mapping (each restricted to its agent).

    :raises ValueError: a sweep whose values are not a non-empty list.
    """
    out = []
    for agent, keys in per_agent.items():
        if not isinstance(keys, Mapping):
            raise ValueError(f"sweeps of {agent!r} must be a mapping {{key: [values]}}, got {keys!r}")
        for key, values in keys.items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"sweep {agent}:{key} must be a non-empty list of values, got {values!r}")
            out.append(Sweep(str(key), tuple(values), (str(agent),)))
    return out


def variants(sweeps: Iterable[Sweep], agent: str) -> list[Variant]:
    """The variants of ``agent``: the product of the sweeps that apply to it, in the order given (``[()]`` when none
    does). A key swept twice for the same agent is refused.

    :raises ValueError: a key swept twice for ``agent``.
    """
    mine = [s for s in sweeps if s.applies_to(agent)]
    keys = [s.key for s in mine]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"agent {agent!r}: keys {twice} are swept more than once")
    return [tuple(zip(keys, combo)) for combo in itertools.product(*(s.values for s in mine))]


def format_value(value: Any) -> str:
    """A sweep value as text: YAML flow style (``0.01``, ``true``, ``[8, 8]``)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("...").strip()


def variant_label(variant: Variant | Mapping[str, Any]) -> str:
    """Readable name of a variant, ``"weight_decay=0.01, sigma_scale=1"``; ``""`` for no sweep."""
    items = variant.items() if isinstance(variant, Mapping) else variant
    return ", ".join(f"{key}={format_value(value)}" for key, value in items)


def variant_folder(agent: str, variant: Variant) -> str:
    """The agent folder of a variant: ``agent[key=value,...]`` (``agent`` alone for no sweep). Characters other than
    letters, digits and ``_ . + = , -`` in keys and values become ``_``, so the name is a valid, stable folder name
    on every file system."""
    if not variant:
        return agent
    inner = ",".join(f"{key}={format_value(value)}".replace(" ", "") for key, value in variant)
    return f"{agent}[{_UNSAFE.sub('_', inner)}]"
