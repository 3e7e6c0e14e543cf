"""Synthetic agency histories with the leads they must produce, planted by construction.

``generate_history`` casts one storyline per person (a community sentence and
whether the person reported, a detention and whether the police acted in time, a
drunk driver, a prisoner's release, a serial lender, ... or plain background life),
lets the storylines write canonical records, plants invalid lines and exact
re-sends, and orders everything the way agencies upload: daily per-source batches,
late uploads weeks later, records unsorted inside a batch.

``expected_leads`` is an oracle independent of ``jiandu.models``: each storyline
states which lead of M01 to M14 its records make and its status at ``clock_end``
(``OPEN``, ``RESOLVED`` or ``PENDING``), including the incidental leads of records
written for another model (a fine in a judgment, a prisoner's admission). Every
OPEN lead of a history is planted; leads that never exist (below a threshold, a
hotel in the permitted city) are not listed.
"""

from __future__ import annotations

import copy
import gc
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from jiandu.core.timeutil import CST
from jiandu.simulate import (
    admin,
    arrests,
    background,
    civil,
    correction,
    detention,
    drink_driving,
    fines,
    incidents,
    medical,
    pensions,
    releases,
    reoffence,
    travel,
)
from jiandu.simulate.defects import plant_defects
from jiandu.simulate.ledger import OPEN, Draft, Ledger
from jiandu.simulate.places import Population

__all__ = ["DEFAULT_KEY", "MANDATORY_STORYLINES", "STORYLINES", "History", "generate_history", "write_sample"]

#: The pseudonym key of the conformance vectors.
DEFAULT_KEY = b"conformance-key"

Storyline = Callable[[Ledger, Population], None]

# Storyline modules in model order; background noise last.
_MODULES = (
    drink_driving,
    correction,
    reoffence,
    travel,
    detention,
    arrests,
    fines,
    medical,
    admin,
    civil,
    pensions,
    releases,
    incidents,
    background,
)

#: Every storyline by name: ``mNN_*`` plant leads of model MNN (or their absence), ``bg_*`` is noise.
STORYLINES: dict[str, Storyline] = {name: story for module in _MODULES for name, story in module.STORYLINES.items()}

#: The planted cases every history of enough persons holds at least once.
MANDATORY_STORYLINES = tuple(name for name in STORYLINES if not name.startswith("bg_"))

# Relative frequency of each storyline once every mandatory one has been cast.
_WEIGHTS: dict[str, float] = {name: weight for module in _MODULES for name, weight in module.WEIGHTS.items()}
_MIN_DAYS = 30  # room for 30-day detention limits inside the timeline
_SAMPLE_LEAD_DAYS = 70
_SAMPLE_DAYS = 48  # + the 20-day tail: the clock end lies about 2 days before "now"


@dataclass(frozen=True, slots=True)
class History:
    """A generated history: the lines in upload order and what a correct hub must make of them."""

    records: list[dict[str, Any] | str]  # a str is a raw (malformed) line, written as-is
    invalid_lines: list[int]  # 1-based line numbers of the planted invalid lines
    expected_leads: list[dict[str, Any]]  # every planted lead, OPEN, RESOLVED or PENDING at clock_end
    clock_end: datetime
    planted: Counter[str] = field(default_factory=Counter)  # storylines and defects, by name

    @property
    def open_leads(self) -> list[dict[str, Any]]:
        """The planted leads a correct hub ends with OPEN."""
        return [lead for lead in self.expected_leads if lead["status"] == OPEN]

    def to_jsonl(self, path: Path | str) -> None:
        """Write the records as JSON lines (UTF-8, Chinese kept as is)."""
        _write_lines(path, (r if isinstance(r, str) else _dumps(r) for r in self.records))

    def expected_to_jsonl(self, path: Path | str, *, all_statuses: bool = False) -> None:
        """Write the OPEN leads (or, with ``all_statuses``, every planted lead) as JSON lines."""
        leads = self.expected_leads if all_statuses else self.open_leads
        _write_lines(path, (_dumps(lead) for lead in leads))


def generate_history(
    *,
    seed: int,
    persons: int,
    start: datetime,
    days: int = 120,
    invalid_rate: float = 0.01,
    pseudonym_key: bytes = DEFAULT_KEY,
) -> History:
    """A deterministic history of ``persons`` storylines starting on the CST date of ``start``.

    Storyline triggers fall in ``days`` days; the clock end is 00:00 CST 20 days after
    them, and late uploads and the newest not-yet-due triggers fill those 20 days.
    Some storylines also reach back before the start (up to ten years: a prisoner's
    admission, last year's lawsuits); those records come first, on their own days.
    About ``invalid_rate`` of the lines are invalid (at least one of each kind when
    the rate is positive).
    """
    _check_arguments(start, persons, days, invalid_rate)
    collecting = gc.isenabled()
    gc.disable()  # a million acyclic dicts: the cyclic collector would rescan them over and over
    try:
        return _generate(seed, persons, start, days, invalid_rate, pseudonym_key)
    finally:
        if collecting:
            gc.enable()


