"""Invalid lines, planted on purpose: each kind of defect the hub must dead-letter.

The raw material is background records about bystanders and organisations no
storyline owns (hotel stays, living people's pensions, a new lender's suit, an
everyday administrative penalty), so that no lead, planted or not, ever depends on
an invalid line or its corrected re-send.
Some defects are followed by the agency's corrected re-send under the same
``source_record_id``: a rejected record does not use up its event id.
"""

from __future__ import annotations

from datetime import date, datetime

from jiandu.simulate.admin import minor_penalty
from jiandu.simulate.background import lodging
from jiandu.simulate.breakage import DEFECTS, break_record
from jiandu.simulate.civil import civil_filing
from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.pensions import pension
from jiandu.simulate.places import Population

__all__ = ["DEFECTS", "plant_defects"]

_WITH_PERSON = ("wrong_check_character", "bad_length", "impossible_birth_date")
# Raw material in the order a tie is broken: courts first, so that every history (the `jiandu run` sample
# included, whatever its date) has invalid records on the way agencies push as well as those they are polled on.
_MATERIALS = ("civil", "admin", "pension", "lodging")


def plant_defects(ledger: Ledger, population: Population, count: int) -> None:
    """Add ``count`` invalid lines (at least one of each kind not planted yet), cycling through the kinds."""
    rng = ledger.rng
    kinds = sorted(DEFECTS, key=lambda kind: ledger.planted[f"invalid_{kind}"] > 0)
    count = max(count, sum(ledger.planted[f"invalid_{kind}"] == 0 for kind in DEFECTS))
    used = dict.fromkeys(_MATERIALS, 0)
    for index in range(count):
        kind = kinds[index % len(kinds)]
        material = _least_used(used, kind)
        if kind != "malformed_json":  # a malformed line never reaches its source's validation
            used[material] += 1
        record, at = _raw_material(ledger, population, material, ledger.day(hi=-4))
        ledger.add(break_record(rng, record, kind), at, source=str(record["source"]), defect=kind)
        ledger.planted[f"invalid_{kind}"] += 1
        if rng.random() < 0.4:
            ledger.add(record, at, upload_delay=rng.randint(1, 3))
            ledger.planted["corrected_resend"] += 1


def _least_used(used: dict[str, int], kind: str) -> str:
    """The raw material a defect of ``kind`` can be planted in that holds the fewest defects so far.

    Spreading defects over the materials, rather than drawing them at random, puts at
    least one parseable invalid record in every agency category whenever a few are
    planted: which ways in see rejects no longer depends on the dates drawn.
    """
    choices: tuple[str, ...] = _MATERIALS
    if kind in _WITH_PERSON:
        choices = ("pension", "lodging")
    elif kind == "bad_enum":
        choices = ("civil", "admin")
    return min(choices, key=lambda material: used[material])


def _raw_material(ledger: Ledger, population: Population, choice: str, day: date) -> tuple[Record, datetime]:
    """A background record of the ``choice`` material (never needed by a lead) and when it occurred."""
    rng = ledger.rng
    person = population.bystander()
    at = ledger.at(day, 9, 17)
    if choice == "pension" and (day - person.birth).days > 60 * 365:
        spec = pension(ledger, person, day.replace(day=1), "3120.00")
    elif choice in ("lodging", "pension"):
        spec, at = lodging(ledger, person), ledger.at(day, 12, 24)
    elif choice == "civil":
        lender = population.organisation(register=False)
        spec = civil_filing(
            ledger,
            person.home,
            day,
            "PRIVATE_LENDING",
            [{"credit_code": lender.credit_code}],
            [{"id_number": person.written(rng)}],
        )
    else:
        organisation = rng.choice(population.organisations) if population.organisations else population.organisation()
        spec = minor_penalty(ledger, organisation, organisation.home, day)
    record_type, source, fields = spec
    return ledger.make(record_type, source, at, fields), at
