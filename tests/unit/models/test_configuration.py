"""Models and parameters come from configuration: the shipped parameter file, overrides, extra model files."""

from __future__ import annotations

from pathlib import Path

import pytest

from jiandu.core.timeutil import parse_datetime, to_ms
from jiandu.errors import ConfigurationError
from jiandu.models import EntityState, Fact, load_catalogue
from jiandu.models.configuration import build_engine, configured_models, load_params, params_yaml
from jiandu.settings import Settings

REPO = Path(__file__).resolve().parents[3]
M15 = REPO / "tests" / "models" / "m15_bail_overdue.py"
PERSON = "P:" + "b" * 64


def at(text: str) -> int:
    return to_ms(parse_datetime(text))


def alcohol_test(bac: str) -> Fact:
    fields = {"test_no": "T1", "person_key": "b" * 64, "bac_mg_per_100ml": bac, "plate_no": None}
    return Fact("T1", "police.alcohol_test", at("2024-03-01T23:00:00+08:00"), "police:210102", "210102", fields)


def open_leads(settings: Settings, *facts: Fact, clock: str = "2025-01-01T00:00:00+08:00") -> set[str]:
    state = EntityState()
    state.add_all(facts)
    leads = build_engine(settings).evaluate(PERSON, state, at(clock), 0).leads
    return {f"{lead.model_id}:{lead.trigger_event_id}" for lead in leads if lead.status == "OPEN"}


def test_the_shipped_parameter_file_lists_every_default() -> None:
    shipped = (REPO / "deploy" / "model-params.yaml").read_text(encoding="utf-8")
    assert shipped == params_yaml(load_catalogue()), "regenerate it: jiandu models --params > deploy/model-params.yaml"


def test_an_operator_changes_a_threshold_without_code(tmp_path: Path) -> None:
    assert open_leads(Settings(), alcohol_test("90")) == {"M01:T1"}
    params = tmp_path / "params.yaml"
    params.write_text("M01:\n  bac_threshold: '100'\n", encoding="utf-8")
    assert open_leads(Settings(model_params=str(params)), alcohol_test("90")) == set()
    assert open_leads(Settings(model_params=str(params)), alcohol_test("100.0")) == {"M01:T1"}


def test_the_m10_threshold_table_is_configuration(tmp_path: Path) -> None:
    penalty = Fact(
        "P1",
        "admin.penalty_decided",
        at("2024-03-01T10:00:00+08:00"),
        "admin:210100:tax",
        "210100",
        {
            "admin_case_no": "沈税罚〔2024〕1号",
            "agency_domain": "TAX",
            "party": {"kind": "ORG", "key": "91210102MA0XXXXX1X"},
            "violation_code": "TAX_FALSE_INVOICE",
            "quantity": None,
            "unit": None,
            "amount_cny": "300000.00",
        },
    )
    entity = "A:沈税罚〔2024〕1号"
    state = EntityState()
    state.add(penalty)
    clock = at("2025-01-01T00:00:00+08:00")
    assert build_engine(Settings()).evaluate(entity, state, clock, 0).leads == []
    params = tmp_path / "params.yaml"
    params.write_text(
        "M10:\n  thresholds:\n    TAX_FALSE_INVOICE: {field: amount_cny, at_least: '250000'}\n", encoding="utf-8"
    )
    leads = build_engine(Settings(model_params=str(params))).evaluate(entity, EntityState([penalty]), clock, 0).leads
    assert [(lead.model_id, lead.subject_kind, lead.subject_key, lead.case_no) for lead in leads] == [
        ("M10", "ORG", "91210102MA0XXXXX1X", "沈税罚〔2024〕1号")
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("M99:\n  deadline_days: 3\n", "'M99' is not a model"),
        ("M02:\n  deadline_dayz: 3\n", "M02 has no parameter deadline_dayz"),
        ("M02: 3\n", "M02 must map parameter names"),
        ("- M02\n", "expected a mapping"),
    ],
)
def test_a_wrong_parameter_file_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        load_params(params, load_catalogue())


def test_a_model_declared_only_in_a_test_file_runs() -> None:
    bail = Fact(
        "B1",
        "police.coercive_measure",
        at("2023-06-01T10:00:00+08:00"),
        "police:210102",
        "210102",
        {"case_no": "A1", "person_key": "b" * 64, "measure": "BAIL", "action": "START", "request_limit_days": None},
    )
    assert open_leads(Settings(), bail) == set()
    settings = Settings(model_files=str(M15))
    assert [m.id for m in configured_models(settings.model_files)][-1] == "M15"
    assert open_leads(settings, bail) == {"M15:B1"}
    ended = Fact(
        "B2",
        "police.coercive_measure",
        at("2024-05-31T23:59:59+08:00"),
        "police:210102",
        "210102",
        {**bail.fields, "action": "END"},
    )
    assert open_leads(settings, bail, ended) == set()


def test_a_model_file_replaces_the_built_in_model_of_its_id(tmp_path: Path) -> None:
    draft = tmp_path / "m02_draft.py"
    draft.write_text(
        "from dataclasses import replace\n"
        "from jiandu.models.catalogue.m02_correction_not_enrolled import MODEL as CURRENT\n"
        "MODEL = replace(CURRENT, version='2.0.0-draft')\n",
        encoding="utf-8",
    )
    models = {m.id: m for m in configured_models(str(draft))}
    assert len(models) == len(load_catalogue()) and models["M02"].version == "2.0.0-draft"


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        configured_models(str(tmp_path / "nope.py"))
