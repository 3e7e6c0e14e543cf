"""Three replicas of REST pull and of the file drop (separate processes and data dirs, as on separate hosts):
each source is worked by one replica at a time, and when its owner is killed (-9) mid-stream another takes it
over from the checkpoint on Kafka: every record ends on its topic, none is counted twice."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.agency_sim import AgencyFeed, AgencySimulator
from adapters.rest import unit_of
from jiandu.broker import EmbeddedBroker
from jiandu.cli.hub import catalogue_of
from jiandu.cli.processes import HubProcess
from jiandu.core.identity import make_id_number
from jiandu.core.records import CATEGORIES
from jiandu.serde import AvroCodec
from jiandu.settings import Settings
from jiandu.topics import ADAPTER_LEASE_PARTITIONS
from producers.leases import partition_of
from tests.faults import Hub
from tests.integration.test_rest_pull import _history
from tests.pipeline import adapter_checkpoint, all_messages, settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

REPLICAS = 3
SESSION_SECONDS = 3.0  # how long the group waits for a killed member: the takeover delay
_CODEC = AvroCodec()


@pytest.fixture
def replicas() -> Iterator[list[HubProcess]]:
    """The processes a test starts, stopped (by pid) at its end."""
    started: list[HubProcess] = []
    yield started
    for replica in started:
        replica.stop()


def _start(settings: Settings, command: list[str], name: str, tmp_path: Path) -> HubProcess:
    host = settings_for(
        settings.bootstrap, settings.topic_prefix, data_dir=tmp_path / name, session_timeout_seconds=SESSION_SECONDS
    )
    return HubProcess(host, command, name=name, log_path=tmp_path / f"{name}.log").start()


def _wait(what: str, done: Callable[[], bool], replicas: list[HubProcess], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            tails = "\n\n".join(f"{r.name}:\n{r.log_tail(15)}" for r in replicas)
            raise AssertionError(f"{what}: not within {timeout:g} s\n{tails}")
        time.sleep(0.3)


def _event_ids(settings: Settings) -> collections.Counter[str]:
    messages = all_messages(settings.bootstrap, catalogue_of(settings).event_topics())
    return collections.Counter(_CODEC.decode(m.split(b"\0", 1)[1])[1]["event_id"] for m in messages)


def _last_line(replica: HubProcess, pattern: str) -> re.Match[str] | None:
    matches = list(re.finditer(pattern, replica.log_path.read_text(errors="replace")))
    return matches[-1] if matches else None


@contextlib.contextmanager
def _live_agencies(feeds: dict[str, list[dict[str, Any]]]) -> Iterator[dict[str, str]]:
    """One simulated agency per source, its records appearing over about 12 s (a live stream); their URLs."""
    simulators = {
        source: AgencySimulator(AgencyFeed(group, initial=len(group) // 12, per_second=len(group) / 12))
        for source, group in feeds.items()
    }
    try:
        yield {source: simulator.start().url for source, simulator in simulators.items()}
    finally:
        for simulator in simulators.values():
            simulator.stop()


def _unrepeated(records: list[dict[str, Any]], valid: set[str]) -> tuple[list[dict[str, Any]], set[str]]:
    """The records whose event id the history uses once (it repeats a few, as agencies do), and the valid ids."""
    event_id = lambda r: f"{r.get('source')}/{r.get('type')}/{r.get('source_record_id')}"  # noqa: E731
    uses = collections.Counter(map(event_id, records))
    return [r for r in records if uses[event_id(r)] == 1], {i for i in valid if uses[i] == 1}


# REST pull ------------------------------------------------------------------------------------------------------


def _polling(replica: HubProcess) -> set[str]:
    """The sources this replica said it polls, at its last rebalance (none once it was killed)."""
    found = _last_line(replica, r"rest-pull: polling ([^\n]*)")
    if found is None or found.group(1).startswith("no source"):
        return set()
    return set(found.group(1).split(", "))


def test_rest_sources_are_polled_once_and_taken_over_after_kill_9(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, replicas: list[HubProcess]
) -> None:
    records, valid = _unrepeated(*_history(persons=90)[:2])
    sources = ["ha:a", "ha:b", "ha:c"]
    feeds = {source: records[n :: len(sources)] for n, source in enumerate(sources)}
    page_size = 10
    settings = settings_for(broker.bootstrap, topic_prefix)
    with _live_agencies(feeds) as urls:
        config = tmp_path / "sources.yaml"
        config.write_text(
            "defaults:\n"
            f"  page_size: {page_size}\n  poll_interval_seconds: 0.2\n  backoff_seconds: 0.05\n"
            f"  allowed_sources: [{', '.join(CATEGORIES)}]\n"
            "sources:\n" + "".join(f"  - source: '{s}'\n    base_url: {urls[s]}\n" for s in sources),
            encoding="utf-8",
        )
        for n in range(REPLICAS):
            replicas.append(_start(settings, ["rest-pull", "--config", str(config)], f"rest-{n}", tmp_path))

        def checkpointed(source: str) -> int:
            return int((adapter_checkpoint(settings, unit_of(source)) or {}).get("records", 0))

        def settled_owner() -> HubProcess | None:
            owners = [r for r in replicas if "ha:a" in _polling(r)]
            shared = sorted(s for r in replicas for s in _polling(r))
            return owners[0] if len(owners) == 1 and shared == sources and checkpointed("ha:a") > 0 else None

        _wait("one replica polls each source, ha:a has begun", lambda: settled_owner() is not None, replicas)
        victim = settled_owner()
        assert victim is not None
        killed_sources = _polling(victim)
        victim.kill()
        killed, killed_at = time.monotonic(), checkpointed("ha:a")
        survivors = [r for r in replicas if r is not victim]
        _wait("another replica polls ha:a", lambda: any("ha:a" in _polling(r) for r in survivors), survivors)
        takeover = time.monotonic() - killed
        _wait(
            "every record checkpointed",
            lambda: all(checkpointed(s) == len(feeds[s]) for s in sources),
            survivors,
            timeout=90,
        )
        taker = [r for r in survivors if "ha:a" in _polling(r)]
        for replica in survivors:
            replica.check_alive()

    assert killed_at < len(feeds["ha:a"]), "killed mid-stream: ha:a had records left"
    assert len(taker) == 1, "another replica took ha:a over"
    ids = _event_ids(settings)
    assert set(ids) == valid, "every valid record is on its event topic"
    twice = sum(ids.values()) - len(ids)
    assert twice <= page_size * len(killed_sources), "at most the pages in flight at the kill were sent again"
    print(
        f"ha:a taken over {takeover:.1f} s after the kill at record {killed_at} of {len(feeds['ha:a'])} "
        f"(session {SESSION_SECONDS:g} s); {twice} events sent twice"
    )


# file drop ------------------------------------------------------------------------------------------------------

#: Rows of each export: enough that the owner is still mid-file when the test, having seen it there, kills it
#: (4,000 rows went by in the moment between the two once the intake published with librdkafka).
ROWS = 20_000
CONFIRM_EVERY = 100


def _export(folder: Path, seed: int) -> set[str]:
    """A pension export of ROWS rows in ``folder``, complete (its .done marker); the event ids of its rows."""
    division = folder.name.removeprefix("social_")
    lines = ["发放流水号,公民身份号码,姓名,发放年月,发放金额,发放日期,经办机构"]
    for i in range(ROWS):
        person = make_id_number("210102", date(1940, 1, 1) + timedelta(days=(i + seed) % 4000), i % 1000)
        lines.append(f"YL{seed}{i:08d},{person},何老汉,202403,3250.60,20240305,沈阳市社会保险事业服务中心")
    folder.mkdir(parents=True)
    export = folder / "养老金发放_202403.csv"
    export.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    export.with_name(export.name + ".done").touch()
    return {f"social:{division}/social.pension_paid/YL{seed}{i:08d}" for i in range(ROWS)}


def _holds(replica: HubProcess) -> set[int]:
    """The lease partitions this replica said it holds, at its last rebalance."""
    holds = _last_line(replica, r"holds partitions \[([0-9, ]*)\]")
    released = _last_line(replica, r"released partitions")
    if holds is None or (released is not None and released.start() > holds.start()):
        return set()
    return {int(p) for p in holds.group(1).split(", ") if p}


def test_drop_folders_are_worked_once_and_taken_over_after_kill_9(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, replicas: list[HubProcess]
) -> None:
    drop = tmp_path / "shared-drop"  # the shared storage every replica mounts
    folders = ["social_210100", "social_210200", "social_210300"]
    expected = set().union(*(_export(drop / folder, seed) for seed, folder in enumerate(folders, 1)))
    settings = settings_for(broker.bootstrap, topic_prefix)
    command = ["filedrop", "--drop", str(drop), "--confirm-every", str(CONFIRM_EVERY), "--settle", "0"]
    for n in range(REPLICAS):
        replicas.append(_start(settings, command, f"filedrop-{n}", tmp_path))
    target = f"filedrop:{folders[0]}"
    partition = partition_of(target, ADAPTER_LEASE_PARTITIONS)

    def in_progress() -> int:
        files = (adapter_checkpoint(settings, target) or {}).get("files", {})
        return max((int(f["line"]) for f in files.values()), default=0)

    def owner() -> HubProcess | None:
        """The one replica working the first folder, in the first half of its file: the kill then lands
        mid-file although the owner goes on while this check and the kill take their time."""
        owners = [r for r in replicas if partition in _holds(r)]
        return owners[0] if len(owners) == 1 and 0 < in_progress() <= ROWS // 2 else None

    seen: list[HubProcess] = []  # the owner as the wait saw it (asked again, a rebalance may have moved it)

    def found_owner() -> bool:
        seen[:] = [o] if (o := owner()) is not None else []
        return bool(seen)

    _wait(f"one replica works {folders[0]}, mid-file", found_owner, replicas)
    victim = seen[0]
    victim.kill()
    killed, line_at_kill = time.monotonic(), in_progress()
    survivors = [r for r in replicas if r is not victim]
    _wait(f"another replica holds {folders[0]}", lambda: any(partition in _holds(r) for r in survivors), survivors)
    takeover = time.monotonic() - killed
    receipts = [drop / f / "done" / "养老金发放_202403.csv.receipt.json" for f in folders]
    exports = [drop / f / "养老金发放_202403.csv" for f in folders]
    done = lambda: all(r.exists() for r in receipts) and not any(e.exists() for e in exports)  # noqa: E731
    _wait("every export done, sealed into done/ with its receipt", done, survivors, timeout=90)
    for replica in survivors:
        replica.check_alive()

    documents = [json.loads(r.read_text(encoding="utf-8")) for r in receipts]
    assert 0 < line_at_kill < ROWS + 1, "killed mid-file"
    assert all((d["rows"], d["accepted"], d["rejected"]) == (ROWS, ROWS, 0) for d in documents), (
        "every row counted once, across the owners"
    )
    assert documents[0]["resumed_at"], "the new owner resumed the file from its checkpoint"
    assert [len(list((drop / f / "done").glob("*.sealed"))) for f in folders] == [1, 1, 1], "each taken once"
    ids = _event_ids(settings)
    assert set(ids) == expected, "every row is on its event topic"
    twice = sum(ids.values()) - len(ids)
    assert twice <= CONFIRM_EVERY * len(folders), "at most the batches in flight at the kill were sent again"
    print(
        f"{folders[0]} taken over {takeover:.1f} s after the kill at line {line_at_kill} of {ROWS + 1} "
        f"(session {SESSION_SECONDS:g} s); {twice} events sent twice"
    )


# the embedded default ---------------------------------------------------------------------------------------------


def test_checkpoints_survive_a_restart_of_the_embedded_broker(topic_prefix: str, tmp_path: Path) -> None:
    records, valid = _unrepeated(*_history(persons=30)[:2])
    hub = Hub(tmp_path / "data", topic_prefix)  # the embedded broker, journal on, as `jiandu run` has it
    hub.start_broker()
    try:
        with AgencySimulator(AgencyFeed(records)) as sim:
            config = tmp_path / "sources.yaml"
            config.write_text(
                f"sources:\n  - source: 'ha:a'\n    base_url: {sim.url}\n    page_size: 25\n"
                f"    allowed_sources: [{', '.join(CATEGORIES)}]\n",
                encoding="utf-8",
            )
            command = [sys.executable, "-m", "jiandu.cli", "rest-pull", "--config", str(config), "--once"]
            env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")} | hub.settings.to_env()
            first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
            assert first.returncode == 0, first.stderr
            published = sum(_event_ids(hub.settings).values())
            hub.kill_broker()
            hub.start_broker()  # empty, then refilled from the journal
            assert sum(hub.replays) > 0
            again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
            assert again.returncode == 0, again.stderr
            starts = collections.Counter(r.start for r in sim.served() if r.is_page)
        checkpoint = adapter_checkpoint(hub.settings, unit_of("ha:a"))
        ids = _event_ids(hub.settings)
    finally:
        hub.stop()
    assert starts[0] == 1, "the second run went on from the journaled checkpoint, not from the start"
    assert checkpoint is not None and checkpoint["records"] == len(records)
    assert set(ids) == valid and sum(ids.values()) == published, "nothing lost, nothing published again"
