"""The catalogue of agency record types (events.md), declared once.

Validation, the Avro schemas in ``schemas/`` and the topic catalogue are all
derived from these declarations, so a new record type is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "CATEGORIES",
    "COMMON_FIELDS",
    "RECORD_TYPES",
    "FieldKind",
    "FieldSpec",
    "RecordType",
]

CATEGORIES = ("police", "procuratorate", "court", "prison", "correction", "admin", "social")


class FieldKind(Enum):
    """How a record field is validated and how it travels on Kafka."""

    STRING = "string"
    INT = "int"
    BOOL = "bool"
    DATE = "date"  # YYYY-MM-DD, local
    PERIOD = "period"  # YYYY-MM
    DIVISION = "division"  # 6-digit administrative division code
    DECIMAL = "decimal"  # decimal(18,2), string or JSON number
    ENUM = "enum"
    PERSON = "person"  # id_number in records, person_key on Kafka
    PERSON_LIST = "person_list"  # list of {id_number}, list of person keys on Kafka
    PARTY = "party"  # {id_number} | {credit_code}, {kind, key} on Kafka
    PARTY_LIST = "party_list"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a record type."""

    name: str
    kind: FieldKind
    doc: str
    nullable: bool = False
    default: object = None  # optional field: absent means this value
    symbols: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        """A required field that is missing or null makes the record invalid."""
        return not self.nullable and self.default is None

    @property
    def kafka_name(self) -> str:
        """The field's name on Kafka: ``id_number`` becomes ``person_key``."""
        return "person_key" if self.kind is FieldKind.PERSON else self.name


@dataclass(frozen=True, slots=True)
class RecordType:
    """A record type: its name, meaning and fields."""

    name: str
    doc: str
    fields: tuple[FieldSpec, ...]

    @property
    def category(self) -> str:
        """The agency category owning the type (``police`` for ``police.case_filed``)."""
        return self.name.split(".", 1)[0]

    @property
    def schema_name(self) -> str:
        """Avro record name: ``police.case_filed`` → ``PoliceCaseFiled``."""
        return "".join(p.capitalize() for p in self.name.replace(".", "_").split("_"))


def _s(name: str, doc: str, **kw: object) -> FieldSpec:
    return FieldSpec(name, FieldKind.STRING, doc, **kw)  # type: ignore[arg-type]


def _e(name: str, doc: str, *symbols: str) -> FieldSpec:
    return FieldSpec(name, FieldKind.ENUM, doc, symbols=symbols)


def _d(name: str, doc: str, **kw: object) -> FieldSpec:
    return FieldSpec(name, FieldKind.DECIMAL, doc, **kw)  # type: ignore[arg-type]


def _i(name: str, doc: str, **kw: object) -> FieldSpec:
    return FieldSpec(name, FieldKind.INT, doc, **kw)  # type: ignore[arg-type]


_PERSON = FieldSpec("id_number", FieldKind.PERSON, "the person (pseudonymised: HMAC-SHA256 person key)")
_CASE = _s("case_no", "case number in the producing agency's system")

COMMON_FIELDS: tuple[FieldSpec, ...] = (
    _s("source", "producing agency unit, <category>:<division>[:<unit>]"),
    _s("source_record_id", "the record's id inside the source system, unique per source and type"),
    FieldSpec("jurisdiction", FieldKind.DIVISION, "division code of the producing unit"),
)

_MEASURES = ("CRIMINAL_DETENTION", "ARREST", "BAIL", "RESIDENTIAL_SURVEILLANCE")

