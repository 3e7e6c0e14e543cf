"""JSON from agencies, parsed strictly and within bounds: hostile input is an error, never a crash.

The standard library parser turns 100 000 nested ``[`` into a RecursionError,
accepts ``NaN``, ``1e400`` (an infinite float) and lone surrogates (``"\\ud800"``,
a string that cannot be encoded again), and a 5 000-digit integer raises a
ValueError of its own. Each of these once reached the code after parsing and
became a 500 or a dead adapter. Here every way in parses with orjson (strict RFC
8259: no NaN or infinities, no lone surrogates, depth at most 1 024) and then
checks the nesting against :data:`MAX_DEPTH`, far above what any record needs
(``records[0].suspects[0].id_number`` is four levels), so that nothing after
parsing recurses deeply. Integers beyond 64 bits arrive as floats, which
validation refuses where an integer is required.
"""

from __future__ import annotations

import orjson

__all__ = ["MAX_DEPTH", "JsonInputError", "nests_deeper_than", "parse_json"]

#: The deepest nesting of arrays and objects accepted in one document.
MAX_DEPTH = 32


class JsonInputError(ValueError):
    """A document that is not strict JSON or nests too deeply; the message says which and where."""


def parse_json(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> object:
    """The parsed document, or :class:`JsonInputError` with a message naming the problem."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise JsonInputError(f"not valid JSON: {exc}") from None
    if _openings(data) > max_depth and _deeper_than(document, max_depth):
        raise JsonInputError(f"not valid JSON: arrays and objects nested deeper than {max_depth} levels")
    return document


def _openings(data: bytes | str) -> int:
    """How many ``[`` and ``{`` the text holds: no deeper nesting is possible (a record has a handful, and
    counting them is ≈ 50x cheaper than walking the document)."""
    if isinstance(data, str):
        return data.count("[") + data.count("{")
    return data.count(b"[") + data.count(b"{")


def nests_deeper_than(document: object, limit: int = MAX_DEPTH) -> bool:
    """True when arrays and objects in ``document`` nest more than ``limit`` levels."""
    return _deeper_than(document, limit)


def _deeper_than(document: object, limit: int) -> bool:
    """True when containers nest more than ``limit`` levels (iterative: no recursion on hostile input)."""
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: list[object] | tuple[object, ...] = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
