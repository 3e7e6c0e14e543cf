"""deploy/: what a platform team applies is checked here — image lint, Kubernetes schemas, compose, ACLs."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from jiandu.broker.acls import ROLES, Acl, acl_commands, hub_acls
from jiandu.broker.admin import replicated_configs
from jiandu.settings import Settings
from jiandu.topics import TopicCatalogue

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
BIN = Path(sys.executable).parent
SETTINGS = {f"JIANDU_{f.name.upper()}" for f in dataclasses.fields(Settings)}


def _documents(folder: Path) -> list[dict[str, Any]]:
    return [doc for path in sorted(folder.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def _jiandu_commands() -> set[str]:
    from jiandu.cli.main import _parser

    return set(_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def test_the_container_image_definition_passes_the_dockerfile_linter() -> None:
    done = subprocess.run([BIN / "hadolint", DEPLOY / "container" / "Dockerfile"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_kubernetes_manifests_validate_strictly_against_the_kubernetes_schemas() -> None:
    files = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
    done = subprocess.run([BIN / "kubernetes-validate", "--strict", *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("passed") + done.stderr.count("passed") == len(_documents(DEPLOY / "kubernetes"))


def _pods(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    kinds = ("Deployment", "StatefulSet", "Job")
    return [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in docs if d["kind"] in kinds]


def test_every_long_running_part_is_probed_on_its_health_endpoints_and_runs_a_real_command() -> None:
    docs = _documents(DEPLOY / "kubernetes")
    commands = _jiandu_commands()
    for name, pod in _pods(docs):
        (container,) = pod["containers"]
        assert container["args"][0] in commands, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        if name == "jiandu-topics":
            continue
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
    workers = next(d for d in docs if d["kind"] == "StatefulSet")
    assert workers["spec"]["volumeClaimTemplates"], "workers keep their state on persistent volumes"
    budgets = {d["metadata"]["name"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    assert {"jiandu-worker", "jiandu-gateway", "jiandu-console"} <= budgets
    assert any(d["kind"] == "NetworkPolicy" and d["spec"]["podSelector"] == {} for d in docs), "a default deny"


def test_every_setting_the_deploy_files_set_is_one_the_hub_knows() -> None:
    config = next(d for d in _documents(DEPLOY / "kubernetes") if d["kind"] == "ConfigMap")
    secret = next(d for d in _documents(DEPLOY / "kubernetes") if d["kind"] == "Secret")
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    env_files = [DEPLOY / "compose" / "hub.env.example", DEPLOY / "env.example"]
    names = {*config["data"], *secret["stringData"], *compose["x-hub"]["environment"]}
    for path in env_files:
        names |= {line.split("=", 1)[0] for line in path.read_text().splitlines() if line and not line.startswith("#")}
    assert names - {"JIANDU_DB_PASSWORD"} <= SETTINGS, sorted(names - SETTINGS)
    assert Settings.from_env({k: v for k, v in config["data"].items() if "SSL_CAFILE" not in k}).partitions == 12


def test_the_compose_cluster_is_three_kraft_brokers_that_need_two_in_sync_replicas() -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    services = compose["services"]
    brokers = {name: s["environment"] for name, s in services.items() if name.startswith("kafka-")}
    assert len(brokers) == 3
    voters = brokers["kafka-1"]["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert sorted(str(env["KAFKA_NODE_ID"]) for env in brokers.values()) == sorted(v.split("@")[0] for v in voters)
    for env in brokers.values():
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == 3 and env["KAFKA_MIN_INSYNC_REPLICAS"] == 2
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    commands = _jiandu_commands()
    hub = {name: s for name, s in services.items() if s.get("image", "").startswith("jiandu-hub")}
    assert {s["command"][0] for s in hub.values()} <= commands
    volumes = [v for s in hub.values() for v in s.get("volumes", []) if not v.startswith(("./", "/"))]
    assert len(volumes) == len(set(volumes)), "no two processes share a state volume"


def test_topics_on_a_replicated_cluster_need_all_replicas_but_one() -> None:
    assert replicated_configs(1) == {}
    assert replicated_configs(3)["min.insync.replicas"] == "2"
    assert replicated_configs(3)["unclean.leader.election.enable"] == "false"


def _grants(acls: list[Acl], principal: str, topic: str) -> set[str]:
    return {
        a.operation
        for a in acls
        if a.principal == principal
        and a.resource == "topic"
        and (topic.startswith(a.name) if a.prefixed else topic == a.name)
    }


def test_each_principal_may_do_its_job_and_nothing_else() -> None:
    catalogue = TopicCatalogue("jiandu", 4)
    principals = {role: f"User:{role}" for role in ROLES}
    acls = hub_acls(catalogue, principals)
    for topic in catalogue.event_topics():
        assert _grants(acls, "User:adapter", topic) == {"Write", "Describe"}
        assert "Read" in _grants(acls, "User:worker", topic)
        assert not _grants(acls, "User:downstream", topic)
    assert "Write" in _grants(acls, "User:worker", catalogue.leads)
    assert _grants(acls, "User:downstream", catalogue.leads) == {"Read", "Describe"}
    assert not _grants(acls, "User:adapter", catalogue.leads), "adapters never read leads"
    for topic in (catalogue.facts, catalogue.progress, catalogue.state_changelog):
        assert {"Read", "Write"} <= _grants(acls, "User:worker", topic)
        assert not _grants(acls, "User:adapter", topic) and not _grants(acls, "User:downstream", topic)
    for topic in catalogue.alert_topics():
        assert "Write" in _grants(acls, "User:downstream", topic)
    assert _grants(acls, "User:adapter", catalogue.adapter_checkpoints) == {"Read", "Write", "Describe"}
    adapter_groups = [a for a in acls if a.principal == "User:adapter" and a.resource == "group"]
    groups = [catalogue.adapter_group(kind) for kind in ("rest", "filedrop")]
    assert adapter_groups and all(g.startswith(a.name) for g in groups for a in adapter_groups), "sources are leased"
    with pytest.raises(ValueError, match="roles are"):
        hub_acls(catalogue, {"admin": "User:x"})


def test_the_shipped_acl_script_is_what_jiandu_acls_prints() -> None:
    shipped = [line for line in (DEPLOY / "kafka" / "acls.sh").read_text().splitlines() if line.startswith("kafka-")]
    principals = {role: f"User:jiandu-{role}" for role in ROLES}
    assert shipped == acl_commands(hub_acls(TopicCatalogue("jiandu", 4), principals)), "regenerate: jiandu acls"
