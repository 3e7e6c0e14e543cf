"""Which field broke which rule: a rejection reason split for machines (the push API, the scorecard).

Validation (``jiandu.core.validation``) reports a reason meant for people and for
the dead-letter topic: ``suspects[0].id_number: wrong check character``. An agency's
system needs the same fact as data, ``field="suspects[0].id_number"``,
``rule="check_character"``, so it can flag the right input box. The reasons have
a small fixed grammar (``<field path>: <what is wrong>`` or ``missing required
field <name>``), so they are classified here rather than threading a rule code
through every validator; a test runs every conformance reject through
:func:`field_and_rule` and requires a specific rule for each.
"""

from __future__ import annotations

import re

__all__ = ["RULES", "field_and_rule"]

_MISSING = "missing required field "

#: (pattern on the message after ``<field>: ``, rule), first match wins.
_MESSAGE_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), rule)
    for pattern, rule in (
        (r"contains an ID number", "id_number_in_text"),
        (r"^too long", "text_length"),
        (r"^too large when encoded", "record_size"),
        (r"wrong check character", "check_character"),
        (r"bad length", "length"),
        (r"invalid characters", "characters"),
        (r"impossible birth date", "birth_date"),
        (r"impossible or malformed date-time", "datetime"),
        (r"impossible date", "date"),
        (r"not a YYYY-MM period", "period"),
        (r"is not one of", "enum"),
        (r"unknown record type", "known_type"),
        (r"is not <category>:<division>", "source_format"),
        (r"not a 6-digit division code", "division_code"),
        (r"must not be negative", "non_negative"),
        (r"more than two decimal places", "decimal_places"),
        (r"too large|beyond decimal", "range"),
        (r"not a decimal|expected a decimal", "decimal"),
        (r"needs id_number or credit_code", "party"),
        (r"^expected ", "value_type"),
    )
)

_WHOLE_RULES: tuple[tuple[str, str], ...] = (
    ("not valid JSON", "json"),
    ("a record must be a JSON object", "json_object"),
    ("cannot be encoded", "encoding"),
    ("cannot be processed", "defect"),
)

#: Every rule :func:`field_and_rule` can name, plus ``invalid`` for a reason it does not recognise.
RULES: tuple[str, ...] = (
    "required",
    *(rule for _, rule in _WHOLE_RULES),
    *(rule for _, rule in _MESSAGE_RULES),
    "invalid",
)


def field_and_rule(reason: str) -> tuple[str | None, str]:
    """``(field path or None, rule)`` of a rejection reason written by validation or the intake."""
    for prefix, rule in _WHOLE_RULES:
        if reason.startswith(prefix):
            return None, rule
    if reason.startswith(_MISSING):
        return reason[len(_MISSING) :].strip(), "required"
    path, sep, message = reason.partition(": ")
    if not sep:
        return None, "invalid"
    if message.startswith(_MISSING):
        return f"{path}.{message[len(_MISSING) :].strip()}", "required"
    for pattern, rule in _MESSAGE_RULES:
        if pattern.search(message):
            return path, rule
    return path, "invalid"
