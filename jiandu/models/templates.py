"""Checking a model's text templates when it loads: every placeholder must be one its shape provides.

A placeholder a shape does not provide would print as "—" in every lead (a field the
record left out reads as a dash, by design), so a misspelt ``{trigger_dat}`` would
go unnoticed until an officer reads it. Each shape says which names it provides
(:meth:`ModelInfo.placeholders`, listed per shape in the README); a model whose
templates use any other name fails to load, with an error naming the template, the
placeholder and the names available.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping

from jiandu.core.records import RECORD_TYPES
from jiandu.errors import ConfigurationError

__all__ = ["check_templates", "placeholders_of", "record_fields"]

#: Every lead's summary may show its deadline.
ALWAYS_PROVIDED = frozenset({"due_at"})


def placeholders_of(template: str, where: str) -> set[str]:
    """The names a ``str.format`` template uses (``ConfigurationError`` if it does not parse)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigurationError(f"{where}: not a valid template ({exc}): {template!r}") from exc
    names = set()
    for _, name, _, _ in parsed:
        if name is None:
            continue
        if not name.isidentifier():
            raise ConfigurationError(f"{where}: placeholder {{{name}}} must be a plain name, e.g. {{trigger_date}}")
        names.add(name)
    return names


def record_fields(types: Iterable[str]) -> frozenset[str]:
    """Fields of these record types as a fact carries them (an ID number becomes ``person_key``)."""
    names = {"person_key"}
    for record_type in types:
        names.update(spec.name for spec in RECORD_TYPES[record_type].fields if spec.name != "id_number")
    return frozenset(names)


def check_templates(model_id: str, templates: Mapping[str, tuple[str, frozenset[str]]]) -> None:
    """Each template (where it is declared → (text, the names available there)) uses only available names."""
    for where, (template, available) in templates.items():
        unknown = sorted(placeholders_of(template, f"model {model_id} {where}") - available)
        if unknown:
            names = ", ".join(sorted(available))
            raise ConfigurationError(
                f"model {model_id} {where}: placeholder {{{unknown[0]}}} is not provided by its shape; "
                f"available: {names}"
            )
