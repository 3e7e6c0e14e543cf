"""Agencies, tokens and the push policy: who may send which sources and record types."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.gateway import Agency, AgencyRegistry, hash_token, load_agencies, new_token, verify_token
from adapters.gateway.credentials import is_refusal
from jiandu.errors import ConfigurationError

COURT = Agency("shenyang-court", "court", ("court:210100",), ())


def test_a_token_verifies_against_its_salted_hash_and_nothing_else() -> None:
    token = new_token("shenyang-court")
    assert token.startswith("shenyang-court.") and len(token) > 40
    for scheme in ("sha256", "scrypt"):  # sha256: new hashes; scrypt: those of earlier versions still verify
        stored = hash_token(token, scheme=scheme)
        assert stored.startswith(f"{scheme}$") and token.split(".")[1] not in stored
        assert hash_token(token, scheme=scheme) != stored, "every hash has its own salt"
        assert verify_token(token, stored)
        assert not verify_token(token + "x", stored)
    assert not verify_token(token, "scrypt$not$a$valid$hash$at-all")
    assert not verify_token(token, "sha256$not-base64!$x")


def test_checking_a_wrong_token_costs_microseconds_not_a_password_hash() -> None:
    import time

    stored = hash_token(new_token("shenyang-court"))
    started = time.perf_counter()
    for _ in range(1000):
        verify_token("shenyang-court.wrong", stored)
    assert (time.perf_counter() - started) / 1000 < 0.001


def test_the_registry_knows_an_agency_only_by_its_own_token() -> None:
    court_token, police_token = new_token("shenyang-court"), new_token("shenyang-police")
    court = Agency("shenyang-court", "court", ("court:210100",), (hash_token(court_token),))
    police = Agency("shenyang-police", "police", ("police:2101",), (hash_token(police_token),))
    registry = AgencyRegistry([court, police])
    assert registry.authenticate(court_token) is court
    assert registry.authenticate(court_token) is court  # second time from the verified cache
    assert registry.authenticate(police_token) is police
    wrong_owner = "shenyang-police." + court_token.split(".", 1)[1]
    for bad in (wrong_owner, court_token[:-1], "nobody.secret", "", "no-dot-at-all"):
        assert registry.authenticate(bad) is None, bad


def test_sources_are_prefixes_and_types_follow_the_category() -> None:
    assert COURT.refusal({"source": "court:210100", "type": "court.execution_filed"}) is None
    assert COURT.refusal({"source": "court:210100:criminal-2", "type": "court.execution_filed"}) is None
    foreign = COURT.refusal({"source": "court:210200", "type": "court.execution_filed"})
    assert foreign is not None and (foreign.field, foreign.rule) == ("source", "source_not_allowed")
    assert "'court:210200'" in foreign.message and "court:210100" in foreign.message
    not_owned = COURT.refusal({"source": "court:210100", "type": "police.case_filed"})
    assert not_owned is not None and (not_owned.field, not_owned.rule) == ("type", "type_not_allowed")
    assert is_refusal(f"{not_owned.field}: {not_owned.message}")
    assert not is_refusal("id_number: wrong check character")


def test_malformed_fields_are_left_to_validation() -> None:
    for record in ({"type": "court.nonsense", "source": "court:210100"}, {"source": 12}, {}, ["not", "a", "record"]):
        assert COURT.refusal(record) is None


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agencies.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_credentials_file_is_read_and_checked(tmp_path: Path) -> None:
    token = new_token("shenyang-court")
    path = _write(
        tmp_path,
        f"""
agencies:
  - id: shenyang-court
    name: 沈阳市中级人民法院
    category: court
    sources: ["court:210100", "court:210102"]
    token_hash: ["{hash_token(token)}", "{hash_token(new_token("shenyang-court"))}"]
  - id: shenyang-police
    category: police
    sources: police:2101
    token_hash: "{hash_token(new_token("shenyang-police"))}"
""",
    )
    registry = load_agencies(path)
    assert len(registry) == 2
    court = registry.authenticate(token)
    assert (
        court is not None and court.name == "沈阳市中级人民法院" and court.sources == ("court:210100", "court:210102")
    )
    police = registry.get("shenyang-police")
    assert police is not None and police.sources == ("police:2101",)


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ("id: a b\n    category: court\n    sources: [court:210100]\n    token_hash: scrypt$1$1$1$a$b", "agency id"),
        ("id: x\n    category: judge\n    sources: [court:210100]\n    token_hash: scrypt$1$1$1$a$b", "category"),
        ("id: x\n    category: court\n    sources: [police:210100]\n    token_hash: scrypt$1$1$1$a$b", "'court:'"),
        ("id: x\n    category: court\n    sources: []\n    token_hash: scrypt$1$1$1$a$b", "sources"),
        ("id: x\n    category: court\n    sources: [court:210100]\n    token_hash: plaintext", "hash-token"),
    ],
)
def test_a_bad_entry_is_an_error_naming_it(tmp_path: Path, entry: str, complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        load_agencies(_write(tmp_path, f"agencies:\n  - {entry}\n"))


def test_an_unreadable_or_empty_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_agencies(tmp_path / "missing.yaml")
    with pytest.raises(ConfigurationError, match="non-empty list"):
        load_agencies(_write(tmp_path, "agencies: []\n"))
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_agencies(_write(tmp_path, "agencies: [\n"))
    twice = "  - {id: x, category: court, sources: [court:210100], token_hash: 'scrypt$1$1$1$a$b'}\n"
    with pytest.raises(ConfigurationError, match="listed twice"):
        load_agencies(_write(tmp_path, "agencies:\n" + twice + twice))


def test_development_agencies_own_exactly_the_sources_of_a_sample(tmp_path: Path) -> None:
    from jiandu.cli.gateway import write_development_agencies

    path = tmp_path / "dev" / "agencies.yaml"
    tokens = write_development_agencies(path, ["court:210100", "police:210102", "court:210102", "court:210100"])
    registry = load_agencies(path)
    court = registry.authenticate(tokens["court"])
    assert court is not None and court.id == "dev-court" and court.sources == ("court:210100", "court:210102")
    police = registry.authenticate(tokens["police"])
    assert police is not None and police.refusal({"source": "police:210103", "type": "police.lodging"}) is not None
