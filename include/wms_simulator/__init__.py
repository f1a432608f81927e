"""A Qimen-compatible WMS simulator: a real HTTP warehouse for local runs, tests and benchmarks."""
