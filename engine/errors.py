"""Errors the engine distinguishes: transient ones are retried, permanent ones recorded."""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base of the engine's errors."""


class TransientError(EngineError):
    """Worth retrying: 429, 5xx, timeouts, dropped connections."""


class PermanentError(EngineError):
    """Not worth retrying: a 4xx other than 429, or bad input."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class AuthError(PermanentError):
    """Credentials refused (401/403): the run cannot go on."""


class RunAborted(EngineError):
    """The run itself cannot go on (preflight failed, target project missing)."""


class StopRequested(EngineError):
    """A pause or cancel was asked for while a request waited to be sent.

    Raised only before a request leaves (between attempts, while waiting for a
    rate-limit token or a ``Retry-After``), never once it has been sent: the
    request this error interrupts did not reach the server.
    """


class ForeignOrigin(PermanentError):
    """A URL outside the client's configured origin: nothing was sent to it.

    The client's credential belongs to one origin (scheme, host, port); content
    that points elsewhere (an ``<img src>`` on another host) is not fetched.
    """

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{reason}: {url}")
        self.url = url
        self.reason = reason


class BlockedAddress(PermanentError):
    """The outgoing-call guard refused a connection before any byte was sent.

    ``address`` is the refused address (None when the scheme itself is refused).
    Not retried: the host resolves to the same place on the next attempt.
    """

    def __init__(self, message: str, *, host: str, address: str | None = None) -> None:
        super().__init__(message)
        self.host = host
        self.address = address
