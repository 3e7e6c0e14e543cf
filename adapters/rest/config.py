"""The sources file of ``jiandu rest-pull``: which agency APIs to poll, and how (YAML or TOML).

```yaml
defaults:                      # optional: any per-source key, for every source
  page_size: 200
  poll_interval_seconds: 30
sources:
  - source: court:210102       # names the checkpoint and the dead-letter origin
    base_url: https://court.example/api-gateway
    path: /api/v1/records      # default
    cursor: since              # since (default) | page_token
    start_since: 2024-01-01T00:00:00+08:00   # where a source with no checkpoint starts (default: the beginning)
    auth:
      header: Authorization    # default
      token: Bearer abc…       # or token_file: /run/secrets/court-token (its first line)
```

The same in TOML is a ``[defaults]`` table and ``[[sources]]`` tables.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from jiandu.core.timeutil import parse_datetime
from jiandu.errors import ConfigurationError

__all__ = ["CURSOR_KINDS", "SourceConfig", "load_sources", "parse_sources"]

CURSOR_KINDS = ("since", "page_token")
_SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9:._-]{0,99}")


@dataclass(frozen=True, slots=True, repr=False)
class SourceConfig:
    """One agency API the poller reads. The token is a secret: masked in ``repr``."""

    source: str
    """Code of the agency feed (``court:210102``): names its checkpoint and the records' origin."""
    base_url: str
    """Scheme, host and port (and any path prefix) of the agency API."""
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

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if shown["auth_token"]:
            shown["auth_token"] = "***"
        return f"SourceConfig({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @property
    def url(self) -> str:
        """The records resource's full URL."""
        return self.base_url.rstrip("/") + "/" + self.path.lstrip("/")


def load_sources(path: Path) -> list[SourceConfig]:
    """The sources of a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file; ConfigurationError says what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the REST sources file {path}: {exc.strerror or exc}") from exc
    try:
        document = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'YAML'}: {exc}") from exc
    return parse_sources(document, where=str(path), base_dir=path.parent)


def parse_sources(document: object, *, where: str = "sources", base_dir: Path | None = None) -> list[SourceConfig]:
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
        _source({**defaults, **_table(entry, f"{where}: sources[{i}]")}, f"{where}: sources[{i}]", base_dir)
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


def _source(values: dict[str, Any], where: str, base_dir: Path | None) -> SourceConfig:
    auth = values.pop("auth", None) or {}
    if not isinstance(auth, Mapping):
        raise ConfigurationError(f"{where}: `auth` must be a table (header, token or token_file)")
    values["auth_header"] = auth.get("header", "Authorization")
    values["auth_token"] = _token(auth, where, base_dir)
    known = {f.name: f for f in dataclasses.fields(SourceConfig)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigurationError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}, auth")
    for name in ("source", "base_url"):
        if not isinstance(values.get(name), str) or not values[name]:
            raise ConfigurationError(f"{where}: `{name}` is required")
    typed = {name: _typed(name, value, known[name].type, where) for name, value in values.items()}
    config = SourceConfig(**typed)  # type: ignore[arg-type]  # each value checked against its field's type
    _check(config, where)
    return config


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


def _check(config: SourceConfig, where: str) -> None:
    problems = []
    if not _SOURCE_NAME.fullmatch(config.source):
        problems.append(f"source {config.source!r}: use letters, digits and : . _ -")
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
