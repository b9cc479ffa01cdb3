"""Helpers shared by the benchmarks: driving wrk and reading its report."""
