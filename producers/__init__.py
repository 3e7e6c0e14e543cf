"""Producers: the one way into Kafka for every adapter (validated, pseudonymised, confirmed)."""

from producers.counting import declare_flow
from producers.intake import IntakeReport, RecordIntake, Rejection, Submission
from producers.publisher import KafkaPublisher

__all__ = ["IntakeReport", "KafkaPublisher", "RecordIntake", "Rejection", "Submission", "declare_flow"]
