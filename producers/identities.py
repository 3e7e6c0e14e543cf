"""Sealed ID numbers for the console's reveal service, published beside the events.

While validation pseudonymises a record, :class:`IdentitySealing` notes each person key with the
normalised number it came from; once the event is queued, the numbers not sealed recently by
this process are sealed (``jiandu.core.identity_seal``) and put on ``<prefix>.identities``, a
compacted topic keyed by person key. The event schemas do not change, and the number travels
only sealed: workers and Kafka clients cannot open it, only the console's reveal service can.
"""

from __future__ import annotations

import collections
import datetime

from jiandu.core.identity import Pseudonymiser, normalise_id_number
from jiandu.core.identity_seal import IdentitySealer

__all__ = ["IdentitySealing", "RecordingPseudonymiser"]

_REMEMBERED = 1 << 16  # person keys sealed recently: a person's every event need not re-send their seal


class RecordingPseudonymiser(Pseudonymiser):
    """A pseudonymiser that remembers, for the record being validated, which number gave which key."""

    __slots__ = ("seen",)

    def __init__(self, key: bytes) -> None:
        super().__init__(key)
        self.seen: dict[str, str] = {}

    def person_key(self, raw_id: str, *, not_after: datetime.date | None = None) -> str:
        key = super().person_key(raw_id, not_after=not_after)
        self.seen[key] = normalise_id_number(raw_id)
        return key


class IdentitySealing:
    """Which person keys still need their number sealed, and the seals (key id, bytes) for them."""

    def __init__(self, sealer: IdentitySealer) -> None:
        self._sealer = sealer
        self._recent: collections.OrderedDict[str, None] = collections.OrderedDict()

    @property
    def key_id(self) -> str:
        """The public key sealing now."""
        return self._sealer.key_id

    def seals(self, numbers: dict[str, str]) -> list[tuple[str, bytes]]:
        """(person key, sealed number) for every number of ``numbers`` not sealed (and confirmed) recently."""
        out = []
        for person_key, number in numbers.items():
            if person_key in self._recent:
                self._recent.move_to_end(person_key)
            else:
                out.append((person_key, self._sealer.seal(number, person_key)))
        return out

    def confirmed(self, person_key: str) -> None:
        """The broker has ``person_key``'s seal: no need to send it again for a while."""
        self._recent[person_key] = None
        if len(self._recent) > _REMEMBERED:
            self._recent.popitem(last=False)

    def __repr__(self) -> str:
        return f"IdentitySealing(key_id={self.key_id})"
