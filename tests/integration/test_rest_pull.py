"""REST pull on the real broker from a real simulated agency (127.0.0.1): faults, kill -9, once per event_id."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.agency_sim import AgencyFeed, AgencySimulator
from adapters.leasing import SoleOwner
from adapters.rest import Checkpoint, CheckpointStore, SourceConfig, SourcePoller, unit_of
from jiandu.broker import EmbeddedBroker
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.cli.restpull import simulated_agencies
from jiandu.core.records import CATEGORIES, RECORD_TYPES
from jiandu.serde import AvroCodec
from jiandu.settings import Settings
from jiandu.simulate import generate_history
from tests.pipeline import adapter_checkpoint, all_messages, settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(90)]

SOURCE = "agency:sim"
_CODEC = AvroCodec()


def _history(persons: int) -> tuple[list[dict[str, Any]], set[str], set[str | None]]:
    """Generated records (JSON objects), the event ids of the valid ones and the source record ids of the invalid.

    Validity is what the generator planted, not what the hub decides.
    """
    history = generate_history(seed=21, persons=persons, start=datetime(2024, 1, 1, tzinfo=UTC), days=40)
    planted = set(history.invalid_lines)
    objects = [(line, r) for line, r in enumerate(history.records, 1) if isinstance(r, dict)]
    valid = {f"{r['source']}/{r['type']}/{r['source_record_id']}" for line, r in objects if line not in planted}
    invalid = {r.get("source_record_id") for line, r in objects if line in planted}
    return [r for _, r in objects], valid, invalid


def _published(settings: Settings) -> tuple[Counter[str], list[dict[str, Any]]]:
    """(how often each event_id is on the event topics, every dead letter)."""
    catalogue = catalogue_of(settings)
    events = all_messages(settings.bootstrap, catalogue.event_topics())
    letters = all_messages(settings.bootstrap, [catalogue.dead_letters])
    ids = Counter(_CODEC.decode(m.split(b"\0", 1)[1])[1]["event_id"] for m in events)
    return ids, [_CODEC.decode(m.split(b"\0", 1)[1])[1] for m in letters]


def test_poller_survives_500s_timeouts_and_429_and_gets_everything(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    records, valid, invalid = _history(persons=60)
    faults_after_page = {
        1: {"http_500": 2},
        2: {"timeout": 1, "timeout_seconds": 1.5},
        3: {"rate_limit": 1, "retry_after": 2},
        4: {"malformed": 1, "bad_id": 2},
    }
    with AgencySimulator(AgencyFeed(records)) as sim:
        sim.on_page = lambda pages: sim.set_faults(faults_after_page.get(pages, {}))
        httpx.post(f"{sim.url}/_faults", json={"http_500": 1}).raise_for_status()  # the control endpoint, too
        settings = settings_for(broker.bootstrap, topic_prefix)
        create_topics(settings)
        config = SourceConfig(
            source=SOURCE,
            base_url=sim.url,
            allowed_sources=CATEGORIES,
            page_size=40,
            timeout_seconds=0.5,
            backoff_seconds=0.05,
            max_attempts=5,
        )
        store = CheckpointStore(SoleOwner())
        publisher, intake = new_intake(settings, adapter="rest-pull")
        with publisher:
            poller = SourcePoller(config, intake, store)
            summary = poller.poll()
            poller.close()
        served, left = sim.served(), sim.faults.snapshot()
        total = sim.feed.total

    assert total == len(records) + 2
    assert (summary.records, store.load(SOURCE).records) == (total, total)
    kinds = Counter(r.fault for r in served if r.fault)
    assert (kinds["http_500"], kinds["rate_limit"], kinds["malformed"]) == (3, 1, 1)
    assert left.timeout == 0, "the timeout was met too (its answer is logged only when its sleep ends)"
    limited = next(i for i, r in enumerate(served) if r.fault == "rate_limit")
    following = next(r for r in served[limited + 1 :] if r.fault != "timeout")  # a timed-out answer is logged late
    assert following.at - served[limited].at >= 2.0, "the poller waited at least Retry-After"

    ids, letters = _published(settings)
    assert set(ids) == valid, "every valid record arrived as an event"
    assert {letter["source_record_id"] for letter in letters} == invalid | {"SIM-BAD-0001", "SIM-BAD-0002"}
    assert all(letter["reason"] and letter["origin"].startswith(f"rest:{SOURCE}:") for letter in letters)
    bad = [letter for letter in letters if str(letter["source_record_id"]).startswith("SIM-BAD-")]
    assert len(bad) == 2 and all(letter["reason"].startswith("id_number") for letter in bad)


@pytest.mark.parametrize("cursor", ["since", "page_token"])
def test_kill_9_mid_page_then_restart_delivers_every_record_once_by_event_id(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, cursor: str
) -> None:
    records, valid, invalid = _history(persons=120)
    page_size, kill_at_page = 40, 5
    settings = settings_for(broker.bootstrap, topic_prefix, data_dir=tmp_path / "data")
    env = settings.to_env()
    victim: dict[str, subprocess.Popen[bytes]] = {}

    def kill_mid_page(pages: int) -> None:
        # runs in the agency's request thread right after page `pages` went out: the poller is reading it
        if pages == kill_at_page and "first" in victim:
            os.kill(victim["first"].pid, signal.SIGKILL)

    with AgencySimulator(AgencyFeed(records), latency=0.01, on_page=kill_mid_page) as sim:
        sim.set_faults({"bad_id": 3})
        config = tmp_path / "sources.yaml"
        config.write_text(
            f"sources:\n  - source: {SOURCE}\n    base_url: {sim.url}\n    page_size: {page_size}\n"
            f"    allowed_sources: [{', '.join(CATEGORIES)}]\n"
            f"    cursor: {cursor}\n    backoff_seconds: 0.05\n",
            encoding="utf-8",
        )
        command = [sys.executable, "-m", "jiandu.cli", "rest-pull", "--config", str(config), "--once"]
        with (tmp_path / "first.log").open("wb") as log:
            victim["first"] = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            assert victim["first"].wait(timeout=60) == -signal.SIGKILL, (tmp_path / "first.log").read_text()

        after_kill = _checkpoint(settings)
        assert after_kill.records == (kill_at_page - 1) * page_size, "the page being read was not checkpointed"

        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stdout + again.stderr
        starts = Counter(r.start for r in sim.served() if r.is_page)
        total = sim.feed.total

    assert starts[(kill_at_page - 1) * page_size] == 2, "the killed page was fetched again after the restart"
    assert _checkpoint(settings).records == total
    ids, letters = _published(settings)
    assert set(ids) == valid, "every valid record arrived; none was lost to the kill"
    assert sum(ids.values()) >= len(ids)  # re-published ones (at-least-once) share their event_id
    by_origin = {letter["origin"]: letter for letter in letters}
    assert {letter["source_record_id"] for letter in by_origin.values()} == invalid | {
        f"SIM-BAD-000{i}" for i in (1, 2, 3)
    }
    assert all(letter["reason"] for letter in letters)


def _checkpoint(settings: Settings) -> Checkpoint:
    """The source's checkpoint on the broker, where ``jiandu rest-pull`` keeps it."""
    return Checkpoint(**(adapter_checkpoint(settings, unit_of(SOURCE)) or {"source": SOURCE}))


