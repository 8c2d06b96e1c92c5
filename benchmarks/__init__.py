"""Benchmarks: scripts that time the library and print ratios measured in one run."""
