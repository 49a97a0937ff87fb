"""Shared fixtures. Each area keeps its own fixtures in a plugin module listed here."""

pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.platform",
    "tests.fixtures.webhooks",
]
