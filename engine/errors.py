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
