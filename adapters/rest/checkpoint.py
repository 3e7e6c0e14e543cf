"""Per-source checkpoints of the REST poller: where the next poll starts, kept across crashes and replicas.

A checkpoint is one small JSON document per source in the adapter checkpoints
(``adapters.leasing``: on Kafka for the hub's commands), replaced whole after the
page it counts was confirmed: whichever replica owns the source next starts there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from adapters.leasing import Checkpoints
from jiandu.errors import ConfigurationError

__all__ = ["Checkpoint", "CheckpointStore", "unit_of"]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a source's next page starts, and how much was confirmed so far.

    ``cursor`` is the agency's cursor after the last confirmed page (None: the
    source's ``start_since``); ``page_token`` is the token of the next page when a
    ``page_token`` source stopped in the middle of its pages.
    """

    source: str
    cursor: str | None = None
    page_token: str | None = None
    pages: int = 0
    records: int = 0
    updated_at: str | None = None

    def advanced(self, *, cursor: str | None, page_token: str | None, records: int) -> Checkpoint:
        """The checkpoint after one more confirmed page."""
        return replace(
            self,
            cursor=cursor,
            page_token=page_token,
            pages=self.pages + 1,
            records=self.records + records,
            updated_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        )


class CheckpointStore:
    """The checkpoint of each source, as JSON documents in the adapter checkpoints (``rest:<source>``)."""

    def __init__(self, documents: Checkpoints) -> None:
        self._documents = documents

    def load(self, source: str) -> Checkpoint:
        """The source's checkpoint; a fresh one when there is none yet."""
        values = self._documents.load(unit_of(source))
        if values is None:
            return Checkpoint(source)
        try:
            checkpoint = Checkpoint(**values)
        except TypeError as exc:
            raise ConfigurationError(
                f"the checkpoint of {source} is damaged ({exc}); it is a newer or older hub's: "
                "rename the source to read it again from its start_since (duplicates are ignored by event_id)"
            ) from exc
        if checkpoint.source != source:
            raise ConfigurationError(f"the checkpoint of {source} belongs to {checkpoint.source!r}")
        return checkpoint

    def save(self, checkpoint: Checkpoint) -> None:
        """Replace the source's checkpoint (durable when this returns)."""
        self._documents.save(unit_of(checkpoint.source), asdict(checkpoint))


def unit_of(source: str) -> str:
    """The lease and checkpoint key of a REST source: ``rest:<source>``."""
    return f"rest:{source}"
