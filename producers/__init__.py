"""Producers: the one way into Kafka for every adapter (validated, pseudonymised, confirmed)."""

from producers.counting import declare_flow
from producers.identities import IdentitySealing
from producers.intake import IntakeReport, Prepared, RecordIntake, Rejection, Submission
from producers.publisher import KafkaPublisher

__all__ = [
    "IdentitySealing",
    "IntakeReport",
    "KafkaPublisher",
    "Prepared",
    "RecordIntake",
    "Rejection",
    "Submission",
    "declare_flow",
]
