"""Label values: agency input reaches labels, so nothing personal and nothing unbounded may pass."""

from __future__ import annotations

from datetime import date

import pytest

from jiandu.core.identity import make_id_number, person_key
from jiandu.core.records import RECORD_TYPES
from jiandu.observability.labels import (
    INVALID,
    OTHER,
    jurisdiction_label,
    reason_label,
    source_label,
    status_class,
    type_label,
)

ID_18 = make_id_number("210102", date(1985, 3, 17), 241)
ID_18_X = next(n for s in range(1000) if (n := make_id_number("210102", date(1990, 1, 1), s)).endswith("X"))
ID_15 = "210102850317241"  # a first-generation (15-digit) number
PERSON_KEY = person_key(ID_18, b"unit-test-key")
PERSONAL = (ID_18, ID_18_X, ID_18_X.lower(), ID_15, PERSON_KEY, PERSON_KEY[:32], PERSON_KEY.upper())
KNOWN = frozenset(RECORD_TYPES)


@pytest.mark.parametrize(
    "source", ["court:210102", "court:210102:criminal-2", "police:210100:unit_7", "social:210100", "sim:police"]
)
def test_normal_sources_pass(source: str) -> None:
    assert source_label(source) == source


@pytest.mark.parametrize(
    "source",
    [
        *PERSONAL,
        f"court:{ID_18}",
        f"court:{ID_15}",
        f"{ID_18}:210102",
        f"sim:{PERSON_KEY}",
        None,
        42,
        ["court:210102"],
        "",
        "court",
        "court:",
        "court:21010",
        "court:2101023",
        "Court:210102",
        "agency:210102",  # not a category
        "court:210102:" + "u" * 33,  # a unit longer than 32
        "court:210102:a b",
        "court:210102:x:y",
        " court:210102",
        "sim:police1",
        "sim:" + "a" * 17,
    ],
)
def test_personal_and_garbage_sources_are_invalid(source: object) -> None:
    assert source_label(source) == INVALID


@pytest.mark.parametrize("personal", [ID_18, ID_18_X, ID_15, PERSON_KEY[:32]])
def test_an_id_number_or_key_as_the_unit_of_a_source_is_invalid(personal: str) -> None:
    assert personal not in source_label(f"court:210102:{personal}")


@pytest.mark.parametrize("record_type", ["court.judgment_effective", "police.case_filed", "social.pension_paid"])
def test_catalogue_types_pass(record_type: str) -> None:
    assert record_type in KNOWN
    assert type_label(record_type) == type_label(record_type, KNOWN) == record_type


@pytest.mark.parametrize(
    "record_type",
    [
        *PERSONAL,
        f"court.{ID_18}",
        f"police.{PERSON_KEY}",
        None,
        3,
        "",
        "court",
        "court.",
        ".judgment",
        "Court.Judgment",
    ],
)
def test_personal_and_garbage_types_are_invalid(record_type: object) -> None:
    assert type_label(record_type) == INVALID
    assert type_label(record_type, KNOWN) == INVALID


def test_a_well_formed_type_outside_the_catalogue_is_invalid_when_the_catalogue_is_given() -> None:
    assert type_label("court.not_a_type") == "court.not_a_type"
    assert type_label("court.not_a_type", KNOWN) == INVALID


@pytest.mark.parametrize(
    ("field", "rule", "label"),
    [
        ("id_number", "check_character", "id_number:check_character"),
        ("suspects[0].id_number", "check_character", "suspects[].id_number:check_character"),
        ("suspects[12].id_number", "length", "suspects[].id_number:length"),
        (None, "json", "json"),
        ("", "json_object", "json_object"),
        ("source", "source_not_allowed", "source:source_not_allowed"),
    ],
)
def test_reasons_are_field_and_rule(field: str | None, rule: str, label: str) -> None:
    assert reason_label(field, rule) == label


@pytest.mark.parametrize("personal", PERSONAL)
def test_a_reason_never_carries_an_id_number_or_a_person_key(personal: str) -> None:
    assert reason_label(personal, "check_character") == f"{OTHER}:check_character"
    assert reason_label("id_number", personal) == f"id_number:{OTHER}"
    assert reason_label(f"parties.{personal}", "required") == f"{OTHER}:required"
    assert reason_label(None, f"bad {personal}") == OTHER


def test_a_reason_that_is_a_message_becomes_other() -> None:
    assert reason_label("id_number", "wrong check character") == f"id_number:{OTHER}"
    assert reason_label("id number", "length") == f"{OTHER}:length"


@pytest.mark.parametrize("personal", PERSONAL)
def test_no_label_function_passes_personal_values(personal: str) -> None:
    labels = [
        source_label(personal),
        type_label(personal),
        type_label(personal, KNOWN),
        jurisdiction_label(personal),
        reason_label(personal, personal),
        reason_label(None, personal),
    ]
    assert not [label for label in labels if personal.lower() in label.lower() or "210102" in label]


def test_jurisdictions_are_six_digit_codes() -> None:
    assert jurisdiction_label("210102") == "210102"
    for value in (*PERSONAL, "21010", "2101020", None, 210102, "21010a"):
        assert jurisdiction_label(value) == INVALID


@pytest.mark.parametrize(
    ("status", "label"),
    [(200, "2xx"), (204, "2xx"), (301, "3xx"), (401, "4xx"), (429, "4xx"), (500, "5xx"), (503, "5xx"), (101, "1xx")],
)
def test_status_classes(status: int, label: str) -> None:
    assert status_class(status) == label


@pytest.mark.parametrize("status", [None, 0, 99, 600, 1000, -1])
def test_no_answer_or_a_nonsense_status_is_error(status: int | None) -> None:
    assert status_class(status) == "error"
