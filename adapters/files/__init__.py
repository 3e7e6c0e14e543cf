"""The file-drop adapter: agency exports (CSV, JSON lines; UTF-8 or GB18030) mapped by YAML onto records.

``FileDrop`` watches one folder per source and hands every row to
``producers.RecordIntake``; ``adapters/mappings/*.yaml`` say how each agency
format maps onto the canonical records of events.md (``adapters/mappings/README.md``).
Processed exports are kept sealed (``FileSeal``) and deleted after the retention
time (``DoneFolders``); ``restore`` gives an auditor one back. A row's dead letter
carries what mapping it again needs (``RowPayload``, ``Remapper``).
"""

from pathlib import Path

from adapters.files.completion import CompletionWatch
from adapters.files.convert import MappedRow, RowMapper
from adapters.files.drop import DropFile, FileDrop, declare_source_folders
from adapters.files.filing import Receipt, receipt_path, restore
from adapters.files.letters import Remapped, Remapper, RowPayload, RowPayloads
from adapters.files.mapping import FormatMapping, load_mapping, load_mappings
from adapters.files.reading import FileFingerprint, Row, fingerprint, read_rows
from adapters.files.retention import DoneFolders, Housekeeping
from adapters.files.sealed import FileSeal, SealedCopy
from adapters.files.state import CheckpointStore, Progress

__all__ = [
    "SHIPPED_MAPPINGS",
    "CheckpointStore",
    "CompletionWatch",
    "DoneFolders",
    "DropFile",
    "FileDrop",
    "FileFingerprint",
    "FileSeal",
    "FormatMapping",
    "Housekeeping",
    "MappedRow",
    "Progress",
    "Receipt",
    "Remapped",
    "Remapper",
    "Row",
    "RowMapper",
    "RowPayload",
    "RowPayloads",
    "SealedCopy",
    "declare_source_folders",
    "fingerprint",
    "load_mapping",
    "load_mappings",
    "read_rows",
    "receipt_path",
    "restore",
]

#: The mapping files that ship with the hub, one per agency export format.
SHIPPED_MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"