def _generate(
    seed: int, persons: int, start: datetime, days: int, invalid_rate: float, pseudonym_key: bytes
) -> History:
    rng = random.Random(seed)
    start_day = start.astimezone(CST).date()
    ledger = Ledger(rng, start_day, days, pseudonym_key)
    ledger.defects_allowed = invalid_rate > 0
    population = Population(rng, start_day)
    for name in _cast(rng, persons):
        ledger.planted[name] += 1
        STORYLINES[name](ledger, population)
    background.noise(ledger, population)
    if ledger.defects_allowed:
        planted_defects = sum(1 for d in ledger.drafts if d.defect is not None)
        wanted = _defect_count(len(ledger.drafts) - planted_defects, invalid_rate)
        plant_defects(ledger, population, wanted - planted_defects)
    _resend(ledger)
    ordered = _upload_order(ledger.drafts, rng)
    return History(
        records=[d.record for d in ordered],
        invalid_lines=[line for line, d in enumerate(ordered, 1) if d.defect is not None],
        expected_leads=sorted(ledger.expected, key=_lead_order),
        clock_end=ledger.midnight(ledger.clock_end_day),
        planted=ledger.planted,
    )


def write_sample(path: Path, *, now: datetime, seed: int = 7, persons: int = 60) -> None:
    """A small history for ``jiandu run``: it starts 70 days before ``now`` and ends about 2 days before.

    (A few storylines carry older records: prisoners' admissions and judgments, last
    year's lawsuits.) A live hub (clock = wall time minus its grace) replaying it
    already sees most deadlines passed, so leads appear as soon as the sample is ingested.
    """
    start = now - timedelta(days=_SAMPLE_LEAD_DAYS)
    generate_history(seed=seed, persons=persons, start=start, days=_SAMPLE_DAYS).to_jsonl(path)


def _check_arguments(start: datetime, persons: int, days: int, invalid_rate: float) -> None:
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (e.g. 2024-01-01T00:00:00+08:00)")
    if persons < 1:
        raise ValueError(f"persons must be at least 1, got {persons}")
    if days < _MIN_DAYS:
        raise ValueError(f"days must be at least {_MIN_DAYS}, got {days}")
    if not 0 <= invalid_rate < 0.5:
        raise ValueError(f"invalid_rate must be in [0, 0.5), got {invalid_rate}")


def _cast(rng: random.Random, persons: int) -> list[str]:
    """One storyline per person: each mandatory one once (as far as persons go), the rest by weight."""
    mandatory = list(MANDATORY_STORYLINES)
    rng.shuffle(mandatory)
    cast = mandatory[:persons]
    names = list(_WEIGHTS)
    cast += rng.choices(names, weights=[_WEIGHTS[n] for n in names], k=persons - len(cast))
    rng.shuffle(cast)
    return cast


def _defect_count(valid: int, rate: float) -> int:
    """Invalid lines so that they make up ``rate`` of all lines."""
    return round(rate * valid / (1 - rate))


def _resend(ledger: Ledger) -> None:
    """Exact re-sends of a few valid records, in the same or a later batch of their source."""
    rng = ledger.rng
    valid = [d for d in ledger.drafts if d.defect is None]
    last_upload = ledger.clock_end_day - timedelta(days=1)
    for draft in rng.sample(valid, k=min(len(valid), max(3, len(valid) // 200))):
        upload = min(draft.upload_day + timedelta(days=rng.randint(0, 3)), last_upload)
        ledger.drafts.append(Draft(copy.deepcopy(draft.record), draft.source, upload))
        ledger.planted["exact_resend"] += 1


def _upload_order(drafts: list[Draft], rng: random.Random) -> list[Draft]:
    """Daily per-source batches in upload order; sources and records shuffled within a day."""
    by_day: dict[date, dict[str, list[Draft]]] = {}
    for draft in drafts:
        by_day.setdefault(draft.upload_day, {}).setdefault(draft.source, []).append(draft)
    ordered: list[Draft] = []
    for day in sorted(by_day):
        sources = sorted(by_day[day])
        rng.shuffle(sources)
        for source in sources:
            batch = by_day[day][source]
            rng.shuffle(batch)
            ordered.extend(batch)
    return ordered


def _lead_order(lead: dict[str, Any]) -> tuple[str, str, str, str]:
    return (lead["model_id"], lead["due_at"] or "", lead["trigger_event_id"], lead["subject"]["key"])


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False)


def _write_lines(path: Path | str, lines: Any) -> None:
    with Path(path).open("w", encoding="utf-8", newline="\n") as out:
        for line in lines:
            out.write(line + "\n")
