"""A simulated partner agency: its records API over HTTP on 127.0.0.1, with the faults real ones show.

Used by ``jiandu agency-sim``, by the REST poller's tests, and (started in-process)
by a hub that should look live without a real agency.
"""

from adapters.agency_sim.faults import FaultPlan, parse_fault_options
from adapters.agency_sim.feed import AgencyFeed, FeedPage, load_records, source_matches
from adapters.agency_sim.server import (
    RECORDS_PATH,
    AgencySimulator,
    ServedRequest,
    bad_id_record,
    foreign_source_record,
)

__all__ = [
    "RECORDS_PATH",
    "AgencyFeed",
    "AgencySimulator",
    "FaultPlan",
    "FeedPage",
    "ServedRequest",
    "bad_id_record",
    "foreign_source_record",
    "load_records",
    "parse_fault_options",
    "source_matches",
]
