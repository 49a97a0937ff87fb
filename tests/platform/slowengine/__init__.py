"""A slow stand-in for the engine package (``MIGRATOR_ENGINE_PACKAGE``).

It drives the real ports exactly as the pipeline does (plan, heartbeat and poll
at every checkpoint, items and ledger saved per item, events), but its "Jira
writes" are ledger rows, one every ``SLOWENGINE_DELAY`` seconds, so that a
worker can be killed mid-run. Items: ``SLOWENGINE_ITEMS``.
"""
