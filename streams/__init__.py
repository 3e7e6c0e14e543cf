"""Stream processors: the Faust worker that joins events across agencies and raises leads."""

from streams.app import BACKTEST, LIVE, create_app
from streams.worker import run_worker

__all__ = ["BACKTEST", "LIVE", "create_app", "run_worker"]
