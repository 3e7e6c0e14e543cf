"""Unit tests for ``jiandu.core.identity``: ID numbers, credit codes and pseudonyms."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jiandu.core.identity import (
    Pseudonymiser,
    credit_check_character,
    id_check_character,
    make_id_number,
    normalise_id_number,
    person_key,
    validate_credit_code,
)
from jiandu.errors import InvalidCreditCode, InvalidIdNumber, RecordError

CONFORMANCE = Path("/work/shared/conformance")
CST = timezone(timedelta(hours=8))
KEY = b"conformance-key"

# Example from the spec (events.md, police.alcohol_test); its check character 5 is right.
SPEC_EXAMPLE = "210102198503172415"


def _with_wrong_check(number18: str) -> str:
    """The same number with a check character that is certainly wrong."""
    wrong = "0" if number18[-1] != "0" else "1"
    return number18[:-1] + wrong


def _reason_of(exc_info: pytest.ExceptionInfo[RecordError]) -> str:
    return exc_info.value.reason


# --- check characters --------------------------------------------------------------------


def test_id_check_character_of_spec_example() -> None:
    assert id_check_character(SPEC_EXAMPLE[:17]) == "5"


def test_id_check_character_can_be_x() -> None:
    first17 = next(
        f"11010519491231{seq:03d}" for seq in range(1000) if id_check_character(f"11010519491231{seq:03d}") == "X"
    )
    assert normalise_id_number(first17 + "X") == first17 + "X"
    assert normalise_id_number(first17 + "x") == first17 + "X"


@pytest.mark.parametrize("first17", ["1234567890123456", "123456789012345678", "1234567890123456A"])
def test_id_check_character_rejects_bad_input(first17: str) -> None:
    with pytest.raises(ValueError):
        id_check_character(first17)


@settings(max_examples=500, derandomize=True)
@given(first17=st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_id_check_character_is_iso_7064_mod_11_2(first17: str) -> None:
    """The weighted sum as GB 11643 writes it: weight 2^(18-i) mod 11 of each digit, check table 10X98765432."""
    total = sum(int(digit) * (2 ** (17 - i) % 11) for i, digit in enumerate(first17))
    assert id_check_character(first17) == "10X98765432"[total % 11]


@settings(max_examples=500, derandomize=True)
@given(text=st.text(alphabet=st.sampled_from("0123456789２٣¹aX"), max_size=20))
def test_only_ascii_digits_count_as_digits(text: str) -> None:
    """Full-width, Arabic-Indic and superscript digits are not 0-9 (``str.isdigit`` takes them)."""
    number = text.rjust(18, "1")[:17] + "5"
    valid_characters = all(char in "0123456789" for char in number[:17])
    if valid_characters:
        with contextlib.suppress(InvalidIdNumber):  # its birth date or check character may still be wrong
            normalise_id_number(number)
    else:
        with pytest.raises(InvalidIdNumber, match="invalid characters"):
            normalise_id_number(number)


# --- normalise_id_number: valid numbers ----------------------------------------------------


def test_spec_example_is_valid() -> None:
    assert normalise_id_number(SPEC_EXAMPLE) == SPEC_EXAMPLE


@pytest.mark.parametrize(
    ("division", "birth", "sequence"),
    [
        ("210102", date(1985, 3, 17), 241),
        ("110105", date(1900, 1, 1), 0),
        ("440305", date(2000, 2, 29), 999),
        ("210202", date(1981, 4, 24), 319),
    ],
)
def test_made_numbers_are_valid(division: str, birth: date, sequence: int) -> None:
    number = make_id_number(division, birth, sequence)
    assert len(number) == 18
    assert number[:6] == division
    assert number[6:14] == birth.strftime("%Y%m%d")
    assert number[14:17] == f"{sequence:03d}"
    assert normalise_id_number(number) == number


def test_surrounding_whitespace_is_stripped() -> None:
    assert normalise_id_number(f"  {SPEC_EXAMPLE}\t\n") == SPEC_EXAMPLE


def test_lower_case_x_is_normalised() -> None:
    number = next(n for n in (make_id_number("210102", date(1990, 5, 1), s) for s in range(1000)) if n.endswith("X"))
    assert normalise_id_number(number.lower()) == number


def test_legacy_15_digit_number_is_upgraded() -> None:
    number18 = make_id_number("210102", date(1985, 3, 17), 241)
    number15 = number18[:6] + number18[8:17]
    assert len(number15) == 15
    assert normalise_id_number(number15) == number18


def test_legacy_number_birth_date_is_checked_after_upgrade() -> None:
    with pytest.raises(InvalidIdNumber) as exc_info:
        normalise_id_number("210102850229241")
    assert _reason_of(exc_info) == "impossible birth date 19850229"


def test_legacy_number_with_x_is_invalid_characters() -> None:
    with pytest.raises(InvalidIdNumber) as exc_info:
        normalise_id_number("21010285031724X")
    assert _reason_of(exc_info) == "invalid characters"


# --- normalise_id_number: rejections -------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 14, 16, 17, 19, 20])
def test_bad_length(length: int) -> None:
    raw = (SPEC_EXAMPLE * 2)[:length]
    with pytest.raises(InvalidIdNumber) as exc_info:
        normalise_id_number(raw)
    assert _reason_of(exc_info) == f"bad length {length}"


def test_bad_length_counts_stripped_input() -> None:
    with pytest.raises(InvalidIdNumber) as exc_info:
        normalise_id_number("  " + SPEC_EXAMPLE[:17] + "  ")
    assert _reason_of(exc_info) == "bad length 17"


@pytest.mark.parametrize(
    "raw",
    [
        "21010219850317241A",  # check char not 0-9/X
        "2101021985031724X5",  # X where a digit is required
        "21O102198503172415",  # letter O in the division
        "２10102198503172415",  # full-width digit
        "210102 98503172415",  # inner space
    ],
)
def test_invalid_characters(raw: str) -> None:
    with pytest.raises(InvalidIdNumber) as exc_info:
        normalise_id_number(raw)
    assert _reason_of(exc_info) == "invalid characters"


def test_length_is_checked_before_characters() -> None:
    with pytest.raises(InvalidIdNumber) as exc_info:
        normalise_id_number("ABCDEFGHIJKLMNOPQ")
    assert _reason_of(exc_info) == "bad length 17"


def test_feb_29_on_leap_year_is_valid() -> None:
    number = make_id_number("210102", date(1984, 2, 29), 123)
    assert normalise_id_number(number) == number


def test_feb_29_on_non_leap_year_is_rejected() -> None:
    first17 = "21010219850229123"
    with pytest.raises(InvalidIdNumber) as exc_info:
        normalise_id_number(first17 + id_check_character(first17))
    assert _reason_of(exc_info) == "impossible birth date 19850229"


def test_feb_29_1900_is_rejected() -> None:
    first17 = "21010219000229123"
    with pytest.raises(InvalidIdNumber) as exc_info:
        normalise_id_number(first17 + id_check_character(first17))
    assert _reason_of(exc_info) == "impossible birth date 19000229"


@pytest.mark.parametrize("birth", ["19760000", "19881301", "19900631", "00000101"])
def test_impossible_calendar_dates(birth: str) -> None:
    first17 = f"210102{birth}123"
    with pytest.raises(InvalidIdNumber) as exc_info:
        normalise_id_number(first17 + id_check_character(first17))
    assert _reason_of(exc_info) == f"impossible birth date {birth}"


def test_birth_in_1899_is_rejected() -> None:
    first17 = "21010218991231123"
    with pytest.raises(InvalidIdNumber) as exc_info:
        normalise_id_number(first17 + id_check_character(first17))
    assert _reason_of(exc_info) == "impossible birth date 18991231"


def test_birth_after_not_after_is_rejected() -> None:
    number = make_id_number("210100", date(2020, 12, 15), 7)
    with pytest.raises(InvalidIdNumber) as exc_info:
        normalise_id_number(number, not_after=date(2020, 12, 14))
    assert _reason_of(exc_info) == "impossible birth date 20201215"


def test_birth_on_not_after_is_accepted() -> None:
    number = make_id_number("210100", date(2020, 12, 15), 7)
    assert normalise_id_number(number, not_after=date(2020, 12, 15)) == number
    assert normalise_id_number(number) == number


def test_not_after_refuses_datetime() -> None:
    with pytest.raises(TypeError):
        normalise_id_number(SPEC_EXAMPLE, not_after=datetime(2024, 3, 1, tzinfo=CST))


def test_wrong_check_character() -> None:
    with pytest.raises(InvalidIdNumber) as exc_info:
        normalise_id_number(_with_wrong_check(SPEC_EXAMPLE))
    assert _reason_of(exc_info) == "wrong check character"


def test_birth_date_is_checked_before_check_character() -> None:
    with pytest.raises(InvalidIdNumber) as exc_info:
        normalise_id_number("210102198502291230")
    assert _reason_of(exc_info) == "impossible birth date 19850229"


def test_every_single_digit_error_is_detected() -> None:
    for position in range(17):
        for digit in "0123456789":
            if digit == SPEC_EXAMPLE[position]:
                continue
            mutated = SPEC_EXAMPLE[:position] + digit + SPEC_EXAMPLE[position + 1 :]
            with pytest.raises(InvalidIdNumber):
                normalise_id_number(mutated)


@pytest.mark.parametrize(
    "raw",
    [
        _with_wrong_check(SPEC_EXAMPLE),
        "210102198502291230",
        SPEC_EXAMPLE + "9",
        "2101021985031724A5",
        make_id_number("210100", date(2020, 12, 15), 7),
    ],
)
def test_messages_never_contain_the_raw_number(raw: str) -> None:
    with pytest.raises(InvalidIdNumber) as exc_info:
        normalise_id_number(raw, not_after=date(2020, 1, 1))
    for text in (str(exc_info.value), exc_info.value.reason, repr(exc_info.value)):
        assert raw not in text
        assert raw[:17] not in text
        assert raw[:15] not in text


# --- make_id_number ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("division", "birth", "sequence"),
    [
        ("21010", date(1985, 1, 1), 1),
        ("21010A", date(1985, 1, 1), 1),
        ("210102", date(1899, 12, 31), 1),
        ("210102", date(1985, 1, 1), -1),
        ("210102", date(1985, 1, 1), 1000),
    ],
)
def test_make_id_number_rejects_bad_arguments(division: str, birth: date, sequence: int) -> None:
    with pytest.raises(ValueError):
        make_id_number(division, birth, sequence)


# --- credit codes --------------------------------------------------------------------------


def _credit_code(first17: str) -> str:
    return first17 + credit_check_character(first17)


@pytest.mark.parametrize(
    "first17", ["91210102MA0Q12345", "11210000001234567", "52210100MJY000000", "Y1000000000000000"]
)
def test_valid_credit_codes(first17: str) -> None:
    code = _credit_code(first17)
    assert validate_credit_code(code) == code
    assert validate_credit_code(code.lower()) == code


def test_known_credit_code() -> None:
    # GB 32100 sample in wide circulation: 91350100M000100Y43.
    assert credit_check_character("91350100M000100Y4") == "3"
    assert validate_credit_code("91350100M000100Y43") == "91350100M000100Y43"


def test_credit_check_character_can_be_zero() -> None:
    first17 = next(
        f"9121010200000{n:04d}" for n in range(10000) if credit_check_character(f"9121010200000{n:04d}") == "0"
    )
    assert validate_credit_code(first17 + "0") == first17 + "0"


@pytest.mark.parametrize("length", [0, 17, 19])
def test_credit_code_bad_length(length: int) -> None:
    raw = (_credit_code("91210102MA0Q12345") * 2)[:length]
    with pytest.raises(InvalidCreditCode) as exc_info:
        validate_credit_code(raw)
    assert _reason_of(exc_info) == f"bad length {length}"


@pytest.mark.parametrize("bad_char", ["I", "O", "Z", "S", "V", "-", " ", "Ａ"])
def test_credit_code_invalid_characters(bad_char: str) -> None:
    code = _credit_code("91210102MA0Q12345")
    with pytest.raises(InvalidCreditCode) as exc_info:
        validate_credit_code(code[:10] + bad_char + code[11:])
    assert _reason_of(exc_info) == "invalid characters"


def test_credit_code_wrong_check_character() -> None:
    code = _credit_code("91210102MA0Q12345")
    wrong = "0" if code[-1] != "0" else "1"
    with pytest.raises(InvalidCreditCode) as exc_info:
        validate_credit_code(code[:-1] + wrong)
    assert _reason_of(exc_info) == "wrong check character"
    assert code[:17] not in str(exc_info.value)


def test_credit_check_character_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        credit_check_character("91210102MA0Q1234")
    with pytest.raises(ValueError):
        credit_check_character("91210102MA0Q1234I")


# --- person_key and Pseudonymiser ----------------------------------------------------------


def test_person_key_is_64_lower_hex_and_deterministic() -> None:
    key = person_key(SPEC_EXAMPLE, KEY)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert person_key(SPEC_EXAMPLE, KEY) == key


def test_person_key_known_value() -> None:
    # printf '%s' 210102198503172415 | openssl dgst -sha256 -hmac conformance-key
    assert person_key(SPEC_EXAMPLE, KEY) == ("c8ccfe8eb126453ff465f86175108eeb5fbe1d2268d80d371045d0c03738a655")


def test_person_key_differs_by_key_and_number() -> None:
    other = make_id_number("210102", date(1985, 3, 17), 242)
    assert person_key(SPEC_EXAMPLE, KEY) != person_key(SPEC_EXAMPLE, b"another-key")
    assert person_key(SPEC_EXAMPLE, KEY) != person_key(other, KEY)


@pytest.mark.parametrize("raw", [SPEC_EXAMPLE[:17], "210102198503172x1x", "2101021985031724x"])
def test_person_key_refuses_unnormalised_numbers(raw: str) -> None:
    with pytest.raises(ValueError) as exc_info:
        person_key(raw, KEY)
    assert raw not in str(exc_info.value)


def test_pseudonymiser_matches_person_key() -> None:
    pseudonymiser = Pseudonymiser(KEY)
    expected = person_key(SPEC_EXAMPLE, KEY)
    assert pseudonymiser.person_key(SPEC_EXAMPLE) == expected
    assert pseudonymiser.person_key(f" {SPEC_EXAMPLE} ") == expected
    # The pre-keyed MAC is copied, so repeated calls stay independent.
    assert pseudonymiser.person_key(SPEC_EXAMPLE) == expected


def test_pseudonymiser_normalises_legacy_and_lower_x() -> None:
    pseudonymiser = Pseudonymiser(KEY)
    number18 = make_id_number("210102", date(1985, 3, 17), 241)
    assert pseudonymiser.person_key(number18[:6] + number18[8:17]) == person_key(number18, KEY)
    with_x = next(n for n in (make_id_number("210102", date(1990, 5, 1), s) for s in range(1000)) if n.endswith("X"))
    assert pseudonymiser.person_key(with_x.lower()) == person_key(with_x, KEY)


def test_pseudonymiser_differs_by_key() -> None:
    assert Pseudonymiser(KEY).person_key(SPEC_EXAMPLE) != Pseudonymiser(b"k2").person_key(SPEC_EXAMPLE)


def test_pseudonymiser_rejects_invalid_numbers() -> None:
    pseudonymiser = Pseudonymiser(KEY)
    with pytest.raises(InvalidIdNumber) as exc_info:
        pseudonymiser.person_key(_with_wrong_check(SPEC_EXAMPLE))
    assert _reason_of(exc_info) == "wrong check character"
    born = make_id_number("210100", date(2020, 12, 15), 7)
    with pytest.raises(InvalidIdNumber):
        pseudonymiser.person_key(born, not_after=date(2020, 12, 1))


def test_pseudonymiser_repr_hides_key() -> None:
    secret = b"very-secret-pseudonym-key"
    text = repr(Pseudonymiser(secret))
    assert "very-secret" not in text
    assert secret.hex() not in text
    assert "Pseudonymiser" in text


def test_pseudonymiser_requires_bytes_key() -> None:
    with pytest.raises(TypeError):
        Pseudonymiser("not-bytes")  # type: ignore[arg-type]


# --- conformance vectors -------------------------------------------------------------------

_IDENTITY_REASON = re.compile(r"^(?P<path>[\w\[\]\.]*(?:id_number|credit_code)): (?P<reason>.+)$")
_PARTY_LISTS = ("suspects", "plaintiffs", "defendants")


def _local_date(occurred_at: Any) -> date | None:
    """The China Standard Time date of ``occurred_at``; None when absent or malformed."""
    if not isinstance(occurred_at, str):
        return None
    try:
        instant = datetime.fromisoformat(occurred_at)
    except ValueError:
        return None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=CST)
    return instant.astimezone(CST).date()


def _identity_fields(record: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(path, kind, value) of every id_number / credit_code in a record, in document order."""
    for kind in ("id_number", "credit_code"):
        if kind in record:
            yield kind, kind, record[kind]
    for name in _PARTY_LISTS:
        for index, party in enumerate(record.get(name) or []):
            for kind in ("id_number", "credit_code"):
                if isinstance(party, dict) and kind in party:
                    yield f"{name}[{index}].{kind}", kind, party[kind]
    party = record.get("party")
    if isinstance(party, dict):
        for kind in ("id_number", "credit_code"):
            if kind in party:
                yield f"party.{kind}", kind, party[kind]


