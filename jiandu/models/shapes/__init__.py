"""The engine primitives a model is declared in; each file is one shape.

| shape | primitive | models |
|---|---|---|
| ``FollowUpDeadline`` | absence of a follow-up within a deadline | M01 M02 M04 M05 M06 M08 M10 |
| ``StateAtTrigger`` | membership in a state interval at the trigger's time | M03 |
| ``ShortfallAtTrigger`` | a required amount against the sum paid, evaluated after a delay | M07 |
| ``RecurringDeadline`` | a deadline renewed by each follow-up, with a lapse check | M09 |
| ``WindowedCount`` | at least N distinct records within a sliding window | M11 |
| ``JoinAfterAnchor`` | records after an anchor record, joined in either order | M12 |
| ``SentenceRelease`` | a release against the sentence end adjusted by rulings | M13 |
| ``ImmediateAlert`` | every qualifying record is a lead at once | M14 |
"""

from jiandu.models.shapes.alert import ImmediateAlert
from jiandu.models.shapes.amount import ShortfallAtTrigger
from jiandu.models.shapes.deadline import FollowUpDeadline
from jiandu.models.shapes.join import JoinAfterAnchor
from jiandu.models.shapes.recurring import RecurringDeadline
from jiandu.models.shapes.sentence import SentenceRelease
from jiandu.models.shapes.state import StateAtTrigger
from jiandu.models.shapes.window import WindowedCount

__all__ = [
    "FollowUpDeadline",
    "ImmediateAlert",
    "JoinAfterAnchor",
    "RecurringDeadline",
    "SentenceRelease",
    "ShortfallAtTrigger",
    "StateAtTrigger",
    "WindowedCount",
]
