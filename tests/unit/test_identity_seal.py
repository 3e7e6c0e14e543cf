"""Sealing raw ID numbers for the console's reveal service: only its private keys open them, rotation."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest

from jiandu.core.identity import make_id_number, person_key
from jiandu.core.identity_seal import IdentityOpener, IdentitySealer, SealError, generate_key_pair, seal_key_id
from jiandu.errors import ConfigurationError
from producers.identities import IdentitySealing, RecordingPseudonymiser

ROOT = Path(__file__).resolve().parents[2]
KEY = b"unit-test-pseudonym-key"


def _number(seq: int = 7) -> str:
    return make_id_number("210102", datetime.date(1985, 3, 17), seq)


def test_a_sealed_number_opens_only_with_the_private_key_and_for_its_person(tmp_path: Path) -> None:
    private, public, key_id = generate_key_pair(tmp_path)
    assert private.stat().st_mode & 0o077 == 0, "the private key file is readable by its owner only"
    number = _number()
    pk = person_key(number, KEY)
    sealed = IdentitySealer.from_file(public).seal(number, pk)
    assert number.encode() not in sealed and seal_key_id(sealed) == key_id
    assert IdentityOpener.from_files([private]).open(sealed, pk) == number
    with pytest.raises(SealError, match="another person"):  # bound to the pseudonym: cannot be moved to another
        IdentityOpener.from_files([private]).open(sealed, person_key(_number(8), KEY))
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SealError):
        IdentityOpener.from_files([private]).open(tampered, pk)
    assert IdentitySealer.from_file(public).seal(number, pk) != sealed, "every seal has its own ephemeral key"


def test_rotation_newest_key_seals_and_every_held_key_opens(tmp_path: Path) -> None:
    old_private, old_public, old_id = generate_key_pair(tmp_path / "old")
    new_private, new_public, new_id = generate_key_pair(tmp_path / "new")
    number, pk = _number(), person_key(_number(), KEY)
    before = IdentitySealer.from_file(old_public).seal(number, pk)
    after = IdentitySealer.from_file(new_public).seal(number, pk)
    both = IdentityOpener.from_files([new_private, old_private])
    assert both.key_ids == sorted([old_id, new_id])
    assert both.open(before, pk) == both.open(after, pk) == number
    with pytest.raises(SealError, match=old_id):  # once the old key is retired, its seals stay closed
        IdentityOpener.from_files([new_private]).open(before, pk)


def test_key_files_that_are_not_keys_are_configuration_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(ConfigurationError, match="JIANDU_REVEAL_KEY_FILES"):
        IdentityOpener.from_files([bad])
    with pytest.raises(ConfigurationError, match="JIANDU_REVEAL_PUBLIC_KEY"):
        IdentitySealer.from_file(bad)


def test_the_intake_side_seals_each_person_once_until_the_broker_confirms(tmp_path: Path) -> None:
    _, public, _ = generate_key_pair(tmp_path)
    pseudonymiser = RecordingPseudonymiser(KEY)
    pk = pseudonymiser.person_key(_number().lower())  # normalised before it is sealed
    assert pseudonymiser.seen == {pk: _number()}
    sealing = IdentitySealing(IdentitySealer.from_file(public))
    assert [k for k, _ in sealing.seals(pseudonymiser.seen)] == [pk]
    assert [k for k, _ in sealing.seals(pseudonymiser.seen)] == [pk], "not confirmed yet: sent again"
    sealing.confirmed(pk)
    assert sealing.seals(pseudonymiser.seen) == []


def test_only_the_console_reads_the_reveal_private_keys() -> None:
    """Workers, adapters and Kafka clients never load a private key: only `jiandu console` does."""
    readers = []
    for path in ROOT.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"reveal_key_files|IdentityOpener", text):
            readers.append(str(path.relative_to(ROOT)))
    allowed = {"jiandu/core/identity_seal.py", "jiandu/settings.py", "jiandu/cli/console.py"}
    allowed |= {"consumers/console/reveal.py", "consumers/console/rotation.py"}  # the console (and its reseal)
    allowed.add("jiandu/cli/run.py")  # development: hands its key file to the console process alone
    assert set(readers) <= allowed, set(readers) - allowed
