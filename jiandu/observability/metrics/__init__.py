"""The metric families of the hub, one module per stage.

A family is registered (in prometheus-client's default registry) when its module is
first imported, so each process exports the families of the stages it runs. The
names are the contract with ``deploy/prometheus`` and ``deploy/grafana``: the tests
check that every series those files name is declared here.

Conventions (https://prometheus.io/docs/practices/naming/): ``jiandu_`` prefix,
base units (seconds, bytes), ``_total`` counters, histograms for latencies; label
values only from :mod:`jiandu.observability.labels`.
"""

from prometheus_client import disable_created_metrics

__all__: list[str] = []

# `_created` series double every counter and histogram; nothing here reads them
disable_created_metrics()
