"""``python -m benchmarks`` (``make bench``): run every benchmark once and print its figures."""

from __future__ import annotations

from benchmarks import serde


def main() -> None:
    for name, module in (("serde", serde),):
        print(f"== {name}")
        for key, value in module.run().items():
            print(f"  {key:40} {value:>14,.1f}")


main()
