"""Webhooks: a project's endpoints told about its runs, signed, retried, logged.

- :mod:`.signing`: the ``X-Migrator-Signature`` header (HMAC-SHA256 over
  ``"<timestamp>.<body>"``) and its verification.
- :mod:`.announce`: turns a run's status changes and its end into events and
  deliveries, once each, in the transaction that made the change.
- :mod:`.transport`: one guarded POST (connect-time address check, explicit
  timeouts, no redirects, no proxies from the environment).
- :mod:`.services`: webhooks (create, update, delete, ping) and delivery attempts.
- :mod:`.selectors`: tenant-scoped reads.
"""
