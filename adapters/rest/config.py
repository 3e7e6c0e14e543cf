"""The sources file of ``jiandu rest-pull``: which agency APIs to poll, and how (YAML or TOML).

```yaml
defaults:                      # optional: any per-source key, for every source
  page_size: 200
  poll_interval_seconds: 30
sources:
  - source: court:210102       # names the checkpoint and the dead-letter origin
    base_url: https://court.example/api-gateway
    allowed_sources: ["court:210102"]        # what the feed may deliver (adapters/rest/policy.py)
    allowed_types: [court.judgment_effective, court.execution_filed]   # optional; default: court.*
    path: /api/v1/records      # default
    cursor: since              # since (default) | page_token
    start_since: 2024-01-01T00:00:00+08:00   # where a source with no checkpoint starts (default: the beginning)
    auth:
      header: Authorization    # default
      token: Bearer abc…       # or token_file: /run/secrets/court-token (its first line)
```

The same in TOML is a ``[defaults]`` table and ``[[sources]]`` tables.

``allowed_sources`` is required in production mode (``load_sources(...,
require_allowed=True)``): which agency units a feed speaks for is a security
decision, and a guess would let one court's API write as every court. Elsewhere a
feed without it may deliver its own category (``court:210102`` → ``court``), which
still keeps one agency type from writing as another; a feed whose name does not
start with a category must list them everywhere.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from adapters.rest.policy import FeedPolicy, default_sources, policy_problems
from jiandu.core.timeutil import parse_datetime
from jiandu.errors import ConfigurationError

__all__ = ["CURSOR_KINDS", "SourceConfig", "load_sources", "parse_sources"]

log = logging.getLogger(__name__)

CURSOR_KINDS = ("since", "page_token")
_POLICY_KEYS = ("allowed_sources", "allowed_types")
_SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9:._-]{0,99}")


@dataclass(frozen=True, slots=True, repr=False)
class SourceConfig:
    """One agency API the poller reads. The token is a secret: masked in ``repr``."""

    source: str
    """Code of the agency feed (``court:210102``): names its checkpoint and the records' origin."""
    base_url: str
    """Scheme, host and port (and any path prefix) of the agency API."""
    allowed_sources: tuple[str, ...] = ()
    """Sources the feed may deliver: categories, ``court:2101`` prefixes, sources or units; empty: its category."""
    allowed_types: tuple[str, ...] = ()
    """Record types (or ``<category>.*``) the feed may deliver; empty: those of the allowed sources' categories."""
    path: str = "/api/v1/records"
    """The records resource under ``base_url``."""
    cursor: str = "since"
    """``since``: every request carries the last cursor; ``page_token``: follow ``next_page_token`` within a poll."""
    start_since: str | None = None
    """Where a source without a checkpoint starts: an ISO 8601 instant (default: the beginning of the feed)."""
    page_size: int = 100
    """Records asked for per page (``limit``)."""
    poll_interval_seconds: float = 30.0
    """Pause between polls once the poller has caught up with the feed."""
    timeout_seconds: float = 10.0
    """Time allowed for one HTTP request (connect, read) before it counts as a timeout."""
    max_attempts: int = 6
    """Attempts for one page (first try included) over 5xx, timeouts, 429 and malformed bodies."""
    backoff_seconds: float = 0.5
    """First pause between attempts; doubles each attempt (with jitter) up to ``backoff_max_seconds``."""
    backoff_max_seconds: float = 30.0
    """Longest pause between attempts (Retry-After may ask for longer: it is obeyed)."""
    auth_header: str = "Authorization"
    """Header that carries the token."""
    auth_token: str = field(default="", compare=False)
    """Value of that header (e.g. ``Bearer …``); empty: no header. Secret."""

    def __post_init__(self) -> None:
        """Tuples, the default sources filled in, and the policy entries checked (ConfigurationError)."""
        sources = tuple(self.allowed_sources) or default_sources(self.source)
        object.__setattr__(self, "allowed_sources", sources)
        object.__setattr__(self, "allowed_types", tuple(self.allowed_types))
        problems = policy_problems(self.allowed_sources, self.allowed_types)
        if problems:
            raise ConfigurationError(f"source {self.source!r}: " + "; ".join(problems))

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if shown["auth_token"]:
            shown["auth_token"] = "***"
        return f"SourceConfig({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @property
    def url(self) -> str:
        """The records resource's full URL."""
        return self.base_url.rstrip("/") + "/" + self.path.lstrip("/")

    @property
    def policy(self) -> FeedPolicy:
        """What the feed may deliver; anything else is dead-lettered."""
        return FeedPolicy(self.source, self.allowed_sources, self.allowed_types)


