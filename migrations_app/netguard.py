"""The outgoing-call guard: targets must be https hosts with public addresses only.

``MIGRATOR_ALLOW_PRIVATE_TARGETS`` lifts both rules (demo, tests, sandboxes on
loopback). The check resolves the host name with a short timeout and refuses it
when ANY of its addresses is private, loopback, link-local, reserved, multicast or
unspecified (a name that resolves to one public and one private address could be
steered to the private one).
"""

from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import urlsplit

from django.conf import settings

_resolver_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="netguard-dns")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeTarget(ValueError):
    """The URL may not be called; the message says why, for the user."""


def resolve(host: str, timeout: float) -> list[IPAddress]:
    """Every address ``host`` resolves to; UnsafeTarget when it does not resolve in time."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    future = _resolver_pool.submit(socket.getaddrinfo, host, None, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=timeout)
    except FutureTimeout as exc:
        raise UnsafeTarget(f"The host {host!r} did not resolve within {timeout:g} s.") from exc
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"The host {host!r} does not resolve.") from exc
    addresses = []
    for info in infos:
        raw = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        addresses.append(ipaddress.ip_address(raw))
    if not addresses:
        raise UnsafeTarget(f"The host {host!r} does not resolve.")
    return addresses


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return is_public(address.ipv4_mapped)
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or not address.is_global
    )


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
    addresses = resolve(parts.hostname, settings.MIGRATOR_DNS_TIMEOUT)
    if not allow_private:
        refused = [str(a) for a in addresses if not is_public(a)]
        if refused:
            raise UnsafeTarget(
                f"The host {parts.hostname!r} resolves to a non-public address "
                f"({', '.join(refused)}); only public hosts may be called."
            )
    return url.strip().rstrip("/")
