"""Kafka ACLs per principal, derived from the topic catalogue: each part of the hub may do only its job.

=========== ===============================================================================
principal   may
=========== ===============================================================================
adapter     write events and dead letters (the gateway, file drop, REST pull, ``jiandu ingest``); read and
            write the adapter checkpoints, in the groups that lease the sources to replicas
worker      read events; read and write its internal topics, its Faust topics and groups; write leads
downstream  read leads and officers' actions; write alert topics and actions; read and write the
            consumers' state topics (alerts, webhooks, archive, console, each in its own consumer group)
operator    read dead letters (``jiandu dlq``) and resubmit them as an adapter does
=========== ===============================================================================

Creating topics (``jiandu topics``) is the cluster administrator's, with its own principal.
:func:`acl_commands` prints them as ``kafka-acls.sh`` lines (``jiandu acls``); the copy in
``deploy/kafka/acls.sh`` is kept in sync by a test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from jiandu.topics import TopicCatalogue

__all__ = ["ROLES", "Acl", "acl_commands", "hub_acls"]

ROLES = ("adapter", "worker", "downstream", "operator")


@dataclass(frozen=True, slots=True)
class Acl:
    """Allow ``principal`` to do ``operation`` on a resource (a literal name or every name with a prefix)."""

    principal: str
    operation: str  # Read, Write, Describe, Create, IdempotentWrite
    resource: str  # topic, group, cluster
    name: str = ""
    prefixed: bool = False


def hub_acls(catalogue: TopicCatalogue, principals: Mapping[str, str]) -> list[Acl]:
    """The ACLs of every role in ``principals`` (role → principal such as ``User:jiandu-adapter``)."""
    unknown = sorted(set(principals) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role {unknown[0]!r}: the roles are {', '.join(ROLES)}")
    p = catalogue.prefix
    events = f"{p}.events."
    streams = catalogue.streams_app_id
    grants: dict[str, list[Acl]] = {
        "adapter": [
            *_topic(events, ("Write", "Describe"), prefixed=True),
            *_topic(catalogue.dead_letters, ("Write", "Describe")),
            *_topic(catalogue.adapter_checkpoints, ("Read", "Write", "Describe")),  # checkpoints, and the leases
            Acl("", "Read", "group", f"{p}-adapters-", prefixed=True),  # the replicas of each kind share sources
            Acl("", "IdempotentWrite", "cluster"),
        ],
        "worker": [
            *_topic(events, ("Read", "Describe"), prefixed=True),
            *_topic(f"{p}.internal.", ("Read", "Write", "Describe"), prefixed=True),
            *_topic(streams, ("Read", "Write", "Describe", "Create"), prefixed=True),
            *_topic(catalogue.leads, ("Write", "Describe")),
            *_topic(catalogue.dead_letters, ("Describe", "Read")),  # its dead-letter gauge reads the ends
            Acl("", "Read", "group", streams, prefixed=True),  # Faust's group and the router's
            Acl("", "IdempotentWrite", "cluster"),
        ],
        "downstream": [
            *_topic(catalogue.leads, ("Read", "Describe")),
            *_topic(catalogue.outcomes, ("Read", "Write", "Describe")),
            *_topic(f"{p}.alerts.", ("Write", "Describe"), prefixed=True),
            *_topic(f"{p}.consumers.", ("Read", "Write", "Describe"), prefixed=True),  # their state, dead letters
            *(Acl("", "Read", "group", f"{p}-{name}") for name in ("alerts", "webhooks", "archive")),
            Acl("", "IdempotentWrite", "cluster"),
        ],
        "operator": [
            *_topic(catalogue.dead_letters, ("Read", "Write", "Describe")),
            *_topic(events, ("Write", "Describe"), prefixed=True),
            Acl("", "IdempotentWrite", "cluster"),
        ],
    }
    return [
        Acl(principal, acl.operation, acl.resource, acl.name, acl.prefixed)
        for role, principal in principals.items()
        for acl in grants[role]
    ]


def acl_commands(
    acls: list[Acl], bootstrap: str = "$KAFKA_BOOTSTRAP", config: str = "$KAFKA_ADMIN_CONFIG"
) -> list[str]:
    """One ``kafka-acls.sh --add`` line per ACL."""
    lines = []
    for acl in acls:
        target = {"topic": f"--topic '{acl.name}'", "group": f"--group '{acl.name}'", "cluster": "--cluster"}
        pattern = " --resource-pattern-type prefixed" if acl.prefixed else ""
        lines.append(
            f"kafka-acls.sh --bootstrap-server {bootstrap} --command-config {config} --add "
            f"--allow-principal '{acl.principal}' --operation {acl.operation} {target[acl.resource]}{pattern}"
        )
    return lines


def _topic(name: str, operations: tuple[str, ...], *, prefixed: bool = False) -> list[Acl]:
    return [Acl("", operation, "topic", name, prefixed) for operation in operations]
