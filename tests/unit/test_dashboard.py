"""deploy/grafana and deploy/prometheus name only series the hub declares, and promtool accepts them.

Every PromQL expression of the dashboard and of the rule files is reduced to the
series it selects (a small tokenizer: label matchers, ranges, strings and grouping
clauses dropped; identifiers that are not functions or keywords are series) and
each must be a series the hub's metric modules export, a recording rule of the
rule files, or one Prometheus makes itself (``up``). promtool checks the
configuration and the rules, parses every dashboard query, and runs the rules'
unit tests.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
DASHBOARD = ROOT / "deploy" / "grafana" / "jiandu-dashboard.json"
METRIC_MODULES = [f"jiandu.observability.metrics.{stage}" for stage in ("intake", "adapters", "streams", "consumers")]

#: Series Prometheus records about each scrape itself.
SCRAPE_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS", "ALERTS_FOR_STATE"})
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "atan2"}
    | {"inf", "nan"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.])[A-Za-z_:][\w:]*")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<selector>.+),)?\s*\w+\s*\)\s*$", re.DOTALL)
#: Grafana's own variables in the dashboard's queries, and a value for each that promtool can parse.
_GRAFANA_VALUES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


def series_names(expr: str) -> set[str]:
    """The series (metric names) a PromQL expression selects."""
    text = _STRING.sub('""', _GRAFANA_VARIABLE.sub("", expr))
    text = re.sub(r"\{[^}]*\}", "{}", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        following = text[match.end() :].lstrip()[:1]
        if following != "(" and match.group().lower() not in _KEYWORDS:
            names.add(match.group())
    return names


def declared_series() -> set[str]:
    """Every series name the hub's metric modules export (counters as ``_total``, histograms' parts, …)."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "info": ("_info",)}
    suffixes["summary"] = ("", "_sum", "_count")
    names = set()
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


def rules() -> Iterator[dict[str, Any]]:
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            yield from group["rules"]


