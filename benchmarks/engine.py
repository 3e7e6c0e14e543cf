"""Engine benchmark: throughput through all models, batch baseline, consume ceiling, lead latency, memory.

``python -m benchmarks engine [--records N] [--seed S] [--latency-seconds T] [--profile]``
measures in one run on one embedded broker:

1. the stream: a generated history (≥ ``--records`` lines, default 110,000 ≈ 24 k people)
   ingested onto fresh topics into a ready backtest worker, processed, the clock ticked
   to the history's clock end, the leads read back (``engine_stream``): records/s for
   the whole run, events/s from the first record submitted to the last clock report;
2. the batch "collision" over the same lines in this process (``engine_batch``), and a
   differential check: both must hold the same OPEN leads (fails loudly otherwise);
3. the ceiling: aiokafka reading the run's event topics with no processing (``topic_scan``);
4. lead latency of M14, M03 (and an already overdue M02) under a steady load at half
   the stream's rate per worker on one live worker (``engine_latency``), and where it went
   hop by hop (``latency_hops``);
5. the workers' peak RSS (VmHWM) in the stream run, less an idle worker's, per 100 k
   people with state; then the workers are killed (SIGKILL) and recovery is timed from
   their on-disk stores against a full changelog replay (``engine_recovery``).

The stream part runs one worker per core (at most one per partition), as ``jiandu
backtest`` does (``--workers`` / ``BENCH_ENGINE_WORKERS``).

Every process started here (broker, workers) is stopped by pid; topics live on the
benchmark's own broker, which is discarded at the end.
"""

from __future__ import annotations

import math
import os
import shlex
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

from adapters.jsonl import read_lines
from benchmarks.deadline_latency import DeadlineLatency, measure_deadline_latency
from benchmarks.engine_batch import BatchResult, profile_batch, run_batch
from benchmarks.engine_latency import LATENCY_MODELS, LatencyPlan, LatencyResult, measure_latency, percentile
from benchmarks.engine_recovery import Recovery
from benchmarks.engine_reported import compare_with_reported
from benchmarks.engine_stream import IdleWorker, StreamResult, idle_worker, run_stream
from benchmarks.topic_scan import ConsumeRate, consume_rate
from benchmarks.workdir import work_directory
from jiandu.broker import EmbeddedBroker, find_free_port
from jiandu.core.leads import Lead
from jiandu.core.timeutil import CST, format_cst, to_ms
from jiandu.settings import Settings
from jiandu.simulate import generate_history
from jiandu.topics import TopicCatalogue

__all__ = ["DifferentialCheckFailed", "EngineBenchConfig", "benchmark_settings", "check_same_open_leads", "run"]

_START = datetime(2024, 1, 1, tzinfo=CST)
_RECORDS_PER_PERSON = 4.5  # a first guess; the history is regenerated bigger if it falls short
_MB = 1 << 20
_ENV_PREFIX = "BENCH_ENGINE_"


class DifferentialCheckFailed(AssertionError):
    """The stream and the batch evaluation disagree: a correctness bug, not a performance figure."""


