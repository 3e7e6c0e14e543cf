"""Who may push what: agencies, their bearer tokens (stored as salted hashes) and their sources.

The credentials file (``JIANDU_GATEWAY_AGENCIES``) is YAML::

    agencies:
      - id: shenyang-court                 # letters, digits, '-' and '_'
        name: 沈阳市中级人民法院             # optional, for people
        category: court                    # owns the record types court.*
        sources: ["court:210100"]          # prefixes of the `source` codes it may submit
        token_hash: "scrypt$16384$8$1$…"   # from `jiandu gateway hash-token --agency shenyang-court`

``token_hash`` may be a list, so a new token can be issued before the old one is
retired. A token is ``<agency id>.<secret>``: the id says which hashes to check.
The secret is 256 random bits, so a fast salted hash protects it as well as a slow
one (nobody can guess through 2^256 secrets, however fast each guess): new hashes are
``sha256$<salt>$<HMAC-SHA256(salt, token)>``, checked in about a microsecond with a
constant-time comparison, so a flood of wrong tokens costs the gateway nothing worth
attacking. ``scrypt$…`` hashes of earlier versions still verify (about 60 ms each);
the push API refuses a client after repeated failures before hashing anything
(``app.py``), and a token that verified once is remembered by its SHA-256 digest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from jiandu.core.records import CATEGORIES, RECORD_TYPES
from jiandu.core.validation import jurisdiction_outside_source
from jiandu.errors import ConfigurationError

__all__ = [
    "REFUSED",
    "Agency",
    "AgencyRegistry",
    "Refusal",
    "hash_token",
    "is_refusal",
    "load_agencies",
    "new_token",
    "verify_token",
]

#: How every policy refusal's reason reads, so that a dead letter refused by policy can be told apart.
REFUSED = "not allowed for agency"

_AGENCY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SCRYPT = (2**14, 8, 1)  # n, r, p: the interactive-login parameters of the scrypt paper, ~60 ms here
_SALT_BYTES = 16


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an agency may not submit a record: the field, the rule and a message for the agency."""

    field: str
    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class Agency:
    """One agency allowed to push: its category owns the record types ``<category>.*``."""

    id: str
    category: str
    sources: tuple[str, ...]
    token_hashes: tuple[str, ...]
    name: str = ""

    def may_use_source(self, source: str) -> bool:
        """True when ``source`` starts with one of the agency's source prefixes."""
        return any(source.startswith(prefix) for prefix in self.sources)

    def refusal(self, record: object) -> Refusal | None:
        """Why this agency may not submit ``record``, or None; malformed fields are left to validation."""
        if not isinstance(record, Mapping):
            return None
        source, record_type = record.get("source"), record.get("type")
        if isinstance(source, str) and not self.may_use_source(source):
            allowed = ", ".join(self.sources)
            message = f"{REFUSED} {self.id}: {source!r} is not among its sources ({allowed})"
            return Refusal("source", "source_not_allowed", message)
        spec = RECORD_TYPES.get(record_type) if isinstance(record_type, str) else None
        if spec is not None and spec.category != self.category:
            message = (
                f"{REFUSED} {self.id}: a {self.category} agency submits {self.category}.* types, not {record_type}"
            )
            return Refusal("type", "type_not_allowed", message)
        outside = jurisdiction_outside_source(record)
        if outside is not None:
            return Refusal("jurisdiction", "jurisdiction_not_allowed", f"{REFUSED} {self.id}: {outside}")
        return None

    def __repr__(self) -> str:
        return f"Agency(id={self.id!r}, category={self.category!r}, sources={self.sources!r})"


def is_refusal(reason: str) -> bool:
    """True for the reason of a record an agency was not allowed to send (not a data error)."""
    return f": {REFUSED} " in reason


def new_token(agency_id: str) -> str:
    """A fresh bearer token for an agency: ``<agency id>.<256 random bits, URL-safe>``."""
    _check_agency_id(agency_id, "new_token")
    return f"{agency_id}.{secrets.token_urlsafe(32)}"


