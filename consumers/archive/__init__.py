"""The lead archive: every lead version and every officer action, in SQLite or PostgreSQL."""

from consumers.archive.archiver import ArchiveProgress, archive_stream, publish_action, rebuild, store_messages
from consumers.archive.model import (
    ACTIONS,
    CONFIRMING,
    OUTCOMES,
    Action,
    AuditEntry,
    AuditFilter,
    AuditPage,
    AuditScope,
    LeadFilter,
    LeadHistory,
    QueryResult,
    StatisticsRow,
    StoredSession,
)
from consumers.archive.store import LeadArchive, PostgresArchive, SqliteArchive, open_archive

__all__ = [
    "ACTIONS",
    "CONFIRMING",
    "OUTCOMES",
    "Action",
    "ArchiveProgress",
    "AuditEntry",
    "AuditFilter",
    "AuditPage",
    "AuditScope",
    "LeadArchive",
    "LeadFilter",
    "LeadHistory",
    "PostgresArchive",
    "QueryResult",
    "SqliteArchive",
    "StatisticsRow",
    "StoredSession",
    "archive_stream",
    "open_archive",
    "publish_action",
    "rebuild",
    "store_messages",
]
