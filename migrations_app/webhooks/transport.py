"""One webhook POST through the outgoing-call guard.

Every connection is checked when it is opened (:class:`engine.netpolicy.GuardedAdapter`
with the installation's :class:`~engine.netpolicy.AddressPolicy`), so a URL that
passed the check when it was saved and now resolves to a private address is
refused before a byte is sent. Timeouts are explicit, redirects are not followed
(a 3xx is a failed attempt), and proxies, ``.netrc`` credentials and CA bundles
from the environment are ignored (``trust_env`` off): a proxy would resolve the
host itself, outside the guard.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from django.utils import timezone

from engine.errors import BlockedAddress
from engine.http import parse_retry_after
from engine.netpolicy import AddressPolicy, guard_session

# What is kept of a refusing receiver's answer, for the delivery log.
BODY_EXCERPT_BYTES = 500


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to. ``retryable``: worth another attempt later."""

    status_code: int | None
    error: str
    retryable: bool
    started_at: datetime
    duration_ms: int
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def finished_at(self) -> datetime:
        return self.started_at + timedelta(milliseconds=self.duration_ms)


def _retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def _excerpt(response: requests.Response) -> str:
    try:
        raw = response.raw.read(BODY_EXCERPT_BYTES, decode_content=True) or b""
    except Exception:  # the body is a courtesy; its absence is not an error
        return ""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())[:BODY_EXCERPT_BYTES]


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    policy: AddressPolicy,
    timeout: float,
) -> Outcome:
    """POST ``body`` to ``url`` once; never raises for what the network or receiver did."""
    started_at = timezone.now()
    clock = time.monotonic()
    session = requests.Session()
    session.trust_env = False
    guard_session(session, policy, pool_size=1)

    def outcome(status: int | None, error: str, retryable: bool, **extra: float | None) -> Outcome:
        duration_ms = max(0, int((time.monotonic() - clock) * 1000))
        return Outcome(status, error, retryable, started_at, duration_ms, **extra)

    try:
        response = session.post(
            url,
            data=body,
            headers=dict(headers),
            timeout=(min(timeout, 5.0), timeout),
            allow_redirects=False,
            stream=True,
        )
    except BlockedAddress as exc:  # the guard: the same answer next time, not retried
        session.close()
        return outcome(None, f"refused by the outgoing-call guard: {exc}", False)
    except requests.exceptions.Timeout as exc:
        session.close()
        return outcome(None, f"timed out: {_reason(exc)}", True)
    except requests.exceptions.ConnectionError as exc:
        session.close()
        return outcome(None, f"connection failed: {_reason(exc)}", True)
    except requests.exceptions.RequestException as exc:  # a URL requests cannot send
        session.close()
        return outcome(None, f"not sent: {_reason(exc)}", False)
    with session, response:
        status = response.status_code
        if 200 <= status < 300:
            return outcome(status, "", False)
        where = response.headers.get("Location")
        detail = f"HTTP {status}" + (f" (redirect to {where}, not followed)" if where else "")
        excerpt = _excerpt(response)
        retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
        return outcome(
            status,
            f"{detail}: {excerpt}" if excerpt else detail,
            _retryable_status(status),
            retry_after=retry_after,
        )


def _reason(exc: requests.exceptions.RequestException) -> str:
    """The innermost cause, without urllib3's pool and object reprs."""
    cur: BaseException = exc
    seen: set[int] = set()
    while id(cur) not in seen:
        seen.add(id(cur))
        nxt = getattr(cur, "reason", None) or (cur.args[0] if cur.args else None)
        if not isinstance(nxt, BaseException):
            break
        cur = nxt
    text = str(cur) or type(cur).__name__
    return f"{type(cur).__name__}: {text}"[:500]
