"""The file-drop adapter: agency exports (CSV, JSON lines; UTF-8 or GB18030) mapped by YAML onto records.

``FileDrop`` watches one folder per source and hands every row to
``producers.RecordIntake``; ``adapters/mappings/*.yaml`` say how each agency
format maps onto the canonical records of events.md (``adapters/mappings/README.md``).
"""

from pathlib import Path

from adapters.files.convert import MappedRow, RowMapper
from adapters.files.drop import CompletionWatch, DropFile, FileDrop, Receipt
from adapters.files.mapping import FormatMapping, load_mapping, load_mappings
from adapters.files.reading import FileFingerprint, Row, fingerprint, read_rows
from adapters.files.state import CheckpointStore, Progress

__all__ = [
    "SHIPPED_MAPPINGS",
    "CheckpointStore",
    "CompletionWatch",
    "DropFile",
    "FileDrop",
    "FileFingerprint",
    "FormatMapping",
    "MappedRow",
    "Progress",
    "Receipt",
    "Row",
    "RowMapper",
    "fingerprint",
    "load_mapping",
    "load_mappings",
    "read_rows",
]

#: The mapping files that ship with the hub, one per agency export format.
SHIPPED_MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"