_TYPES: tuple[RecordType, ...] = (
    RecordType(
        "police.case_filed",
        "criminal case filed (立案)",
        (
            _CASE,
            FieldSpec("suspects", FieldKind.PERSON_LIST, "suspects (person keys)"),
            _s("charge_code", "charge code"),
            _s("charge_name", "charge name"),
            _s(
                "admin_case_ref",
                "administrative case number when the case came from an administrative agency",
                nullable=True,
            ),
        ),
    ),
    RecordType(
        "police.alcohol_test",
        "blood-alcohol test result of a driver (血液酒精检测)",
        (
            _s("test_no", "test number"),
            _PERSON,
            _d("bac_mg_per_100ml", "blood alcohol content, mg per 100 ml"),
            _s("plate_no", "vehicle plate", nullable=True),
        ),
    ),
    RecordType(
        "police.admin_penalty",
        "administrative penalty by police (治安/交通处罚)",
        (
            _s("penalty_no", "penalty decision number"),
            _PERSON,
            _s("violation_code", "violation code"),
            _s("description", "description"),
        ),
    ),
    RecordType(
        "police.coercive_measure",
        "coercive measure started or ended (刑事拘留, 逮捕, 取保候审, 监视居住)",
        (
            _CASE,
            _PERSON,
            _e("measure", "the coercive measure", *_MEASURES),
            _e("action", "START or END", "START", "END"),
            _i("request_limit_days", "days allowed to request arrest approval (CRIMINAL_DETENTION START)", default=3),
        ),
    ),
    RecordType(
        "police.detention_extended",
        "approved extension of the period to request arrest",
        (
            _CASE,
            _PERSON,
            _i("request_limit_days", "the extended number of days (4..7 or 30)", default=3),
        ),
    ),
    RecordType("police.arrest_requested", "request for arrest approval (提请批准逮捕)", (_CASE, _PERSON)),
    RecordType(
        "police.lodging",
        "hotel check-in registration (旅馆住宿登记)",
        (
            _PERSON,
            FieldSpec("city_code", FieldKind.DIVISION, "city of the hotel"),
            _s("hotel_id", "hotel id"),
        ),
    ),
    RecordType(
        "police.death_registered",
        "household-registration cancellation by death (死亡注销)",
        (
            _PERSON,
            FieldSpec("died_on", FieldKind.DATE, "date of death"),
        ),
    ),
    RecordType(
        "procuratorate.arrest_decided",
        "decision on an arrest request (审查逮捕决定)",
        (
            _CASE,
            _PERSON,
            _e("decision", "the decision", "APPROVED", "REJECTED"),
        ),
    ),
    RecordType(
        "court.judgment_effective",
        "criminal judgment took effect (判决生效), one record per defendant",
        (
            _CASE,
            _PERSON,
            _s("charge_code", "charge code"),
            _e(
                "sentence_type",
                "principal sentence",
                "PRISON",
                "DETENTION_SENTENCE",
                "CONTROL",
                "PROBATION",
                "FINE_ONLY",
                "EXEMPT",
            ),
            _i("prison_months", "months of imprisonment"),
            _i("probation_months", "months of probation"),
            _d("fine_cny", "fine in yuan"),
        ),
    ),
    RecordType(
        "court.parole_granted",
        "parole ruling (假释裁定)",
        (
            _s("ruling_no", "ruling number"),
            _CASE,
            _PERSON,
            _i("remaining_months", "remaining months of the sentence"),
        ),
    ),
    RecordType(
        "court.commutation_ruled",
        "sentence-reduction ruling (减刑裁定)",
        (
            _s("ruling_no", "ruling number"),
            _CASE,
            _PERSON,
            _i("reduced_months", "months by which the sentence is reduced"),
        ),
    ),
    RecordType(
        "court.outside_execution_approved",
        "temporary execution outside prison (暂予监外执行)",
        (
            _s("decision_no", "decision number"),
            _CASE,
            _PERSON,
            _e("reason", "why", "ILLNESS", "PREGNANCY_OR_NURSING", "SELF_CARE_INCAPABLE"),
            _i("review_interval_days", "days between medical reviews", default=90),
        ),
    ),
    RecordType(
        "court.execution_filed",
        "property part of a judgment filed for execution (财产刑执行立案)",
        (
            _s("execution_no", "execution case number"),
            _CASE,
            _PERSON,
        ),
    ),
    RecordType(
        "court.property_penalty_executed",
        "a payment collected on a fine or confiscation (财产刑执行)",
        (
            _s("execution_no", "execution case number"),
            _CASE,
            _PERSON,
            _d("amount_cny", "amount collected, yuan"),
        ),
    ),
    RecordType(
        "court.civil_case_filed",
        "civil case filed (民事立案)",
        (
            _CASE,
            _e("cause", "cause of action", "PRIVATE_LENDING", "LABOR_DISPUTE", "INSURANCE_CLAIM", "OTHER"),
            FieldSpec("plaintiffs", FieldKind.PARTY_LIST, "plaintiff parties"),
            FieldSpec("defendants", FieldKind.PARTY_LIST, "defendant parties"),
            _d("claim_cny", "amount claimed, yuan"),
        ),
    ),
    RecordType(
        "court.civil_case_closed",
        "civil case closed",
        (
            _CASE,
            _e("closure", "how it closed", "MEDIATION", "JUDGMENT", "WITHDRAWAL", "DISMISSED"),
        ),
    ),
    RecordType(
        "prison.admitted",
        "admission (收押 / 收监)",
        (
            _s("facility_code", "facility code"),
            _e("facility_type", "facility type", "PRISON", "DETENTION_CENTER"),
            _PERSON,
            _CASE,
            _e("basis", "legal basis of custody", "CRIMINAL_DETENTION", "ARREST", "SENTENCE", "REVOCATION"),
            FieldSpec("sentence_end", FieldKind.DATE, "original end date of the sentence", nullable=True),
        ),
    ),
    RecordType(
        "prison.released",
        "release (出所 / 释放)",
        (
            _s("facility_code", "facility code"),
            _PERSON,
            _CASE,
            _e(
                "reason",
                "why",
                "SENTENCE_COMPLETED",
                "PAROLE",
                "OUTSIDE_EXECUTION",
                "RELEASED_BY_CASE_AUTHORITY",
                "TRANSFERRED",
            ),
        ),
    ),
    RecordType(
        "prison.commutation_proposed",
        "proposal to the court for reduction or parole (提请减刑假释)",
        (
            _s("proposal_no", "proposal number"),
            _s("facility_code", "facility code"),
            _PERSON,
            _CASE,
            _e("kind", "what is proposed", "COMMUTATION", "PAROLE"),
        ),
    ),
    RecordType(
        "prison.incident",
        "incident in custody (被监管人死亡、重伤、脱逃)",
        (
            _s("facility_code", "facility code"),
            _PERSON,
            _e("kind", "what happened", "DEATH", "SERIOUS_INJURY", "ESCAPE"),
            _s("description", "description"),
        ),
    ),
    RecordType(
        "correction.enrolled",
        "offender reported and was enrolled (报到 / 接收)",
        (
            _s("agency_code", "community correction agency"),
            _PERSON,
            _CASE,
            _e("basis", "legal basis", "PROBATION", "CONTROL", "PAROLE", "OUTSIDE_EXECUTION"),
            FieldSpec("permitted_city", FieldKind.DIVISION, "city the offender may not leave without approval"),
            FieldSpec("term_end", FieldKind.DATE, "end of the correction term"),
        ),
    ),
    RecordType(
        "correction.leave_approved",
        "approved leave outside the permitted area (外出请假批准)",
        (
            _PERSON,
            FieldSpec("start_date", FieldKind.DATE, "first day of leave"),
            FieldSpec("end_date", FieldKind.DATE, "last day of leave"),
            FieldSpec("dest_city", FieldKind.DIVISION, "destination city"),
        ),
    ),
    RecordType(
        "correction.medical_review",
        "periodic medical review (病情复查)",
        (
            _PERSON,
            FieldSpec("still_qualifies", FieldKind.BOOL, "whether the condition still qualifies"),
        ),
    ),
    RecordType(
        "correction.terminated",
        "correction ended (解矫 / 撤销 / 收监)",
        (
            _PERSON,
            _e("reason", "why", "TERM_COMPLETED", "REVOKED", "DEATH", "COMMITTED_TO_PRISON"),
        ),
    ),
    RecordType(
        "admin.penalty_decided",
        "administrative penalty decided (行政处罚决定)",
        (
            _s("admin_case_no", "administrative case number"),
            _e(
                "agency_domain",
                "enforcement domain",
                "ENVIRONMENT",
                "MARKET",
                "EMERGENCY",
                "WATER",
                "NATURAL_RESOURCES",
                "TAX",
            ),
            FieldSpec("party", FieldKind.PARTY, "the penalised party"),
            _s("violation_code", "violation code"),
            _d("quantity", "quantity (tonnes, deaths, ...)", nullable=True),
            _s("unit", "unit of quantity", nullable=True),
            _d("amount_cny", "amount involved, yuan", nullable=True),
        ),
    ),
    RecordType(
        "admin.case_transferred",
        "suspected criminal case transferred to police (移送涉嫌犯罪案件)",
        (
            _s("admin_case_no", "administrative case number"),
            _s("to_agency", "receiving police agency"),
        ),
    ),
    RecordType(
        "social.pension_paid",
        "monthly pension payment (养老金发放)",
        (
            _PERSON,
            FieldSpec("period", FieldKind.PERIOD, "month paid for, YYYY-MM"),
            _d("amount_cny", "amount paid, yuan"),
        ),
    ),
)

#: Record types by name, in catalogue order.
RECORD_TYPES: dict[str, RecordType] = {t.name: t for t in _TYPES}
