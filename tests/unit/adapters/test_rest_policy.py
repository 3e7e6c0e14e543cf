"""What a REST feed may deliver: allowed sources and types, their defaults, and the sources file's rules."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from adapters.gateway.credentials import is_refusal
from adapters.rest import FeedPolicy, SourceConfig, load_sources, parse_sources
from jiandu.errors import ConfigurationError


def record(source: object, record_type: object = "court.judgment_effective") -> dict[str, Any]:
    return {"type": record_type, "source": source, "source_record_id": "J-1"}


@pytest.mark.parametrize(
    ("entry", "source", "covered"),
    [
        ("court", "court:210102", True),
        ("court", "courtyard:210102", False),
        ("court:2101", "court:210102", True),
        ("court:2101", "court:210202", False),
        ("court:210102", "court:210102", True),
        ("court:210102", "court:210102:criminal-2", True),
        ("court:210102", "court:2101020", False),
        ("court:210102:criminal", "court:210102:criminal-2", False),
        ("court:210102:criminal", "court:210102:criminal", True),
        ("police", "court:210102", False),
    ],
)
def test_an_entry_covers_its_source_its_units_and_a_division_prefix_its_divisions(
    entry: str, source: str, covered: bool
) -> None:
    assert FeedPolicy("feed", (entry,)).allows_source(source) is covered


def test_a_record_in_another_agencys_name_is_refused_with_field_rule_and_what_to_do() -> None:
    policy = FeedPolicy("court:210102", ("court:210102",))
    assert policy.refusal(record("court:210102")) is None
    assert policy.refusal(record("court:210102:civil-1")) is None
    foreign = policy.refusal(record("court:210200"))
    assert foreign is not None and (foreign.field, foreign.rule) == ("source", "source_not_allowed")
    assert "court:210200" in foreign.message and "allowed_sources" in foreign.message
    police_type = policy.refusal(record("court:210102", "police.arrest_requested"))
    assert police_type is not None and (police_type.field, police_type.rule) == ("type", "type_not_allowed")
    assert "police.arrest_requested" in police_type.message and "court.*" in police_type.message
    assert is_refusal(f"{foreign.field}: {foreign.message}"), "`jiandu dlq resubmit` skips it as a refusal"


def test_listed_types_narrow_what_a_feed_delivers() -> None:
    policy = FeedPolicy("court:210102", ("court",), ("court.judgment_effective",))
    assert policy.refusal(record("court:210102", "court.judgment_effective")) is None
    refused = policy.refusal(record("court:210102", "court.execution_filed"))
    assert refused is not None and refused.rule == "type_not_allowed"
    assert FeedPolicy("f", ("court",), ("court.*",)).refusal(record("court:210102", "court.execution_filed")) is None


@pytest.mark.parametrize("bad", [record("polize:210102"), record(None), record("court:210102", "x"), [1], "text"])
def test_malformed_sources_and_types_are_left_to_validation(bad: object) -> None:
    assert FeedPolicy("court:210102", ("court:210102",)).refusal(bad) is None


def test_a_feed_named_after_a_category_defaults_to_it_and_any_other_must_list() -> None:
    config = SourceConfig(source="court:210102", base_url="http://x")
    assert (config.allowed_sources, config.allowed_types) == (("court",), ())
    listed = SourceConfig(source="sim:police", base_url="http://x", allowed_sources=["police:2101"])  # type: ignore[arg-type]
    assert listed.allowed_sources == ("police:2101",)
    with pytest.raises(ConfigurationError, match="list the sources this feed may deliver"):
        SourceConfig(source="provincial-api", base_url="http://x")


def test_production_mode_requires_allowed_sources_and_says_how(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - source: court:210102\n    base_url: http://x\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        load_sources(path, require_allowed=True)
    assert "`allowed_sources` is required in production mode" in str(caught.value)
    assert 'allowed_sources: ["court:210102"]' in str(caught.value) and str(path) in str(caught.value)
    path.write_text(
        "sources:\n  - source: court:210102\n    base_url: http://x\n    allowed_sources: court:210102\n"
        "    allowed_types: [court.judgment_effective]\n",
        encoding="utf-8",
    )
    [config] = load_sources(path, require_allowed=True)
    assert (config.allowed_sources, config.allowed_types) == (("court:210102",), ("court.judgment_effective",))


def test_development_mode_defaults_to_the_feeds_category_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="adapters.rest.config"):
        [config] = parse_sources({"sources": [{"source": "police:210102", "base_url": "http://x"}]})
    assert config.allowed_sources == ("police",)
    assert "no allowed_sources" in caplog.text and "production mode requires it" in caplog.text


def test_toml_lists_work_too(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(
        '[[sources]]\nsource = "sim"\nbase_url = "http://x"\nallowed_sources = ["police", "admin:2101"]\n',
        encoding="utf-8",
    )
    [config] = load_sources(path, require_allowed=True)
    assert config.allowed_sources == ("police", "admin:2101")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"allowed_sources": ["polize"]}, "allowed_sources entry 'polize': use a category"),
        ({"allowed_sources": ["court:21:unit"]}, "a unit follows a whole 6-digit division code"),
        ({"allowed_sources": []}, "non-empty list of strings"),
        ({"allowed_sources": [5]}, "non-empty list of strings"),
        ({"allowed_types": ["court.verdict"]}, "allowed_types entry 'court.verdict'"),
        ({"allowed_types": ["police.*"]}, "of a category none of allowed_sources names"),
        ({"source": "anything"}, "list the sources this feed may deliver"),
    ],
)
def test_bad_policy_entries_are_refused_with_the_reason(entry: dict[str, Any], message: str) -> None:
    source = {"source": "court:210102", "base_url": "http://x", **entry}
    with pytest.raises(ConfigurationError) as caught:
        parse_sources({"sources": [source]})
    assert message in str(caught.value) and "sources[0]" in str(caught.value)
