"""The command line's parser: a wrong argument is one line naming the command and its ``--help``.

argparse prints the usage block and, for an unknown option of a sub-command, the
top-level usage (``jiandu dlq list --bogus`` answered with ``usage: jiandu [-h]
{run,ingest,…}``). Here each (sub-)parser reports its own mistakes in one line:
``jiandu dlq list: unrecognized arguments: --bogus (see `jiandu dlq list --help`)``,
exit code 2. The value types check ranges up front (a port, a positive count), so a
bad value never reaches the code as a traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn

__all__ = ["CommandParser", "non_negative_float", "non_negative_int", "port", "port_or_none", "positive_int"]


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit 2), for the parser they concern."""

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: <message> (see `<prog> --help`)`` and exit 2."""
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Unknown arguments are an error of the innermost command that received them."""
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def positive_int(text: str) -> int:
    """A whole number ≥ 1."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number (1 or more)")
    return value


def non_negative_int(text: str) -> int:
    """A whole number ≥ 0."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative (0 or more)")
    return value


def non_negative_float(text: str) -> float:
    """A number of seconds (or a rate) ≥ 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number of 0 or more")
    return value


def port(text: str) -> int:
    """A TCP port, 0 (a free one) to 65535."""
    value = _whole(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is outside 0-65535 (0: a free port)")
    return value


def port_or_none(text: str) -> int:
    """A TCP port, or -1 for none."""
    return -1 if text.strip() == "-1" else port(text)
