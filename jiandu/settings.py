"""One settings object, built once at the entry point from ``JIANDU_*`` variables.

Library code receives a :class:`Settings`; it never reads ``os.environ`` itself.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from jiandu.errors import ConfigurationError

__all__ = ["COMPRESSIONS", "DEVELOPMENT_PSEUDONYM_KEY", "SETTINGS_DOC", "Settings", "kafka_client_config"]

#: Used only in development mode when no key is set, so that a newcomer's
#: ``make run`` works; production refuses to start without a real key.
DEVELOPMENT_PSEUDONYM_KEY = "jiandu-development-key-not-secret"

_SECRET_FIELDS = frozenset(
    {
        "pseudonym_key",
        "kafka_sasl_password",
        "kafka_ssl_key_password",
        "archive_url",
        "console_secret",
        "gateway_receipts_url",
    }
)


#: Producer compressions every client of the hub can read (kafka-python with lz4/zstandard, aiokafka with cramjam).
COMPRESSIONS = ("zstd", "lz4", "gzip", "none")


@dataclass(frozen=True, slots=True, repr=False)
class Settings:
    """Every knob of the hub. Field docs are the configuration table of the README."""

    mode: str = "development"
    """`development` or `production`. Production refuses to start without a pseudonym key."""
    pseudonym_key: str = ""
    """HMAC-SHA256 key for `person_key` (events.md). Secret: masked when printed."""
    kafka_bootstrap: str = ""
    """Bootstrap servers of an existing Kafka. Empty: start the embedded Tansu broker."""
    listen_host: str = "127.0.0.1"
    """Address the push API, the console and every /metrics endpoint listen on. Keep 127.0.0.1 on a host (a
    local TLS proxy in front); 0.0.0.0 in a container, where network policies and the ingress decide who reaches
    them."""
    broker_port: int = 19092
    """Port of the embedded broker on 127.0.0.1."""
    topic_prefix: str = "jiandu"
    """Prefix of every topic name (backtests use a fresh random prefix)."""
    partitions: int = 4
    """Partitions of each event topic and of the worker's internal topics."""
    replication_factor: int = 1
    """Replication factor of created topics (3 on a production cluster)."""
    data_dir: Path = field(default_factory=lambda: Path("data"))
    """Where processes keep local files (logs, the journal, the SQLite archive and accepted ids, the generated
    sample); nothing another replica needs: adapter checkpoints are on Kafka."""
    journal: str = "auto"
    """`on`, `off` or `auto`: the durable journal (JIANDU_DATA_DIR/journal) of every accepted event, dead letter and
    officer action, fsynced before a record counts as accepted and replayed into the embedded broker at its start.
    `auto`: on with the embedded broker, off with JIANDU_KAFKA_BOOTSTRAP (a replicated Kafka needs none)."""
    clock_grace_seconds: int = 3600
    """Live mode: the hub clock trails wall-clock time by this much."""
    backtest_lateness_seconds: int = 86400
    """Backtest mode: the hub clock trails the largest event time seen (in input order) by this much."""
    backtest_workers: int = 0
    """Streams workers `jiandu backtest` runs (at most JIANDU_PARTITIONS); 0: one per core. The output is the
    same with any number."""
    live_tick_seconds: float = 1.0
    """Live mode: how often the workers advance the hub clock at the least; they also advance it as soon as it
    reaches a wake-up they scheduled, so a deadline lead does not wait for this (measured: 44 ms after due)."""
    worker_web_port: int = 6066
    """Port of the streams worker's /metrics, /healthz and /readyz (another worker on the machine: --web-port)."""
    kafka_compression: str = "zstd"
    """Compression of what the intake and the streams workers produce (events, facts, changelog, leads): zstd,
    lz4, gzip or none. The in-memory embedded broker holds the compressed batches. (aiokafka, the workers'
    client, compresses lz4 at level 9: 7x the CPU of zstd's default for half its ratio on the hub's records.)"""
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
    kafka_ssl_cafile: str = ""
    """With SSL or SASL_SSL: the CA certificates (PEM) that signed the brokers'; empty: the system trust store."""
    kafka_ssl_certfile: str = ""
    """With SSL or SASL_SSL: this client's certificate (PEM) for mutual TLS, with JIANDU_KAFKA_SSL_KEYFILE."""
    kafka_ssl_keyfile: str = ""
    """The private key (PEM) of JIANDU_KAFKA_SSL_CERTFILE."""
    kafka_ssl_key_password: str = ""
    """Password of JIANDU_KAFKA_SSL_KEYFILE, if it is encrypted. Secret: masked when printed."""
    kafka_ssl_check_hostname: bool = True
    """Check that the broker's certificate names the host connected to (`false` only for a test proxy)."""
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
    filedrop_max_file_bytes: int = 268435456
    """Largest export `jiandu filedrop` takes (256 MiB); a larger one is moved to refused/ with a receipt, unread."""
    filedrop_max_row_bytes: int = 262144
    """Longest row (line, or the lines of one CSV row) of an export; a longer one is dead-lettered, its payload cut
    to this size, and the rest of the file is read."""
    filedrop_max_field_chars: int = 4096
    """Longest cell of an export row in characters; a row with a longer one is dead-lettered."""
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
    gateway_receipts_url: str = ""
    """Where the push API keeps accepted event ids: empty for SQLite in JIANDU_DATA_DIR (one gateway), or
    postgresql://… shared by every gateway replica, so a record is accepted once whichever replica it reaches
    (may be the archive's database; masked)."""
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
    gateway_confirm_seconds: float = 10.0
    """Longest wait of a push request for the broker's confirmation; then 503 with Retry-After (nothing of the
    request counts as accepted), and further requests get 503 at once for that long."""
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
    """Key that signs console session cookies and CSRF tokens (masked), the same on every console replica; empty: a
    random key per start in development."""
    console_session_idle_minutes: int = 30
    """A console session without a request for this long ends (the officer signs in again)."""
    console_session_hours: int = 8
    """A console session ends this long after its sign-in, however busy."""
    reveal_public_key: str = ""
    """PEM file of the reveal service's newest X25519 public key: adapters seal each raw ID number with it for
    the console (`jiandu console reveal-keygen`); empty: nothing sealed, no reveal."""
    reveal_key_files: str = ""
    """The console's reveal private keys (PEM files, comma-separated; old ones stay during a rotation).
    Read only by `jiandu console`."""
    console_reveals_per_hour: int = 20
    """Identity reveals one console user may make in any hour; above it the reveal is refused (audited)."""

    def metrics_port(self, process: str) -> int | None:
        """The port of a process's metrics endpoint, or None when it has none (-1)."""
        port = {**_DEFAULT_METRICS_PORTS, **_parse_ports(self.metrics_ports)}.get(process, -1)
        return None if port < 0 else port

    @property
    def embedded(self) -> bool:
        """True when the hub runs its own Tansu broker."""
        return not self.kafka_bootstrap

    @property
    def kafka_tls(self) -> bool:
        """True when the clients talk TLS to the brokers (SSL or SASL_SSL)."""
        return self.kafka_security_protocol.endswith("SSL")

    @property
    def journal_enabled(self) -> bool:
        """True when accepted messages are journaled (JIANDU_JOURNAL, ``auto``: with the embedded broker)."""
        return self.journal == "on" or (self.journal == "auto" and self.embedded)

    @property
    def journal_dir(self) -> Path:
        """Where the journal's segment files are (each writing process has its own)."""
        return self.data_dir / "journal"

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
        if self.journal not in ("on", "off", "auto"):
            raise ConfigurationError(f"JIANDU_JOURNAL={self.journal!r}: use on, off or auto")
        if self.kafka_compression not in COMPRESSIONS:
            raise ConfigurationError(
                f"JIANDU_KAFKA_COMPRESSION={self.kafka_compression!r}: use one of {', '.join(COMPRESSIONS)}"
            )
        if self.log_format not in ("text", "json"):
            raise ConfigurationError(f"JIANDU_LOG_FORMAT={self.log_format!r}: use text or json")
        _parse_ports(self.metrics_ports)
        self._validate_kafka_security()
        try:
            ipaddress.ip_address(self.listen_host)
        except ValueError:
            raise ConfigurationError(
                f"JIANDU_LISTEN_HOST={self.listen_host!r}: give an IP address (127.0.0.1, or 0.0.0.0 in a container)"
            ) from None
        if self.backtest_workers < 0:
            raise ConfigurationError(f"JIANDU_BACKTEST_WORKERS={self.backtest_workers}: use 0 (one per core) or more")
        if self.webhook_max_attempts < 1:
            raise ConfigurationError(f"JIANDU_WEBHOOK_MAX_ATTEMPTS={self.webhook_max_attempts}: use 1 or more")
        for name in ("filedrop_max_file_bytes", "filedrop_max_row_bytes", "filedrop_max_field_chars"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"JIANDU_{name.upper()}={getattr(self, name)}: use 1 or more")
        if self.console_session_idle_minutes < 1 or self.console_session_hours < 1:
            raise ConfigurationError(
                "JIANDU_CONSOLE_SESSION_IDLE_MINUTES and JIANDU_CONSOLE_SESSION_HOURS: use 1 or more"
            )
        if self.gateway_confirm_seconds <= 0:
            raise ConfigurationError(f"JIANDU_GATEWAY_CONFIRM_SECONDS={self.gateway_confirm_seconds}: use more than 0")
        if self.filedrop_retention_days < 0:
            raise ConfigurationError(
                f"JIANDU_FILEDROP_RETENTION_DAYS={self.filedrop_retention_days}: use 0 (keep forever) or more days"
            )

    def _validate_kafka_security(self) -> None:
        protocols = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
        if self.kafka_security_protocol not in protocols:
            raise ConfigurationError(
                f"JIANDU_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol!r}: use one of {', '.join(protocols)}"
            )
        files = {
            "CAFILE": self.kafka_ssl_cafile,
            "CERTFILE": self.kafka_ssl_certfile,
            "KEYFILE": self.kafka_ssl_keyfile,
        }
        given = [name for name, value in files.items() if value]
        if given and not self.kafka_tls:
            raise ConfigurationError(
                f"JIANDU_KAFKA_SSL_{given[0]} is set but JIANDU_KAFKA_SECURITY_PROTOCOL="
                f"{self.kafka_security_protocol}: use SSL or SASL_SSL, or leave the TLS files out"
            )
        if bool(self.kafka_ssl_certfile) != bool(self.kafka_ssl_keyfile):
            raise ConfigurationError("JIANDU_KAFKA_SSL_CERTFILE and JIANDU_KAFKA_SSL_KEYFILE go together (mutual TLS)")
        for name, value in files.items():
            if value and not Path(value).is_file():
                raise ConfigurationError(f"JIANDU_KAFKA_SSL_{name}={value}: no such file")

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
        if kind == "bool":
            return _boolean(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name}={raw!r}: expected a {kind}") from exc
    return raw


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{raw!r} is not true or false")


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
    if settings.kafka_tls:
        config["ssl_check_hostname"] = settings.kafka_ssl_check_hostname
        optional = {
            "ssl_cafile": settings.kafka_ssl_cafile,
            "ssl_certfile": settings.kafka_ssl_certfile,
            "ssl_keyfile": settings.kafka_ssl_keyfile,
            "ssl_password": settings.kafka_ssl_key_password,
        }
        config.update({name: value for name, value in optional.items() if value})
    return config


def kafka_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of the asyncio clients (the streams worker's Faust app and router), as
    :func:`kafka_client_config` configures kafka-python: CA file, client certificate, hostname check."""
    if not settings.kafka_tls:
        return None
    context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile or None)
    if settings.kafka_ssl_certfile:
        context.load_cert_chain(
            settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile or None, settings.kafka_ssl_key_password or None
        )
    context.check_hostname = settings.kafka_ssl_check_hostname
    return context
