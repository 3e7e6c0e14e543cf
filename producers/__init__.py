"""Producers: the one way into Kafka for every adapter (validated, pseudonymised, confirmed)."""

from producers.identities import IdentitySealing
from producers.intake import IntakeReport, RecordIntake, Rejection, Submission
from producers.publisher import KafkaPublisher

__all__ = ["IdentitySealing", "IntakeReport", "KafkaPublisher", "RecordIntake", "Rejection", "Submission"]
