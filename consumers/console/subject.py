"""What the 当事人 part of a lead page needs to know of the reveal (templates/subject.html, reveal.py)."""

from __future__ import annotations

__all__ = ["PURPOSE_LENGTH"]

#: The shortest and longest purpose an officer may state for a reveal.
PURPOSE_LENGTH = (4, 200)
