"""Paired timing runs that share the machine fairly: both sides advance in turns, the side that goes first alternating
from turn to turn, so that a change in machine load falls on both alike (used by the paired benchmark scripts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class Advancing(Protocol):
    """A run that can be trained further by a number of environment steps."""

    def advance(self, steps: int) -> None: ...


def advance_in_turn(runs: Mapping[str, Advancing], order: Sequence[str], steps: int, chunk: int) -> None:
    """Advance every run in ``order`` by ``steps`` environment steps in all, ``chunk`` steps per turn.

    :param runs: the runs by name.
    :param order: who goes first in the first turn; the order reverses every turn.
    :param steps: environment steps per run in all.
    :param chunk: environment steps per turn (> 0); the last turn takes what is left.
    """
    if chunk <= 0:
        raise ValueError(f"chunk must be a positive number of steps, got {chunk}")
    done, turn = 0, 0
    while done < steps:
        n = min(chunk, steps - done)
        for name in order if turn % 2 == 0 else order[::-1]:
            runs[name].advance(n)
        done, turn = done + n, turn + 1
