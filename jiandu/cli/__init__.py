"""The ``jiandu`` command: the entry point that builds settings and wires the layers together."""

from jiandu.cli.main import main

__all__ = ["main"]
