"""The command line's own contract: every command and argument explains itself in ``--help``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from jiandu.cli.arguments import non_negative_float, port, positive_int
from jiandu.cli.main import _parser


def _undocumented(parser: argparse.ArgumentParser) -> Iterator[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {choice.dest for choice in action._choices_actions if choice.help}
            for name, sub in action.choices.items():
                if name not in helped:
                    yield f"{parser.prog} {name}"
                yield from _undocumented(sub)
        elif not isinstance(action, argparse._HelpAction) and not action.help:
            yield f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"


def test_every_command_and_argument_has_help_text() -> None:
    assert list(_undocumented(_parser())) == []


@pytest.mark.parametrize(
    ("kind", "text"),
    [(port, "65536"), (port, "-1"), (port, "http"), (positive_int, "0"), (non_negative_float, "nan")],
)
def test_value_types_refuse_out_of_range_values(kind: object, text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        kind(text)  # type: ignore[operator]