def test_simulated_agencies_feed_the_hub_as_their_records_appear(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    records, valid, _ = _history(persons=30)
    settings = settings_for(broker.bootstrap, topic_prefix, data_dir=tmp_path / "data")
    create_topics(settings)
    with simulated_agencies(settings, records, seconds=2.0, poll_interval=0.2) as pull:
        categories = {source.source for source in pull.sources}
        deadline = time.monotonic() + 30
        while sum(o.summary.records for o in pull.outcomes.values()) < len(records) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert categories >= {"sim:police", "sim:court"}
    assert not pull.failed
    assert sum(o.summary.records for o in pull.outcomes.values()) == len(records)
    assert set(_published(settings)[0]) == valid
    assert not list((tmp_path / "data").iterdir()), "the simulated checkpoints are gone with the simulation"


def test_a_feed_delivers_only_its_allowed_sources_and_production_requires_the_list(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    """A misconfigured or compromised agency API serves records in other agencies' names: they are dead-lettered."""
    records, valid, _ = _history(persons=40)
    settings = settings_for(broker.bootstrap, topic_prefix, data_dir=tmp_path / "data", mode="production")
    env = settings.to_env()
    config = tmp_path / "sources.yaml"
    command = [sys.executable, "-m", "jiandu.cli", "rest-pull", "--config", str(config), "--once"]
    with AgencySimulator(AgencyFeed(records)) as sim:
        sim.set_faults({"foreign_source": 2})
        feed = f"sources:\n  - source: police:2101\n    base_url: {sim.url}\n    page_size: 50\n"
        config.write_text(feed, encoding="utf-8")
        refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "`allowed_sources` is required in production mode" in refused.stderr
        assert not sim.served(), "nothing was polled with an incomplete configuration"

        config.write_text(feed + '    allowed_sources: ["police:2101"]\n', encoding="utf-8")
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        served = list(sim.feed.records())

    well_formed = [r for r in served if re.fullmatch(r"[a-z]+:\d{6}(:.+)?", str(r.get("source")))]
    foreign = Counter(
        "source" if not r["source"].startswith("police:2101") else "type"
        for r in well_formed
        if r.get("type") in RECORD_TYPES
        and (not r["source"].startswith("police:2101") or not r["type"].startswith("police."))
    )
    ids, letters = _published(settings)
    assert set(ids) == {i for i in valid if i.startswith("police:2101")}, "the feed's own units arrived, nothing else"
    refusals = [letter for letter in letters if "not allowed for agency feed police:2101" in letter["reason"]]
    assert Counter(letter["reason"].split(":", 1)[0] for letter in refusals) == foreign
    assert foreign["source"] > 10, "other divisions and other agencies' records were in the feed"
    assert {"SIM-FOREIGN-0001", "SIM-FOREIGN-0002"} <= {letter["source_record_id"] for letter in refusals}
    assert all(letter["origin"].startswith("rest:police:2101:") for letter in letters)
