"""The console's pure parts: passwords, session cookies, who sees which lead, scoped queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.archive import LeadFilter
from consumers.archive.store import SqliteArchive
from consumers.console import SessionSigner, User, hash_password, load_users, verify_password
from consumers.console.labels import agency_zh, record_type_zh
from consumers.console.scope import narrowed, scoped_query, scoped_statistics
from jiandu.errors import ConfigurationError
from tests.lead_versions import lead_version

OFFICER = User("wang", "王", "officer", "2101", ("刑事执行检察", "侦查监督"))


def test_a_password_verifies_against_its_hash_only() -> None:
    stored = hash_password("s3cret-password")
    assert verify_password("s3cret-password", stored)
    assert not verify_password("wrong", stored)
    assert not verify_password("s3cret-password", "not-a-hash")


def test_a_session_cookie_is_refused_when_forged_or_expired() -> None:
    signer = SessionSigner(b"k" * 32, lifetime_seconds=60)
    value = signer.issue("wang", now=1000)
    assert signer.username(value, now=1030) == "wang"
    assert signer.username(value, now=1061) is None
    forged = signer.issue("li", now=1000).rsplit(".", 1)[0] + "." + value.rsplit(".", 1)[1]  # li with wang's signature
    assert signer.username(forged, now=1030) is None
    assert SessionSigner(b"x" * 32).username(value, now=1030) is None
    assert signer.username("garbage", now=1030) is None


def test_an_officer_sees_their_jurisdiction_and_departments_only() -> None:
    assert OFFICER.may_see({"jurisdiction": "210102", "department": "侦查监督"})
    assert not OFFICER.may_see({"jurisdiction": "210202", "department": "侦查监督"})
    assert not OFFICER.may_see({"jurisdiction": "210102", "department": "民事检察"})
    supervisor = User("zhao", "赵", "supervisor", "2101", ())
    assert supervisor.may_see({"jurisdiction": "210102", "department": "民事检察"})


def test_filters_are_narrowed_to_what_the_user_may_see() -> None:
    assert narrowed(OFFICER, LeadFilter(jurisdiction_prefix="2102")) == []
    assert narrowed(OFFICER, LeadFilter(department="民事检察")) == []
    parts = narrowed(OFFICER, LeadFilter(jurisdiction_prefix="21"))
    assert {(p.jurisdiction_prefix, p.department) for p in parts} == {("2101", "刑事执行检察"), ("2101", "侦查监督")}


def test_a_scoped_query_merges_departments_newest_first(tmp_path: Path) -> None:
    archive = SqliteArchive(tmp_path / "a.sqlite3")
    leads = [
        lead_version(1, 1),
        lead_version(2, 1, department="侦查监督", model_id="M05"),
        lead_version(3, 1, department="民事检察"),
        lead_version(4, 1, jurisdiction="210202"),
    ]
    archive.store_versions([(lead, "t", 0, i) for i, lead in enumerate(leads)])
    result = scoped_query(archive, OFFICER, LeadFilter(), page=1, page_size=1)
    assert result.total == 2 and len(result.rows) == 1
    assert result.by_model == {"M02": 1, "M05": 1}
    assert sum(r.raised for r in scoped_statistics(archive, OFFICER, LeadFilter())) == 2
    archive.close()


def test_the_users_file_names_the_user_and_field_of_a_mistake(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text('users:\n  - {username: wang, role: chief, password_hash: "scrypt$1$1$1$a$b"}\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"wang.*role 'chief'"):
        load_users(path)


def test_evidence_reads_in_chinese() -> None:
    assert record_type_zh("court.judgment_effective") == "判决生效"
    assert agency_zh("correction:210102") == "社区矫正机构 210102"
