"""Resident ID numbers, unified social credit codes and the person pseudonym.

A resident ID number (居民身份证号码, GB 11643-1999) is normalised to its 18-character
form and validated; a legacy 15-digit number is upgraded first. A unified social
credit code (统一社会信用代码, GB 32100-2015) is validated and kept in clear. Past
the adapter a person is only known by ``person_key``: the lower-case hex
HMAC-SHA256 of the normalised ID number, keyed with the hub's secret.

Rejections raise ``InvalidIdNumber`` / ``InvalidCreditCode`` whose ``reason`` is
what goes to the dead-letter topic. A reason never contains the raw number.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import operator
import string

from jiandu.errors import InvalidCreditCode, InvalidIdNumber

__all__ = [
    "Pseudonymiser",
    "credit_check_character",
    "id_check_character",
    "make_id_number",
    "normalise_id_number",
    "person_key",
    "validate_credit_code",
]

# --- resident ID number (GB 11643-1999, ISO 7064 MOD 11-2) ---------------------------

_ID_CHECK_CHARS = frozenset("0123456789X")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ZERO_WEIGHTED = ord("0") * sum(_ID_WEIGHTS)  # the weighted sum of the digits' ASCII codes is this much over
_ID_CHECK_TABLE = "10X98765432"
_ID_LENGTH = 18
_LEGACY_ID_LENGTH = 15
_LEGACY_CENTURY = "19"
_BIRTH_SLICE = slice(6, 14)
_EARLIEST_BIRTH = datetime.date(1900, 1, 1)

# --- unified social credit code (GB 32100-2015) --------------------------------------

_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_VALUES = {char: value for value, char in enumerate(_CREDIT_ALPHABET)}
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_LENGTH = 18
_CREDIT_MODULUS = len(_CREDIT_ALPHABET)

# ASCII-only upper-casing: str.upper() would also change the length of some
# non-ASCII strings ("ß" -> "SS") and must not turn garbage into a valid code.
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


def _is_ascii_digits(text: str) -> bool:
    """True when every character is 0-9: ``str.isdigit`` alone would also accept full-width digits."""
    return not text or (text.isascii() and text.isdigit())


def id_check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits of an ID number.

    Public so that test-data generators build valid numbers with the same rule.
    """
    if len(first17) != _ID_LENGTH - 1 or not _is_ascii_digits(first17):
        raise ValueError("id_check_character needs exactly 17 ASCII digits")
    total = sum(map(operator.mul, first17.encode("ascii"), _ID_WEIGHTS)) - _ZERO_WEIGHTED
    return _ID_CHECK_TABLE[total % 11]


def _upgrade_legacy(number15: str) -> str:
    """The 18-character form of a 15-digit number: ``19`` before the year, check character appended.

    Legacy numbers (issued before 1999) carry no check character and a 2-digit year.
    """
    first17 = number15[:6] + _LEGACY_CENTURY + number15[6:]
    return first17 + id_check_character(first17)


def _check_id_characters(number: str) -> None:
    """Reject non-digits where digits are required, or a check character other than 0-9/X."""
    body, last = (number, "") if len(number) == _LEGACY_ID_LENGTH else (number[:-1], number[-1])
    if not _is_ascii_digits(body) or (last and last not in _ID_CHECK_CHARS):
        raise InvalidIdNumber("invalid characters")


def _parse_birth_date(digits: str) -> datetime.date | None:
    """The calendar date written as ``YYYYMMDD``, or None when it does not exist."""
    try:
        return datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def _check_birth_date(number18: str, not_after: datetime.date | None) -> None:
    """Reject a birth date that is not a real date, before 1900-01-01 or after ``not_after``.

    A person cannot appear in a record dated before their birth.
    """
    digits = number18[_BIRTH_SLICE]
    birth = _parse_birth_date(digits)
    too_late = birth is not None and not_after is not None and birth > not_after
    if birth is None or birth < _EARLIEST_BIRTH or too_late:
        raise InvalidIdNumber(f"impossible birth date {digits}")


def _check_not_after(not_after: datetime.date | None) -> None:
    """Refuse a ``datetime`` for ``not_after``: its date would silently depend on its time zone.

    The spec compares the birth date with the China Standard Time date of ``occurred_at``,
    so the caller converts first.
    """
    if isinstance(not_after, datetime.datetime):
        raise TypeError("not_after must be a date (the local CST date), not a datetime")


