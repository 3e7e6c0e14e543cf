"""The REST sources file: YAML and TOML, defaults, secrets, and errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.rest import SourceConfig, load_sources, parse_sources
from jiandu.errors import ConfigurationError

YAML = """
defaults:
  page_size: 50
  poll_interval_seconds: 5
sources:
  - source: court:210102
    base_url: http://127.0.0.1:8701/
    cursor: page_token
    start_since: 2024-01-01T00:00:00+08:00
    auth: {token: Bearer s3cret}
  - source: police:210102
    base_url: http://127.0.0.1:8702
    page_size: 10
"""

TOML = """
[defaults]
page_size = 50

[[sources]]
source = "court:210102"
base_url = "http://127.0.0.1:8701"
start_since = 2024-01-01T00:00:00+08:00
[sources.auth]
header = "X-Api-Key"
token_file = "court.token"
"""


def test_yaml_sources_with_defaults_and_auth(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(YAML, encoding="utf-8")
    court, police = load_sources(path)
    assert court == SourceConfig(
        source="court:210102",
        base_url="http://127.0.0.1:8701/",
        cursor="page_token",
        start_since="2024-01-01T00:00:00+08:00",
        page_size=50,
        poll_interval_seconds=5.0,
        auth_token="Bearer s3cret",
    )
    assert court.url == "http://127.0.0.1:8701/api/v1/records"
    assert court.auth_token == "Bearer s3cret" and court.auth_header == "Authorization"
    assert "s3cret" not in repr(court), "the token is masked when printed or logged"
    assert (police.page_size, police.cursor, police.auth_token) == (10, "since", "")


def test_toml_sources_read_the_token_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "court.token").write_text("abc123\n", encoding="utf-8")
    path = tmp_path / "sources.toml"
    path.write_text(TOML, encoding="utf-8")
    [court] = load_sources(path)
    assert (court.auth_header, court.auth_token, court.page_size) == ("X-Api-Key", "abc123", 50)
    assert court.start_since is not None and court.start_since.startswith("2024-01-01T00:00:00")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "non-empty `sources` list"),
        ({"sources": [{"source": "court:210102"}]}, "`base_url` is required"),
        ({"sources": [{"source": "court:210102", "base_url": "ftp://x"}]}, "must start with http"),
        (
            {"sources": [{"source": "court:210102", "base_url": "http://x", "cursor": "offset"}]},
            "use since or page_token",
        ),
        (
            {"sources": [{"source": "court:210102", "base_url": "http://x", "page_size": "many"}]},
            "`page_size` = 'many'",
        ),
        ({"sources": [{"source": "court:210102", "base_url": "http://x", "pagesize": 5}]}, "unknown key(s) pagesize"),
        ({"sources": [{"source": "court:210102", "base_url": "http://x", "start_since": "May"}]}, "not an ISO 8601"),
        ({"sources": [{"source": "a b", "base_url": "http://x"}]}, "use letters, digits"),
        ({"sources": [{"source": "court:210102", "base_url": "http://x"}] * 2}, "listed twice"),
        ({"sources": [], "extra": 1}, "non-empty `sources` list"),
    ],
)
def test_bad_sources_are_refused_with_the_reason(document: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=None) as caught:
        parse_sources(document)
    assert message in str(caught.value)


def test_unreadable_or_broken_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the REST sources file"):
        load_sources(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[sources]\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_sources(broken)
