"""Settings: one object from JIANDU_* variables, secrets masked, production needs a key."""

from __future__ import annotations

import pytest

from jiandu.errors import ConfigurationError
from jiandu.settings import Settings, kafka_client_config


def test_defaults_use_the_embedded_broker() -> None:
    settings = Settings.from_env({})
    assert settings.embedded and settings.bootstrap == "127.0.0.1:19092"


def test_a_bootstrap_address_means_an_existing_kafka() -> None:
    settings = Settings.from_env({"JIANDU_KAFKA_BOOTSTRAP": "kafka-1:9092,kafka-2:9092"})
    assert not settings.embedded
    assert kafka_client_config(settings)["bootstrap_servers"] == ["kafka-1:9092", "kafka-2:9092"]


def test_production_refuses_to_run_without_a_pseudonym_key() -> None:
    settings = Settings.from_env({"JIANDU_MODE": "production"})
    with pytest.raises(ConfigurationError, match="JIANDU_PSEUDONYM_KEY is not set"):
        settings.require_pseudonym_key()
    assert Settings.from_env({"JIANDU_MODE": "production", "JIANDU_PSEUDONYM_KEY": "k"}).pseudonym_key_bytes == b"k"


def test_secrets_are_masked_and_typos_are_errors() -> None:
    settings = Settings.from_env({"JIANDU_PSEUDONYM_KEY": "s3cret", "JIANDU_KAFKA_SASL_PASSWORD": "pw"})
    for printed in (repr(settings.masked()), repr(settings), str(settings)):
        assert "s3cret" not in printed and "'pw'" not in printed
    with pytest.raises(ConfigurationError, match="unknown setting"):
        Settings.from_env({"JIANDU_PARTITONS": "8"})
    with pytest.raises(ConfigurationError, match="expected a int"):
        Settings.from_env({"JIANDU_PARTITIONS": "many"})


def test_settings_survive_the_trip_to_a_child_process() -> None:
    settings = Settings.from_env({"JIANDU_PARTITIONS": "8", "JIANDU_TOPIC_PREFIX": "x"})
    assert Settings.from_env(settings.to_env()) == settings
