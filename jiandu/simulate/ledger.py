"""The history under construction: records with their upload day, the planted leads, the serials.

Storylines write records through a :class:`Ledger`; it formats them as the
agencies do (ISO 8601 with offset, now and then UTC ``Z`` or no offset, a later
``recorded_at``), remembers on which day each one is uploaded, and records the
leads the storyline planted: the oracle, built by construction.

An expected lead has the shape of ``conformance/expected-leads.jsonl`` (without
evidence): ``OPEN`` when the hub must end with it open, ``RESOLVED`` when its closing
evidence is in the history (or the state it checks is lawful), ``PENDING`` when its
deadline lies after the clock end. Records that occur before the timeline (a
prisoner's admission years ago, last year's lawsuits) are uploaded on their own day,
ahead of everything else, as a first export would carry them.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from jiandu.core.identity import person_key
from jiandu.core.timeutil import CST, format_cst, local_midnight_ms, to_ms
from jiandu.simulate.breakage import applicable_defects, break_record
from jiandu.simulate.places import Organisation, Person

__all__ = ["FINDING_SEVERITY", "MODELS", "OPEN", "PENDING", "RESOLVED", "Draft", "Ledger", "Record", "event_id"]

Record = dict[str, Any]
Subject = dict[str, str]

OPEN, RESOLVED, PENDING = "OPEN", "RESOLVED", "PENDING"

#: Model id → (ordinary finding, severity, department) of every model the generator plants leads for.
MODELS = {
    "M01": ("DUI_NOT_FILED", "MEDIUM", "侦查监督"),
    "M02": ("CORRECTION_NOT_ENROLLED", "HIGH", "刑事执行检察"),
    "M03": ("REOFFENSE_UNDER_CORRECTION", "HIGH", "刑事执行检察"),
    "M04": ("UNAUTHORIZED_TRAVEL", "MEDIUM", "刑事执行检察"),
    "M05": ("DETENTION_OVERDUE", "HIGH", "侦查监督"),
    "M06": ("ARREST_REVIEW_OVERDUE", "HIGH", "案件管理"),
    "M07": ("COMMUTATION_WITH_UNPAID_FINE", "MEDIUM", "刑事执行检察"),
    "M08": ("FINE_NOT_EXECUTED", "LOW", "刑事执行检察"),
    "M09": ("MEDICAL_REVIEW_OVERDUE", "MEDIUM", "刑事执行检察"),
    "M10": ("ADMIN_CASE_NOT_TRANSFERRED", "HIGH", "行政检察"),
    "M11": ("SERIAL_LENDING_PLAINTIFF", "MEDIUM", "民事检察"),
    "M12": ("PENSION_AFTER_DEATH", "MEDIUM", "公益诉讼"),
    "M13": ("RELEASE_MISMATCH", "HIGH", "刑事执行检察"),
    "M14": ("CUSTODY_INCIDENT", "HIGH", "刑事执行检察"),
}

#: The other findings a model can raise, with their severity (M14's depends on the incident, see there).
FINDING_SEVERITY = {
    "PENALTY_INSTEAD_OF_PROSECUTION": "HIGH",
    "NOT_COMMITTED": "MEDIUM",
    "EARLY_RELEASE": "HIGH",
    "RELEASE_WITHOUT_RULING": "HIGH",
    "NOT_RELEASED": "HIGH",
}

_CHECK_DAYS = 3  # M07 and M13 releases are evaluated at the end of day date(T) + 3
_CASELESS = frozenset({"M01", "M11", "M12", "M14"})  # their leads carry no case number

_TAIL_DAYS = 20  # the clock end lies this many days after the main timeline

# Source-record-id prefixes of the agency systems; court and social systems use hex serials.
_PREFIX = {
    "police.case_filed": "LA",
    "police.alcohol_test": "T",
    "police.admin_penalty": "XZCF",
    "police.coercive_measure": "QZ",
    "police.detention_extended": "YC",
    "police.arrest_requested": "TQ",
    "police.lodging": "ZS",
    "police.death_registered": "SW",
    "procuratorate.arrest_decided": "SC",
    "court.judgment_effective": "PJ",
    "court.parole_granted": "JS",
    "court.commutation_ruled": "JX",
    "court.outside_execution_approved": "JW",
    "court.execution_filed": "ZXLA",
    "court.property_penalty_executed": "ZX",
    "court.civil_case_filed": "MS",
    "court.civil_case_closed": "MJ",
    "prison.admitted": "SY",
    "prison.released": "SF",
    "prison.commutation_proposed": "TJ",
    "prison.incident": "SJ",
    "correction.enrolled": "BD",
    "correction.leave_approved": "QJ",
    "correction.medical_review": "FC",
    "correction.terminated": "JJ",
    "admin.penalty_decided": "CF",
    "admin.case_transferred": "YS",
    "social.pension_paid": "FF",
}
_HEX_CATEGORIES = ("court", "social")


def event_id(record: Record) -> str:
    """``<source>/<type>/<source_record_id>`` of a record."""
    return f"{record['source']}/{record['type']}/{record['source_record_id']}"


@dataclass(slots=True)
class Draft:
    """One output line before batching: the record (or raw text) and the day it is uploaded."""

    record: Record | str
    source: str
    upload_day: date
    defect: str | None = None  # the planted defect of an invalid line


class Ledger:
    """Collects the records, upload days and planted leads of one history."""

    def __init__(self, rng: random.Random, start_day: date, days: int, key: bytes) -> None:
        self.rng = rng
        self.start_day = start_day
        self.days = days
        self.clock_end_day = start_day + timedelta(days=days + _TAIL_DAYS)
        self.clock_end_ms = local_midnight_ms(self.clock_end_day)
        self._clock_end = self.midnight(self.clock_end_day)
        self.drafts: list[Draft] = []
        self.expected: list[dict[str, Any]] = []
        self.planted: Counter[str] = Counter()
        self.defects_allowed = True
        self._key = key
        self._serials: Counter[str] = Counter()
        self._subjects: dict[str, str] = {}  # ID number → pseudonym

    # --- time -------------------------------------------------------------------------

    def day(self, lo: int = 0, hi: int = -1) -> date:
        """A random day of the main timeline, by index; a negative ``hi`` counts from its end."""
        last = hi if hi >= 0 else self.days + hi
        return self.start_day + timedelta(days=self.rng.randint(lo, max(lo, last)))

    def at(self, day: date, lo_hour: int = 8, hi_hour: int = 18) -> datetime:
        """A random instant (whole seconds, CST) on ``day`` between the two hours."""
        seconds = self.rng.randrange(lo_hour * 3600, hi_hour * 3600)
        return datetime.combine(day, time(), CST) + timedelta(seconds=seconds)

    @staticmethod
    def midnight(day: date) -> datetime:
        """00:00:00 CST of a day."""
        return datetime.combine(day, time(), CST)

    @staticmethod
    def local_day(at: datetime) -> date:
        """The China Standard Time date of an instant."""
        return at.astimezone(CST).date()

    def due(self, trigger_at: datetime, days: int) -> datetime:
        """The exclusive deadline of "within ``days`` days of the trigger" (CPL counting)."""
        return self.midnight(self.local_day(trigger_at) + timedelta(days=days + 1))

    def after_clock_end(self, at: datetime) -> bool:
        """True when an instant lies at or after the clock end: it has not happened yet."""
        return at >= self._clock_end

    # --- numbers ----------------------------------------------------------------------

    def serial(self, name: str, first: int = 1) -> int:
        """The next number of a named sequence (case numbers, document numbers)."""
        if name not in self._serials:
            self._serials[name] = first - 1
        self._serials[name] += 1
        return self._serials[name]

    def _record_id(self, record_type: str, source: str, day: date) -> str:
        prefix = _PREFIX[record_type]
        if prefix == "T":
            return f"T{day:%Y%m%d}-{self.serial(f'{source}/T{day}'):05d}"
        if source.split(":", 1)[0] in _HEX_CATEGORIES:
            return f"{prefix}{self.serial(prefix):06d}{self.rng.getrandbits(20):05X}"
        return f"{prefix}{day:%Y%m%d}{self.serial(prefix):06d}"

    # --- records ----------------------------------------------------------------------

    def make(self, record_type: str, source: str, at: datetime, fields: Record, *, stamp: str | None = None) -> Record:
        """A canonical record: common fields first, then the type's, then ``recorded_at``."""
        day = self.local_day(at)
        style = stamp or self._stamp_style()
        record: Record = {
            "type": record_type,
            "source": source,
            "source_record_id": self._record_id(record_type, source, day),
            "occurred_at": _format(at, style),
            "jurisdiction": source.split(":")[1],
            **fields,
        }
        if self.rng.random() < 0.15:
            record["recorded_at"] = _format(at + timedelta(minutes=self.rng.randint(5, 1800)), "cst")
        return record

    def record(
        self,
        record_type: str,
        source: str,
        at: datetime,
        fields: Record,
        *,
        upload_delay: int = 0,
        stamp: str | None = None,
    ) -> Record:
        """Make a record and add it, uploaded ``upload_delay`` days after it occurred.

        A record that would occur at or after the clock end has not happened yet: it is
        returned (so that a storyline can still name it) but not added.
        """
        record = self.make(record_type, source, at, fields, stamp=stamp)
        if not self.after_clock_end(at):
            self.add(record, at, upload_delay=upload_delay)
        return record

    def record_rejected_first(
        self, record_type: str, source: str, at: datetime, fields: Record, *, resend_delay: int
    ) -> Record:
        """A record whose first upload is rejected (a planted defect) and re-sent corrected later.

        The corrected re-send keeps the ``source_record_id``: a rejected record does not
        use up its event id. Without defects (``invalid_rate`` 0) it is just a late upload.
        """
        record = self.make(record_type, source, at, fields)
        if self.defects_allowed:
            kind = self.rng.choice(applicable_defects(record))
            self.add(break_record(self.rng, record, kind), at, source=source, defect=kind)
            self.planted[f"invalid_{kind}"] += 1
            self.planted["corrected_resend"] += 1
        self.add(record, at, upload_delay=resend_delay)
        return record

    def add(
        self,
        record: Record | str,
        at: datetime,
        *,
        source: str | None = None,
        upload_delay: int = 0,
        defect: str | None = None,
    ) -> Draft:
        """Queue a record (or raw line) for the upload batch ``upload_delay`` days after ``at``."""
        occurred = self.local_day(at)
        last_upload = self.clock_end_day - timedelta(days=1)
        upload = max(occurred, min(occurred + timedelta(days=upload_delay), last_upload))
        if isinstance(record, dict) and defect is None:
            self._count_shapes(record)
        src = source if source is not None else str(record["source"])  # type: ignore[index]
        draft = Draft(record, src, upload, defect)
        self.drafts.append(draft)
        return draft

    def _count_shapes(self, record: Record) -> None:
        occurred = str(record["occurred_at"])
        if occurred.endswith("Z"):
            self.planted["timestamp_utc_z"] += 1
        elif occurred.endswith("+00:00"):
            self.planted["timestamp_utc_offset"] += 1
        elif occurred[-6] not in "+-":
            self.planted["timestamp_no_offset"] += 1
        if "." in occurred:
            self.planted["timestamp_milliseconds"] += 1
        if "recorded_at" in record:
            self.planted["recorded_later"] += 1
        if len(str(record.get("id_number", ""))) == 15:
            self.planted["legacy_15_digit_id"] += 1
        if str(record.get("id_number", "")).endswith("x"):
            self.planted["lower_case_x"] += 1

    def _stamp_style(self) -> str:
        roll = self.rng.random()
        return "utc_z" if roll < 0.03 else "no_offset" if roll < 0.04 else "cst"

    def boundary_stamp(self) -> str | None:
        """Boundary records are often written in UTC or without offset: ``15:59:59Z`` is 23:59:59 CST."""
        return self.rng.choice(("utc_z", "utc_z", "utc_offset", "no_offset", None, None, None))

    def last_instant_before(self, due: datetime) -> datetime:
        """The last whole second before a deadline (now and then the last millisecond)."""
        return due - (timedelta(milliseconds=1) if self.rng.random() < 0.2 else timedelta(seconds=1))

    # --- planted leads ----------------------------------------------------------------

    def in_history(self, at: datetime | None) -> bool:
        """True when a planned instant is part of the history (it lies before the clock end)."""
        return at is not None and not self.after_clock_end(at)

    def subject(self, party: Person | Organisation) -> Subject:
        """The lead subject of a person (its pseudonym) or an organisation (its credit code)."""
        if isinstance(party, Organisation):
            return {"kind": "ORG", "key": party.credit_code}
        key = self._subjects.get(party.id_number)
        if key is None:
            key = self._subjects[party.id_number] = person_key(party.id_number, self._key)
        return {"kind": "PERSON", "key": key}

    def expect(
        self,
        model_id: str,
        trigger: Record,
        status: str,
        subject: Subject,
        *,
        due: datetime | None = None,
        finding: str | None = None,
        severity: str | None = None,
        case_no: str | None = None,
    ) -> None:
        """Plant a lead with a known status (``case_no`` defaults to the trigger's; M01, M11, M12, M14 have none)."""
        own_finding, own_severity, department = MODELS[model_id]
        finding = finding or own_finding
        if case_no is None and model_id not in _CASELESS:
            case_no = trigger.get("case_no")
        self.expected.append(
            {
                "model_id": model_id,
                "finding": finding,
                "severity": severity or FINDING_SEVERITY.get(finding, own_severity),
                "department": department,
                "jurisdiction": trigger["jurisdiction"],
                "subject": subject,
                "trigger_event_id": event_id(trigger),
                "case_no": case_no,
                "due_at": None if due is None else format_cst(to_ms(due)),
                "status": status,
            }
        )

    def expect_now(
        self, model_id: str, trigger: Record, trigger_at: datetime, subject: Subject, **details: Any
    ) -> None:
        """A lead raised as soon as its evidence is present (M03, M11, M12, M14): OPEN."""
        if self.in_history(trigger_at):
            self.expect(model_id, trigger, OPEN, subject, **details)

    def expect_by(
        self,
        model_id: str,
        trigger: Record,
        trigger_at: datetime,
        due: datetime,
        subject: Subject,
        closed_at: Iterable[datetime | None],
        *,
        lookback: timedelta | None = timedelta(0),
        **details: Any,
    ) -> str | None:
        """A deadline lead: RESOLVED when a closing instant of the history lies in the window, else OPEN or PENDING.

        The window is ``[trigger - lookback, due)``; ``lookback`` None is unlimited.
        Returns the status (None when the trigger itself lies after the clock end).
        """
        if not self.in_history(trigger_at):
            return None
        earliest = None if lookback is None else trigger_at - lookback
        closed = any(
            c is not None and self.in_history(c) and (earliest is None or c >= earliest) and c < due for c in closed_at
        )
        status = RESOLVED if closed else OPEN if due <= self._clock_end else PENDING
        self.expect(model_id, trigger, status, subject, due=due, **details)
        return status

    def expect_deadline(
        self,
        model_id: str,
        trigger: Record,
        trigger_at: datetime,
        days: int,
        subject: Subject,
        closed_at: Iterable[datetime | None],
        **details: Any,
    ) -> str | None:
        """A lead "within ``days`` days of the trigger" (CPL counting), see :meth:`expect_by`."""
        return self.expect_by(model_id, trigger, trigger_at, self.due(trigger_at, days), subject, closed_at, **details)

    def expect_check(
        self, model_id: str, trigger: Record, trigger_at: datetime, subject: Subject, *, violated: bool, **details: Any
    ) -> None:
        """A state checked at the end of day ``date(T) + 3`` (M07, M13 releases).

        A violation is OPEN once checked, PENDING before; a lawful state is RESOLVED once
        checked (and not planted before: whether an unchecked lead shows yet is the hub's choice).
        """
        if not self.in_history(trigger_at):
            return
        due = self.due(trigger_at, _CHECK_DAYS)
        checked = due <= self._clock_end
        if violated:
            self.expect(model_id, trigger, OPEN if checked else PENDING, subject, due=due, **details)
        elif checked:
            self.expect(model_id, trigger, RESOLVED, subject, due=due, **details)


def _format(at: datetime, style: str) -> str:
    """ISO 8601 in one of the shapes agencies send: CST offset, UTC ``Z`` or ``+00:00``, no offset."""
    spec = "milliseconds" if at.microsecond else "seconds"
    if style == "utc_z":
        return at.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")
    if style == "utc_offset":
        return at.astimezone(UTC).isoformat(timespec=spec)
    if style == "no_offset":
        return at.astimezone(CST).replace(tzinfo=None).isoformat(timespec=spec)
    return at.astimezone(CST).isoformat(timespec=spec)
