"""Simulated Azure DevOps Services and Jira Cloud, served over real HTTP on loopback.

Used by the demo, the tests and the benchmarks. Imports nothing from ``engine``.
"""