def recorded_series() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def dashboard_panels() -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard()["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # those of collapsed rows
    return [panel for panel in panels if panel["type"] != "row"]


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and query variable; label_values() gives its selector."""
    queries = [(f"panel {p['title']!r}", t["expr"]) for p in dashboard_panels() for t in p.get("targets", [])]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = _LABEL_VALUES.match(query)
        assert match, f"variable {variable['name']}: only label_values(selector, label) is checked: {query}"
        if match["selector"]:
            queries.append((f"variable {variable['name']!r}", match["selector"]))
    return queries


# -- the tokenizer ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'histogram_quantile(0.95, sum by (model, le) (rate(jiandu_lead_latency_seconds_bucket{model=~"$model"}'
            "[$__rate_interval])))",
            {"jiandu_lead_latency_seconds_bucket"},
        ),
        ("a / on (x) group_left (y) b > bool 1e3 unless c offset 5m", {"a", "b", "c"}),
        ('sum(rate(x_total{reason="id_number:required"}[5m])) without (instance) or vector(0)', {"x_total"}),
        ("changes(jiandu:hub_clock_timestamp_seconds:max[10m]) == 0", {"jiandu:hub_clock_timestamp_seconds:max"}),
        ('up{job=~"jiandu-.*"} == 0 and max_over_time(y[5m:30s]) > Inf', {"up", "y"}),
    ],
)
def test_series_names_are_the_selected_series_only(expr: str, names: set[str]) -> None:
    assert series_names(expr) == names


def test_declared_series_follow_the_exported_names() -> None:
    declared = declared_series()
    assert {"jiandu_records_received_total", "jiandu_lead_latency_seconds_bucket", "jiandu_webhook_backlog"} <= declared
    assert {"jiandu_adapter_last_success_timestamp_seconds", "jiandu_adapter_last_success_age_seconds"} <= declared
    assert "jiandu_records_received" not in declared and "jiandu_lead_latency_seconds" not in declared


# -- the rules ---------------------------------------------------------------------------------------


def test_every_series_the_rules_name_is_declared_by_the_hub() -> None:
    known = declared_series() | recorded_series() | SCRAPE_SERIES
    unknown = {rule.get("alert") or rule["record"]: series_names(rule["expr"]) - known for rule in rules()}
    assert not {name: missing for name, missing in unknown.items() if missing}, "series the hub does not declare"


def test_every_alert_has_a_severity_a_wait_and_texts_in_english_and_chinese() -> None:
    alerts = [rule for rule in rules() if "alert" in rule]
    assert len(alerts) >= 9
    for alert in alerts:
        assert alert["labels"]["severity"] in ("warning", "critical"), alert["alert"]
        assert re.fullmatch(r"\d+[smh]", alert["for"]), alert["alert"]
        assert set(alert["annotations"]) == {"summary", "description", "summary_zh", "description_zh"}
        for key in ("summary_zh", "description_zh"):
            assert re.search(r"[\u4e00-\u9fff]", alert["annotations"][key]), f"{alert['alert']}: {key} in Chinese"


def test_recording_rules_follow_the_level_metric_operation_convention() -> None:
    for name in recorded_series():
        assert re.fullmatch(r"jiandu:[a-z_]+:[a-z0-9_]+", name), name


# -- the dashboard -------------------------------------------------------------------------------------


def test_every_series_the_dashboard_names_is_declared_by_the_hub() -> None:
    known = declared_series() | recorded_series() | SCRAPE_SERIES
    unknown = {where: series_names(expr) - known for where, expr in dashboard_queries()}
    assert not {where: missing for where, missing in unknown.items() if missing}, "series the hub does not declare"


def test_the_dashboard_shows_what_operators_need() -> None:
    named = set().union(*(series_names(expr) for _, expr in dashboard_queries()))
    required = {
        "jiandu_records_received_total",
        "jiandu_records_accepted_total",
        "jiandu_records_rejected_total",
        "jiandu_dead_letter_messages",
        "jiandu_consumer_lag_messages",
        "jiandu_hub_clock_behind_seconds",
        "jiandu_leads_total",
        "jiandu_lead_latency_seconds_bucket",
        "jiandu_webhook_deliveries_total",
        "jiandu_webhook_backlog",
        "jiandu_adapter_last_success_age_seconds",
        "jiandu_agency_api_responses_total",
        "jiandu_console_signins_total",
        "jiandu_console_denied_total",
    }
    assert required <= named, f"no panel shows {sorted(required - named)}"
    latency = [expr for _, expr in dashboard_queries() if "jiandu_lead_latency_seconds_bucket" in expr]
    assert {q for expr in latency for q in ("0.5", "0.95", "0.99") if f"histogram_quantile({q}," in expr} == {
        "0.5",
        "0.95",
        "0.99",
    }


def test_the_dashboard_queries_the_chosen_data_source() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 36
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = dashboard_panels()
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"]), "panel ids are unique"
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


# -- promtool ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
    if found is None:
        message = "promtool is not installed (Debian package prometheus: scripts/install-system-packages.sh)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must run the promtool checks")
        pytest.skip(message)
    return found


def run_promtool(promtool: str, *args: str | Path) -> str:
    done = subprocess.run([promtool, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, f"promtool {' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-run.yml"])
def test_promtool_checks_the_configuration(promtool: str, config: str) -> None:
    out = run_promtool(promtool, "check", "config", PROMETHEUS / config)
    assert f"{len(RULE_FILES)} rule files found" in out, f"{config} loads the rule files"


def test_the_run_configuration_scrapes_what_jiandu_run_starts() -> None:
    def jobs(name: str) -> set[str]:
        config = yaml.safe_load((PROMETHEUS / name).read_text(encoding="utf-8"))
        return {job["job_name"] for job in config["scrape_configs"]}

    assert jobs("prometheus-run.yml") == {
        "jiandu-run",
        "jiandu-worker",
        "jiandu-alerts",
        "jiandu-archive",
        "jiandu-console",
    }
    assert jobs("prometheus-run.yml") < jobs("prometheus.yml")


def test_promtool_checks_the_rules(promtool: str) -> None:
    run_promtool(promtool, "check", "rules", *RULE_FILES)


def test_promtool_runs_the_rules_unit_tests(promtool: str) -> None:
    assert RULE_TESTS
    out = run_promtool(promtool, "test", "rules", *RULE_TESTS)
    assert "SUCCESS" in out and "FAILED" not in out
    tested = set(re.findall(r"alertname: (\w+)", "".join(p.read_text(encoding="utf-8") for p in RULE_TESTS)))
    assert tested == {rule["alert"] for rule in rules() if "alert" in rule}, "every alert has a unit test"


def test_promtool_parses_every_dashboard_query(promtool: str, tmp_path: Path) -> None:
    def promql(expr: str) -> str:
        for variable, value in _GRAFANA_VALUES.items():
            expr = expr.replace(variable, value)
        return _GRAFANA_VARIABLE.sub(".*", expr)  # the dashboard's own variables stand in regex matchers

    records = [
        {"record": f"dashboard:query:{n}", "expr": promql(expr)} for n, (_, expr) in enumerate(dashboard_queries())
    ]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}), encoding="utf-8")
    run_promtool(promtool, "check", "rules", path)
