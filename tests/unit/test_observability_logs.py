"""Log lines: the JSON-lines format, and no raw ID number in a message or an exception, whatever the format."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from jiandu.core.identity import make_id_number
from jiandu.observability.logs import IdNumberMask, JsonLinesFormatter, logging_config, mask_id_numbers

ID_18 = make_id_number("210102", date(1985, 3, 17), 241)
ID_18_X = next(n for s in range(1000) if (n := make_id_number("210102", date(1990, 1, 1), s)).endswith("X"))
ID_15 = "210102850317241"
MASK = "[id-number]"


@pytest.fixture
def json_lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing JSON lines, ID numbers masked, into a buffer (as configure_logging sets the root up)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonLinesFormatter(process="ingest"))
    handler.addFilter(IdNumberMask())
    logger = logging.getLogger(f"jiandu.test.{id(buffer)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield logger, buffer
    finally:
        logger.removeHandler(handler)


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_json_line_has_the_documented_fields(json_lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = json_lines
    before = datetime.now(UTC)
    logger.warning("rest %s: page %d confirmed", "court:210102", 3)
    (entry,) = lines(buffer)
    assert set(entry) == {"ts", "level", "logger", "process", "pid", "msg"}
    assert entry["level"] == "warning" and entry["logger"] == logger.name and entry["process"] == "ingest"
    assert entry["msg"] == "rest court:210102: page 3 confirmed"
    assert isinstance(entry["pid"], int)
    stamp = datetime.fromisoformat(str(entry["ts"]))
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert abs((stamp - before).total_seconds()) < 5


def test_one_line_per_record_even_with_newlines_and_chinese(json_lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = json_lines
    logger.info("第一行\n第二行")
    logger.error("again")
    entries = lines(buffer)
    assert [e["msg"] for e in entries] == ["第一行\n第二行", "again"]
    assert "第一行" in buffer.getvalue(), "written as UTF-8 text, not \\u escapes"


@pytest.mark.parametrize("number", [ID_18, ID_18_X, ID_18_X.lower(), ID_15])
def test_an_id_number_in_a_message_is_masked(json_lines: tuple[logging.Logger, io.StringIO], number: str) -> None:
    logger, buffer = json_lines
    logger.info("record with id_number %s rejected", number)  # as an argument
    logger.info(f"inline {number}, and quoted '{number}'")  # in the format string itself
    assert number not in buffer.getvalue() and number.upper() not in buffer.getvalue()
    assert [e["msg"] for e in lines(buffer)] == [
        f"record with id_number {MASK} rejected",
        f"inline {MASK}, and quoted '{MASK}'",
    ]


def test_an_id_number_in_an_exception_text_is_masked(json_lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = json_lines
    try:
        raise ValueError(f"library quoting its input: {{'id_number': '{ID_18}'}} and {ID_15}")
    except ValueError:
        logger.exception("failed on %s", ID_18_X)
    (entry,) = lines(buffer)
    assert entry["msg"] == f"failed on {MASK}"
    assert "ValueError: library quoting its input" in str(entry["exc"]) and "Traceback" in str(entry["exc"])
    for number in (ID_18, ID_15, ID_18_X):
        assert number not in buffer.getvalue()


def test_the_text_format_masks_exceptions_too() -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter(logging_config("info", "text", "x")["formatters"]["default"]["format"]))
    handler.addFilter(IdNumberMask())
    logger = logging.getLogger("jiandu.test.text")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"bad {ID_18}")
        except RuntimeError:
            logger.error("with %s", ID_15, exc_info=True)
    finally:
        logger.removeHandler(handler)
    text = buffer.getvalue()
    assert ID_18 not in text and ID_15 not in text
    assert f"with {MASK}" in text and f"RuntimeError: bad {MASK}" in text


@pytest.mark.parametrize(
    "text",
    [
        "offset 123456789012",  # 12 digits: not an ID number
        "a 16-digit card 1234567890123456",
        "a 20-digit 12345678901234567890",
        "a person_key 3f1c2b7a9e0d4c6b8a2f1e3d5c7b9a0f1e2d3c4b5a6978877665544332211000",
        "court:210102/police.case_filed/A-1",
    ],
)
def test_what_is_not_an_id_number_is_left_alone(text: str) -> None:
    assert mask_id_numbers(text) == text


def test_configure_logging_writes_masked_json_lines_from_a_real_process() -> None:
    program = (
        "import logging\n"
        "from jiandu.observability.logs import configure_logging\n"
        "configure_logging('info', 'json', 'gateway')\n"
        f"logging.getLogger('jiandu.gateway').info('pushed %s', '{ID_18}')\n"
        "logging.getLogger('httpx').info('a chatty client line')\n"
        "try:\n"
        f"    raise KeyError('{ID_15}')\n"
        "except KeyError:\n"
        "    logging.getLogger('jiandu').exception('boom')\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(e["logger"], e["level"], e["process"], e["msg"]) for e in entries] == [
        ("jiandu.gateway", "info", "gateway", f"pushed {MASK}"),
        ("jiandu", "error", "gateway", "boom"),
    ], "one JSON object per line; httpx's INFO lines are quietened"
    assert f"KeyError: '{MASK}'" in entries[1]["exc"]
    assert ID_18 not in done.stderr and ID_15 not in done.stderr


def test_a_log_file_without_stderr_keeps_the_terminal_clean_and_still_masks(tmp_path: Path) -> None:
    """`jiandu run` logs to data/run.log only (its terminal is for addresses, leads and summaries)."""
    log_file = tmp_path / "run.log"
    script = (
        "import logging; from jiandu.observability.logs import configure_logging; "
        f"configure_logging('info', 'text', 'run', log_file=__import__('pathlib').Path({str(log_file)!r}), "
        "to_stderr=False); "
        f"logging.getLogger('jiandu.test').info('person %s seen', {ID_18!r}); "
        "logging.getLogger('kafka.net.selector').warning('blocking the event loop')"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    written = log_file.read_text(encoding="utf-8")
    assert f"INFO jiandu.test person {MASK} seen" in written and ID_18 not in written
    assert "blocking the event loop" not in written, "kafka-python's timing diagnostic is not for users"
