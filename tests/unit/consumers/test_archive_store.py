"""The lead archive on both backends: idempotent versions, queries, history, actions, statistics."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from consumers.archive import (
    Action,
    AuditFilter,
    AuditScope,
    LeadFilter,
    PostgresArchive,
    SqliteArchive,
    open_archive,
    store_messages,
)
from jiandu.core.leads import Evidence, Lead
from jiandu.core.timeutil import parse_datetime, to_ms
from jiandu.errors import ConfigurationError, InputError
from jiandu.serde import AvroCodec
from tests.postgres import PostgresServer, postgres_server

__all__ = ["make_lead", "postgres_server"]


class _Message(NamedTuple):
    """The fields of a consumer record the archiver reads."""

    topic: str
    partition: int
    offset: int
    value: bytes


def _ms(iso: str) -> int:
    return to_ms(parse_datetime(iso))


def make_lead(lead_id: str = "M02-a", **changes: object) -> Lead:
    """A lead version with plausible values; ``changes`` override fields."""
    values: dict[str, object] = {
        "lead_id": lead_id,
        "model_id": "M02",
        "model_version": "1",
        "finding": "CORRECTION_NOT_REPORTED",
        "severity": "HIGH",
        "department": "刑事执行检察",
        "jurisdiction": "210102",
        "subject_kind": "PERSON",
        "subject_key": "pk-" + lead_id,
        "case_no": "（2024）辽0102刑初1号",
        "trigger_event_id": "ev-" + lead_id,
        "evidence": (
            Evidence("ev-" + lead_id, "court.judgment_effective", "210102-court", _ms("2024-03-01T09:00:00+08:00")),
        ),
        "due_at": _ms("2024-03-12T00:00:00+08:00"),
        "raised_at": _ms("2024-03-12T00:00:00+08:00"),
        "detected_at": _ms("2024-03-12T00:00:05+08:00"),
        "status": "OPEN",
        "status_reason": "deadline passed",
        "closed_at": None,
        "summary_zh": "缓刑判决生效，期限届满未见报到记录。",
        "legal_basis_zh": "《社区矫正法》第十七条",
        "updated_at": _ms("2024-03-12T00:00:06+08:00"),
        "details": {"report_days": "10"},
    }
    values.update(changes)
    return Lead(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgresql"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqliteArchive | PostgresArchive]:
    """An empty archive on each backend."""
    if request.param == "sqlite":
        store: SqliteArchive | PostgresArchive = SqliteArchive(tmp_path / "archive.sqlite3")
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        store = PostgresArchive(server.database())
    try:
        yield store
    finally:
        store.close()


def test_a_version_read_twice_is_stored_once(archive: SqliteArchive | PostgresArchive) -> None:
    lead = make_lead()
    assert archive.store_version(lead, "p.leads", 0, 7) is True
    assert archive.store_version(lead, "p.leads", 0, 7) is False
    later = dataclasses.replace(lead, status="RESOLVED", updated_at=lead.updated_at + 1000)
    assert archive.store_versions([(later, "p.leads", 0, 9), (lead, "p.leads", 0, 7)]) == 1
    history = archive.lead(lead.lead_id)
    assert history is not None
    assert [v["status"] for v in history.versions] == ["OPEN", "RESOLVED"]
    assert history.latest["status"] == "RESOLVED" and history.latest["source_offset"] == 9


def test_an_older_version_arriving_late_does_not_replace_the_latest(archive: SqliteArchive | PostgresArchive) -> None:
    lead = make_lead()
    newer = dataclasses.replace(lead, status="WITHDRAWN", updated_at=lead.updated_at + 1)
    archive.store_version(newer, "p.leads", 1, 3)
    archive.store_version(lead, "p.leads", 1, 2)
    history = archive.lead(lead.lead_id)
    assert history is not None and history.latest["status"] == "WITHDRAWN" and len(history.versions) == 2


def test_a_replayed_history_stores_nothing_and_keeps_the_first_raised_time(
    archive: SqliteArchive | PostgresArchive,
) -> None:
    hour = 3_600_000

    def again(version: Lead, after: int) -> Lead:  # reprocessed: only the wall-clock fields are new
        shifted = {k: getattr(version, k) + after for k in ("raised_at", "detected_at", "updated_at")}
        return dataclasses.replace(version, **shifted)  # type: ignore[arg-type]

    raised = make_lead()
    resolved = dataclasses.replace(
        raised, status="RESOLVED", status_reason="closing evidence arrived late", updated_at=raised.updated_at + hour
    )
    assert archive.store_versions([(raised, "p.leads", 0, 1), (resolved, "p.leads", 0, 2)]) == 2
    # a worker rebuilt after a broker restart replays the lead's history, later, with new wall-clock fields
    assert (
        archive.store_versions(
            [(again(raised, 5 * hour), "p.leads", 0, 0), (again(resolved, 5 * hour), "p.leads", 0, 1)]
        )
        == 0
    )
    history = archive.lead(raised.lead_id)
    assert history is not None
    assert [v["status"] for v in history.versions] == ["OPEN", "RESOLVED"]
    assert history.latest["status"] == "RESOLVED" and history.latest["raised_at"] == raised.raised_at


def test_a_withdrawn_lead_whose_new_deadline_passes_is_open_again(archive: SqliteArchive | PostgresArchive) -> None:
    """Not a regression: a late extension moved the deadline (WITHDRAWN), then the new deadline passed."""
    day = 86_400_000
    raised = make_lead()
    withdrawn = dataclasses.replace(
        raised, status="WITHDRAWN", due_at=raised.due_at + 7 * day, updated_at=raised.updated_at + 1
    )
    reopened = dataclasses.replace(
        raised, due_at=raised.due_at + 7 * day, raised_at=raised.raised_at + 8 * day, updated_at=raised.updated_at + 2
    )
    for offset, version in enumerate((raised, withdrawn, reopened)):
        assert archive.store_version(version, "p.leads", 0, offset)
    history = archive.lead(raised.lead_id)
    assert history is not None and [v["status"] for v in history.versions] == ["OPEN", "WITHDRAWN", "OPEN"]
    assert history.latest["due_at"] == reopened.due_at and history.latest["raised_at"] == raised.raised_at


def test_two_versions_published_in_the_same_millisecond_are_both_stored_in_order(
    archive: SqliteArchive | PostgresArchive,
) -> None:
    raised = make_lead()
    withdrawn = dataclasses.replace(raised, status="WITHDRAWN", status_reason="deadline extended")
    assert archive.store_versions([(raised, "p.leads", 0, 1), (withdrawn, "p.leads", 0, 2)]) == 2
    assert archive.store_versions([(raised, "p.leads", 0, 1), (withdrawn, "p.leads", 0, 2)]) == 0  # read again
    history = archive.lead(raised.lead_id)
    assert history is not None and [v["status"] for v in history.versions] == ["OPEN", "WITHDRAWN"]
    assert history.latest["status"] == "WITHDRAWN"


def test_versions_keep_every_field_and_the_json_documents(archive: SqliteArchive | PostgresArchive) -> None:
    lead = make_lead(case_no=None, due_at=None)
    archive.store_version(lead, "p.leads", 2, 0)
    history = archive.lead(lead.lead_id)
    assert history is not None
    row = history.latest
    assert row["case_no"] is None and row["due_at"] is None
    assert row["evidence"] == [
        {"event_id": e.event_id, "type": e.type, "source": e.source, "occurred_at": e.occurred_at}
        for e in lead.evidence
    ]
    assert row["details"] == {"report_days": "10"}
    assert row["summary_zh"] == lead.summary_zh and row["raised_month"] == "2024-03"
    assert (row["source_topic"], row["source_partition"], row["source_offset"]) == ("p.leads", 2, 0)


def _seed(archive: SqliteArchive | PostgresArchive) -> None:
    day = 86_400_000
    base = _ms("2024-03-01T00:00:00+08:00")
    leads = [
        make_lead(
            f"L{i:02}",
            model_id=("M02", "M05", "M11")[i % 3],
            department=("刑事执行检察", "侦查监督")[i % 2],
            jurisdiction=("210102", "210103", "220101")[i % 3],
            status=("OPEN", "OPEN", "RESOLVED", "WITHDRAWN")[i % 4],
            severity=("HIGH", "MEDIUM")[i % 2],
            raised_at=base + i * day,
            due_at=base + (i + 10) * day,
            updated_at=base + i * day + 1,
        )
        for i in range(30)
    ]
    archive.store_versions([(lead, "p.leads", 0, i) for i, lead in enumerate(leads)])


def test_query_filters_pages_newest_first_and_counts(archive: SqliteArchive | PostgresArchive) -> None:
    _seed(archive)
    everything = archive.query(page_size=1000)
    assert everything.total == 30 and [r["lead_id"] for r in everything.rows] == [f"L{i:02}" for i in range(29, -1, -1)]
    assert everything.by_status == {"OPEN": 16, "RESOLVED": 7, "WITHDRAWN": 7}
    assert everything.by_model == {"M02": 10, "M05": 10, "M11": 10}

    page2 = archive.query(LeadFilter(model="M02"), page=2, page_size=4)
    assert page2.total == 10 and [r["lead_id"] for r in page2.rows] == ["L15", "L12", "L09", "L06"]
    assert page2.by_model == {"M02": 10}

    f = LeadFilter(jurisdiction_prefix="2101", status="OPEN", severity="HIGH", department="刑事执行检察")
    assert [r["lead_id"] for r in archive.query(f).rows] == ["L28", "L24", "L16", "L12", "L04", "L00"]

    due = LeadFilter(due_after=_ms("2024-03-20T00:00:00+08:00"), due_before=_ms("2024-03-25T00:00:00+08:00"))
    assert sorted(r["lead_id"] for r in archive.query(due).rows) == ["L09", "L10", "L11", "L12", "L13"]


def test_jurisdiction_prefix_is_a_prefix_not_a_pattern(archive: SqliteArchive | PostgresArchive) -> None:
    _seed(archive)
    assert archive.query(LeadFilter(jurisdiction_prefix="21_1")).total == 0
    assert archive.query(LeadFilter(jurisdiction_prefix="%")).total == 0
    assert archive.query(LeadFilter(jurisdiction_prefix="22")).total == 10


def test_paging_is_checked(archive: SqliteArchive | PostgresArchive) -> None:
    with pytest.raises(InputError, match="pages start at 1"):
        archive.query(page=0)


def test_lead_history_has_versions_and_actions_in_order(archive: SqliteArchive | PostgresArchive) -> None:
    lead = make_lead()
    archive.store_version(lead, "p.leads", 0, 0)
    acts = [
        Action(lead.lead_id, "王检察官", "acknowledge", at=1_000),
        Action(lead.lead_id, "王检察官", "assign", at=2_000, assignee="李检察官"),
        Action(lead.lead_id, "李检察官", "outcome", at=3_000, outcome="发出纠正违法通知书", note="已发出"),
        Action(lead.lead_id, "李检察官", "close", at=4_000),
    ]
    for action in reversed(acts):
        assert archive.record_action(action) is True
    assert archive.record_action(acts[0]) is False, "a replayed action (same action_id) is stored once"
    history = archive.lead(lead.lead_id)
    assert history is not None and history.actions == acts
    assert archive.lead("nope") is None


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (Action("L", "o", "delete", at=1), "use one of acknowledge"),
        (Action("L", "o", "outcome", at=1), "an outcome goes with action 'outcome'"),
        (Action("L", "o", "outcome", at=1, outcome="结案"), "use one of 发出纠正违法通知书"),
        (Action("L", "o", "close", at=1, outcome="其他"), "an outcome goes with"),
        (Action("L", "o", "assign", at=1), "an assignee goes with"),
        (Action("L", "", "close", at=1), "the officer is missing"),
    ],
)
def test_invalid_actions_are_refused(archive: SqliteArchive | PostgresArchive, action: Action, message: str) -> None:
    with pytest.raises(InputError, match=message):
        archive.record_action(action)


def test_statistics_by_model_jurisdiction_and_month(archive: SqliteArchive | PostgresArchive) -> None:
    march, april = _ms("2024-03-31T23:00:00+08:00"), _ms("2024-04-01T00:30:00+08:00")  # CST months
    leads = [
        make_lead("A1", raised_at=march),
        make_lead("A2", raised_at=march),
        make_lead("A3", raised_at=march),
        make_lead("A4", raised_at=april),
        make_lead("B1", model_id="M05", jurisdiction="220101", raised_at=april),
    ]
    archive.store_versions([(lead, "p.leads", 0, i) for i, lead in enumerate(leads)])
    archive.record_action(Action("A1", "o", "outcome", at=1, outcome="检察建议"))
    archive.record_action(Action("A1", "o", "close", at=2))
    archive.record_action(Action("A2", "o", "outcome", at=1, outcome="核实不属实"))
    archive.record_action(Action("A4", "o", "acknowledge", at=1))
    rows = {(r.model_id, r.jurisdiction, r.month): r for r in archive.statistics()}
    assert set(rows) == {("M02", "210102", "2024-03"), ("M02", "210102", "2024-04"), ("M05", "220101", "2024-04")}
    m = rows[("M02", "210102", "2024-03")]
    assert (m.raised, m.worked, m.confirmed, m.confirmation_rate) == (3, 2, 1, 0.5)
    a = rows[("M02", "210102", "2024-04")]
    assert (a.raised, a.worked, a.confirmed) == (1, 1, 0)
    b = rows[("M05", "220101", "2024-04")]
    assert (b.worked, b.confirmation_rate) == (0, None)
    assert [r.model_id for r in archive.statistics(LeadFilter(model="M05"))] == ["M05"]


def test_audit_log_and_rebuild_keep_actions(archive: SqliteArchive | PostgresArchive) -> None:
    archive.store_version(make_lead(), "p.leads", 0, 0)
    archive.record_action(Action("M02-a", "o", "acknowledge", at=1))
    archive.audit("张检察官", "query", None, allowed=True)
    archive.audit("外部人员", "lead", "M02-a", allowed=False)
    archive.clear_versions()
    assert archive.query().total == 0 and archive.lead("M02-a") is None
    archive.store_version(make_lead(), "p.leads", 0, 0)
    history = archive.lead("M02-a")
    assert history is not None and [a.action for a in history.actions] == ["acknowledge"]


def test_audit_rows_read_newest_first_filtered_scoped_and_paged(archive: SqliteArchive | PostgresArchive) -> None:
    archive.store_versions(
        [(make_lead("A1"), "p.leads", 0, 0), (make_lead("B1", jurisdiction="220101"), "p.leads", 0, 1)]
    )
    archive.audit("wang", "sign-in", None, allowed=True, at=1_000)
    archive.audit("wang", "view", "A1", allowed=True, at=2_000)
    archive.record_action(Action("A1", "wang", "acknowledge", at=3_000))
    archive.audit("li", "view", "A1", allowed=False, at=4_000)
    archive.audit("li", "view", "B1", allowed=True, at=5_000)
    archive.audit("wang", "view", "B1", allowed=False, at=5_000)
    everything = archive.audit_entries()
    assert everything.total == 6
    assert [(e.who, e.what, e.lead_id, e.at) for e in everything.rows] == [
        ("wang", "view", "B1", 5_000),  # the same millisecond as the next: the later written first
        ("li", "view", "B1", 5_000),
        ("li", "view", "A1", 4_000),
        ("wang", "action:acknowledge", "A1", 3_000),
        ("wang", "view", "A1", 2_000),
        ("wang", "sign-in", None, 1_000),
    ]
    assert [e.allowed for e in everything.rows if e.who == "li"] == [True, False]

    def whats(f: AuditFilter, **paging: int) -> list[tuple[str, str, int]]:
        return [(e.who, e.what, e.at) for e in archive.audit_entries(f, **paging).rows]

    assert whats(AuditFilter(who="wang", what="view")) == [("wang", "view", 5_000), ("wang", "view", 2_000)]
    assert whats(AuditFilter(lead_id="A1", at_from=2_000, at_before=4_000)) == [
        ("wang", "action:acknowledge", 3_000),
        ("wang", "view", 2_000),
    ]
    # a supervisor of 2101 whose officers are wang: wang's rows and every row about a 2101 lead
    scoped = AuditFilter(scope=AuditScope(users=("wang",), jurisdiction_prefix="2101"))
    assert archive.audit_entries(scoped).total == 5 and ("li", "view", 5_000) not in whats(scoped)
    assert archive.audit_entries(AuditFilter(scope=AuditScope(jurisdiction_prefix="2_"))).total == 0
    assert archive.audit_entries(AuditFilter(scope=AuditScope())).total == 0
    page2 = archive.audit_entries(AuditFilter(who="wang"), page=2, page_size=3)
    assert page2.total == 4 and [e.at for e in page2.rows] == [1_000]
    with pytest.raises(InputError, match="pages start at 1"):
        archive.audit_entries(page=1, page_size=0)


def test_migrations_are_applied_once(archive: SqliteArchive | PostgresArchive) -> None:
    assert archive.schema_version() == 5
    assert archive.migrate() == []


def test_open_archive_picks_the_backend(tmp_path: Path) -> None:
    default = open_archive("", tmp_path)
    assert isinstance(default, SqliteArchive) and (tmp_path / "archive.sqlite3").is_file()
    default.close()
    explicit = open_archive(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    assert isinstance(explicit, SqliteArchive) and (tmp_path / "x.db").is_file()
    explicit.close()
    with pytest.raises(ConfigurationError, match="JIANDU_ARCHIVE_URL"):
        open_archive("mysql://x", tmp_path)


def test_undecodable_messages_and_invalid_actions_are_skipped_not_fatal(
    archive: SqliteArchive | PostgresArchive,
) -> None:
    codec = AvroCodec()
    bad_action = dataclasses.replace(Action("M02-a", "o", "close", at=1), action="delete").row()
    messages = [
        _Message("p.leads", 0, 0, b"not avro"),
        _Message("p.outcomes", 0, 0, codec.encode("action", bad_action)),
        _Message("p.leads", 0, 1, codec.encode("lead", make_lead().to_avro())),
    ]
    progress = store_messages(archive, codec, messages)
    assert (progress.versions, progress.actions, progress.undecodable) == (1, 0, 2)


def test_sealed_identities_keep_the_newest_seal_and_reveals_count_per_user(
    archive: SqliteArchive | PostgresArchive,
) -> None:
    from consumers.archive.model import SealedIdentity

    old, new = SealedIdentity("pk1", "aaaa", b"\x01old", 1000), SealedIdentity("pk1", "bbbb", b"\x01new", 2000)
    assert archive.store_identities([old, new]) == 2
    assert archive.store_identities([old]) == 0, "a re-read older seal does not replace the newer one"
    assert archive.sealed_identity("pk1") == new and archive.sealed_identity("pk2") is None
    archive.audit("wang", "reveal", "L1", allowed=True, at=5000, detail="案号 (2024)辽01刑初1号")
    archive.audit("wang", "reveal", "L1", allowed=False, at=6000, detail="超出频次：x")
    archive.audit("li", "reveal", "L1", allowed=True, at=6000)
    assert archive.audit_count("wang", "reveal", since=4000) == 1, "refusals do not use up the allowance"
    assert archive.audit_count("wang", "reveal", since=5001) == 0
    details = [e.detail for e in archive.audit_entries().rows if e.who == "wang"]
    assert details == ["超出频次：x", "案号 (2024)辽01刑初1号"]


def test_the_scorecard_counts_each_message_once_with_delays_duplicates_and_rejections(
    archive: SqliteArchive | PostgresArchive,
) -> None:
    from consumers.archive.quality import Arrival, delay_bucket

    t = to_ms(parse_datetime("2026-03-10T12:00:00+08:00"))
    hour, day = 3_600_000, 86_400_000
    arrivals = [
        Arrival("ev", 0, 0, "court:210100", t, "court.judgment_effective", "e1", t - 3 * day, t - 2 * day),
        Arrival("ev", 0, 1, "court:210100", t + hour, "court.judgment_effective", "e1", t - 3 * day, t - 2 * day),
        Arrival("ev", 1, 0, "court:210100", t, "court.judgment_effective", "e2", t - hour // 2, t - hour // 4),
        Arrival("dl", 0, 0, "court:210100", t, reason="id_number: wrong check character"),
    ]
    assert len(archive.record_arrivals(arrivals)) == 4
    assert archive.record_arrivals(arrivals) == [], "a message read again is not counted again"
    (court,) = archive.scorecard("2026-03")
    assert (court.accepted, court.duplicates, court.rejected) == (2, 1, 1)
    assert court.rejections == {"id_number: wrong check character": 1}
    assert court.recording == [1, 0, 1, 0, 0, 0] and court.upload == [1, 0, 1, 0, 0, 0]  # 1 d and 2 d: "3 日内"
    assert court.last_arrival == t + hour and court.rejection_rate == 0.25
    assert archive.scorecard("2026-04")[0].accepted == 0, "a silent month still lists the source"
    assert [delay_bucket(x) for x in (-5, hour - 1, hour, 40 * day)] == [0, 0, 1, 5]


def test_replicas_counting_the_same_sources_at_once_neither_deadlock_nor_lose_counts(
    postgres_server: PostgresServer,
) -> None:
    """Two archivers (two connections) count arrivals of the same sources from different partitions, in
    opposite orders, at the same time: each locked rows in arrival order once, and PostgreSQL killed one
    with a deadlock."""
    import threading

    from consumers.archive.quality import Arrival

    url = postgres_server.database()
    PostgresArchive(url).close()  # migrated once, before the replicas race
    t = to_ms(parse_datetime("2026-03-10T12:00:00+08:00"))
    sources = [f"court:2101{n:02}" for n in range(12)]
    rounds, errors = 15, []

    def replica(partition: int, order: list[str]) -> None:
        archive = PostgresArchive(url)
        try:
            for r in range(rounds):
                batch = [
                    Arrival(
                        "ev",
                        partition,
                        r * len(order) + i,
                        s,
                        t + r,
                        "court.judgment_effective",
                        f"{s}/{partition}/{r}",
                        t - 1,
                        t,
                    )
                    for i, s in enumerate(order)
                ]
                archive.record_arrivals(batch)
        except Exception as exc:
            errors.append(exc)
        finally:
            archive.close()

    replicas = [
        threading.Thread(target=replica, args=(0, sources)),
        threading.Thread(target=replica, args=(1, sources[::-1])),
    ]
    for thread in replicas:
        thread.start()
    for thread in replicas:
        thread.join(timeout=120)
    assert errors == []
    archive = PostgresArchive(url)
    try:
        scores = archive.scorecard("2026-03")
    finally:
        archive.close()
    assert sorted(s.source for s in scores) == sources
    assert {s.accepted for s in scores} == {2 * rounds}


@pytest.mark.parametrize(
    ("reason", "key"),
    [
        ("id_number: wrong check character", "id_number:check_character"),
        ("suspects[3].id_number: bad length 17", "suspects[].id_number:length"),
        ("occurred_at: impossible or malformed date-time '2024.3.2'", "occurred_at:datetime"),
        ("missing required field case_no", "case_no:required"),
        ("source: agency x: 'court:210200' is not among its sources (court:210100)", "source:source_not_allowed"),
        ("not valid JSON: Expecting value", "-:json"),
    ],
)
def test_the_scorecard_groups_rejections_by_field_and_rule_never_by_value(reason: str, key: str) -> None:
    from consumers.archive.quality import rejection_key
    from consumers.console.reasons import rejection_zh

    assert rejection_key(reason) == key
    assert rejection_zh("suspects[].id_number:check_character") == "suspects[].身份证号 校验位错误"
