"""The outgoing-call guard: targets must be https hosts with public addresses only.

``MIGRATOR_ALLOW_PRIVATE_TARGETS`` lifts both rules (demo, tests, sandboxes on
loopback). The check resolves the host name with a short timeout and refuses it
when ANY of its addresses is private, loopback, link-local, reserved, multicast or
unspecified (a name that resolves to one public and one private address could be
steered to the private one).

This is the check made when a run is started (the API serializers). The address
rules live in :mod:`engine.netpolicy`, which also applies them again to every
connection the clients open (``AddressPolicy``, passed by the runner), so DNS
rebinding after this check is refused too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from engine.netpolicy import IPAddress, Origin, UnsafeTarget, is_public, resolve

__all__ = ["IPAddress", "UnsafeTarget", "check_url", "is_public", "resolve"]


def check_url(url: str) -> str:
    """Validate ``url`` for outgoing calls; return it normalised (no trailing slash)."""
    allow_private = settings.MIGRATOR_ALLOW_PRIVATE_TARGETS
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget("Enter a valid URL.") from exc
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed_schemes:
        raise UnsafeTarget("The URL must use https." if parts.scheme else "Enter a valid URL.")
    if not parts.hostname:
        raise UnsafeTarget("Enter a valid URL.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("The URL must not carry credentials.")
    if parts.query or parts.fragment:
        raise UnsafeTarget("The URL must not have a query or a fragment.")
    if port == 0:
        raise UnsafeTarget("Enter a valid URL.")
    try:
        # The clients bind their credential to this origin: a URL that parsers
        # read differently has none, and would only fail once the run starts.
        Origin.of(url)
    except ValueError as exc:
        raise UnsafeTarget("Enter a valid URL.") from exc
    addresses = resolve(parts.hostname, settings.MIGRATOR_DNS_TIMEOUT)
    if not allow_private:
        refused = [str(a) for a in addresses if not is_public(a)]
        if refused:
            raise UnsafeTarget(
                f"The host {parts.hostname!r} resolves to a non-public address "
                f"({', '.join(refused)}); only public hosts may be called."
            )
    return url.strip().rstrip("/")
