"""Log set-up of every process: text or JSON lines, and never a raw ID number.

JSON lines (``JIANDU_LOG_FORMAT=json``) carry ``ts`` (UTC, ISO 8601), ``level``,
``logger``, ``process`` (the command), ``msg`` and, for errors, ``exc``. Whatever
the format, a filter masks anything shaped like a resident ID number before a line
is written: the code never logs one on purpose, and this keeps a stray exception
message (a library quoting its input) from leaking one.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["IdNumberMask", "JsonLinesFormatter", "configure_logging", "logging_config", "mask_id_numbers"]

_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])|(?<!\d)\d{15}(?!\d)")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_CHATTY = ("kafka", "aiokafka", "librdkafka", "httpx", "uvicorn", "uvicorn.access", "uvicorn.error")
#: kafka-python's own timing diagnostic ("Task … ran for 0.108s (>0.100s threshold). It is blocking the event
#: loop"): a WARNING whenever the machine is busy, about the client's internals, nothing a user can act on
_DIAGNOSTICS = ("kafka.net.selector",)


def mask_id_numbers(text: str) -> str:
    """``text`` with every 18- (or old 15-) digit ID number replaced by ``[id-number]``."""
    return _ID_NUMBER.sub("[id-number]", text)


class IdNumberMask(logging.Filter):
    """Rewrites a record's message (arguments merged) with ID numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_id_numbers(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            text = mask_id_numbers(logging.Formatter().formatException(record.exc_info))
            record.exc_info, record.exc_text = None, text
        return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line."""

    def __init__(self, process: str = "") -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "process": self.process,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def logging_config(
    level: str, log_format: str, process: str, *, log_file: Path | None = None, to_stderr: bool = True
) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for the hub's processes (Faust's worker takes one too).

    ``log_file``: also append to this file; ``to_stderr=False`` with a file keeps the
    terminal for what the command prints (``jiandu run``: addresses, leads, summaries).
    """
    formatter: dict[str, Any] = (
        {"()": JsonLinesFormatter, "process": process} if log_format == "json" else {"format": _TEXT_FORMAT}
    )
    quiet = max(logging.WARNING, logging.getLevelName(level.upper()))
    handlers: dict[str, dict[str, Any]] = {}
    if to_stderr or log_file is None:
        handlers["default"] = {"class": "logging.StreamHandler", "formatter": "default", "filters": ["mask"]}
    if log_file is not None:
        handlers["file"] = {
            "class": "logging.FileHandler",
            "filename": str(log_file),
            "encoding": "utf-8",
            "formatter": "default",
            "filters": ["mask"],
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"mask": {"()": IdNumberMask}},
        "formatters": {"default": formatter},
        "handlers": handlers,
        "root": {"level": level.upper(), "handlers": list(handlers)},
        # per-connection and per-request INFO lines of the client libraries drown the hub's own
        "loggers": {
            **{name: {"level": logging.getLevelName(quiet)} for name in _CHATTY},
            **{name: {"level": "ERROR"} for name in _DIAGNOSTICS},
        },
    }


def configure_logging(
    level: str, log_format: str, process: str, *, log_file: Path | None = None, to_stderr: bool = True
) -> None:
    """Set up the root logger (text or JSON lines, ID numbers masked; see :func:`logging_config`)."""
    import logging.config

    logging.config.dictConfig(logging_config(level, log_format, process, log_file=log_file, to_stderr=to_stderr))
