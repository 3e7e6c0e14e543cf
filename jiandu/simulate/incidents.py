"""Storylines for M14 CUSTODY_INCIDENT: a death, escape or serious injury in prison.

Every ``prison.incident`` is a lead at once: ``DEATH`` and ``ESCAPE`` HIGH,
``SERIOUS_INJURY`` MEDIUM. The prisoners serve long terms admitted years before
the timeline (M13 ``NOT_RELEASED`` PENDING, planted); incidents are written for
nobody else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from jiandu.simulate.ledger import Ledger
from jiandu.simulate.places import Population
from jiandu.simulate.prisons import expect_term_leads, long_term_prisoner

__all__ = ["STORYLINES", "WEIGHTS"]

_SEVERITY = {"DEATH": "HIGH", "ESCAPE": "HIGH", "SERIOUS_INJURY": "MEDIUM"}
_DESCRIPTIONS = {
    "DEATH": ("突发疾病经抢救无效死亡", "夜间突发心脏骤停，送医抢救无效死亡"),
    "ESCAPE": ("劳动现场脱逃，已布控追捕", "外出就医途中脱逃，已上网追逃"),
    "SERIOUS_INJURY": ("劳动中受伤致骨折，送医治疗", "监舍内与他人冲突致重伤，已送医"),
}


def _incident(kind: str) -> Callable[[Ledger, Population], None]:
    def storyline(ledger: Ledger, population: Population) -> None:
        rng = ledger.rng
        person = population.person(25, 70)
        admitted_on = ledger.start_day - timedelta(days=rng.randint(200, 6 * 365))
        sentence_end = ledger.clock_end_day + timedelta(days=rng.randint(60, 10 * 365))
        term = long_term_prisoner(ledger, person, sentence_end, admitted_on=admitted_on)
        expect_term_leads(ledger, term)
        at = ledger.at(ledger.day(), 0, 24)
        record = ledger.record(
            "prison.incident",
            term.facility.source,
            at,
            {
                "facility_code": term.facility.code,
                "id_number": person.written(rng),
                "kind": kind,
                "description": rng.choice(_DESCRIPTIONS[kind]),
            },
        )
        ledger.expect_now("M14", record, at, ledger.subject(person), severity=_SEVERITY[kind])

    storyline.__doc__ = f"A prisoner's {kind.lower().replace('_', ' ')} in custody: OPEN, {_SEVERITY[kind]}."
    return storyline


#: Storyline name → how it unfolds for one new prisoner.
STORYLINES: dict[str, Callable[[Ledger, Population], None]] = {
    "m14_death": _incident("DEATH"),
    "m14_escape": _incident("ESCAPE"),
    "m14_serious_injury": _incident("SERIOUS_INJURY"),
}

#: Relative frequency of each storyline once every one has been cast.
WEIGHTS = {"m14_death": 0.2, "m14_escape": 0.2, "m14_serious_injury": 0.4}
