"""What operators see: Prometheus metrics, health endpoints and structured logs, shared by every process.

Each long-running command starts one :class:`MetricsServer` (``/metrics``, ``/healthz``,
``/readyz``) on its port from ``JIANDU_METRICS_PORTS``; components record into the
metrics declared in :mod:`jiandu.observability.metrics` (one module per stage, so a
process exports only the families of the stages it runs). Label values pass through
:mod:`jiandu.observability.labels`, which never lets a raw ID number or a person key
through.
"""

from jiandu.observability.exporter import MetricsServer, Readiness, start_metrics_server
from jiandu.observability.labels import reason_label, source_label, status_class, type_label
from jiandu.observability.logs import configure_logging
from jiandu.observability.probes import serve_process_metrics

__all__ = [
    "MetricsServer",
    "Readiness",
    "configure_logging",
    "reason_label",
    "serve_process_metrics",
    "source_label",
    "start_metrics_server",
    "status_class",
    "type_label",
]
