"""Benchmarks: speed and memory figures reported as ratios measured in one run (``make bench``)."""
