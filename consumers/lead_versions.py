"""Which lead versions are new: the rule every consumer of the lead topic applies (archive, alerts, webhooks).

Reprocessing (a worker rebuilt after a broker restart, a crash before a commit)
re-emits lead versions that differ from earlier ones only in wall-clock fields
(``raised_at`` is the hub clock when the worker raised it, ``detected_at`` and
``updated_at`` the wall clock when it published). Such a version is no news: a
consumer stores, routes and delivers nothing for it, so a rebuilt worker replaying a
lead's history (OPEN, then RESOLVED) moves no lead back to a state it left. Content is
the test, not the status: the engine itself re-opens a lead WITHDRAWN because a late
extension moved its deadline, once the new deadline passes (new ``due_at``, new
version); refusing every return to an earlier status lost such leads (measured: 4
M05 leads OPEN on the topic and WITHDRAWN in the archive after a fault-injection run).

:class:`LeadLedger` keeps, per lead, the content digests seen per scope (a webhook
subscription, or the router) and the severities the lead was routed with, in the consumer's
partition-aligned changelog (:mod:`consumers._changelog`), so that a replica taking over a
partition on another host knows what the one before it did. One record per lead, a JSON object
of ≈ 60 bytes plus 35 per version seen (``{"seen":{"":["<32 hex>",…]},"sev":["HIGH"]}``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from consumers._changelog import ChangelogState
from jiandu.core.leads import Lead
from jiandu.journal import JournalWriter

__all__ = ["WALL_CLOCK_FIELDS", "LeadLedger", "content_digest", "is_repeat"]

#: Fields a re-emitted version may change without being a new version.
WALL_CLOCK_FIELDS = frozenset({"raised_at", "detected_at", "updated_at"})


def content_digest(lead: Lead | Mapping[str, Any]) -> str:
    """A digest of everything in a version but its wall-clock fields."""
    record = lead.to_avro() if isinstance(lead, Lead) else lead
    content = {k: v for k, v in record.items() if k not in WALL_CLOCK_FIELDS}
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def is_repeat(seen: Sequence[str], digest: str) -> bool:
    """True when a version with ``digest`` is no news after the versions ``seen`` (their digests): the same
    content, re-emitted. A version with new content is news even when its status is one the lead had before:
    a lead WITHDRAWN because a late extension moved its deadline is OPEN again once that deadline passes."""
    return digest in seen


class LeadLedger:
    """What a consumer remembers per lead, in its changelog state (at the lead-topic partition of the lead).

    Writes are staged in the state: they count once the consumer flushed it, which it does before
    committing the input offsets they came from.
    """

    def __init__(self, state: ChangelogState) -> None:
        self.state = state

    @classmethod
    def on_changelog(
        cls,
        client_config: Mapping[str, Any],
        state_topic: str,
        leads_topic: str,
        group: str,
        *,
        journal: JournalWriter | None,
        fetch_max_wait_ms: int,
    ) -> LeadLedger:
        """The ledger of consumer group ``group`` reading ``leads_topic``, kept in the compacted ``state_topic``."""
        state = ChangelogState(
            client_config,
            state_topic,
            input_topic=leads_topic,
            namespace=group,
            journal=journal,
            fetch_max_wait_ms=fetch_max_wait_ms,
        )
        return cls(state)

    def is_repeat(self, partition: int, scope: str, lead: Lead) -> bool:
        """True when ``lead`` is no new version for ``scope`` (see :func:`is_repeat`)."""
        return is_repeat(self._read(partition, lead.lead_id)["seen"].get(scope, []), content_digest(lead))

    def record(self, partition: int, scope: str, lead: Lead) -> None:
        """Remember ``lead`` as seen by ``scope`` (a repeat is not recorded twice)."""
        memory = self._read(partition, lead.lead_id)
        seen = memory["seen"].setdefault(scope, [])
        digest = content_digest(lead)
        if digest not in seen:
            seen.append(digest)
            self._write(partition, lead.lead_id, memory)

    def earlier_severities(self, partition: int, lead_id: str, severity: str) -> list[str]:
        """The other severities ``lead_id`` was routed with before; records ``severity``."""
        memory = self._read(partition, lead_id)
        known: list[str] = memory["sev"]
        if severity not in known:
            known.append(severity)
            self._write(partition, lead_id, memory)
        return [s for s in known if s != severity]

    def _read(self, partition: int, lead_id: str) -> dict[str, Any]:
        raw = self.state.get(partition, lead_id)
        memory: dict[str, Any] = json.loads(raw) if raw else {}
        memory.setdefault("seen", {})
        memory.setdefault("sev", [])
        return memory

    def _write(self, partition: int, lead_id: str, memory: dict[str, Any]) -> None:
        compact = {k: v for k, v in memory.items() if v}
        self.state.put(partition, lead_id, json.dumps(compact, separators=(",", ":")).encode())
