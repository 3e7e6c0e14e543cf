"""Supervision models: declarations, the engine that evaluates them, and the catalogue."""

from jiandu.models.catalogue import load_catalogue
from jiandu.models.declarations import EntityKind, FollowUpDeadline, Model, On, Outcome, OutcomeState
from jiandu.models.engine import Evaluation, ModelEngine
from jiandu.models.facts import EntityState, Fact, fact_of

__all__ = [
    "EntityKind",
    "EntityState",
    "Evaluation",
    "Fact",
    "FollowUpDeadline",
    "Model",
    "ModelEngine",
    "On",
    "Outcome",
    "OutcomeState",
    "fact_of",
    "load_catalogue",
]
