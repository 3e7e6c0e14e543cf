"""Canonical agency records for the latency benchmark: trigger records and the state they need.

Built from the record catalogue's shapes (``../shared/spec/events.md``) with the
core's ID-number rule, not from ``jiandu.simulate``, so that the benchmark does
not move when the generator's storylines change. The benchmark's people are born
in a division no generated history uses (650102), so their state starts empty.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from jiandu.core.events import event_id_of
from jiandu.core.identity import make_id_number
from jiandu.core.timeutil import format_cst

__all__ = ["LatencyRecords", "Trigger"]

Record = dict[str, Any]

_DIVISION = "650102"
_FIRST_BIRTH = date(1960, 1, 1)
_DAY_MS = 86_400_000
_INCIDENTS = ("DEATH", "ESCAPE", "SERIOUS_INJURY")


@dataclass(frozen=True, slots=True)
class Trigger:
    """A trigger record, the model whose lead it should raise, and its event id (the lead's trigger)."""

    model_id: str
    record: Record

    @property
    def event_id(self) -> str:
        """``<source>/<type>/<source_record_id>``, as the lead's ``trigger_event_id``."""
        r = self.record
        return event_id_of(r["source"], r["type"], r["source_record_id"])


class LatencyRecords:
    """Makes fresh people, enrolments and trigger records with unique record ids."""

    def __init__(self) -> None:
        self._people = itertools.count()
        self._serials = itertools.count(1)
        self._enrolled: list[str] = []
        self._next_enrolled = itertools.count()
        self._reoffences = itertools.count()

    def person(self) -> str:
        """The ID number of a new person."""
        n = next(self._people)
        return make_id_number(_DIVISION, _FIRST_BIRTH + timedelta(days=n // 1000), n % 1000)

    def enrolment(self, at_ms: int) -> Record:
        """A new person enrolled in community correction at ``at_ms`` (kept for :meth:`reoffence`)."""
        id_number = self.person()
        self._enrolled.append(id_number)
        fields = {
            "agency_code": "SQJZ210204",
            "id_number": id_number,
            "case_no": f"(2024)辽0204刑初{next(self._serials)}号",
            "basis": "PROBATION",
            "permitted_city": "210200",
            "term_end": "2099-12-31",
        }
        return self._record("correction.enrolled", "correction:210204", at_ms, fields)

    def custody_incident(self, at_ms: int) -> Trigger:
        """M14: an incident in custody (raised as soon as it is present)."""
        n = next(self._serials)
        fields = {
            "facility_code": "LNJY-DL01",
            "id_number": self.person(),
            "kind": _INCIDENTS[n % len(_INCIDENTS)],
            "description": "基准测试记录",
        }
        return Trigger("M14", self._record("prison.incident", "prison:210200:p1", at_ms, fields))

    def reoffence(self, at_ms: int) -> Trigger:
        """M03: a case filed or a coercive measure started for an enrolled person (round robin)."""
        if not self._enrolled:
            raise RuntimeError("M03 triggers need enrolled people: make enrolments first")
        id_number = self._enrolled[next(self._next_enrolled) % len(self._enrolled)]
        case_no = f"A21020420240{next(self._serials):07d}"
        if next(self._reoffences) % 2 == 0:
            fields: Record = {
                "case_no": case_no,
                "suspects": [{"id_number": id_number}],
                "charge_code": "264",
                "charge_name": "盗窃罪",
                "admin_case_ref": None,
            }
            return Trigger("M03", self._record("police.case_filed", "police:210204", at_ms, fields))
        fields = {"case_no": case_no, "id_number": id_number, "measure": "ARREST", "action": "START"}
        return Trigger("M03", self._record("police.coercive_measure", "police:210204", at_ms, fields))

    def overdue_judgment(self, at_ms: int) -> Trigger:
        """M02, already overdue: a probation judgment 20 days before ``at_ms`` and no enrolment.

        Its deadline has passed when it arrives, so the lead is raised at once: the
        same immediate path as M14, available in every catalogue that has M02.
        """
        return self.judgment(at_ms - 20 * _DAY_MS)

    def judgment(self, at_ms: int) -> Trigger:
        """M02: a probation judgment effective at ``at_ms`` for a new person, who is never enrolled."""
        fields = {
            "case_no": f"(2024)辽0204刑初{next(self._serials)}号",
            "id_number": self.person(),
            "charge_code": "264",
            "sentence_type": "PROBATION",
            "prison_months": 0,
            "probation_months": 12,
            "fine_cny": "0.00",
        }
        return Trigger("M02", self._record("court.judgment_effective", "court:210200", at_ms, fields))

    def _record(self, record_type: str, source: str, at_ms: int, fields: Record) -> Record:
        return {
            "type": record_type,
            "source": source,
            "source_record_id": f"BENCH{next(self._serials):010d}",
            "occurred_at": format_cst(at_ms),
            "jurisdiction": source.split(":")[1],
            **fields,
        }
