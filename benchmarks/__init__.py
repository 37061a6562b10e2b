"""The high-fan-out benchmark suite of edge-actors: ``python -m benchmarks`` (``make bench``).

Each scenario measures edge-actors beside its baselines in the same run; every
measurement point runs in a fresh Python process (``benchmarks._worker``), so
memory figures are the process's own and one point cannot warm up another.
See benchmarks/README.md for how to read the figures.
"""