def _identity_failures(record: dict[str, Any]) -> list[str]:
    """Every ``path: reason`` identity failure of a record."""
    not_after = _local_date(record.get("occurred_at"))
    failures = []
    for path, kind, value in _identity_fields(record):
        if not isinstance(value, str):
            continue
        try:
            if kind == "id_number":
                normalise_id_number(value, not_after=not_after)
            else:
                validate_credit_code(value)
        except (InvalidIdNumber, InvalidCreditCode) as exc:
            failures.append(f"{path}: {exc.reason}")
    return failures


@pytest.fixture(scope="module")
def conformance_records() -> dict[int, dict[str, Any]]:
    path = CONFORMANCE / "records.jsonl"
    if not path.exists():
        pytest.skip("conformance vectors not available")
    records: dict[int, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                records[number] = json.loads(line)
            except json.JSONDecodeError:
                continue
    return records


@pytest.fixture(scope="module")
def expected_rejects() -> dict[int, dict[str, Any]]:
    path = CONFORMANCE / "expected-rejects.jsonl"
    if not path.exists():
        pytest.skip("conformance vectors not available")
    with path.open(encoding="utf-8") as lines:
        rejects = [json.loads(line) for line in lines if line.strip()]
    return {reject["line"]: reject for reject in rejects}


def test_conformance_identity_rejects(
    conformance_records: dict[int, dict[str, Any]],
    expected_rejects: dict[int, dict[str, Any]],
) -> None:
    expected = {
        line: reject["reason"] for line, reject in expected_rejects.items() if _IDENTITY_REASON.match(reject["reason"])
    }
    rejected_for_other_reasons = set(expected_rejects) - set(expected)
    actual = {
        line: failures
        for line, record in conformance_records.items()
        if (failures := _identity_failures(record)) and line not in rejected_for_other_reasons
    }
    assert len(expected) > 30  # the vectors really exercise identity checks
    assert set(actual) == set(expected)
    for line, reason in expected.items():
        assert actual[line][0] == reason, f"line {line}"
        record = conformance_records[line]
        assert record["source_record_id"] == expected_rejects[line]["source_record_id"]


def test_conformance_valid_numbers_round_trip(
    conformance_records: dict[int, dict[str, Any]],
) -> None:
    checked = 0
    for record in conformance_records.values():
        if _identity_failures(record):
            continue
        for _path, kind, value in _identity_fields(record):
            if kind == "id_number" and isinstance(value, str):
                number = normalise_id_number(value)
                assert normalise_id_number(number) == number
                checked += 1
    assert checked > 5000
