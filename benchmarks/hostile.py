"""Hostile records: valid records of every type, mutated the ways attackers and broken systems do.

Shared by the fuzz tests (``tests/integration/test_security_fuzz.py``, seeds drawn by
hypothesis) and the long fuzz run (``python -m benchmarks fuzz``). Every raw ID
number a mutation plants comes from :attr:`Hostile.planted`, so that a test can grep
everything the hub wrote for exactly those numbers afterwards.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from jiandu.core.identity import Pseudonymiser, make_id_number
from jiandu.core.records import RECORD_TYPES
from jiandu.core.validation import to_event
from jiandu.errors import RecordError

__all__ = ["CONFORMANCE_RECORDS", "Hostile", "valid_records"]

CONFORMANCE_RECORDS = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "records.jsonl"

_FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
_ODD_TEXTS = (
    "",
    " ",
    "\x1b[2J\x1b[31mred\x1b]0;title\x07",
    "\r\n\t\x00\x7f\x9b",
    '"><script>alert(1)</script>',
    "‮evil‬",
    "A2101025300002024030001",
    "9" * 40,
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ☃ 中文 ﷽",
    "%s%n{0}${jndi:x}",
    "../../etc/passwd",
)


def valid_records(path: Path = CONFORMANCE_RECORDS) -> dict[str, dict[str, Any]]:
    """One valid record of every record type, from the public conformance vectors."""
    key = Pseudonymiser(b"hostile")
    found: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            to_event(record, key, 0)
        except (ValueError, RecordError):
            continue
        found.setdefault(record["type"], record)
    missing = set(RECORD_TYPES) - set(found)
    if missing:
        raise RuntimeError(f"no valid conformance record of {sorted(missing)}")
    return found


class Hostile:
    """Mutates valid records with a seeded random source; :attr:`planted` holds every raw ID number used."""

    def __init__(self, seed: int, base: dict[str, dict[str, Any]] | None = None, pool: int = 64) -> None:
        self._random = random.Random(seed)
        self._base = base or valid_records()
        rng = random.Random(seed ^ 0x5EED)
        born = [date(1940, 1, 1) + timedelta(days=rng.randrange(25_000)) for _ in range(pool)]
        self.planted = [make_id_number("2101" + f"{rng.randrange(100):02d}", b, rng.randrange(1000)) for b in born]
        self.base_ids = {str(v) for r in self._base.values() for v in _id_values(r)}
        self._mutations: list[Callable[[dict[str, Any]], None]] = [
            self._text_with_id,
            self._odd_value,
            self._drop_field,
            self._unknown_field,
            self._swap_type,
            self._odd_source,
            self._odd_jurisdiction,
            self._huge_list,
            self._deep_value,
            self._id_field,
        ]

    def record(self, record_type: str | None = None) -> dict[str, Any]:
        """A mutated copy of a valid record (1-3 mutations; one in eight is left valid)."""
        rng = self._random
        chosen = record_type or rng.choice(sorted(self._base))
        record = copy.deepcopy(self._base[chosen])
        record["source_record_id"] = f"{record['source_record_id']}-{rng.randrange(10**9)}"
        if rng.random() < 0.125:
            return record
        for _ in range(rng.randint(1, 3)):
            rng.choice(self._mutations)(record)
        return record

    def types(self) -> list[str]:
        """The record types there are valid records of."""
        return sorted(self._base)

    @property
    def random(self) -> random.Random:
        """The seeded random source (for callers mutating files alongside)."""
        return self._random

    def pick(self, choices: list[str]) -> str:
        """One of ``choices``, from the seeded source."""
        return self._random.choice(choices)

    def body(self, records: list[dict[str, Any]]) -> bytes:
        """A push request body, now and then broken at the byte level."""
        data = json.dumps({"records": records}, ensure_ascii=self._random.random() < 0.5).encode()
        roll = self._random.random()
        if roll < 0.05:
            return data[: self._random.randrange(len(data))]
        if roll < 0.10:
            at = self._random.randrange(len(data))
            return data[:at] + bytes([self._random.randrange(256)]) + data[at + 1 :]
        if roll < 0.12:
            return b"[" * self._random.randrange(1000, 100_000)
        return data

    def id_number(self) -> str:
        """A planted raw ID number, in one of its written forms."""
        number = self._random.choice(self.planted)
        form = self._random.random()
        if form < 0.15:
            return number.translate(_FULL_WIDTH)
        if form < 0.3 and number.startswith("2101") and number[6:8] == "19":
            return number[:6] + number[8:17]  # the legacy 15-digit form
        return number

    def _text_fields(self, record: dict[str, Any]) -> list[str]:
        return [k for k, v in record.items() if isinstance(v, str) and k not in ("type", "occurred_at")]

    def _text_with_id(self, record: dict[str, Any]) -> None:
        field = self._random.choice([*self._text_fields(record), "source_record_id", "case_no"])
        record[field] = self._random.choice(["{}", "({})辽01刑初{}号".format("2026", "{}"), "E-{}", "{} "]).format(
            self.id_number()
        )

    def _odd_value(self, record: dict[str, Any]) -> None:
        field = self._random.choice(sorted(record))
        record[field] = self._random.choice(
            [
                None,
                0,
                -1,
                10**30,
                1.5,
                1e308,
                True,
                [],
                {},
                "x" * self._random.choice((10, 5000, 100_000)),
                *_ODD_TEXTS,
            ]
        )

    def _drop_field(self, record: dict[str, Any]) -> None:
        record.pop(self._random.choice(sorted(record)), None)

    def _unknown_field(self, record: dict[str, Any]) -> None:
        record[self._random.choice(["姓名", "note", "__proto__", "id_number2"])] = self.id_number()

    def _swap_type(self, record: dict[str, Any]) -> None:
        record["type"] = self._random.choice([*RECORD_TYPES, "police.unknown", "", "court.judgment_effective "])

    def _odd_source(self, record: dict[str, Any]) -> None:
        category, _, rest = str(record.get("source", "court:210100")).partition(":")
        division = rest[:6]
        record["source"] = self._random.choice(
            [
                f'{category}:{division}:"><marquee>',
                f"{category}:{division}:{self.id_number()}",
                f"{category}:{division}:unit_{self._random.randrange(99)}",
                f"{category}:21020{self._random.randrange(10)}",
                f"army:{division}",
                f"{category}:{division}\n",
            ]
        )

    def _odd_jurisdiction(self, record: dict[str, Any]) -> None:
        record["jurisdiction"] = self._random.choice(["210200", "999999", "2101", "２１０１００", self.id_number()])

    def _huge_list(self, record: dict[str, Any]) -> None:
        size = self._random.choice((0, 50, 5000))
        key = self._random.choice(["suspects", "plaintiffs", "defendants"])
        record[key] = [{"id_number": self.id_number()} for _ in range(size)]

    def _deep_value(self, record: dict[str, Any]) -> None:
        value: Any = self.id_number()
        for _ in range(self._random.choice((3, 40, 900))):
            value = [value]
        record[self._random.choice(sorted(record))] = value

    def _id_field(self, record: dict[str, Any]) -> None:
        if "id_number" in record:
            record["id_number"] = self.id_number()


def _id_values(record: dict[str, Any]) -> list[object]:
    values: list[object] = []
    for key, value in record.items():
        if key == "id_number":
            values.append(value)
        elif isinstance(value, dict):
            values += _id_values(value)
        elif isinstance(value, list):
            values += [v for item in value if isinstance(item, dict) for v in _id_values(item)]
    return values
