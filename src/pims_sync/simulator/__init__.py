"""A local IDEXX Neo look-alike for tests, the demo and benchmarks."""
