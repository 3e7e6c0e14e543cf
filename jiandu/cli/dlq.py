"""``jiandu dlq list | summary | resubmit``: the dead-letter topic for operators.

Listings show when, which source, which adapter, where in the input, the record
type and the reason — never the sealed payload. ``resubmit`` opens the original
bytes with the pseudonym key, turns them into a record again and submits it
through :class:`producers.RecordIntake`: a record that is still bad becomes a new
dead letter with its new reason. By default a file-drop row (its payload carries
the row, its header line and the name of its mapping file:
``adapters.files.RowPayload``) is mapped again through that mapping file as it
reads now — fixed since, typically — found among ``--mappings`` (default: the
shipped ``adapters/mappings``); anything else is re-parsed as canonical JSON
(what the JSON-lines ingest and the gateway seal). ``--transform
package.module:function`` replaces both for every chosen letter:
``transform(opened_bytes, letter) -> record`` (for a file-drop row the bytes are its
JSON payload; ``RowPayload.parse`` reads it); or call :func:`resubmit_letters`.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jiandu.cli.arguments import positive_int
from jiandu.core.timeutil import format_cst
from jiandu.errors import ConfigurationError, RecordError
from jiandu.security import printable
from jiandu.settings import Settings, kafka_client_config

if TYPE_CHECKING:  # the Kafka clients load only when a dlq command runs, not for every `jiandu`
    from adapters.files import Remapper
    from consumers.dead_letters import DeadLetter, ResubmissionLedger
    from jiandu.core.sealing import PayloadSeal
    from producers import RecordIntake, Submission

__all__ = ["ResubmitReport", "Transform", "add_parser", "command", "ledger_path", "resubmit_letters"]

#: Turns a dead letter's original bytes back into a record; raises RecordError when it cannot.
Transform = Callable[[bytes, "DeadLetter"], Mapping[str, Any]]
ACCEPTED, REJECTED = "accepted", "rejected-again"


@dataclass(frozen=True, slots=True)
class ResubmitReport:
    """What a re-submission did: letters skipped because the agency was not allowed to send them, outcomes."""

    accepted: int
    rejected: int
    skipped_refused: int
    reasons: tuple[str, ...]
    remapped: int = 0  # file-drop rows mapped again through their mapping files


def add_parser(sub: Any) -> None:
    """Register ``dlq list``, ``dlq summary`` and ``dlq resubmit``."""
    dlq = sub.add_parser("dlq", help="list, count and re-submit dead letters")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)
    for name, text in (
        ("list", "list dead letters (time, source, adapter, origin, type, reason; never the payload)"),
        ("summary", "count dead letters by source and reason"),
        ("resubmit", "open the original bytes and submit them again through the intake"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--source", default=None, help="only sources starting with this, e.g. court:2101")
        action.add_argument("--reason", default=None, help="only reasons containing this text (any case)")
    actions.choices["list"].add_argument(
        "--limit", type=positive_int, default=None, help="at most this many (newest last)"
    )
    actions.choices["list"].add_argument("--open", action="store_true", help="only letters not yet re-submitted")
    resubmit = actions.choices["resubmit"]
    resubmit.add_argument("--transform", default=None, help="module:function turning (raw, letter) into a record")
    resubmit.add_argument(
        "--mappings",
        type=Path,
        action="append",
        help="where the mapping files file-drop rows name are: a folder or file; repeat to add more "
        "(default: the shipped adapters/mappings)",
    )
    resubmit.add_argument(
        "--include-refused", action="store_true", help="also records an agency was not allowed to send"
    )


def command(settings: Settings, args: argparse.Namespace) -> int:
    """Run one ``jiandu dlq`` action."""
    from consumers.dead_letters import ResubmissionLedger, matching, read_dead_letters
    from jiandu.broker import require_reachable
    from jiandu.cli.hub import catalogue_of

    require_reachable(settings.bootstrap)

    letters = matching(
        read_dead_letters(kafka_client_config(settings), catalogue_of(settings).dead_letters),
        source=args.source,
        reason=args.reason,
    )
    with ResubmissionLedger(ledger_path(settings)) as ledger:
        if args.dlq_command == "list":
            return _list(letters, ledger.states(letters), only_open=args.open, limit=args.limit)
        if args.dlq_command == "summary":
            return _summary(letters, ledger.states(letters))
        transform = _load_transform(args.transform) if args.transform else None
        remapper = _remapper(args.mappings) if args.mappings else None
        return _resubmit(settings, letters, ledger, transform, remapper, include_refused=args.include_refused)


def ledger_path(settings: Settings) -> Path:
    """The SQLite file remembering re-submitted letters (one per topic prefix)."""
    return settings.data_dir / f"dlq-resubmitted-{settings.topic_prefix}.sqlite3"


def resubmit_letters(
    letters: Iterable[DeadLetter],
    intake: RecordIntake,
    seal: PayloadSeal,
    ledger: ResubmissionLedger,
    transform: Transform | None = None,
    *,
    include_refused: bool = False,
    remapper: Remapper | None = None,
) -> ResubmitReport:
    """Submit open letters again; confirmed outcomes go to the ledger.

    Without ``transform``: file-drop rows are mapped again through the mapping files they name
    (``remapper``, default the shipped mappings; ConfigurationError before anything is sent when one
    is missing), other letters re-parsed as canonical JSON.
    """
    from adapters.gateway.credentials import is_refusal
    from consumers.dead_letters import OPEN

    letters = list(letters)
    states = ledger.states(letters)
    chosen = [letter for letter in letters if states[letter.position] == OPEN]
    refused = {letter.position for letter in chosen if is_refusal(letter.reason) and not include_refused}
    opened = [(letter, letter.open(seal)) for letter in chosen if letter.position not in refused]
    remapper = None if transform is not None else _remapper_for([raw for _, raw in opened], remapper)
    outcomes = [(letter, _submit_again(letter, raw, intake, transform, remapper)) for letter, raw in opened]
    intake.confirm()
    ledger.record((letter, ACCEPTED if done.queued else REJECTED) for letter, (done, _) in outcomes)
    reasons = tuple(done.rejection.reason for _, (done, _) in outcomes if done.rejection is not None)
    accepted = sum(1 for _, (done, _) in outcomes if done.queued)
    remapped = sum(1 for _, (_, again) in outcomes if again)
    return ResubmitReport(accepted, len(outcomes) - accepted, len(refused), reasons, remapped)


def _remapper_for(payloads: list[bytes], remapper: Remapper | None) -> Remapper:
    """The remapper for the file-drop rows among the payloads, checked to hold every mapping they name."""
    from adapters.files import SHIPPED_MAPPINGS, Remapper, RowPayload, load_mappings

    rows = [row for row in map(RowPayload.parse, payloads) if row is not None]
    if remapper is None:
        remapper = Remapper(load_mappings(SHIPPED_MAPPINGS) if rows else [])
    remapper.require(rows)
    return remapper


def _remapper(paths: list[Path]) -> Remapper:
    from adapters.files import Remapper, load_mapping, load_mappings

    return Remapper(m for p in paths for m in (load_mappings(p) if p.is_dir() else [load_mapping(p)]))


def _submit_again(
    letter: DeadLetter, raw: bytes, intake: RecordIntake, transform: Transform | None, remapper: Remapper | None
) -> tuple[Submission, bool]:
    """The letter submitted again, and whether it was a file-drop row mapped again through its mapping."""
    from adapters.files import RowPayload

    origin = f"{letter.adapter}:{letter.origin}"
    if transform is not None:
        return _transformed(letter, raw, origin, intake, transform), False
    row = RowPayload.parse(raw)
    if row is None or remapper is None:
        return intake.submit_bytes(raw, origin), False
    again = remapper.remap(row)
    if again.problem is not None:
        return intake.reject(again.record, raw, origin, field=None, rule=again.rule, message=again.problem), True
    return intake.submit(again.record, raw, origin), True


def _transformed(letter: DeadLetter, raw: bytes, origin: str, intake: RecordIntake, transform: Transform) -> Submission:
    try:
        record = transform(raw, letter)
    except RecordError as exc:
        known = {"source": letter.source, "type": letter.record_type, "source_record_id": letter.source_record_id}
        return intake.reject(known, raw, origin, field=None, rule="mapping", message=f"mapping: {exc.reason}")
    return intake.submit(record, raw, origin)


def _list(
    letters: list[DeadLetter], states: Mapping[tuple[str, int, int], str], *, only_open: bool, limit: int | None
) -> int:
    from consumers.dead_letters import OPEN

    shown = [letter for letter in letters if not only_open or states[letter.position] == OPEN]
    shown.sort(key=lambda letter: letter.received_at)
    if limit is not None:
        shown = shown[-limit:] if limit > 0 else []
    print(f"{'received (CST)':25} {'state':14} {'source':22} {'adapter':13} {'type':34} {'origin':32} reason")
    for letter in shown:
        print(
            f"{format_cst(letter.received_at)[:25]:25} {states[letter.position]:14} "
            f"{printable(letter.source or '-'):22} {letter.adapter:13} {printable(letter.record_type or '-'):34} "
            f"{printable(letter.origin):32} {printable(letter.reason)}"
        )
    print(f"{len(shown)} of {len(letters)} dead letters")
    return 0


def _summary(letters: list[DeadLetter], states: Mapping[tuple[str, int, int], str]) -> int:
    from consumers.dead_letters import OPEN, summarise

    print(f"{'letters':>7} {'open':>5}  {'source':22} reason")
    for source, reason, count, still_open in summarise(letters, states):
        print(f"{count:7} {still_open:5}  {printable(source):22} {printable(reason)}")
    print(f"{len(letters)} dead letters, {sum(1 for s in states.values() if s == OPEN)} open")
    return 0


def _resubmit(
    settings: Settings,
    letters: list[DeadLetter],
    ledger: ResubmissionLedger,
    transform: Transform | None,
    remapper: Remapper | None,
    *,
    include_refused: bool,
) -> int:
    from jiandu.cli.hub import new_intake
    from jiandu.core.sealing import PayloadSeal

    publisher, intake = new_intake(settings, adapter="dlq-resubmit")
    with publisher:
        report = resubmit_letters(
            letters,
            intake,
            PayloadSeal(settings.pseudonym_key_bytes),
            ledger,
            transform,
            include_refused=include_refused,
            remapper=remapper,
        )
    print(f"accepted {report.accepted}, rejected {report.rejected} (dead-lettered again with their reasons)")
    if report.remapped:
        print(f"{report.remapped} of them file-drop rows, mapped again through the mapping files they name")
    for reason in sorted(set(report.reasons)):
        print(f"  {report.reasons.count(reason):6}  {printable(reason)}")
    if report.skipped_refused:
        print(f"skipped {report.skipped_refused} the agency was not allowed to send (--include-refused sends them)")
    return 0


def _load_transform(spec: str) -> Transform:
    module_name, _, name = spec.partition(":")
    try:
        transform = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(f"--transform {spec!r}: cannot load it ({exc}); use package.module:function") from exc
    if not callable(transform):
        raise ConfigurationError(f"--transform {spec!r} is not callable")
    return transform
