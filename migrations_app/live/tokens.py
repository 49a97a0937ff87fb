"""Short-lived stream tokens: signed, bound to one user and one run.

``EventSource`` cannot send headers, so the browser passes a token in the query
string. A five-minute token bound to one run leaks far less than the access JWT
would; it is checked only when the stream connects (an open stream outlives it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing

PREFIX = "st1."
_SALT = "migrations_app.live.stream-token"


class StreamTokenError(Exception):
    """Bad signature, malformed or expired."""


@dataclass(frozen=True)
class StreamGrant:
    user_id: int
    run_id: str


def lifetime_seconds() -> int:
    return int(getattr(settings, "MIGRATOR_STREAM_TOKEN_SECONDS", 300))


def mint(*, user_id: int, run_id: Any) -> str:
    return PREFIX + signing.dumps({"u": user_id, "r": str(run_id)}, salt=_SALT)


def is_stream_token(raw: str) -> bool:
    return raw.startswith(PREFIX)


def read(raw: str) -> StreamGrant:
    """The grant of a token minted by :func:`mint`; raises StreamTokenError otherwise."""
    try:
        data = signing.loads(raw[len(PREFIX) :], salt=_SALT, max_age=lifetime_seconds())
    except signing.SignatureExpired as exc:
        raise StreamTokenError("The stream token has expired.") from exc
    except signing.BadSignature as exc:
        raise StreamTokenError("The stream token is invalid.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or "r" not in data:
        raise StreamTokenError("The stream token is invalid.")
    return StreamGrant(user_id=data["u"], run_id=str(data["r"]))
