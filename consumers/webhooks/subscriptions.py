"""Webhook subscriptions (``JIANDU_WEBHOOK_SUBSCRIPTIONS``): who receives which leads, where, with which secret.

.. code-block:: yaml

    subscriptions:
      - id: shenyang-execution          # letters, digits, - and _
        url: https://hooks.example/jiandu
        secret_file: /etc/jiandu/hook-secret    # or secret: ...
        filter:                          # every list optional; empty or absent: any
          departments: [刑事执行检察]
          jurisdictions: ["2101"]        # prefixes of the lead's jurisdiction code
          models: [M02, M05]
          severities: [HIGH]
          statuses: [OPEN]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jiandu.core.leads import Lead
from jiandu.errors import ConfigurationError

__all__ = ["LeadFilter", "Subscription", "load_subscriptions", "parse_subscriptions"]

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FILTER_KEYS = ("departments", "jurisdictions", "models", "severities", "statuses")


@dataclass(frozen=True, slots=True)
class LeadFilter:
    """Which lead versions a subscription receives; an empty tuple matches anything."""

    departments: tuple[str, ...] = ()
    jurisdictions: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()

    def matches(self, lead: Lead) -> bool:
        """True when the lead version passes every non-empty criterion."""
        return (
            _any_of(self.departments, lead.department)
            and (not self.jurisdictions or lead.jurisdiction.startswith(self.jurisdictions))
            and _any_of(self.models, lead.model_id)
            and _any_of(self.severities, lead.severity)
            and _any_of(self.statuses, lead.status)
        )


@dataclass(frozen=True, slots=True)
class Subscription:
    """One receiver of lead versions. The secret never appears in a repr or a log line."""

    id: str
    url: str
    secret: str = field(repr=False)
    filter: LeadFilter = field(default_factory=LeadFilter)


def load_subscriptions(path: Path) -> list[Subscription]:
    """Read and check a subscriptions YAML file; ``secret_file`` paths are relative to it."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"JIANDU_WEBHOOK_SUBSCRIPTIONS: cannot read {path}: {exc}") from exc
    return parse_subscriptions(document, base=path.parent, where=str(path))


def parse_subscriptions(document: Any, *, base: Path, where: str = "subscriptions") -> list[Subscription]:
    """Subscriptions from the parsed YAML document."""
    entries = document.get("subscriptions") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise ConfigurationError(f"{where}: expected a mapping with a `subscriptions:` list")
    subscriptions = [_subscription(entry, base, f"{where}: subscriptions[{i}]") for i, entry in enumerate(entries)]
    ids = [s.id for s in subscriptions]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigurationError(f"{where}: subscription id(s) {', '.join(duplicates)} used more than once")
    return subscriptions


def _subscription(entry: Any, base: Path, where: str) -> Subscription:
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{where}: expected a mapping")
    unknown = sorted(set(entry) - {"id", "url", "secret", "secret_file", "filter"})
    if unknown:
        raise ConfigurationError(f"{where}: unknown key(s) {', '.join(unknown)}")
    sub_id = str(entry.get("id", ""))
    if not _ID.match(sub_id):
        raise ConfigurationError(f"{where}: id {sub_id!r} must be 1-64 letters, digits, - or _")
    url = str(entry.get("url", ""))
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"{where} ({sub_id}): url {url!r} must start with http:// or https://")
    return Subscription(sub_id, url, _secret(entry, base, f"{where} ({sub_id})"), _filter(entry.get("filter"), where))


def _secret(entry: Mapping[str, Any], base: Path, where: str) -> str:
    if ("secret" in entry) == ("secret_file" in entry):
        raise ConfigurationError(f"{where}: give exactly one of secret or secret_file")
    if "secret" in entry:
        secret = str(entry["secret"])
    else:
        path = base / str(entry["secret_file"])
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(f"{where}: cannot read secret_file {path}: {exc.strerror}") from exc
    if len(secret) < 16:
        raise ConfigurationError(f"{where}: the secret is shorter than 16 characters; use a long random one")
    return secret


def _filter(raw: Any, where: str) -> LeadFilter:
    if raw is None:
        return LeadFilter()
    if not isinstance(raw, Mapping) or set(raw) - set(_FILTER_KEYS):
        raise ConfigurationError(f"{where}: filter takes only {', '.join(_FILTER_KEYS)}")
    values: dict[str, tuple[str, ...]] = {}
    for key in _FILTER_KEYS:
        items = raw.get(key) or []
        if not isinstance(items, Sequence) or isinstance(items, str):
            raise ConfigurationError(f"{where}: filter.{key} must be a list")
        values[key] = tuple(str(item) for item in items)
    return LeadFilter(**values)


def _any_of(allowed: tuple[str, ...], value: str) -> bool:
    return not allowed or value in allowed
