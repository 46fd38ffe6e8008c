"""What the command-line scripts share: an argument parser whose every error is one line on stderr (exit status 2,
no usage block, no traceback), and argument types that check numbers with :mod:`syre_rl.validation`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from syre_rl.validation import check_int, check_real

# Status of a usage error, as argparse uses it.
USAGE_ERROR = 2


def one_line(message: object) -> str:
    """``message`` (an exception or text) on one line: its lines stripped and joined with a space."""
    text = str(message)
    if isinstance(message, BaseException) and not text:
        text = type(message).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


class OneLineParser(argparse.ArgumentParser):
    """:class:`argparse.ArgumentParser` whose errors are one line, ``PROG: error: MESSAGE``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {one_line(message)}\n")

    def fail(self, message: object) -> NoReturn:
        """Report a user error (an exception or text) as one line and exit with status 2."""
        self.error(one_line(message))


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value: object = int(text)
        except ValueError:
            value = text
        try:
            return check_int("value", value, low=low)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value ")) from None

    parse.__name__ = f"int >= {low}"
    return parse


def non_negative_float(text: str) -> float:
    """An argparse ``type``: a finite number >= 0."""
    try:
        value: object = float(text)
    except ValueError:
        value = text
    try:
        return check_real("value", value, low=0.0)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("value ")) from None


def report_failures(failed: Sequence[Any]) -> int:
    """List the failed runs of a grid (:class:`~syre_rl.experiments.grid.RunResult`) on stderr; the exit status: 1 if
    any failed, else 0."""
    if not failed:
        return 0
    print(f"{len(failed)} run(s) failed; see error.txt in their run folders:", file=sys.stderr)
    for result in failed:
        print(f"  {result.spec.label}", file=sys.stderr)
    return 1


def print_result(result: Any, prefix: str = "  ") -> None:
    """One progress line for a finished run of a grid (:class:`~syre_rl.experiments.grid.RunResult`): its status,
    label and time, then its one-line error if it failed."""
    extra = f" in {result.seconds:.0f} s" if result.status == "done" else ""
    print(f"{prefix}{result.status:8s} {result.spec.label}{extra}", flush=True)
    if result.message:
        print("    " + result.message, flush=True)
