"""Faults the simulated agency injects: what real agency systems do to a poller."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FAULT_KINDS", "FaultPlan", "Faults", "parse_fault_options"]

#: The faults that answer a request, in the order pending ones are applied.
FAULT_KINDS = ("http_500", "timeout", "rate_limit", "malformed")


@dataclass(slots=True)
class FaultPlan:
    """What is pending: counts of requests to spoil, and how.

    ``http_500``: answer HTTP 500; ``timeout``: sleep ``timeout_seconds`` before
    answering (past the client's timeout); ``rate_limit``: HTTP 429 with
    ``Retry-After: retry_after``; ``malformed``: HTTP 200 with a body that is not
    JSON; ``bad_id``: records with a wrong ID check character to add to the feed
    (an action, not a request fault: it is 0 again once done); ``foreign_source``:
    likewise, records in another agency's name (what a misconfigured or
    compromised agency API would serve; the poller must dead-letter them).
    """

    http_500: int = 0
    timeout: int = 0
    timeout_seconds: float = 5.0
    rate_limit: int = 0
    retry_after: int = 1
    malformed: int = 0
    bad_id: int = 0
    foreign_source: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The plan as JSON for ``GET /_faults``."""
        return dataclasses.asdict(self)


class Faults:
    """The pending faults of one simulator, shared by its request threads."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._plan = plan or FaultPlan()
        self._lock = threading.Lock()

    def update(self, changes: Mapping[str, object]) -> FaultPlan:
        """Set some values (the body of ``POST /_faults``); ValueError names a bad key or value."""
        with self._lock:
            converted = {name: _convert(name, value) for name, value in changes.items()}
            for name, value in converted.items():
                setattr(self._plan, name, value)
            return dataclasses.replace(self._plan)

    def snapshot(self) -> FaultPlan:
        """A copy of what is pending."""
        with self._lock:
            return dataclasses.replace(self._plan)

    def take(self) -> tuple[str, FaultPlan] | None:
        """The fault for the next request, if any (it is used up), with the plan's parameters."""
        with self._lock:
            for kind in FAULT_KINDS:
                if getattr(self._plan, kind) > 0:
                    setattr(self._plan, kind, getattr(self._plan, kind) - 1)
                    return kind, dataclasses.replace(self._plan)
        return None

    def take_bad_ids(self) -> int:
        """How many bad-ID records to add now (then none are pending)."""
        with self._lock:
            count, self._plan.bad_id = self._plan.bad_id, 0
            return count

    def take_foreign_sources(self) -> int:
        """How many records in another agency's name to add now (then none are pending)."""
        with self._lock:
            count, self._plan.foreign_source = self._plan.foreign_source, 0
            return count


def parse_fault_options(options: Iterable[str]) -> dict[str, object]:
    """``["http_500=3", "retry_after=2"]`` (the ``--fault`` flags) as changes for :meth:`Faults.update`."""
    changes: dict[str, object] = {}
    for option in options:
        name, sep, value = option.partition("=")
        if not sep:
            raise ValueError(f"--fault {option!r}: use NAME=VALUE, NAME one of {', '.join(_names())}")
        changes[name.strip()] = _convert(name.strip(), value.strip())
    return changes


def _names() -> list[str]:
    return [f.name for f in dataclasses.fields(FaultPlan)]


def _convert(name: str, value: object) -> int | float:
    if name not in _names():
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(_names())}")
    kind = float if name == "timeout_seconds" else int
    try:
        if isinstance(value, bool):
            raise TypeError(value)
        converted = kind(value) if isinstance(value, int | float) else kind(str(value))
    except (TypeError, ValueError):
        raise ValueError(f"fault {name}={value!r}: expected a {kind.__name__}") from None
    if converted < 0:
        raise ValueError(f"fault {name}={value!r}: expected a non-negative {kind.__name__}")
    return converted
