"""The error tree of Jiandu Hub.

    JianduError
    ├── ConfigurationError        settings missing or inconsistent: the message says which variable to set
    ├── BrokerError               Kafka unreachable, embedded broker failed to start
    │   └── BrokerPortInUse       the embedded broker's port is taken by another process
    ├── RecordError               an agency record cannot become an event (dead-lettered, never raised past ingest)
    │   ├── InvalidIdNumber       resident ID number fails GB 11643 validation
    │   └── InvalidCreditCode     unified social credit code fails GB 32100 validation
    ├── SchemaError               an Avro payload cannot be encoded/decoded, or a schema change is incompatible
    ├── DeliveryError             the broker did not confirm a message: the input is not counted as accepted
    │   ├── JournalError          the durable journal could not be written (or read): nothing counted accepted
    │   └── ReceiptsUnavailable   the push API's accepted ids could not be recorded: nothing answered accepted
    ├── InputError                an input file cannot be read at all (exit code 2 on the command line)
    └── ReportError               a report could not be printed to PDF (no Chromium, or it failed or timed out)

Messages never contain a raw ID number.
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "BrokerPortInUse",
    "ConfigurationError",
    "DeliveryError",
    "InputError",
    "InvalidCreditCode",
    "InvalidIdNumber",
    "JianduError",
    "JournalError",
    "ReceiptsUnavailable",
    "RecordError",
    "ReportError",
    "SchemaError",
]


class JianduError(Exception):
    """Root of every error Jiandu Hub raises on purpose."""


class ConfigurationError(JianduError):
    """A setting is missing or invalid."""


class BrokerError(JianduError):
    """Kafka could not be reached or the embedded broker could not run."""


class BrokerPortInUse(BrokerError):
    """The embedded broker's port is already bound by another process."""


class RecordError(JianduError):
    """An agency record is invalid; ``reason`` is what goes to the dead-letter topic."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def under(self, field_path: str) -> RecordError:
        """The same error, reported for a nested field (``suspects[0].id_number: ...``)."""
        joiner = "" if self.reason[:1] in (".", "[") else ": "
        return RecordError(f"{field_path}{joiner}{self.reason}")


class InvalidIdNumber(RecordError):
    """A resident ID number fails validation (wrong check character, length or birth date)."""


class InvalidCreditCode(RecordError):
    """A unified social credit code fails validation."""


class SchemaError(JianduError):
    """An Avro payload or schema problem."""


class DeliveryError(JianduError):
    """The broker did not confirm delivery."""


class InputError(JianduError):
    """An input cannot be read at all."""


class ReportError(JianduError):
    """A console report could not be printed to PDF: no headless Chromium, or it failed or took too long."""


class JournalError(DeliveryError):
    """The durable journal could not be written: the messages of that batch are not counted as accepted."""


class ReceiptsUnavailable(DeliveryError):
    """The push API could not record accepted event ids (its database is away): nothing is answered accepted."""
