"""Medical reviews of people executing their sentence outside prison for illness, and the M09 leads they make.

An ``ILLNESS`` approval starts a review period of ``review_interval_days`` (90 when
the record omits it). Any ``correction.medical_review`` within the period satisfies
it; one with ``still_qualifies`` true starts the next period, one with false starts
none but a ``NOT_COMMITTED`` check instead (a ``REVOCATION`` admission or a
``COMMITTED_TO_PRISON`` termination within 10 days). A termination ends the
obligation to review. :func:`expect_reviews` plants every period and check of one
approval from the storyline's plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import Person

__all__ = [
    "COMMIT_DAYS",
    "DEFAULT_INTERVAL",
    "Review",
    "expect_reviews",
    "interval_of",
    "review",
    "routine_reviews",
    "terminate",
]

DEFAULT_INTERVAL = 90
COMMIT_DAYS = 10


@dataclass(frozen=True, slots=True)
class Review:
    """A medical review in the history."""

    record: Record
    at: datetime
    still_qualifies: bool


def interval_of(approval: Record) -> int:
    """The review interval an approval sets."""
    return int(approval.get("review_interval_days", DEFAULT_INTERVAL))


def review(
    ledger: Ledger,
    person: Person,
    at: datetime,
    still_qualifies: bool,
    *,
    upload_delay: int = 0,
    stamp: str | None = None,
) -> Review | None:
    """A ``correction.medical_review`` by the person's correction agency (None: after the clock end)."""
    record = ledger.record(
        "correction.medical_review",
        f"correction:{person.home}",
        at,
        {"id_number": person.written(ledger.rng), "still_qualifies": still_qualifies},
        upload_delay=upload_delay,
        stamp=stamp,
    )
    return Review(record, at, still_qualifies) if ledger.in_history(at) else None


def terminate(ledger: Ledger, person: Person, at: datetime, reason: str) -> datetime | None:
    """A ``correction.terminated`` record; returns its instant when it is in the history."""
    ledger.record(
        "correction.terminated",
        f"correction:{person.home}",
        at,
        {"id_number": person.written(ledger.rng), "reason": reason},
    )
    return at if ledger.in_history(at) else None


def routine_reviews(
    ledger: Ledger, person: Person, approval: Record, approved_at: datetime, enrolled_at: datetime | None
) -> None:
    """Reviews every period, a few days before it runs out, once the person is enrolled; plants M09."""
    reviews: list[Review] = []
    if enrolled_at is not None:
        interval = interval_of(approval)
        last = approved_at
        while True:
            day = ledger.local_day(last) + timedelta(days=interval - ledger.rng.randint(3, 20))
            at = max(ledger.at(day, 9, 16), enrolled_at + timedelta(hours=2))
            done = review(ledger, person, at, True)
            if done is None:
                break
            reviews.append(done)
            last = at
    expect_reviews(ledger, person, approval, approved_at, reviews)


def expect_reviews(
    ledger: Ledger,
    person: Person,
    approval: Record,
    approved_at: datetime,
    reviews: list[Review],
    *,
    terminated_at: datetime | None = None,
    committed_at: datetime | None = None,
) -> None:
    """Plant the M09 leads of one ``ILLNESS`` approval: every review period and every ``NOT_COMMITTED`` check.

    ``terminated_at``: any termination (it ends the obligation to review);
    ``committed_at``: a ``REVOCATION`` admission or ``COMMITTED_TO_PRISON`` termination.
    """
    if approval.get("reason") != "ILLNESS" or not ledger.in_history(approved_at):
        return
    subject = ledger.subject(person)
    case_no = str(approval["case_no"])
    interval = interval_of(approval)
    starts = [(approval, approved_at)] + [(r.record, r.at) for r in reviews if r.still_qualifies]
    for record, start in starts:
        if terminated_at is not None and terminated_at <= start:
            break
        closers = [r.at for r in reviews if r.at > start] + [terminated_at]
        ledger.expect_deadline("M09", record, start, interval, subject, closers, case_no=case_no)
    for failed in (r for r in reviews if not r.still_qualifies):
        ledger.expect_deadline(
            "M09",
            failed.record,
            failed.at,
            COMMIT_DAYS,
            subject,
            [committed_at],
            finding="NOT_COMMITTED",
            case_no=case_no,
        )
