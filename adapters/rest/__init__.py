"""REST pull: poll agency records APIs page by page into the shared intake, with a checkpoint per source.

See :mod:`adapters.rest.poller` for the delivery guarantee (at-least-once, exactly
once by event_id), :mod:`adapters.rest.config` for the sources file and
:mod:`adapters.rest.policy` for what each feed may deliver.
"""

from adapters.rest.checkpoint import Checkpoint, CheckpointStore, unit_of
from adapters.rest.client import AgencyClient, AgencyPage, PollStopped, SourceRefused, SourceUnavailable
from adapters.rest.config import SourceConfig, load_sources, parse_sources
from adapters.rest.policy import FEED_REFUSED, FeedPolicy, FeedRefusal
from adapters.rest.poller import Intake, PollSummary, SourcePoller, origin_of
from adapters.rest.service import RestPull, SourceOpener, SourceOutcome

__all__ = [
    "FEED_REFUSED",
    "AgencyClient",
    "AgencyPage",
    "Checkpoint",
    "CheckpointStore",
    "FeedPolicy",
    "FeedRefusal",
    "Intake",
    "PollStopped",
    "PollSummary",
    "RestPull",
    "SourceConfig",
    "SourceOpener",
    "SourceOutcome",
    "SourcePoller",
    "SourceRefused",
    "SourceUnavailable",
    "load_sources",
    "origin_of",
    "parse_sources",
    "unit_of",
]
