"""Supervision models: declarations, the engine that evaluates them, and the catalogue."""

from jiandu.models.catalogue import load_catalogue
from jiandu.models.declarations import EntityKind, Interval, Model, On, Outcome, OutcomeState
from jiandu.models.engine import Evaluation, ModelEngine
from jiandu.models.facts import EntityState, Fact, fact_of
from jiandu.models.shapes import (
    FollowUpDeadline,
    ImmediateAlert,
    JoinAfterAnchor,
    RecurringDeadline,
    SentenceRelease,
    ShortfallAtTrigger,
    StateAtTrigger,
    WindowedCount,
)

__all__ = [
    "EntityKind",
    "EntityState",
    "Evaluation",
    "Fact",
    "FollowUpDeadline",
    "ImmediateAlert",
    "Interval",
    "JoinAfterAnchor",
    "Model",
    "ModelEngine",
    "On",
    "Outcome",
    "OutcomeState",
    "RecurringDeadline",
    "SentenceRelease",
    "ShortfallAtTrigger",
    "StateAtTrigger",
    "WindowedCount",
    "fact_of",
    "load_catalogue",
]
