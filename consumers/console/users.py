"""Who may sign in to the console, with which role, and which leads each may see.

The users file (``JIANDU_CONSOLE_USERS``) is YAML::

    users:
      - username: zhangsan                 # letters, digits, '.', '-' and '_'
        name: 张三                          # shown in the console and the audit log's context
        password_hash: "scrypt$16384$8$1$…" # from `jiandu console hash-password`
        role: officer                      # officer, supervisor or admin
        jurisdiction: "2101"               # division code prefix; empty: everywhere
        departments: [刑事执行检察]          # an officer's departments; empty: every department
        reveal: true                       # may reveal whom a lead is about (ID number), with a stated purpose

An officer sees the leads whose jurisdiction starts with their prefix and whose department
is one of theirs; a supervisor sees every department within their prefix; an admin sees all.
Supervisors and admins also read the audit log (supervisors within their prefix, see scope.py).
Password hashes are scrypt in the gateway's token-hash format (``scrypt$n$r$p$salt$hash``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from jiandu.core.leads import DEPARTMENTS
from jiandu.errors import ConfigurationError

__all__ = ["ROLES", "User", "UserDirectory", "hash_password", "load_users", "verify_password"]

_log = logging.getLogger(__name__)

ROLES = ("officer", "supervisor", "admin")
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SCRYPT = (2**14, 8, 1)  # as the gateway's tokens: the interactive-login parameters of the scrypt paper
# verified against when the user is unknown, so that an unknown name costs the same time as a wrong password
_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


@dataclass(frozen=True, slots=True)
class User:
    """A console user and the leads they may see."""

    username: str
    name: str
    role: str
    jurisdiction: str
    departments: tuple[str, ...]
    password_hash: str = ""
    reveal: bool = False  # the right to reveal a lead's ID number (within what the user may see)

    @property
    def department_scoped(self) -> bool:
        """True when the user sees only their departments (officers who list some)."""
        return self.role == "officer" and bool(self.departments)

    @property
    def visible_departments(self) -> tuple[str, ...]:
        """Departments the user may see (all of them unless department-scoped)."""
        return self.departments if self.department_scoped else DEPARTMENTS

    def may_see(self, lead: Mapping[str, Any]) -> bool:
        """True when ``lead`` (an archive row) is within the user's jurisdiction and departments."""
        if self.role == "admin":
            return True
        if not str(lead.get("jurisdiction") or "").startswith(self.jurisdiction):
            return False
        return not self.department_scoped or lead.get("department") in self.departments

    @property
    def may_assign(self) -> bool:
        """Supervisors and admins hand leads to officers."""
        return self.role in ("supervisor", "admin")

    def may_reveal(self, lead: Mapping[str, Any]) -> bool:
        """True when the user holds the reveal right and ``lead`` is within their scope."""
        return self.reveal and self.may_see(lead)

    @property
    def may_read_audit(self) -> bool:
        """Supervisors (部门负责人) oversee their officers' work and admins everyone's: both read the audit log."""
        return self.role in ("supervisor", "admin")

    def __repr__(self) -> str:
        return f"User({self.username!r}, role={self.role!r}, jurisdiction={self.jurisdiction!r})"


class UserDirectory:
    """The configured users, by username; with a ``source`` file, :meth:`refresh` follows its changes."""

    def __init__(self, users: Sequence[User], source: Path | None = None) -> None:
        self._users = {u.username: u for u in users}
        self._source = source
        self._stamp = _stamp(source) if source is not None else None

    def refresh(self) -> bool:
        """Read the users file again if it changed; True when it did. A broken file keeps the users as they
        were (logged): a typo must not lock every officer out, nor let a removed user back in."""
        if self._source is None:
            return False
        try:
            stamp = _stamp(self._source)
        except OSError:
            return False
        if stamp == self._stamp:
            return False
        try:
            fresh = load_users(self._source)
        except ConfigurationError as exc:
            _log.error("the users file changed but cannot be used (%s); the users stay as they were", exc)
            self._stamp = stamp
            return False
        self._users, self._stamp = fresh._users, stamp
        _log.info("users file %s read again: %d users", self._source, len(self._users))
        return True

    def __len__(self) -> int:
        return len(self._users)

    def __iter__(self) -> Iterator[User]:
        return iter(self._users.values())

    def get(self, username: str) -> User | None:
        """The user, or None."""
        return self._users.get(username)

    def authenticate(self, username: str, password: str) -> User | None:
        """The user whose password this is, or None (in the same time for unknown names)."""
        user = self._users.get(username)
        ok = verify_password(password, user.password_hash if user else _DUMMY_HASH)
        return user if ok and user else None

    def within(self, jurisdiction_prefix: str) -> list[User]:
        """Users whose own jurisdiction lies within ``jurisdiction_prefix`` (admins with no prefix: only for "")."""
        return [u for u in self._users.values() if u.jurisdiction.startswith(jurisdiction_prefix)]

    def officers_for(self, lead: Mapping[str, Any]) -> list[User]:
        """Officers who may see ``lead``: whom it may be assigned to."""
        return [u for u in self._users.values() if u.role == "officer" and u.may_see(lead)]


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$<salt>$<hash>`` (base64): what the users file stores instead of the password."""
    n, r, p = _SCRYPT
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p)
    return f"scrypt${n}${r}${p}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` hashes to ``stored`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p))
        return scheme == "scrypt" and hmac.compare_digest(actual, base64.b64decode(expected))
    except ValueError:
        return False


def load_users(path: Path) -> UserDirectory:
    """Read and check the users file; a mistake names the user and the field."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"JIANDU_CONSOLE_USERS {path}: cannot read the users file: {exc}") from exc
    entries = document.get("users") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"JIANDU_CONSOLE_USERS {path}: expected a non-empty list under `users:`")
    users = [_user(e, f"{path} users[{i}]") for i, e in enumerate(entries)]
    names = [u.username for u in users]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"JIANDU_CONSOLE_USERS {path}: a username appears twice")
    return UserDirectory(users, source=path)


def _stamp(path: Path) -> tuple[int, int, int]:
    status = path.stat()
    return status.st_mtime_ns, status.st_size, status.st_ino


def _user(entry: object, where: str) -> User:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where}: expected a mapping with username, password_hash, role")
    username = str(entry.get("username") or "")
    if not _USERNAME.fullmatch(username):
        raise ConfigurationError(f"{where}: username {username!r}: use letters, digits, '.', '-', '_'")
    role = entry.get("role")
    if role not in ROLES:
        raise ConfigurationError(f"{where} ({username}): role {role!r}: use one of {', '.join(ROLES)}")
    password_hash = str(entry.get("password_hash") or "")
    if not password_hash.startswith("scrypt$") or password_hash.count("$") != 5:
        raise ConfigurationError(f"{where} ({username}): password_hash must come from `jiandu console hash-password`")
    departments = tuple(str(d) for d in entry.get("departments") or ())
    unknown = [d for d in departments if d not in DEPARTMENTS]
    if unknown:
        raise ConfigurationError(f"{where} ({username}): unknown department(s) {', '.join(unknown)}")
    jurisdiction = str(entry.get("jurisdiction") or "")
    if not jurisdiction.isdigit() and jurisdiction:
        raise ConfigurationError(f"{where} ({username}): jurisdiction {jurisdiction!r} is not a division code prefix")
    reveal = entry.get("reveal", False)
    if not isinstance(reveal, bool):
        raise ConfigurationError(f"{where} ({username}): reveal {reveal!r}: use true or false")
    name = str(entry.get("name") or username)
    return User(username, name, role, jurisdiction, departments, password_hash, reveal)
