"""The signature of a delivery, as Stripe signs its webhooks.

Header ``X-Migrator-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
HMAC-SHA256, keyed with the webhook's secret (its UTF-8 bytes), of the ASCII
timestamp, a dot, and the raw request body. The timestamp is taken at each
attempt, so a receiver can refuse replays of old requests; the body is the same
at every attempt of a delivery (its ``deliveryId`` lets a receiver drop repeats).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER = "X-Migrator-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for ``body`` signed now (or at ``timestamp``)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={ts},{SCHEME}={signature(secret, ts, body)}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(key, []).append(value)
    try:
        ts = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        return False
    expected = signature(secret, ts, body)
    return any(hmac.compare_digest(expected, given) for given in fields.get(SCHEME, []))
