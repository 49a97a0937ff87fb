"""Benchmarks (not tests): each module a command, results in ``bench/results/``."""
