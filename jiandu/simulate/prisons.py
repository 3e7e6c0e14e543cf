"""Prison terms: admission, fine payments, commutation, parole, release, and the M07/M13 leads they make.

A :class:`PrisonTerm` collects what a storyline planned for one person and case;
:func:`expect_term_leads` then plants, by construction from that plan, every lead
the term makes:

- M07 for each ``prison.commutation_proposed``: the judgment's fine against the
  payments that occurred at or before the proposal (checked at the end of day
  ``date(T) + 3``);
- M13 ``EARLY_RELEASE`` for a ``SENTENCE_COMPLETED`` release before the adjusted
  ``sentence_end`` (only rulings at or before the release count);
- M13 ``RELEASE_WITHOUT_RULING`` for a ``PAROLE`` or ``OUTSIDE_EXECUTION`` release
  without a ruling at or before it;
- M13 ``NOT_RELEASED`` for the admission: no release before 00:00 of adjusted end + 2
  days (all rulings count).

Commutation rulings are applied one at a time in the order they occurred, each as
calendar months with the day clamped to the end of a shorter month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from jiandu.core.timeutil import CST, add_months
from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import PRISONS, Person, court_code
from jiandu.simulate.sentences import judgment, pay_fine, settle_fine, trial_case_no

__all__ = [
    "Facility",
    "PrisonTerm",
    "adjusted_end",
    "admit",
    "approve_outside_execution",
    "commute",
    "detention_centre",
    "expect_ruled_release",
    "expect_term_leads",
    "grant_parole",
    "long_term_prisoner",
    "pay",
    "prison",
    "propose",
    "release",
    "release_record",
]

_RULED_REASONS = ("PAROLE", "OUTSIDE_EXECUTION")


@dataclass(frozen=True, slots=True)
class Facility:
    """A prison or detention centre: its source unit, facility code and type."""

    source: str
    code: str
    kind: str


@dataclass(slots=True)
class PrisonTerm:
    """One person's custody in one case, as a storyline planned it."""

    person: Person
    case_no: str
    court: str  # division of the sentencing court
    facility: Facility
    admission: Record
    admitted_at: datetime
    sentence_end: date
    verdict: Record | None = None  # the judgment, when the history holds it
    fine: Decimal = Decimal(0)
    payments: list[tuple[datetime, Decimal]] = field(default_factory=list)
    rulings: list[tuple[datetime, int]] = field(default_factory=list)  # commutations: when, months
    paroles: list[datetime] = field(default_factory=list)  # court.parole_granted
    approvals: list[datetime] = field(default_factory=list)  # court.outside_execution_approved
    proposals: list[tuple[Record, datetime]] = field(default_factory=list)
    releases: list[tuple[Record, datetime, str]] = field(default_factory=list)


def prison(ledger: Ledger, person: Person) -> Facility:
    """A provincial prison of the person's city."""
    unit, code = ledger.rng.choice(PRISONS[person.city])
    return Facility(f"prison:{person.city}:{unit}", code, "PRISON")


def detention_centre(district: str) -> Facility:
    """The detention centre (看守所) of a district."""
    return Facility(f"prison:{district}:kss", f"KSS{district}", "DETENTION_CENTER")


def adjusted_end(sentence_end: date, rulings: list[tuple[datetime, int]], until: datetime | None = None) -> date:
    """``sentence_end`` minus each ruling's months, one at a time in the order they occurred."""
    end = sentence_end
    for at, months in sorted(rulings):
        if until is None or at <= until:
            end = add_months(end, -months)
    return end


def admit(
    ledger: Ledger,
    person: Person,
    case_no: str,
    court: str,
    at: datetime,
    sentence_end: date,
    *,
    facility: Facility | None = None,
    basis: str = "SENTENCE",
) -> PrisonTerm:
    """A ``prison.admitted`` record with ``sentence_end`` (an M13 trigger) and the term it starts."""
    place = facility or prison(ledger, person)
    record = ledger.record(
        "prison.admitted",
        place.source,
        at,
        {
            "facility_code": place.code,
            "facility_type": place.kind,
            "id_number": person.written(ledger.rng),
            "case_no": case_no,
            "basis": basis,
            "sentence_end": sentence_end.isoformat(),
        },
    )
    return PrisonTerm(person, case_no, court, place, record, at, sentence_end)


