"""The intake's librdkafka producer gets the same connection settings as the kafka-python clients."""

from __future__ import annotations

import pytest

from jiandu.settings import Settings, kafka_client_config
from producers.publisher import librdkafka_config


def test_tls_and_sasl_settings_keep_their_meaning_in_librdkafka_terms() -> None:
    settings = Settings().replace(
        kafka_bootstrap="k1:9093,k2:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="hub",
        kafka_sasl_password="secret",
        kafka_ssl_cafile="/etc/ca.pem",
        kafka_ssl_check_hostname=False,
    )
    assert librdkafka_config(kafka_client_config(settings)) == {
        "bootstrap.servers": "k1:9093,k2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "hub",
        "sasl.password": "secret",
        "ssl.ca.location": "/etc/ca.pem",
        "ssl.endpoint.identification.algorithm": "none",
    }


def test_a_setting_without_an_equivalent_is_refused_not_dropped() -> None:
    with pytest.raises(ValueError, match="ssl_crlfile"):
        librdkafka_config({"ssl_crlfile": "/etc/crl.pem"})
