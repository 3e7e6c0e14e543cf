"""Lead latency against load: ``python -m benchmarks latency --rates 200,1000,2000``.

One live worker on a fresh embedded broker, under a steady load at each rate in turn
(``engine_latency.measure_latency``: background records of a generated history, one
trigger per model in every 20), for ``--latency-seconds`` each. Per rate: M14 (immediate)
lead latency p50 / p99 from the trigger's confirmed submission, the hops, and the cores
the worker, the broker and this process (the load generator and the lead tail) used: on
a 2-core machine the three share the cores, and the latency tail follows the load.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from adapters.jsonl import read_lines
from benchmarks.engine import benchmark_settings
from benchmarks.engine_latency import LatencyPlan, measure_latency, percentile
from benchmarks.workdir import work_directory
from jiandu.broker import EmbeddedBroker, find_free_port
from jiandu.core.timeutil import CST
from jiandu.simulate import generate_history

__all__ = ["run"]

_BACKGROUND_PERSONS = 5_000  # ≈ 21 k background records, cycled
_TIMEOUT_SECONDS = 180.0


def run(rates: Sequence[float], seconds: float, seed: int = 2024) -> dict[str, float]:
    """Per rate (records/s): M14 p50/p99, hop p50/p99 and cores used, as ``<figure>_at_<rate>``."""
    settings = benchmark_settings()
    figures: dict[str, float] = {}
    with work_directory("jiandu-bench-latency-") as work:
        history = work / "history.jsonl"
        generate_history(seed=seed, persons=_BACKGROUND_PERSONS, start=datetime(2024, 1, 1, tzinfo=CST)).to_jsonl(
            history
        )
        lines = [line for _, line in read_lines(history)]
        broker = EmbeddedBroker(find_free_port(), log_path=work / "tansu.log")
        broker.start()
        try:
            base = settings.replace(kafka_bootstrap=broker.bootstrap)
            for rate in rates:
                print(f"[latency] one live worker under {rate:,.0f} records/s for {seconds:.0f} s", flush=True)
                run_settings = base.replace(data_dir=work / f"data-{rate:g}")
                result = measure_latency(
                    run_settings, lines, LatencyPlan(rate=rate, seconds=seconds), work,
                    timeout=_TIMEOUT_SECONDS, broker_pid=broker.pid,
                )  # fmt: skip
                at = f"at_{rate:g}"
                m14 = result.models["M14"]
                figures[f"achieved_records_per_s_{at}"] = result.achieved_rate
                figures[f"m14_lead_latency_p50_ms_{at}"] = m14.p50_ms
                figures[f"m14_lead_latency_p99_ms_{at}"] = m14.p99_ms
                figures[f"m14_leads_per_trigger_{at}"] = m14.leads / m14.triggers if m14.triggers else float("nan")
                for hop, samples in result.hops.samples.items():
                    figures[f"hop_{hop}_p50_ms_{at}"] = percentile(samples, 50)
                    figures[f"hop_{hop}_p99_ms_{at}"] = percentile(samples, 99)
                for name, cores in result.cores_used.items():
                    figures[f"{name}_cores_{at}"] = cores
        finally:
            broker.stop()
    return figures
