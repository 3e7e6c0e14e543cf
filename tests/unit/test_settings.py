"""Settings: one object from JIANDU_* variables, secrets masked, production needs a key."""

from __future__ import annotations

from pathlib import Path

import pytest

from jiandu.errors import ConfigurationError
from jiandu.settings import SETTINGS_DOC, Settings, kafka_client_config


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


def test_the_shipped_environment_file_is_valid_configuration() -> None:
    env_file = Path(__file__).resolve().parents[2] / "deploy" / "env.example"
    values = dict(
        line.split("=", 1) for line in env_file.read_text().splitlines() if line and not line.startswith("#")
    )
    settings = Settings.from_env(values)
    assert settings.mode == "production" and settings.log_format == "json"
    assert settings.metrics_port("gateway") == 9463


def test_metrics_ports_default_override_and_refuse_nonsense() -> None:
    assert Settings().metrics_port("console") == 9467
    settings = Settings.from_env({"JIANDU_METRICS_PORTS": "console=0,gateway=-1"})
    assert settings.metrics_port("console") == 0 and settings.metrics_port("gateway") is None
    assert settings.metrics_port("alerts") == 9464
    for bad in ("console", "console=http", "nosuch=1", "console=70000"):
        with pytest.raises(ConfigurationError, match="JIANDU_METRICS_PORTS"):
            Settings.from_env({"JIANDU_METRICS_PORTS": bad})
    with pytest.raises(ConfigurationError, match="JIANDU_LOG_FORMAT"):
        Settings.from_env({"JIANDU_LOG_FORMAT": "xml"})


def test_the_readme_configuration_table_lists_every_setting_as_documented() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `JIANDU_")]
    expected = [f"| `{n}` | {f'`{d}`' if d else '(empty)'} | {doc} |" for n, d, doc in SETTINGS_DOC()]
    assert rows == expected, "regenerate the README's configuration table from `jiandu settings`"
