"""`jiandu backtest` end to end: ingest → Kafka → streams → leads, exact on the conformance vectors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jiandu.models import load_catalogue
from tests.pipeline import CONFORMANCE, expected_leads, lead_identity, open_leads

pytestmark = [pytest.mark.broker, pytest.mark.timeout(240)]

MODELS = {f"M{n:02}" for n in range(1, 15)}
CLOCK_END = "2025-03-01T00:00:00+08:00"


def _backtest(clock_end: str, out: Path) -> list[str]:
    """The backtest command over the conformance records."""
    records = str(CONFORMANCE / "records.jsonl")
    return [
        sys.executable,
        "-m",
        "jiandu.cli",
        "backtest",
        "--input",
        records,
        "--clock-end",
        clock_end,
        "--out",
        str(out),
    ]


@pytest.fixture(scope="module")
def conformance_backtest(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], str]:
    """One run of the real command, starting its own embedded broker."""
    out = tmp_path_factory.mktemp("backtest") / "leads.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    env["JIANDU_PSEUDONYM_KEY"] = "conformance-key"
    done = subprocess.run(_backtest(CLOCK_END, out), env=env, capture_output=True, text=True, timeout=220)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in out.read_text().splitlines()], done.stdout


@pytest.mark.parametrize("model", sorted(MODELS))
def test_open_leads_are_exactly_the_expected_ones(conformance_backtest: tuple[list[dict], str], model: str) -> None:
    leads, _ = conformance_backtest
    expected = open_leads(expected_leads(), {model})
    assert expected, f"the vectors hold OPEN {model} leads"
    assert open_leads(leads, {model}) == expected


def test_no_lead_is_open_where_closing_evidence_exists_or_the_deadline_has_not_passed(
    conformance_backtest: tuple[list[dict], str],
) -> None:
    leads, _ = conformance_backtest
    not_open = {lead_identity(e) for e in expected_leads() if e["model_id"] in MODELS and e["status"] != "OPEN"}
    assert not_open, "the vectors contain resolved and pending leads"
    assert {lead_identity(lead) for lead in leads if lead["status"] == "OPEN"}.isdisjoint(not_open)


def test_late_evidence_resolves_raised_leads(conformance_backtest: tuple[list[dict], str]) -> None:
    leads, _ = conformance_backtest
    resolved = [lead for lead in leads if lead["status"] == "RESOLVED"]
    assert resolved, "some closing records arrive in late uploads"
    for lead in resolved:
        assert lead["status_reason"] == "closing evidence arrived late"
        assert len(lead["evidence"]) >= 2


def test_output_has_the_lead_record_fields_and_a_per_model_summary(
    conformance_backtest: tuple[list[dict], str],
) -> None:
    leads, stdout = conformance_backtest
    fields = {
        "lead_id",
        "model_id",
        "model_version",
        "finding",
        "severity",
        "department",
        "jurisdiction",
        "subject",
        "case_no",
        "trigger_event_id",
        "evidence",
        "due_at",
        "raised_at",
        "detected_at",
        "status",
        "status_reason",
        "summary_zh",
        "legal_basis_zh",
        "updated_at",
    }
    models = {m.id: m for m in load_catalogue()}
    for lead in leads:
        model = models[lead["model_id"]]
        assert fields <= lead.keys()
        assert lead["subject"]["kind"] in (("PERSON", "ORG") if model.id in ("M10", "M11") else ("PERSON",))
        assert lead["evidence"][0]["event_id"] == lead["trigger_event_id"]
        assert lead["legal_basis_zh"] == model.legal_basis_zh
        assert lead["model_version"] == model.version
        assert lead["summary_zh"] and "{" not in lead["summary_zh"]
        if lead["status"] == "RESOLVED":
            assert lead["closed_at"] is not None
    assert len({lead["lead_id"] for lead in leads}) == len(leads)
    assert all(model in stdout for model in MODELS) and "accepted 5576, rejected 58" in stdout


def test_bad_clock_end_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(_backtest("next tuesday", tmp_path / "x.jsonl"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--clock-end" in done.stderr


def _without_wall_clock(path: Path) -> list[dict]:
    leads = [json.loads(line) for line in path.read_text().splitlines()]
    for lead in leads:
        del lead["detected_at"], lead["updated_at"]
    return leads


@pytest.mark.timeout(600)
def test_a_backtest_is_deterministic_with_one_or_two_workers(
    conformance_backtest: tuple[list[dict], str], tmp_path: Path
) -> None:
    """Order and time: the same input gives the same leads, statuses and evidence on every run, however
    many workers run it and however Kafka interleaves the event topics (wall-clock fields aside)."""
    first, _ = conformance_backtest
    for lead in first:
        del lead["detected_at"], lead["updated_at"]
    for run, workers in enumerate(("1", "2")):
        out = tmp_path / f"leads-{run}.jsonl"
        env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
        env |= {"JIANDU_PSEUDONYM_KEY": "conformance-key", "JIANDU_BACKTEST_WORKERS": workers}
        done = subprocess.run(_backtest(CLOCK_END, out), env=env, capture_output=True, text=True, timeout=220)
        assert done.returncode == 0, done.stderr[-3000:]
        again = _without_wall_clock(out)
        assert len(again) == len(first)
        assert again == first, f"run {run + 2} ({workers} workers) differs from the first"