def hash_token(token: str, *, salt: bytes | None = None, scheme: str = "sha256") -> str:
    """What the credentials file stores instead of the token: ``sha256$<salt>$<hash>`` (base64), or the
    slow ``scrypt$n$r$p$<salt>$<hash>`` of earlier versions with ``scheme="scrypt"``."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    if scheme == "sha256":
        return f"sha256${_b64(salt)}${_b64(hmac.new(salt, token.encode(), hashlib.sha256).digest())}"
    n, r, p = _SCRYPT
    digest = hashlib.scrypt(token.encode(), salt=salt, n=n, r=r, p=p)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_token(token: str, stored: str) -> bool:
    """True when ``token`` hashes to ``stored`` (constant-time comparison)."""
    try:
        parts = stored.split("$")
        if parts[0] == "sha256" and len(parts) == 3:
            salt, expected = base64.b64decode(parts[1]), base64.b64decode(parts[2])
            return hmac.compare_digest(hmac.new(salt, token.encode(), hashlib.sha256).digest(), expected)
        scheme, n, r, p, salt_text, digest = parts
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(token.encode(), salt=base64.b64decode(salt_text), n=int(n), r=int(r), p=int(p))
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(actual, expected)


class AgencyRegistry:
    """The configured agencies; :meth:`authenticate` turns a bearer token into one of them."""

    def __init__(self, agencies: Sequence[Agency]) -> None:
        self._by_id = {agency.id: agency for agency in agencies}
        self._verified: dict[bytes, Agency] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._by_id)

    @property
    def ids(self) -> tuple[str, ...]:
        """The configured agency ids."""
        return tuple(self._by_id)

    def get(self, agency_id: str) -> Agency | None:
        """The agency with this id, if configured."""
        return self._by_id.get(agency_id)

    def remembered(self, token: str) -> Agency | None:
        """The agency of a token that verified before (a dictionary lookup, no hashing), else None."""
        with self._lock:
            return self._verified.get(hashlib.sha256(token.encode()).digest())

    def authenticate(self, token: str) -> Agency | None:
        """The agency whose token this is, or None (unknown agency, wrong secret, malformed token)."""
        fingerprint = hashlib.sha256(token.encode()).digest()
        with self._lock:
            known = self._verified.get(fingerprint)
        if known is not None:
            return known
        agency = self._by_id.get(token.rpartition(".")[0])
        if agency is None or not any(verify_token(token, stored) for stored in agency.token_hashes):
            return None
        with self._lock:
            self._verified[fingerprint] = agency
        return agency


def load_agencies(path: Path) -> AgencyRegistry:
    """Read and check the credentials file; every problem is a ConfigurationError naming the entry."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"JIANDU_GATEWAY_AGENCIES={path}: cannot read it ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"JIANDU_GATEWAY_AGENCIES={path}: not valid YAML ({exc})") from exc
    entries = document.get("agencies") if isinstance(document, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{path}: expected a non-empty list under 'agencies:'")
    agencies = [_agency(entry, f"{path}: agencies[{i}]") for i, entry in enumerate(entries)]
    ids = [a.id for a in agencies]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigurationError(f"{path}: agency id(s) listed twice: {', '.join(duplicates)}")
    return AgencyRegistry(agencies)


def _agency(entry: object, where: str) -> Agency:
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{where}: expected a mapping with id, category, sources, token_hash")
    agency_id = _check_agency_id(entry.get("id"), where)
    where = f"{where} ({agency_id})"
    category = entry.get("category")
    if category not in CATEGORIES:
        raise ConfigurationError(f"{where}: category {category!r} is not one of {', '.join(CATEGORIES)}")
    sources = _strings(entry.get("sources"), f"{where}: sources")
    foreign = [s for s in sources if not s.startswith(f"{category}:")]
    if foreign:
        raise ConfigurationError(f"{where}: sources {foreign} do not start with '{category}:'")
    hashes = _strings(entry.get("token_hash"), f"{where}: token_hash")
    if any(not _hash_shape(h) for h in hashes):
        raise ConfigurationError(
            f"{where}: token_hash must come from `jiandu gateway hash-token` (sha256$… or scrypt$…)"
        )
    return Agency(agency_id, str(category), sources, hashes, str(entry.get("name") or ""))


def _hash_shape(stored: str) -> bool:
    return (stored.startswith("sha256$") and stored.count("$") == 2) or (
        stored.startswith("scrypt$") and stored.count("$") == 5
    )


def _check_agency_id(value: object, where: str) -> str:
    if not isinstance(value, str) or not _AGENCY_ID.fullmatch(value):
        raise ConfigurationError(f"{where}: agency id {value!r} must be 1-64 letters, digits, '-' or '_'")
    return value


def _strings(value: object, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
        raise ConfigurationError(f"{where}: expected a string or a non-empty list of strings")
    return tuple(items)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