@dataclass(frozen=True, slots=True)
class EngineBenchConfig:
    """Knobs of the engine benchmark; each is also ``BENCH_ENGINE_<NAME>`` in the environment."""

    records: int = 110_000  # at least this many history lines
    seed: int = 2024
    latency_seconds: float = 30.0  # how long the steady load of the latency phase lasts
    profile: bool = False  # print a cProfile of the batch path to stderr
    workers: int = 0  # streams workers in the stream part, as `jiandu backtest` runs them; 0: one per core
    recovery: bool = True  # time the workers' restart after kill -9 (from their stores; a full replay)
    deadline: bool = True  # time deadline leads after a live clock passes their due time (≈ 40 s)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: object) -> EngineBenchConfig:
        """Defaults, then ``BENCH_ENGINE_*`` variables, then ``overrides`` that are not None."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(_ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = raw.lower() in ("1", "true", "yes") if f.type == "bool" else _number(f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def as_env(self) -> str:
        """The variables that reproduce this configuration."""
        return " ".join(f"{_ENV_PREFIX}{f.name.upper()}={getattr(self, f.name)}" for f in fields(self))


def _number(kind: object, raw: str) -> float | int:
    return int(raw) if kind == "int" else float(raw)


@dataclass(frozen=True, slots=True)
class _History:
    path: Path
    persons: int
    records: int
    invalid: int
    clock_end: int


def run(config: EngineBenchConfig | None = None) -> dict[str, float]:
    """Run every part once and return the figures (also printing what was run)."""
    config = config or EngineBenchConfig.from_env(os.environ)
    settings = benchmark_settings()
    with work_directory("jiandu-bench-engine-") as work:
        settings = settings.replace(data_dir=work / "data")  # the workers' state stores go with the run
        history = _write_history(config, work / "history.jsonl")
        _print_header(config, history, settings)
        lines = [line for _, line in read_lines(history.path)]
        _progress(f"batch: validate, pseudonymise and evaluate {len(lines):,} lines in this process")
        batch = run_batch(lines, settings.pseudonym_key_bytes, history.clock_end)
        if config.profile:
            print(profile_batch(lines, settings.pseudonym_key_bytes, history.clock_end), file=sys.stderr)
        idle, stream, ceiling, latency, deadline = _on_broker(settings, config, history, lines, batch, work)
    _print_notes(latency)
    figures = {**_figures(history, batch, idle, stream, ceiling, latency), **_deadline_figures(deadline)}
    print("\n".join(compare_with_reported(figures)))
    return figures


def _on_broker(
    settings: Settings,
    config: EngineBenchConfig,
    history: _History,
    lines: list[bytes],
    batch: BatchResult,
    work: Path,
) -> tuple[IdleWorker, StreamResult, ConsumeRate, LatencyResult, DeadlineLatency | None]:
    """The parts that need Kafka, on one embedded broker stopped (by pid) at the end."""
    timeout = 120 + history.records / 500
    broker = EmbeddedBroker(find_free_port(), log_path=work / "tansu.log")
    broker.start()
    try:
        settings = settings.replace(broker_port=broker.port)
        _progress("idle worker: the memory baseline")
        idle = idle_worker(settings, work, timeout=timeout)
        _progress("stream: ingest into a ready backtest worker, wait until processed, tick to the clock end")
        workers = max(1, min(settings.partitions, config.workers or os.cpu_count() or 1))
        _progress(f"stream: {workers} worker(s)")
        stream = run_stream(
            settings,
            history.path,
            history.clock_end,
            work,
            timeout=timeout,
            broker_pid=broker.pid,
            workers=workers,
            recovery=config.recovery,
        )
        check_same_open_leads(stream, batch)
        _progress("ceiling: aiokafka reads the run's event topics, no processing")
        topics = TopicCatalogue(stream.prefix, settings.partitions).event_topics()
        ceiling = consume_rate(
            settings.bootstrap, topics, fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms, timeout=timeout
        )
        # live mode runs one worker: half the rate one worker sustained
        plan = LatencyPlan(rate=stream.events_per_second / stream.workers / 2, seconds=config.latency_seconds)
        _progress(f"latency: live worker under {plan.rate:,.0f} records/s for {plan.seconds:.0f} s")
        latency = measure_latency(settings, lines, plan, work, timeout=timeout, broker_pid=broker.pid)
        deadline = None
        if config.deadline:
            _progress("deadline: a live worker's clock crosses midnight (China time) with M02 leads due there")
            deadline = measure_deadline_latency(settings, work, timeout=timeout)
    finally:
        broker.stop()
    return idle, stream, ceiling, latency, deadline


def check_same_open_leads(stream: StreamResult, batch: BatchResult) -> None:
    """The differential check: same valid events and the same OPEN lead ids, or DifferentialCheckFailed."""
    if stream.events != batch.events:
        raise DifferentialCheckFailed(f"the stream accepted {stream.events} events, the batch {batch.events}")
    streamed, batched = stream.open_lead_ids(), batch.open_lead_ids()
    if streamed != batched:
        only_stream = sorted(_describe(stream.leads[i]) for i in streamed - batched)
        batch_leads = {lead.lead_id: lead for lead in batch.leads}
        only_batch = sorted(_describe(batch_leads[i]) for i in batched - streamed)
        raise DifferentialCheckFailed(
            f"OPEN leads differ: {len(streamed)} in the stream, {len(batched)} in the batch; "
            f"only in the stream ({len(only_stream)}): {only_stream[:5]}; only in the batch ({len(only_batch)}): "
            f"{only_batch[:5]}"
        )


def _describe(lead: Lead) -> str:
    return f"{lead.model_id} {lead.trigger_event_id} {lead.status}"


def benchmark_settings() -> Settings:
    """``JIANDU_*`` settings with the embedded broker forced and a key for development mode.

    No journal: the benchmark's topics are thrown away, and journaled they would be replayed into the hub
    of the same data directory (its cost is ``python -m benchmarks journal``).
    """
    settings = Settings.from_env(os.environ)
    key = settings.pseudonym_key or "benchmark-key"
    return settings.replace(kafka_bootstrap="", pseudonym_key=key, journal="off")


def _write_history(config: EngineBenchConfig, path: Path) -> _History:
    """Generate a history of at least ``config.records`` lines and write it as JSON lines."""
    persons = max(math.ceil(config.records / _RECORDS_PER_PERSON), 1)
    for _ in range(5):
        history = generate_history(seed=config.seed, persons=persons, start=_START)
        if len(history.records) >= config.records:
            history.to_jsonl(path)
            return _History(path, persons, len(history.records), len(history.invalid_lines), to_ms(history.clock_end))
        persons = math.ceil(persons * config.records / len(history.records) * 1.02)
    raise RuntimeError(f"could not generate {config.records} records (last try: {persons} people)")


def _print_header(config: EngineBenchConfig, history: _History, settings: Settings) -> None:
    print(f"command: {_command_line()}")
    print(f"config:  {config.as_env()}")
    print(
        f"history: {history.records:,} records ({history.invalid:,} invalid) of {history.persons:,} people, "
        f"seed {config.seed}, start {_START.isoformat()}, clock end {format_cst(history.clock_end)}"
    )
    print(
        f"hub:     embedded Tansu, {settings.partitions} partitions, "
        f"fetch wait {settings.consumer_fetch_max_wait_ms} ms, "
        f"live clock grace {settings.clock_grace_seconds} s, tick {settings.live_tick_seconds} s"
    )
    print(f"machine: {os.cpu_count()} cores, load average {_load_average()} at the start")
    sys.stdout.flush()


def _print_notes(latency: LatencyResult) -> None:
    absent = [m.model_id for m in latency.models.values() if not m.in_catalogue]
    print(
        f"latency: {latency.records:,} records at {latency.achieved_rate:,.0f}/s, 1 in 20 a trigger per model; "
        f"triggers occurred grace + 2 x tick ({latency.grace_seconds} s + {2 * latency.tick_seconds:g} s) before "
        "they were sent, so the live clock had passed them: processing latency, not the clock's designed delay"
    )
    for m in latency.models.values():
        if m.in_catalogue:
            print(
                f"latency: {m.model_id} {m.leads}/{m.triggers} leads; to the worker's producer timestamp "
                f"p50 {m.produced_p50_ms:,.0f} ms, p99 {m.produced_p99_ms:,.0f} ms (the rest is the tail's fetch)"
            )
    if absent:
        print(f"latency: {', '.join(absent)} not in the model catalogue: their triggers were load, no figure (n/a)")
    print(f"machine: load average {_load_average()} at the end")


def _load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _command_line() -> str:
    argv = sys.argv
    if argv and argv[0].endswith(os.path.join("benchmarks", "__main__.py")):
        return shlex.join(["python", "-m", "benchmarks", *argv[1:]])
    return shlex.join([Path(argv[0]).name if argv else "python", *argv[1:]])


def _progress(message: str) -> None:
    print(f"[engine {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _figures(
    history: _History,
    batch: BatchResult,
    idle: IdleWorker,
    stream: StreamResult,
    ceiling: ConsumeRate,
    latency: LatencyResult,
) -> dict[str, float]:
    """Every figure of the run, in the order of the table."""
    return {
        **_stream_figures(history, idle, stream),
        **_comparison_figures(batch, stream, ceiling, idle),
        **_latency_figures(latency),
        **_memory_figures(idle, stream),
    }


def _stream_figures(history: _History, idle: IdleWorker, stream: StreamResult) -> dict[str, float]:
    out = stream.outputs
    worker_cpu = stream.worker_cpu_seconds - idle.cpu_seconds * stream.workers
    return {
        "history_records": history.records,
        "events_accepted": stream.events,
        "whole_run_records_per_s": stream.records / (stream.finished - stream.started),
        "stream_events_per_s": stream.events_per_second,
        "stream_seconds": stream.streaming_seconds,
        "ingest_events_per_s": stream.timed_events / (stream.ingested - stream.ingest_started),
        "router_lag_after_ingest_s": stream.router_lag_seconds,
        "evaluator_lag_after_router_s": stream.evaluator_lag_seconds,
        "harness_idle_before_tick_s": stream.idle_before_tick_seconds,
        "stream_workers": stream.workers,
        "worker_cpu_us_per_event": worker_cpu / stream.events * 1e6,  # the worker's whole life, warm-up included
        "ingest_cpu_us_per_event": stream.ingest_cpu_seconds / stream.timed_events * 1e6,
        "broker_cpu_us_per_event": stream.broker_cpu_seconds / stream.timed_events * 1e6,
        "worker_events_per_cpu_s": stream.events / worker_cpu if worker_cpu > 0 else math.nan,
        "worker_cores_busy": worker_cpu / stream.streaming_seconds,
        "broker_cores_busy": stream.broker_cpu_seconds / stream.streaming_seconds,
        "facts_messages_per_event": out.facts / stream.events,
        "changelog_writes_per_event": out.changelog_writes / stream.events,
        "changelog_bytes_per_event": out.changelog_bytes / stream.events,
        "lead_versions": out.lead_versions,
        "leads": len(stream.leads),
        "leads_open": len(stream.open_lead_ids()),
    }


def _comparison_figures(
    batch: BatchResult, stream: StreamResult, ceiling: ConsumeRate, idle: IdleWorker
) -> dict[str, float]:
    stream_rate = stream.events_per_second
    pipeline_cpu_us = _pipeline_cpu_us_per_event(stream, idle)
    return {
        "batch_events_per_s": batch.events_per_second,
        "batch_validate_s": batch.validate_seconds,
        "batch_evaluate_s": batch.evaluate_seconds,
        "batch_cpu_us_per_event": batch.cpu_us_per_event,
        "batch_evaluate_cpu_us_per_event": batch.evaluate_cpu_seconds / batch.events * 1e6,
        "replay_as_evaluator_cpu_us_per_event": batch.replay_cpu_seconds / batch.events * 1e6,
        "pipeline_cpu_us_per_event": pipeline_cpu_us,
        # what the CPU figures allow on idle cores, every stage in parallel: less noisy than the rates on a
        # shared machine (a regression in any stage's CPU shows here whatever the load)
        "stream_to_batch_cpu_bound": (os.cpu_count() or 1) * batch.cpu_us_per_event / pipeline_cpu_us,
        "stream_to_batch_ratio": stream_rate / batch.events_per_second,
        "open_leads_agreeing": len(batch.open_lead_ids()),
        "ceiling_consume_per_s": ceiling.per_second,
        "stream_to_ceiling_ratio": stream_rate / ceiling.per_second,
    }


def _pipeline_cpu_us_per_event(stream: StreamResult, idle: IdleWorker) -> float:
    """Ingest (this process), workers (less an idle one's start-up) and broker, µs of CPU per event."""
    worker_cpu = stream.worker_cpu_seconds - idle.cpu_seconds * stream.workers
    return (stream.ingest_cpu_seconds + stream.broker_cpu_seconds) / stream.timed_events * 1e6 + (
        worker_cpu / stream.events * 1e6
    )


def _latency_figures(latency: LatencyResult) -> dict[str, float]:
    figures: dict[str, float] = {
        "latency_offered_records_per_s": latency.offered_rate,
        "latency_achieved_records_per_s": latency.achieved_rate,
        "latency_worker_idle_cores": latency.worker_idle_cores,
        **{f"latency_{name}_cores": cores for name, cores in latency.cores_used.items()},
    }
    for model_id in LATENCY_MODELS:
        m = latency.models[model_id]
        name = f"{model_id.lower()}{'_overdue' if model_id == 'M02' else ''}_lead_latency"
        figures[f"{name}_p50_ms"] = m.p50_ms if m.in_catalogue else math.nan
        figures[f"{name}_p99_ms"] = m.p99_ms if m.in_catalogue else math.nan
        figures[f"{name}_leads_per_trigger"] = m.leads / m.triggers if m.in_catalogue and m.triggers else math.nan
    for hop, samples in latency.hops.samples.items():
        figures[f"latency_hop_{hop}_p50_ms"] = percentile(samples, 50)
        figures[f"latency_hop_{hop}_p99_ms"] = percentile(samples, 99)
    return figures


def _deadline_figures(deadline: DeadlineLatency | None) -> dict[str, float]:
    """From the live clock passing the due time to the lead received (NaN: not measured)."""
    if deadline is None:
        names = ("p50_ms", "p99_ms", "max_ms", "leads_per_trigger")
        return {f"deadline_lead_latency_{name}": math.nan for name in names}
    return {
        "deadline_lead_latency_p50_ms": deadline.p50_ms,
        "deadline_lead_latency_p99_ms": deadline.p99_ms,
        "deadline_lead_latency_max_ms": deadline.max_ms,
        "deadline_lead_latency_leads_per_trigger": deadline.leads / deadline.triggers,
    }


def _memory_figures(idle: IdleWorker, stream: StreamResult) -> dict[str, float]:
    out = stream.outputs
    persons = out.persons_with_state
    grown = (stream.worker_peak_rss - idle.peak_rss) * stream.workers  # each worker holds its share
    return {
        "worker_peak_rss_mb": stream.worker_peak_rss / _MB,
        "idle_worker_peak_rss_mb": idle.peak_rss / _MB,
        "persons_with_state": persons,
        "entities_with_state": out.entities_with_state,
        "person_state_bytes_avg": out.person_state_bytes / persons if persons else math.nan,
        "worker_mb_per_100k_persons": grown / _MB / (persons / 100_000) if persons else math.nan,
        **_recovery_figures(stream.recovery),
    }


def _recovery_figures(recovery: Recovery | None) -> dict[str, float]:
    if recovery is None:  # not measured (EngineBenchConfig.recovery)
        names = ("recovery_from_store_s", "recovery_full_replay_s", "recovery_store_to_replay_ratio")
        return {**dict.fromkeys(names, math.nan), "restarted_worker_peak_rss_mb": math.nan}
    replay = recovery.full_replay.seconds if recovery.full_replay else math.nan
    return {
        "recovery_from_store_s": recovery.from_store.seconds,
        "recovery_full_replay_s": replay,
        "recovery_store_to_replay_ratio": recovery.from_store.seconds / replay,
        "restarted_worker_peak_rss_mb": recovery.from_store.peak_rss / _MB,
    }
