"""Synthetic agency histories for demos, backtests and oracle tests.

``generate_history`` writes canonical JSON-lines records as the partner agencies
upload them, together with the leads of M01 to M14 they make and their status at
its clock end (OPEN, RESOLVED or PENDING), planted by construction (never computed
with ``jiandu.models``).
``write_sample`` is the small history ``jiandu run`` replays.
"""

from jiandu.simulate.generator import History, generate_history, write_sample

__all__ = ["History", "generate_history", "write_sample"]
