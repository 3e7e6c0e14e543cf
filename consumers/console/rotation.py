"""Key rotation of the reveal service: seal again, under the newest key, what older keys sealed.

Adapters seal with the newest public key from the moment they are pointed at it, but a person who
appears in no new record keeps the seal of an older key. ``jiandu console reseal`` runs where the
console's private keys are: for every seal in the archive that is not under the newest key, it
opens it (with the older private key, which it still holds), seals it for the newest key, and puts
the new seal on the identities topic, where the archiver takes it like any other (the newest seal
of a person wins). Once it reports nothing left under an old key, that key can be retired.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from consumers.archive.model import SealedIdentity
from consumers.archive.store import LeadArchive
from jiandu.core.identity_seal import IdentityOpener, IdentitySealer, SealError

__all__ = ["ResealReport", "reseal"]

#: Puts a new seal on the identities topic (and returns once the broker has it).
PublishSeal = Callable[[SealedIdentity], None]


@dataclass(slots=True)
class ResealReport:
    """How many seals were already current, sealed again, or could not be opened (unknown key, damaged)."""

    current: int = 0
    resealed: int = 0
    failed: int = 0


def reseal(
    archive: LeadArchive, opener: IdentityOpener, sealer: IdentitySealer, publish: PublishSeal, now_ms: int
) -> ResealReport:
    """Seal every archived identity not under ``sealer``'s key again for it; the numbers never leave memory."""
    report = ResealReport()
    for old in archive.sealed_identities():
        if old.key_id == sealer.key_id:
            report.current += 1
            continue
        try:
            number = opener.open(old.sealed, old.person_key)
        except SealError:
            report.failed += 1
            continue
        sealed = sealer.seal(number, old.person_key)
        publish(SealedIdentity(old.person_key, sealer.key_id, sealed, max(now_ms, old.sealed_at + 1)))
        report.resealed += 1
    return report
