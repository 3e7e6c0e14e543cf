"""One settings object, built once at the entry point from ``JIANDU_*`` variables.

Library code receives a :class:`Settings`; it never reads ``os.environ`` itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from jiandu.errors import ConfigurationError

__all__ = ["DEVELOPMENT_PSEUDONYM_KEY", "SETTINGS_DOC", "Settings", "kafka_client_config"]

#: Used only in development mode when no key is set, so that a newcomer's
#: ``make run`` works; production refuses to start without a real key.
DEVELOPMENT_PSEUDONYM_KEY = "jiandu-development-key-not-secret"

_SECRET_FIELDS = frozenset({"pseudonym_key", "kafka_sasl_password", "archive_url", "console_secret"})


@dataclass(frozen=True, slots=True, repr=False)
class Settings:
    """Every knob of the hub. Field docs are the configuration table of the README."""

    mode: str = "development"
    """`development` or `production`. Production refuses to start without a pseudonym key."""
    pseudonym_key: str = ""
    """HMAC-SHA256 key for `person_key` (events.md). Secret: masked when printed."""
    kafka_bootstrap: str = ""
    """Bootstrap servers of an existing Kafka. Empty: start the embedded Tansu broker."""
    broker_port: int = 19092
    """Port of the embedded broker on 127.0.0.1."""
    topic_prefix: str = "jiandu"
    """Prefix of every topic name (backtests use a fresh random prefix)."""
    partitions: int = 4
    """Partitions of each event topic and of the worker's internal topics."""
    replication_factor: int = 1
    """Replication factor of created topics (3 on a production cluster)."""
    data_dir: Path = field(default_factory=lambda: Path("data"))
    """Where processes keep local files (logs, checkpoints, receipts, the SQLite archive, the generated sample)."""
    clock_grace_seconds: int = 3600
    """Live mode: the hub clock trails wall-clock time by this much."""
    backtest_lateness_seconds: int = 86400
    """Backtest mode: the hub clock trails the largest event time seen (in input order) by this much."""
    backtest_workers: int = 0
    """Streams workers `jiandu backtest` runs (at most JIANDU_PARTITIONS); 0: one per core. The output is the
    same with any number."""
    live_tick_seconds: float = 1.0
    """Live mode: how often the workers advance the hub clock (a deadline lead comes at most this long, plus
    processing, after the clock passes its due time)."""
    worker_web_port: int = 6066
    """Port of the streams worker's /metrics, /healthz and /readyz (another worker on the machine: --web-port)."""
    consumer_fetch_max_wait_ms: int = 20
    """Fetch wait of the streams consumers; small values cut latency (notes/tansu.md)."""
    session_timeout_seconds: float = 6.0
    """Consumer group session timeout. Small on the embedded broker: joins take half of it."""
    kafka_security_protocol: str = "PLAINTEXT"
    """PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL for a production cluster."""
    kafka_sasl_mechanism: str = ""
    """PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 with SASL."""
    kafka_sasl_username: str = ""
    """SASL user name."""
    kafka_sasl_password: str = ""
    """SASL password. Secret: masked when printed."""
    log_level: str = "info"
    """Log level of the hub's processes."""
    log_format: str = "text"
    """`text` or `json` (JSON lines: ts, level, logger, process, msg); ID numbers are masked in both."""
    metrics_ports: str = ""
    """`process=port,…` overriding the /metrics, /healthz, /readyz ports (0: a free port, -1: none); defaults:
    run=9460, filedrop=9461, rest-pull=9462, gateway=9463, alerts=9464, webhooks=9465, archive=9466,
    console=9467; the streams worker uses JIANDU_WORKER_WEB_PORT."""
    model_params: str = ""
    """YAML file of per-model parameters (days, counts, BAC, the M10 thresholds); empty: the declared defaults.
    `deploy/model-params.yaml` lists them all."""
    model_files: str = ""
    """Extra model files (Python, each defining MODEL), comma-separated; one with a built-in id replaces it."""
    filedrop_retention_days: int = 90
    """Days `jiandu filedrop` keeps a processed export (sealed, in done/) and its receipt before deleting both;
    0: keep them forever."""
    rest_sources: str = ""
    """YAML or TOML file of the agency REST APIs `jiandu rest-pull` polls (adapters/rest/config.py); --config wins."""
    gateway_port: int = 8480
    """Port of the push API (`jiandu gateway`) on 127.0.0.1; put a TLS-terminating proxy in front of it."""
    gateway_agencies: str = ""
    """YAML file of the agencies that may push (id, category, sources, token hash); the gateway needs it."""
    gateway_max_request_bytes: int = 4194304
    """Largest push request body in bytes; a larger one is answered 413."""
    gateway_max_records: int = 1000
    """Most records in one push request; more is answered 413."""
    gateway_receipt_days: int = 30
    """Days the push API remembers an accepted event id (a re-send is answered duplicate); older ids are deleted
    hourly, and a re-send after that is accepted and published again, then ignored downstream by event id.
    0: forever."""
    gateway_rate_requests_per_second: float = 10.0
    """Push requests per second each agency may send on average; above it and the burst: 429 with Retry-After.
    0: no limit."""
    gateway_rate_requests_burst: int = 20
    """Push requests an agency may send at once before JIANDU_GATEWAY_RATE_REQUESTS_PER_SECOND applies."""
    gateway_rate_records_per_second: float = 1000.0
    """Records per second each agency may push on average; above it and the burst: 429 with Retry-After.
    0: no limit."""
    gateway_rate_records_burst: int = 5000
    """Records an agency may push at once before the records rate applies; at least JIANDU_GATEWAY_MAX_RECORDS."""
    webhook_subscriptions: str = ""
    """YAML file of the webhook subscriptions (id, url, filter, secret or secret_file); `jiandu webhooks` needs it."""
    webhook_max_attempts: int = 8
    """Attempts of one webhook delivery before it is dead-lettered (`jiandu webhooks redeliver` sends it again)."""
    webhook_backoff_seconds: float = 1.0
    """Wait before the second attempt of a webhook delivery; doubles with each attempt."""
    webhook_backoff_max_seconds: float = 60.0
    """Longest wait between two attempts of a webhook delivery."""
    webhook_timeout_seconds: float = 10.0
    """Timeout of one webhook HTTP request."""
    archive_url: str = ""
    """Lead archive database (`jiandu archive`): empty for SQLite in JIANDU_DATA_DIR, or postgresql://… (masked)."""
    console_port: int = 8490
    """Port of the officers' console (`jiandu console`) on 127.0.0.1; put a TLS-terminating proxy in front of it."""
    console_users: str = ""
    """YAML file of the console users (username, name, password hash, role, jurisdiction, departments)."""
    console_secret: str = ""
    """Key that signs console session cookies and CSRF tokens (masked); empty: a random key per start in development."""

    def metrics_port(self, process: str) -> int | None:
        """The port of a process's metrics endpoint, or None when it has none (-1)."""
        port = {**_DEFAULT_METRICS_PORTS, **_parse_ports(self.metrics_ports)}.get(process, -1)
        return None if port < 0 else port

    @property
    def embedded(self) -> bool:
        """True when the hub runs its own Tansu broker."""
        return not self.kafka_bootstrap

    @property
    def bootstrap(self) -> str:
        """The bootstrap address clients connect to."""
        return self.kafka_bootstrap or f"127.0.0.1:{self.broker_port}"

    @property
    def pseudonym_key_bytes(self) -> bytes:
        """The key for :func:`jiandu.core.identity.person_key`."""
        self.require_pseudonym_key()
        return (self.pseudonym_key or DEVELOPMENT_PSEUDONYM_KEY).encode()

    def require_pseudonym_key(self) -> None:
        """Refuse to run without a key outside development mode."""
        if not self.pseudonym_key and self.mode != "development":
            raise ConfigurationError(
                "JIANDU_PSEUDONYM_KEY is not set: outside development mode the hub refuses to "
                "pseudonymise with a default key. Set JIANDU_PSEUDONYM_KEY to a long random secret "
                "(e.g. `openssl rand -hex 32`) or JIANDU_MODE=development for local work."
            )

    def replace(self, **changes: object) -> Settings:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from ``JIANDU_<FIELD>`` variables; unknown variables are an error."""
        known = {f"JIANDU_{f.name.upper()}": f for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in environ if k.startswith("JIANDU_") and k not in known)
        if unknown:
            raise ConfigurationError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = {f.name: _convert(name, environ[name], f) for name, f in known.items() if name in environ}
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        """Check values that types alone do not."""
        if self.mode not in ("development", "production"):
            raise ConfigurationError(f"JIANDU_MODE={self.mode!r}: use development or production")
        if not 1 <= self.partitions <= 256:
            raise ConfigurationError(f"JIANDU_PARTITIONS={self.partitions}: use 1..256")
        if not 0 < self.broker_port < 65536:
            raise ConfigurationError(f"JIANDU_BROKER_PORT={self.broker_port}: not a port")
        if self.log_format not in ("text", "json"):
            raise ConfigurationError(f"JIANDU_LOG_FORMAT={self.log_format!r}: use text or json")
        _parse_ports(self.metrics_ports)
        if self.backtest_workers < 0:
            raise ConfigurationError(f"JIANDU_BACKTEST_WORKERS={self.backtest_workers}: use 0 (one per core) or more")
        if self.webhook_max_attempts < 1:
            raise ConfigurationError(f"JIANDU_WEBHOOK_MAX_ATTEMPTS={self.webhook_max_attempts}: use 1 or more")
        if self.filedrop_retention_days < 0:
            raise ConfigurationError(
                f"JIANDU_FILEDROP_RETENTION_DAYS={self.filedrop_retention_days}: use 0 (keep forever) or more days"
            )

    def to_env(self) -> dict[str, str]:
        """``JIANDU_*`` variables that rebuild these settings in a child process."""
        return {f"JIANDU_{f.name.upper()}": str(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def __repr__(self) -> str:
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in self.masked().items())})"

    def masked(self) -> dict[str, object]:
        """The settings as a dict with secrets masked, for printing and logging."""
        out: dict[str, object] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = "***" if f.name in _SECRET_FIELDS and value else value
        return out


_DEFAULT_METRICS_PORTS = {
    "run": 9460,
    "filedrop": 9461,
    "rest-pull": 9462,
    "gateway": 9463,
    "alerts": 9464,
    "webhooks": 9465,
    "archive": 9466,
    "console": 9467,
}


def _parse_ports(text: str) -> dict[str, int]:
    ports: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            port = int(value)
        except ValueError:
            port = -2
        if not sep or name.strip() not in _DEFAULT_METRICS_PORTS or not -1 <= port < 65536:
            raise ConfigurationError(
                f"JIANDU_METRICS_PORTS: {item!r} is not process=port (port 0 for a free one, -1 for none); "
                f"processes: {', '.join(_DEFAULT_METRICS_PORTS)}"
            )
        ports[name.strip()] = port
    return ports


def _convert(name: str, raw: str, f: dataclasses.Field[object]) -> object:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name}={raw!r}: expected a {kind}") from exc
    return raw


def _settings_doc() -> list[tuple[str, str, str]]:
    import ast
    import inspect
    import itertools

    tree = ast.parse(inspect.getsource(Settings))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in itertools.pairwise(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr):
            docs[node.target.id] = " ".join(str(nxt.value.value).split())  # type: ignore[attr-defined]
    defaults = Settings()
    return [
        (f"JIANDU_{f.name.upper()}", str(getattr(defaults, f.name)), docs.get(f.name, ""))
        for f in dataclasses.fields(Settings)
    ]


def SETTINGS_DOC() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) rows for the README's configuration table."""
    return _settings_doc()


def kafka_client_config(settings: Settings, *, with_bootstrap: bool = True) -> dict[str, object]:
    """Connection settings for kafka-python clients (security for a production cluster).

    ``with_bootstrap=False`` leaves out the address, for helpers that take it separately.
    """
    config: dict[str, object] = {"security_protocol": settings.kafka_security_protocol}
    if with_bootstrap:
        config["bootstrap_servers"] = settings.bootstrap.split(",")
    if settings.kafka_sasl_mechanism:
        config.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    return config
