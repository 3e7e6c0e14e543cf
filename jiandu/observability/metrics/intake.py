"""Records entering the hub through any adapter (:class:`producers.intake.RecordIntake`)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["RECORDS_ACCEPTED", "RECORDS_RECEIVED", "RECORDS_REJECTED"]

RECORDS_RECEIVED = Counter(
    "jiandu_records_received_total",
    "Records an adapter handed to the intake, valid or not.",
    ["adapter", "source", "type"],
)
RECORDS_ACCEPTED = Counter(
    "jiandu_records_accepted_total",
    "Records published as events and confirmed by the broker.",
    ["adapter", "source", "type"],
)
RECORDS_REJECTED = Counter(
    "jiandu_records_rejected_total",
    "Records dead-lettered (confirmed by the broker), by reason <field>:<rule>.",
    ["adapter", "source", "type", "reason"],
)
