"""Finding resident ID numbers inside free text: what must never reach Kafka in clear.

An agency may put a person's ID number anywhere: into ``source_record_id``, into a
case number (``(2026)辽01刑初<ID number>号``), into a description. A text *contains
an ID number* when it holds 15 or 18 characters bounded by non-digits that validate
as one (GB 11643: a real birth date from 1900 on, and for 18 characters the right
check character) — not any digit run, so police case numbers such as
``A2101025300002024030001`` (22 digits) stay legitimate.

Digits of any script count (full-width ``２１０１…``, Arabic-Indic …): they are read as
ASCII digits one character for one, so a number written in them is found too.
"""

from __future__ import annotations

import re
import unicodedata

from jiandu.core.identity import normalise_id_number
from jiandu.errors import InvalidIdNumber

__all__ = ["ID_NUMBER_MASK", "contains_id_number", "mask_id_numbers"]

#: What replaces an ID number in a text that is kept (a dead letter's reason, an origin).
ID_NUMBER_MASK = "<ID number>"

_CANDIDATE = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9])")
#: 15 decimal digits of any script in a row: without them no text holds an ID number (the fast path).
_DIGIT_RUN = re.compile(r"\d{15}")
_FULL_WIDTH_X = str.maketrans({"Ｘ": "X", "ｘ": "x"})


def contains_id_number(text: str) -> bool:
    """True when ``text`` holds something that validates as a resident ID number."""
    return _DIGIT_RUN.search(text) is not None and bool(_id_spans(text))


def mask_id_numbers(text: str) -> str:
    """``text`` with every ID number in it replaced by ``<ID number>``; unchanged when it holds none."""
    if _DIGIT_RUN.search(text) is None:
        return text
    spans = _id_spans(text)
    for start, end in reversed(spans):
        text = f"{text[:start]}{ID_NUMBER_MASK}{text[end:]}"
    return text


def _id_spans(text: str) -> list[tuple[int, int]]:
    readable = _ascii_digits(text)
    return [match.span() for match in _CANDIDATE.finditer(readable) if _valid(match.group())]


def _ascii_digits(text: str) -> str:
    """``text`` with every decimal digit of any script as an ASCII digit; the same length, so spans agree."""
    if text.isascii():
        return text
    chars = (str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else c for c in text)
    return "".join(chars).translate(_FULL_WIDTH_X)


def _valid(candidate: str) -> bool:
    try:
        normalise_id_number(candidate)
    except InvalidIdNumber:
        return False
    return True