def load_sources(path: Path, *, require_allowed: bool = False) -> list[SourceConfig]:
    """The sources of a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file; ConfigurationError says what is wrong.

    ``require_allowed`` (production mode): every source must list its ``allowed_sources``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the REST sources file {path}: {exc.strerror or exc}") from exc
    try:
        document = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'YAML'}: {exc}") from exc
    return parse_sources(document, where=str(path), base_dir=path.parent, require_allowed=require_allowed)


def parse_sources(
    document: object, *, where: str = "sources", base_dir: Path | None = None, require_allowed: bool = False
) -> list[SourceConfig]:
    """Sources from an already parsed document (``{"defaults": {...}, "sources": [...]}``)."""
    if not isinstance(document, Mapping) or not isinstance(document.get("sources"), list) or not document["sources"]:
        raise ConfigurationError(f"{where}: expected a non-empty `sources` list")
    unknown = sorted(set(document) - {"defaults", "sources"})
    if unknown:
        raise ConfigurationError(f"{where}: unknown top-level key(s) {', '.join(unknown)}; use defaults and sources")
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise ConfigurationError(f"{where}: `defaults` must be a table of source settings")
    sources = [
        _source(
            {**defaults, **_table(entry, f"{where}: sources[{i}]")}, f"{where}: sources[{i}]", base_dir, require_allowed
        )
        for i, entry in enumerate(document["sources"])
    ]
    seen: set[str] = set()
    for config in sources:
        if config.source in seen:
            raise ConfigurationError(f"{where}: source {config.source!r} is listed twice (one checkpoint each)")
        seen.add(config.source)
    return sources


def _table(entry: object, where: str) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{where}: expected a table of settings")
    return dict(entry)


def _source(values: dict[str, Any], where: str, base_dir: Path | None, require_allowed: bool) -> SourceConfig:
    auth = values.pop("auth", None) or {}
    if not isinstance(auth, Mapping):
        raise ConfigurationError(f"{where}: `auth` must be a table (header, token or token_file)")
    values["auth_header"] = auth.get("header", "Authorization")
    values["auth_token"] = _token(auth, where, base_dir)
    known = {f.name: f for f in dataclasses.fields(SourceConfig)}
    _check_keys(values, list(known), where, require_allowed)
    typed = {name: _typed(name, value, known[name].type, where) for name, value in values.items()}
    try:
        config = SourceConfig(**typed)  # type: ignore[arg-type]  # each value checked against its field's type
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None
    _check(config, where)
    if "allowed_sources" not in values:
        log.warning(
            "rest %s: no allowed_sources; it may deliver records of its own category (%s) only. "
            "List them: production mode requires it",
            config.source,
            ", ".join(config.allowed_sources),
        )
    return config


def _check_keys(values: dict[str, Any], known: list[str], where: str, require_allowed: bool) -> None:
    """Unknown keys, the required ones, the feed's name, and (production) its allowed sources."""
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigurationError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}, auth")
    for name in ("source", "base_url"):
        if not isinstance(values.get(name), str) or not values[name]:
            raise ConfigurationError(f"{where}: `{name}` is required")
    if not _SOURCE_NAME.fullmatch(values["source"]):
        raise ConfigurationError(f"{where}: source {values['source']!r}: use letters, digits and : . _ -")
    if require_allowed and not values.get("allowed_sources"):
        name = values["source"]
        example = name if not policy_problems([name], []) else "court:210102"
        raise ConfigurationError(
            f"{where} ({name}): `allowed_sources` is required in production mode: list the sources this feed "
            f'may deliver, e.g. allowed_sources: ["{example}"] (a source, a division prefix such as court:2101, '
            "or a whole category such as court); a record in another name is then dead-lettered"
        )


def _token(auth: Mapping[str, Any], where: str, base_dir: Path | None) -> str:
    if "token" in auth and "token_file" in auth:
        raise ConfigurationError(f"{where}: give `auth.token` or `auth.token_file`, not both")
    if "token_file" not in auth:
        return str(auth.get("token") or "")
    path = Path(str(auth["token_file"]))
    path = path if path.is_absolute() or base_dir is None else base_dir / path
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigurationError(f"{where}: cannot read auth.token_file {path}: {exc.strerror or exc}") from exc
    return lines[0].strip() if lines else ""


def _typed(name: str, value: object, kind: object, where: str) -> object:
    text = str(kind)
    if text.startswith("tuple") and name in _POLICY_KEYS:
        return _strings(name, value, where)
    try:
        if text == "int" and not isinstance(value, bool):
            return int(value)  # type: ignore[call-overload]
        if text == "float" and not isinstance(value, bool):
            return float(value)  # type: ignore[arg-type]
        if value is None and "None" in text:
            return None
        if isinstance(value, datetime):  # YAML and TOML read unquoted date-times themselves
            return value.isoformat()
        if "str" in text and isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
    except (TypeError, ValueError):
        pass
    raise ConfigurationError(f"{where}: `{name}` = {value!r} is not a {text.replace(' | None', '')}")


def _strings(name: str, value: object, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(item, str) and item for item in items):
        raise ConfigurationError(f"{where}: `{name}` = {value!r} is not a string or a non-empty list of strings")
    return tuple(items)


def _check(config: SourceConfig, where: str) -> None:
    problems = []
    if not config.base_url.startswith(("http://", "https://")):
        problems.append(f"base_url {config.base_url!r}: must start with http:// or https://")
    if config.cursor not in CURSOR_KINDS:
        problems.append(f"cursor {config.cursor!r}: use {' or '.join(CURSOR_KINDS)}")
    if config.start_since is not None:
        try:
            parse_datetime(config.start_since)
        except ValueError:
            problems.append(f"start_since {config.start_since!r}: not an ISO 8601 date-time")
    if not 1 <= config.page_size <= 10_000:
        problems.append(f"page_size {config.page_size}: use 1..10000")
    if config.max_attempts < 1:
        problems.append(f"max_attempts {config.max_attempts}: at least 1")
    for name in ("poll_interval_seconds", "timeout_seconds", "backoff_seconds", "backoff_max_seconds"):
        if getattr(config, name) <= 0:
            problems.append(f"{name} {getattr(config, name)}: must be positive")
    if problems:
        raise ConfigurationError(f"{where} ({config.source}): " + "; ".join(problems))