def normalise_id_number(raw: str, *, not_after: datetime.date | None = None) -> str:
    """The validated 18-character form of a resident ID number, or ``InvalidIdNumber``.

    Checks, in order: length (15 or 18), characters, birth date, check character.
    A number that fails is rejected with its reason; it is never guessed at.
    """
    _check_not_after(not_after)
    number = raw.strip().replace("x", "X")
    if len(number) not in (_LEGACY_ID_LENGTH, _ID_LENGTH):
        raise InvalidIdNumber(f"bad length {len(number)}")
    _check_id_characters(number)
    legacy = len(number) == _LEGACY_ID_LENGTH
    number18 = _upgrade_legacy(number) if legacy else number
    _check_birth_date(number18, not_after)
    if number18[-1] != id_check_character(number18[:-1]):
        raise InvalidIdNumber("wrong check character")
    return number18


def make_id_number(division: str, birth: datetime.date, sequence: int) -> str:
    """A valid 18-character ID number for a division, birth date and 3-digit sequence.

    For test-data generators: the result always passes ``normalise_id_number``.
    """
    if len(division) != 6 or not _is_ascii_digits(division):
        raise ValueError("division must be 6 ASCII digits")
    if isinstance(birth, datetime.datetime) or birth < _EARLIEST_BIRTH:
        raise ValueError("birth must be a date on or after 1900-01-01")
    if not 0 <= sequence <= 999:
        raise ValueError("sequence must be in 0..999")
    first17 = f"{division}{birth:%Y%m%d}{sequence:03d}"
    return first17 + id_check_character(first17)


# --- unified social credit code -------------------------------------------------------


def credit_check_character(first17: str) -> str:
    """The GB 32100-2015 check character of the first 17 characters of a credit code.

    Public so that test-data generators build valid codes with the same rule.
    """
    if len(first17) != _CREDIT_LENGTH - 1 or any(c not in _CREDIT_VALUES for c in first17):
        raise ValueError("credit_check_character needs 17 characters of the code alphabet")
    total = sum(_CREDIT_VALUES[char] * weight for char, weight in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_ALPHABET[(_CREDIT_MODULUS - total % _CREDIT_MODULUS) % _CREDIT_MODULUS]


def validate_credit_code(raw: str) -> str:
    """The upper-cased credit code when valid, or ``InvalidCreditCode``.

    Checks, in order: length (18), characters (no I, O, Z, S, V), check character.
    """
    code = raw.translate(_ASCII_UPPER)
    if len(code) != _CREDIT_LENGTH:
        raise InvalidCreditCode(f"bad length {len(code)}")
    if any(char not in _CREDIT_VALUES for char in code):
        raise InvalidCreditCode("invalid characters")
    if code[-1] != credit_check_character(code[:-1]):
        raise InvalidCreditCode("wrong check character")
    return code


# --- pseudonym --------------------------------------------------------------------------


def _require_normalised(id_number18: str) -> None:
    """Refuse a number that is not in normalised 18-character form.

    Hashing a lower-case ``x`` or a 15-digit form would silently give the same
    person a second pseudonym.
    """
    shape_ok = (
        len(id_number18) == _ID_LENGTH and _is_ascii_digits(id_number18[:-1]) and id_number18[-1] in _ID_CHECK_CHARS
    )
    if not shape_ok:
        raise ValueError("person_key needs a normalised 18-character ID number")


def person_key(id_number18: str, key: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of a normalised ID number: the person's pseudonym.

    Raw ID numbers never leave the adapter; this key is what Kafka, logs and leads see.
    """
    _require_normalised(id_number18)
    return hmac.new(key, id_number18.encode("utf-8"), hashlib.sha256).hexdigest()


class Pseudonymiser:
    """Normalises raw ID numbers and turns them into ``person_key`` pseudonyms.

    Holds a pre-keyed HMAC so each call only copies it instead of re-deriving the key pads.
    """

    __slots__ = ("_mac",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray):
            raise TypeError("the pseudonym key must be bytes")
        self._mac = hmac.new(bytes(key), digestmod=hashlib.sha256)

    def person_key(self, raw_id: str, *, not_after: datetime.date | None = None) -> str:
        """The pseudonym of a raw ID number; ``InvalidIdNumber`` when the number is invalid."""
        mac = self._mac.copy()
        mac.update(normalise_id_number(raw_id, not_after=not_after).encode("utf-8"))
        return mac.hexdigest()

    def __repr__(self) -> str:
        """A representation that never shows the key."""
        return f"{type(self).__name__}(key=<hidden>)"
