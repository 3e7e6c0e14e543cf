"""``python -m benchmarks [NAME ...]`` (``make bench``): run benchmarks once and print their figures.

With no name every benchmark runs. The engine benchmark's knobs are options here
and ``BENCH_ENGINE_*`` variables (``benchmarks/engine.py``).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

from jiandu.errors import JianduError

__all__ = ["format_figure", "main", "print_figures"]


def _serde() -> dict[str, float]:
    from benchmarks import serde

    return serde.run()


def _engine(args: argparse.Namespace) -> dict[str, float]:
    import os

    from benchmarks import engine

    config = engine.EngineBenchConfig.from_env(
        os.environ,
        records=args.records,
        seed=args.seed,
        latency_seconds=args.latency_seconds,
        profile=args.profile or None,
        workers=args.workers,
    )
    return engine.run(config)


def _fuzz(args: argparse.Namespace) -> dict[str, float]:
    from benchmarks import fuzz

    return fuzz.run(records=args.fuzz_records, seed=args.fuzz_seed)


def _journal() -> dict[str, float]:
    from benchmarks import journal

    return journal.run()


def _state(args: argparse.Namespace) -> dict[str, float]:
    """One run per number of persons, each printed as it ends (a sweep to 3 M persons takes hours)."""
    from benchmarks import state_scale

    for persons in args.persons:
        print(f"-- {persons:,} persons", flush=True)
        print_figures(
            state_scale.run(
                persons=persons,
                seed=args.seed or 2024,
                workers=args.workers or 0,
                full_replay_up_to=args.full_replay_up_to,
            )
        )
    return {}


def _person_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give numbers of persons separated by commas") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every number of persons must be 1 or more")
    return counts


def _latency(args: argparse.Namespace) -> dict[str, float]:
    from benchmarks import latency_curve

    return latency_curve.run(args.rates, seconds=args.latency_seconds or 15.0, seed=args.seed or 2024)


def _rates(text: str) -> list[float]:
    try:
        rates = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give records per second separated by commas") from None
    if not rates or min(rates) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: every rate must be above 0")
    return rates


def _consumer_state() -> dict[str, float]:
    from benchmarks import consumer_state

    return consumer_state.run()


_BENCHMARKS: dict[str, Callable[[argparse.Namespace], dict[str, float]]] = {
    "serde": lambda _: _serde(),
    "journal": lambda _: _journal(),
    "engine": _engine,
    "fuzz": _fuzz,
    "state": _state,
    "consumer-state": lambda _: _consumer_state(),
    "latency": _latency,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Run benchmarks once and print their figures (every one without NAME)."
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(_BENCHMARKS)}")
    engine = parser.add_argument_group("engine")
    engine.add_argument("--records", type=int, help="at least this many history lines (default 110000)")
    engine.add_argument("--seed", type=int, help="seed of the generated history (default 2024)")
    engine.add_argument("--latency-seconds", type=float, help="length of the latency load (default 30)")
    engine.add_argument("--profile", action="store_true", help="print a cProfile of the batch path to stderr")
    fuzz = parser.add_argument_group("fuzz")
    fuzz.add_argument("--fuzz-records", type=int, default=100_000, help="hostile records in all (default 100000)")
    fuzz.add_argument("--fuzz-seed", type=int, default=20261207, help="seed of the mutations (default 20261207)")
    engine.add_argument("--workers", type=int, help="streams workers in the stream part (default 0: one per core)")
    latency = parser.add_argument_group("latency (also --latency-seconds, default 15 here, and --seed)")
    latency.add_argument(
        "--rates",
        type=_rates,
        default=[200.0, 1000.0, 2000.0, 3000.0],
        help="records per second offered to one live worker, one run each (default 200,1000,2000,3000)",
    )
    state = parser.add_argument_group("state")
    state.add_argument(
        "--persons",
        type=_person_counts,
        default=[100_000],
        help="persons of the generated history; several separated by commas, run one after the other (default 100000)",
    )
    state.add_argument(
        "--full-replay-up-to",
        type=int,
        default=1_000_000,
        metavar="PERSONS",
        help="time the whole changelog's replay only up to this many persons (default 1000000; ≈ 8 min a million)",
    )
    return parser


def format_figure(value: float) -> str:
    """``n/a`` for NaN, whole numbers with separators, small values with three significant digits."""
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:,.2f}"


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (all without names); 1 if one failed, 2 on a usage error."""
    parser = _parser()
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in _BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(_BENCHMARKS)}")
    for name in args.names or list(_BENCHMARKS):
        print(f"== {name}", flush=True)
        try:
            figures = _BENCHMARKS[name](args)
        except JianduError as exc:  # a process died or a wait timed out: the message carries the log tail
            print(f"benchmark {name} failed: {exc}", file=sys.stderr)
            return 1
        print_figures(figures)
    return 0


def print_figures(figures: dict[str, float]) -> None:
    """One line per figure, aligned."""
    for key, value in figures.items():
        print(f"  {key:44} {format_figure(value):>14}")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
