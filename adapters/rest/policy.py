"""What one REST feed may deliver: the sources (agency units) and record types it speaks for.

A feed is polled with the hub's own credentials, so whatever its API returns would
otherwise enter the hub in the name written in each record's ``source``. A
misconfigured or compromised agency API could so inject records in another
agency's name. Each feed therefore lists the sources it may deliver
(``allowed_sources``) and, optionally, the record types (``allowed_types``); a
record outside them is dead-lettered with the rule ``source_not_allowed`` or
``type_not_allowed``, as the push gateway does for an agency's own records.

An entry of ``allowed_sources`` is a category (``court``: every court unit), a
category and a division prefix (``court:2101``: every court of 沈阳, whose
division codes start 2101), a source (``court:210102``: it and its units, such as
``court:210102:criminal-2``) or a unit. ``allowed_types`` lists record types
(``court.judgment_effective``) or whole categories (``court.*``); without it a feed may
deliver the types of the categories its sources name (a court feed: ``court.*``).

A record whose ``source`` or ``type`` is malformed or unknown is left to
validation, which dead-letters it with a more useful reason; only well-formed
records in someone else's name are refused here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from jiandu.core.records import CATEGORIES, RECORD_TYPES
from jiandu.core.validation import jurisdiction_outside_source
from jiandu.errors import ConfigurationError

__all__ = ["FEED_REFUSED", "FeedPolicy", "FeedRefusal", "default_sources", "policy_problems"]

#: How a feed refusal's reason reads. It contains the push gateway's "not allowed for agency" on
#: purpose: `jiandu dlq resubmit` skips refused letters unless told otherwise, whichever way they came in.
FEED_REFUSED = "not allowed for agency feed"

_SOURCE = re.compile(r"(?P<category>[a-z]+):[0-9]{6}(?::[^/\s]+)?")
_ENTRY = re.compile(r"(?P<category>[a-z]+)(?::(?P<division>[0-9]{1,6})(?P<unit>:[^/\s]+)?)?")


@dataclass(frozen=True, slots=True)
class FeedRefusal:
    """Why a feed may not deliver a record: the field, the rule and a message for the operator."""

    field: str
    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class FeedPolicy:
    """The sources and record types one feed (``feed``, its configured name) may deliver."""

    feed: str
    sources: tuple[str, ...]
    types: tuple[str, ...] = ()
    """Record types or ``<category>.*``; empty: the categories of ``sources``."""

    def allows_source(self, source: str) -> bool:
        """True when one of the feed's entries covers ``source``."""
        return any(_covers(entry, source) for entry in self.sources)

    def allows_type(self, record_type: str) -> bool:
        """True when the feed may deliver records of ``record_type``."""
        spec = RECORD_TYPES.get(record_type)
        if spec is None:
            return False
        if not self.types:
            return spec.category in {entry.partition(":")[0] for entry in self.sources}
        return record_type in self.types or f"{spec.category}.*" in self.types

    def refusal(self, record: object) -> FeedRefusal | None:
        """Why the feed may not deliver ``record``, or None (malformed fields are left to validation)."""
        if not isinstance(record, Mapping):
            return None
        source, record_type = record.get("source"), record.get("type")
        if isinstance(source, str) and _well_formed(source) and not self.allows_source(source):
            return FeedRefusal("source", "source_not_allowed", self._foreign_source(source))
        if isinstance(record_type, str) and record_type in RECORD_TYPES and not self.allows_type(record_type):
            return FeedRefusal("type", "type_not_allowed", self._foreign_type(record_type))
        outside = jurisdiction_outside_source(record)
        if outside is not None:
            return FeedRefusal("jurisdiction", "jurisdiction_not_allowed", f"{FEED_REFUSED} {self.feed}: {outside}")
        return None

    def _foreign_source(self, source: str) -> str:
        return (
            f"{FEED_REFUSED} {self.feed}: source {source!r} is not among its allowed_sources "
            f"({', '.join(self.sources)}); if the feed really serves that unit, add it to allowed_sources "
            "in the REST sources file, else ask the agency why its API returns it"
        )

    def _foreign_type(self, record_type: str) -> str:
        allowed = ", ".join(self.types or sorted({f"{e.partition(':')[0]}.*" for e in self.sources}))
        return (
            f"{FEED_REFUSED} {self.feed}: type {record_type} is not among its allowed types ({allowed}); "
            "if the feed really delivers it, add it to allowed_types in the REST sources file"
        )


def default_sources(feed: str) -> tuple[str, ...]:
    """The allowed sources of a feed that lists none: its own category (``court:210102`` → ``court``).

    ConfigurationError when the feed's name does not start with a category: then
    nothing can be assumed, and the sources file must say.
    """
    category = feed.partition(":")[0]
    if category in CATEGORIES:
        return (category,)
    raise ConfigurationError(
        f'source {feed!r}: list the sources this feed may deliver, e.g. allowed_sources: ["court:210102"] '
        f"(a source, a division prefix such as court:2101, or a category: {', '.join(CATEGORIES)}); its name "
        "does not start with a category to default to"
    )


def policy_problems(sources: Iterable[str], types: Iterable[str]) -> list[str]:
    """What is wrong with the entries of ``allowed_sources`` and ``allowed_types`` (empty: nothing)."""
    sources, types = list(sources), list(types)
    problems = [_source_problem(entry) for entry in sources] + [_type_problem(entry) for entry in types]
    categories = {entry.partition(":")[0] for entry in sources}
    stray = sorted(t for t in types if not _type_problem(t) and t.partition(".")[0] not in categories)
    if stray:
        problems.append(
            f"allowed_types {', '.join(stray)}: of a category none of allowed_sources names "
            f"({', '.join(sorted(categories))}); a record's source and type share their category"
        )
    return [p for p in problems if p]


def _source_problem(entry: str) -> str | None:
    match = _ENTRY.fullmatch(entry)
    if match is None or match["category"] not in CATEGORIES:
        return (
            f"allowed_sources entry {entry!r}: use a category ({', '.join(CATEGORIES)}), "
            "<category>:<division prefix> or <category>:<division>[:<unit>]"
        )
    if match["unit"] and len(match["division"]) != 6:
        return f"allowed_sources entry {entry!r}: a unit follows a whole 6-digit division code"
    return None


def _type_problem(entry: str) -> str | None:
    if entry in RECORD_TYPES or (entry.endswith(".*") and entry[:-2] in CATEGORIES):
        return None
    return f"allowed_types entry {entry!r}: use a record type (e.g. court.judgment_effective) or <category>.*"


def _covers(entry: str, source: str) -> bool:
    """A whole entry covers itself and its units; a division prefix (fewer than 6 digits) covers its divisions."""
    if source == entry or source.startswith(entry + ":"):
        return True
    division = entry.partition(":")[2]
    return division.isdigit() and len(division) < 6 and source.startswith(entry)


def _well_formed(source: str) -> bool:
    match = _SOURCE.fullmatch(source)
    return match is not None and match["category"] in CATEGORIES
