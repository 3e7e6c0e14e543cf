"""No ID number in clear through a text field: every string field of every record type is checked."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jiandu.core.identity import Pseudonymiser, make_id_number
from jiandu.core.idscan import ID_NUMBER_MASK, contains_id_number, mask_id_numbers
from jiandu.core.records import COMMON_FIELDS, RECORD_TYPES, FieldKind
from jiandu.core.validation import jurisdiction_outside_source, to_event
from jiandu.errors import RecordError
from producers.rules import field_and_rule

CONFORMANCE = Path(__file__).resolve().parents[3].parent / "shared" / "conformance"
KEY = Pseudonymiser(b"k")
PERSON = make_id_number("210102", date(1985, 3, 17), 241)
LEGACY = PERSON[:6] + PERSON[8:17]  # the 15-digit form of the same person (1985 -> 85, no check character)


def _valid_record_of_each_type() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for line in (CONFORMANCE / "records.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            to_event(record, Pseudonymiser(b"conformance-key"), 0)
        except (ValueError, RecordError):
            continue
        found.setdefault(record["type"], record)
    return found


VALID = _valid_record_of_each_type()
TEXT_FIELDS = sorted(
    (name, field.name)
    for name, spec in RECORD_TYPES.items()
    for field in (*COMMON_FIELDS, *spec.fields)
    if field.kind is FieldKind.STRING
)


def test_every_record_type_has_a_valid_conformance_record() -> None:
    assert set(VALID) == set(RECORD_TYPES)


@pytest.mark.parametrize(
    "text",
    [
        PERSON,
        f"({2026})辽01刑初{PERSON}号",
        f"E-{PERSON.lower()}",
        LEGACY,
        f"旧证{LEGACY}",
        PERSON.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")),  # full-width
        f"{PERSON[:-1]}x",
    ],
)
def test_an_id_number_anywhere_in_a_text_is_found(text: str) -> None:
    if text.endswith("x") and PERSON[-1] != "X":
        text = PERSON  # the lower-case form only exists for an X check character
    assert contains_id_number(text)
    assert PERSON not in mask_id_numbers(text) and ID_NUMBER_MASK in mask_id_numbers(text)


@pytest.mark.parametrize(
    "text",
    [
        "A2101025300002024030001",  # a police case number: 22 digits, not bounded at 18
        PERSON[:-1] + ("0" if PERSON[-1] != "0" else "1"),  # wrong check character
        "210102198513172415",  # month 13
        "123456789012345",  # 15 digits, impossible birth date
        f"9{PERSON}",  # 19 digits
        "(2024)辽01刑初123号",
    ],
)
def test_digit_runs_that_are_not_id_numbers_are_legitimate(text: str) -> None:
    assert not contains_id_number(text)
    assert mask_id_numbers(text) == text


@pytest.mark.parametrize(("record_type", "field_name"), TEXT_FIELDS)
def test_every_string_field_of_every_type_refuses_an_id_number(record_type: str, field_name: str) -> None:
    record = {**VALID[record_type], field_name: f"前{PERSON}后"}
    with pytest.raises(RecordError) as caught:
        to_event(record, KEY, 0)
    assert caught.value.reason == f"{field_name}: contains an ID number"
    assert field_and_rule(caught.value.reason) == (field_name, "id_number_in_text")
    assert PERSON not in caught.value.reason


def test_source_units_are_short_codes_not_markup() -> None:
    record = {**VALID["court.judgment_effective"], "source": 'court:210100:"><marquee>x'}
    with pytest.raises(RecordError, match=r"source: .* is not <category>:<division>"):
        to_event(record, KEY, 0)


@pytest.mark.parametrize(
    ("source", "jurisdiction", "outside"),
    [
        ("court:210100", "210100", False),
        ("court:210100", "210102", False),  # a city's court speaks for its districts
        ("court:210100", "210200", True),
        ("police:210102:hotel", "210103", True),
        ("court:210000", "211300", False),
        ("court:bad", "210200", False),  # malformed: left to validation
    ],
)
def test_jurisdiction_must_lie_within_the_source_division(source: str, jurisdiction: str, outside: bool) -> None:
    assert (jurisdiction_outside_source({"source": source, "jurisdiction": jurisdiction}) is not None) is outside


_BIRTHS = st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31))
_AROUND = st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=20)


@settings(derandomize=True, database=None, max_examples=300)
@given(before=_AROUND, after=_AROUND, birth=_BIRTHS, sequence=st.integers(0, 999), division=st.integers(110000, 659999))
def test_any_valid_id_number_bounded_by_non_digits_is_found_and_masked(
    before: str, after: str, birth: date, sequence: int, division: int
) -> None:
    number = make_id_number(str(division), birth, sequence)
    text = f"{before}{number}{after}"
    assert contains_id_number(text)
    masked = mask_id_numbers(text)
    assert number not in masked and masked == f"{before}{ID_NUMBER_MASK}{after}"


@settings(derandomize=True, database=None, max_examples=300)
@given(digits=st.text(alphabet="0123456789", min_size=19, max_size=40), before=_AROUND)
def test_longer_digit_runs_are_never_taken_for_an_id_number(digits: str, before: str) -> None:
    assert not contains_id_number(f"{before}{digits}")
