"""Benchmarks: each prints a ratio against its floor or a peer, measured in one run, and its raw
numbers. `python -m bench` runs them all and writes bench/RESULTS.md; `python -m bench.NAME` runs one.
Never part of `make test`."""