def long_term_prisoner(
    ledger: Ledger, person: Person, sentence_end: date, *, admitted_on: date, fine: str = "0.00"
) -> PrisonTerm:
    """Judged (usually years before the timeline), the fine filed for execution, admitted to prison."""
    rng = ledger.rng
    judged_at = ledger.at(admitted_on - timedelta(days=rng.randint(10, 40)), 9, 17)
    court = person.city if rng.random() < 0.4 else person.home
    case_no = trial_case_no(ledger, court, ledger.local_day(judged_at).year)
    months = max(6, (sentence_end - ledger.local_day(judged_at)).days // 30 + rng.randint(1, 8))
    verdict = judgment(ledger, person, court, judged_at, case_no, "PRISON", prison_months=months, fine=fine)
    settle_fine(ledger, person, verdict, judged_at)
    term = admit(ledger, person, case_no, court, ledger.at(admitted_on, 9, 17), sentence_end)
    term.verdict, term.fine = verdict, Decimal(fine)
    return term


def pay(ledger: Ledger, term: PrisonTerm, at: datetime, amount: Decimal, *, upload_delay: int = 0) -> Record:
    """A payment on the term's fine."""
    record = pay_fine(ledger, term.person, term.court, term.case_no, at, amount, upload_delay=upload_delay)
    if ledger.in_history(at):
        term.payments.append((at, amount))
    return record


def propose(ledger: Ledger, term: PrisonTerm, at: datetime, kind: str = "COMMUTATION") -> Record:
    """The prison proposes a commutation or parole to the court (an M07 trigger)."""
    day = ledger.local_day(at)
    letters = "JX" if kind == "COMMUTATION" else "JS"
    number = ledger.serial(f"{letters}/{term.facility.code}", 400)
    record = ledger.record(
        "prison.commutation_proposed",
        term.facility.source,
        at,
        {
            "proposal_no": f"{term.facility.code}-{letters}{day.year}{number:03d}",
            "facility_code": term.facility.code,
            "id_number": term.person.written(ledger.rng),
            "case_no": term.case_no,
            "kind": kind,
        },
    )
    if ledger.in_history(at):
        term.proposals.append((record, at))
    return record


def _ruling_no(ledger: Ledger, city: str, day: date) -> str:
    return f"({day.year}){court_code(city)}刑更{ledger.serial(f'刑更/{city}/{day.year}', 30)}号"


def commute(ledger: Ledger, term: PrisonTerm, at: datetime, months: int) -> Record:
    """A commutation ruling reducing the sentence by ``months`` calendar months."""
    city = term.person.city
    record = ledger.record(
        "court.commutation_ruled",
        f"court:{city}",
        at,
        {
            "ruling_no": _ruling_no(ledger, city, ledger.local_day(at)),
            "case_no": term.case_no,
            "id_number": term.person.written(ledger.rng),
            "reduced_months": months,
        },
    )
    if ledger.in_history(at):
        term.rulings.append((at, months))
    return record


def grant_parole(ledger: Ledger, person: Person, case_no: str, at: datetime, months: int) -> Record:
    """A parole ruling (also an M02 trigger: the parolee must report within 10 days)."""
    city = person.city
    return ledger.record(
        "court.parole_granted",
        f"court:{city}",
        at,
        {
            "ruling_no": _ruling_no(ledger, city, ledger.local_day(at)),
            "case_no": case_no,
            "id_number": person.written(ledger.rng),
            "remaining_months": months,
        },
    )


def approve_outside_execution(
    ledger: Ledger, person: Person, case_no: str, at: datetime, reason: str, interval: int | None
) -> Record:
    """Temporary execution outside prison (an M02 trigger; with ``ILLNESS`` also M09's)."""
    city = person.city
    day = ledger.local_day(at)
    fields: Record = {
        "decision_no": f"({day.year}){court_code(city)}刑他{ledger.serial(f'刑他/{city}/{day.year}', 40)}号",
        "case_no": case_no,
        "id_number": person.written(ledger.rng),
        "reason": reason,
    }
    if interval is not None:
        fields["review_interval_days"] = interval
    return ledger.record("court.outside_execution_approved", f"court:{city}", at, fields)


def release_record(
    ledger: Ledger,
    person: Person,
    facility: Facility,
    case_no: str,
    at: datetime,
    reason: str,
    *,
    upload_delay: int = 0,
    stamp: str | None = None,
) -> Record:
    """A ``prison.released`` record."""
    return ledger.record(
        "prison.released",
        facility.source,
        at,
        {
            "facility_code": facility.code,
            "id_number": person.written(ledger.rng),
            "case_no": case_no,
            "reason": reason,
        },
        upload_delay=upload_delay,
        stamp=stamp,
    )


def release(ledger: Ledger, term: PrisonTerm, at: datetime, reason: str, *, stamp: str | None = None) -> Record:
    """Release the term's prisoner (an M13 trigger)."""
    record = release_record(ledger, term.person, term.facility, term.case_no, at, reason, stamp=stamp)
    if ledger.in_history(at):
        term.releases.append((record, at, reason))
    return record


def expect_ruled_release(
    ledger: Ledger, record: Record, released_at: datetime, person: Person, rulings: list[datetime]
) -> None:
    """M13 ``RELEASE_WITHOUT_RULING`` of a parole or outside-execution release: lawful with a ruling at or before it."""
    lawful = any(ledger.in_history(r) and r <= released_at for r in rulings)
    subject = ledger.subject(person)
    ledger.expect_check("M13", record, released_at, subject, violated=not lawful, finding="RELEASE_WITHOUT_RULING")


def expect_term_leads(ledger: Ledger, term: PrisonTerm) -> None:
    """Plant every M07 and M13 lead of a term, from the storyline's plan (call once, at its end)."""
    subject = ledger.subject(term.person)
    for record, at in term.proposals:
        if term.verdict is not None:
            paid = sum((amount for paid_at, amount in term.payments if paid_at <= at), Decimal(0))
            ledger.expect_check("M07", record, at, subject, violated=term.fine > 0 and paid < term.fine)
    for record, at, reason in term.releases:
        if reason == "SENTENCE_COMPLETED":
            early = ledger.local_day(at) < adjusted_end(term.sentence_end, term.rulings, until=at)
            ledger.expect_check("M13", record, at, subject, violated=early, finding="EARLY_RELEASE")
        elif reason in _RULED_REASONS:
            rulings = term.paroles if reason == "PAROLE" else term.approvals
            expect_ruled_release(ledger, record, at, term.person, rulings)
    last_day = adjusted_end(term.sentence_end, term.rulings) + timedelta(days=1)
    due = datetime.combine(last_day + timedelta(days=1), time(), CST)
    released = [at for _, at, _ in term.releases]
    ledger.expect_by("M13", term.admission, term.admitted_at, due, subject, released, finding="NOT_RELEASED")
