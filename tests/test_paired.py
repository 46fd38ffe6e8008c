"""advance_in_turn: both sides of a paired benchmark advance in turns, the first side alternating."""

from __future__ import annotations

import pytest

from syre_rl.experiments.paired import advance_in_turn


class Recorder:
    def __init__(self, name: str, log: list[tuple[str, int]]) -> None:
        self.name, self.log = name, log

    def advance(self, steps: int) -> None:
        self.log.append((self.name, steps))


def test_turns_alternate_and_the_last_takes_the_rest() -> None:
    log: list[tuple[str, int]] = []
    runs = {name: Recorder(name, log) for name in ("plain", "syre")}
    advance_in_turn(runs, ["plain", "syre"], steps=250, chunk=100)
    assert log == [("plain", 100), ("syre", 100), ("syre", 100), ("plain", 100), ("plain", 50), ("syre", 50)]


def test_a_chunk_below_one_step_is_refused() -> None:
    with pytest.raises(ValueError, match="chunk must be a positive number of steps, got 0"):
        advance_in_turn({}, [], steps=10, chunk=0)
