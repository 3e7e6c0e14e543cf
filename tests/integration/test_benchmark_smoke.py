"""The engine benchmark's harness runs end to end on a small history.

A correctness check of the harness (every part ran, figures are sane, the stream and
the batch agreed), never a timing assertion: timings on a shared machine are noise.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from benchmarks import engine, latency_curve
from benchmarks.engine_batch import BatchResult
from benchmarks.engine_latency import percentile
from jiandu.core.leads import Lead

_POSITIVE = (
    "events_accepted",
    "whole_run_records_per_s",
    "stream_events_per_s",
    "ingest_events_per_s",
    "facts_messages_per_event",
    "changelog_writes_per_event",
    "leads_open",
    "batch_events_per_s",
    "stream_to_batch_ratio",
    "ingest_cpu_us_per_event",
    "batch_cpu_us_per_event",
    "pipeline_cpu_us_per_event",
    "stream_to_batch_cpu_bound",
    "ceiling_consume_per_s",
    "stream_to_ceiling_ratio",
    "latency_achieved_records_per_s",
    "worker_peak_rss_mb",
    "idle_worker_peak_rss_mb",
    "persons_with_state",
    "person_state_bytes_avg",
    "worker_mb_per_100k_persons",
)


@pytest.mark.slow
@pytest.mark.timeout(280)
def test_the_engine_benchmark_runs_on_a_small_history_and_the_stream_agrees_with_the_batch() -> None:
    # recovery after kill -9 is covered by tests/integration/test_pipeline.py; its timing is the full benchmark's
    figures = engine.run(engine.EngineBenchConfig(records=3000, latency_seconds=4, recovery=False))

    assert figures["history_records"] >= 3000
    assert {name: figures[name] for name in _POSITIVE if not figures[name] > 0} == {}
    assert figures["open_leads_agreeing"] == figures["leads_open"]  # run() raises when they differ
    assert figures["events_accepted"] < figures["history_records"]  # the planted invalid lines were dead-lettered
    latencies = {k: v for k, v in figures.items() if k.endswith("_lead_latency_p50_ms") and not math.isnan(v)}
    assert "m02_overdue_lead_latency_p50_ms" in latencies  # at least the model every catalogue has
    for p50_name in latencies:
        stem = p50_name.removesuffix("_p50_ms")
        assert 0 < figures[p50_name] <= figures[f"{stem}_p99_ms"]
        assert figures[f"{stem}_leads_per_trigger"] == 1.0
    # raised once the live clock passed midnight, never before (measure_deadline_latency fails on an early one)
    assert figures["deadline_lead_latency_leads_per_trigger"] == 1.0
    assert 0 < figures["deadline_lead_latency_p50_ms"] <= figures["deadline_lead_latency_max_ms"]


def test_the_differential_check_fails_loudly_when_the_open_leads_differ() -> None:
    lead = _lead("a")
    batch = BatchResult(
        records=2, events=2, leads=[lead, _lead("b")], validate_seconds=1, evaluate_seconds=1, cpu_seconds=2
    )
    stream = _StreamStub(events=2, leads={"a": lead, "b": replace(_lead("b"), status="RESOLVED")})

    with pytest.raises(engine.DifferentialCheckFailed, match=r"only in the batch \(1\): \['M02 t-b OPEN'\]"):
        engine.check_same_open_leads(stream, batch)  # type: ignore[arg-type]

    engine.check_same_open_leads(_StreamStub(events=2, leads={"a": lead, "b": _lead("b")}), batch)  # type: ignore[arg-type]


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile([7.0], 99)) == (50.0, 99.0, 7.0)
    assert math.isnan(percentile([], 50))


class _StreamStub:
    """The two things the differential check reads from a stream run."""

    def __init__(self, events: int, leads: dict[str, Lead]) -> None:
        self.events = events
        self.leads = leads

    def open_lead_ids(self) -> set[str]:
        return {i for i, lead in self.leads.items() if lead.status == "OPEN"}


def _lead(lead_id: str) -> Lead:
    return Lead(
        lead_id=lead_id,
        model_id="M02",
        model_version="1.0.0",
        finding="CORRECTION_NOT_ENROLLED",
        severity="HIGH",
        department="刑事执行检察",
        jurisdiction="210100",
        subject_kind="PERSON",
        subject_key="k",
        case_no=None,
        trigger_event_id=f"t-{lead_id}",
        evidence=(),
        due_at=None,
        raised_at=0,
        detected_at=0,
        status="OPEN",
        status_reason="",
        closed_at=None,
        summary_zh="",
        legal_basis_zh="",
        updated_at=0,
    )


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_latency_benchmark_runs_at_two_rates_and_every_trigger_gets_its_lead() -> None:
    figures = latency_curve.run([100, 300], seconds=3)

    for rate in ("100", "300"):
        assert figures[f"achieved_records_per_s_at_{rate}"] > 0
        assert figures[f"m14_leads_per_trigger_at_{rate}"] == 1.0
        assert 0 < figures[f"m14_lead_latency_p50_ms_at_{rate}"] <= figures[f"m14_lead_latency_p99_ms_at_{rate}"]
        assert figures[f"worker_cores_at_{rate}"] > 0
