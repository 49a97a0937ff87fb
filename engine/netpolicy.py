"""Where the clients may connect, and where their credentials may go.

Address rules (pure Python, shared with ``migrations_app.netguard``, which checks
the base URLs when a run is started): a target must resolve, within a timeout,
to public addresses only. A host with ANY private, loopback, link-local,
reserved, multicast or unspecified address is refused (a name that resolves to
one public and one private address could be steered to the private one).

Connect-time guard: a start-up check alone is open to DNS rebinding (the name
answers a public address to the check and a private one to the connection a
minute later). :class:`GuardedAdapter` therefore resolves the host again for
every new connection, refuses it with :class:`~engine.errors.BlockedAddress`
unless every address passes :class:`AddressPolicy`, and then opens the socket to
one of the addresses it checked: the name is never resolved a second time, so
no later DNS answer can differ. Only the socket's destination is pinned; the
``Host`` header, TLS SNI and certificate verification still use the host name
(urllib3's ``HTTPSConnection.connect`` takes ``server_hostname`` from ``host``
and the socket from ``_new_conn``, which is what is overridden here). Requests
sent through an HTTP(S) proxy from the environment connect to the proxy, which
resolves the target itself: those are outside this check.

Credential binding: :class:`OriginCredential` is a requests auth object bound
to one :class:`Origin` (scheme, host, port; default ports normalised, host
compared case-insensitively). It adds its header only to a request whose final
URL is on that origin and strips the header from any other request, so neither
a session default nor a URL taken from content can carry it elsewhere.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
)
from urllib3.poolmanager import PoolManager
from urllib3.util import connection as urllib3_connection
from urllib3.util import parse_url

from engine.errors import BlockedAddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
DEFAULT_DNS_TIMEOUT = 5.0

# Resolution runs in a pool so that a hanging resolver cannot outlast the timeout.
_resolver_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="netpolicy-dns")


class UnsafeTarget(ValueError):
    """The URL may not be called; the message says why, for the user."""


# --------------------------------------------------------------------------- addresses
def lookup(host: str) -> list[IPAddress]:
    """Every address the OS resolver gives for ``host`` (blocking).

    The one seam for the OS resolver: both the start-up check and every new
    connection go through it, so tests replace it to simulate DNS answers.
    """
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def literal_address(host: str) -> IPAddress | None:
    """The address when ``host`` is an IP literal (brackets allowed), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def resolve(host: str, timeout: float) -> list[IPAddress]:
    """Every address ``host`` resolves to, in resolver order without repeats.

    Raises :class:`UnsafeTarget` when it does not resolve within ``timeout`` seconds.
    """
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    future = _resolver_pool.submit(lookup, host)
    try:
        addresses = future.result(timeout=timeout)
    except FutureTimeout as exc:
        raise UnsafeTarget(f"The host {host!r} did not resolve within {timeout:g} s.") from exc
    except (OSError, UnicodeError, ValueError) as exc:
        raise UnsafeTarget(f"The host {host!r} does not resolve.") from exc
    if not addresses:
        raise UnsafeTarget(f"The host {host!r} does not resolve.")
    return list(dict.fromkeys(addresses))


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


@dataclass(frozen=True)
class AddressPolicy:
    """What the connect-time guard lets through.

    ``allow_private`` admits non-public addresses (demo, tests, sandboxes on
    loopback); ``allow_http`` admits plain http. ``dns_timeout`` bounds each
    resolution made when a connection is opened.
    """

    allow_private: bool = False
    allow_http: bool = False
    dns_timeout: float = DEFAULT_DNS_TIMEOUT

    def check_scheme(self, scheme: str, host: str) -> None:
        if scheme == "http" and not self.allow_http:
            raise BlockedAddress(
                f"refused plain http to {host!r}: only https may be called", host=host
            )

    def checked_addresses(self, host: str) -> list[IPAddress]:
        """Resolve ``host`` and return its addresses once every one passes the policy.

        Raises BlockedAddress naming the host and the refused address, or
        UnsafeTarget when the host does not resolve in time.
        """
        addresses = resolve(host, self.dns_timeout)
        if not self.allow_private:
            refused = [a for a in addresses if not is_public(a)]
            if refused:
                raise BlockedAddress(
                    f"refused to connect to {host!r}: it resolves to the non-public address "
                    f"{', '.join(map(str, refused))}; only public hosts may be called",
                    host=host,
                    address=str(refused[0]),
                )
        return addresses


# --------------------------------------------------------------------------- connections
def _connect_pinned(conn: HTTPConnection, policy: AddressPolicy) -> socket.socket:
    """``HTTPConnection._new_conn`` with the guard: check the addresses, connect to one of them."""
    dns_host = str(getattr(conn, "_dns_host", conn.host))  # keeps an FQDN's trailing dot
    try:
        addresses = policy.checked_addresses(dns_host)
    except UnsafeTarget as exc:
        # A resolution failure sent nothing: the retry layer may try again.
        raise NameResolutionError(conn.host, conn, socket.gaierror(str(exc))) from exc
    sock = _first_connectable(conn, addresses)
    sys.audit("http.client.connect", conn, conn.host, conn.port)
    return sock


def _first_connectable(conn: HTTPConnection, addresses: Iterable[IPAddress]) -> socket.socket:
    """A socket to the first checked address that accepts, with urllib3's error mapping."""
    last: OSError | None = None
    for address in addresses:
        try:
            return urllib3_connection.create_connection(
                (str(address), conn.port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except OSError as exc:  # socket.timeout is an OSError too
            last = exc
    if isinstance(last, TimeoutError):
        raise ConnectTimeoutError(
            conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
        ) from last
    raise NewConnectionError(conn, f"Failed to establish a new connection: {last}") from last


class GuardedHTTPConnection(HTTPConnection):
    """A plain connection whose socket goes only to an address the policy checked."""

    def __init__(self, *args: Any, address_policy: AddressPolicy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.address_policy = address_policy

    def _new_conn(self) -> socket.socket:
        return _connect_pinned(self, self.address_policy)


class GuardedHTTPSConnection(HTTPSConnection):
    """TLS over a pinned socket; SNI and certificate checks still use the host name."""

    def __init__(self, *args: Any, address_policy: AddressPolicy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.address_policy = address_policy

    def _new_conn(self) -> socket.socket:
        return _connect_pinned(self, self.address_policy)


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedPoolManager(PoolManager):
    """A pool manager whose pools open only guarded connections."""

    def __init__(self, policy: AddressPolicy, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.policy = policy
        self.pool_classes_by_scheme = {
            "http": GuardedHTTPConnectionPool,
            "https": GuardedHTTPSConnectionPool,
        }

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        # Handed to every connection the pool makes. Not a pool-key field: the
        # pool manager builds its keys from a fixed list and would reject it.
        pool.conn_kw["address_policy"] = self.policy
        return pool


class GuardedAdapter(HTTPAdapter):
    """requests adapter applying an :class:`AddressPolicy` to every new connection."""

    __attrs__ = [*HTTPAdapter.__attrs__, "policy"]

    def __init__(self, policy: AddressPolicy, **kwargs: Any) -> None:
        self.policy = policy  # before super(): it calls init_poolmanager
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = GuardedPoolManager(
            self.policy, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        parts = parse_url(request.url or "")
        self.policy.check_scheme((parts.scheme or "").lower(), parts.host or "")
        return super().send(
            request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )


def guard_session(session: requests.Session, policy: AddressPolicy, pool_size: int) -> None:
    """Mount a :class:`GuardedAdapter` for http and https on ``session``."""
    adapter = GuardedAdapter(
        policy, pool_connections=4, pool_maxsize=max(1, pool_size), max_retries=0
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)


# --------------------------------------------------------------------------- origins
def _host_of(raw: str) -> str:
    """A host name for comparison: lower case, no IPv6 brackets, no FQDN dot, IDNA ASCII."""
    host = raw.strip("[]").rstrip(".").lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return ""
    return host


@dataclass(frozen=True)
class Origin:
    """Scheme, host and port of a URL (RFC 6454), default ports filled in."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        """The origin of ``url``; ValueError when it has none or is ambiguous.

        Parsed with urllib3's parser (the one that decides where requests
        connects) and cross-checked with the standard library's: a URL the two
        read differently (``https://a.example\\@b.example/``) has no origin.
        """
        text = url.strip()
        try:
            parts = parse_url(text)
            std = urlsplit(text)
            std_host, std_port = std.hostname or "", std.port
        except (LocationParseError, ValueError) as exc:
            raise ValueError(f"not a URL: {url!r}") from exc
        scheme = (parts.scheme or "").lower()
        host = _host_of(parts.host or "")
        port = parts.port or DEFAULT_PORTS.get(scheme)
        if not scheme or not host or port is None:
            raise ValueError(f"not an http(s) URL with a host: {url!r}")
        if _host_of(std_host) != host or (std_port or DEFAULT_PORTS.get(scheme)) != port:
            raise ValueError(f"ambiguous URL: {url!r}")
        return cls(scheme, host, port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if DEFAULT_PORTS.get(self.scheme) == self.port:
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{host}:{self.port}"

    @cached_property
    def _prefix(self) -> str:
        return f"{self}/"

    def contains(self, url: str) -> bool:
        """True when ``url`` is on this origin (False for anything unparseable)."""
        # Fast path: the canonical "scheme://host[:port]/" spelt exactly. Both parsers
        # end the authority at that "/", so they cannot read it as anything else.
        if url.startswith(self._prefix):
            return True
        try:
            return Origin.of(url) == self
        except ValueError:
            return False


class OriginCredential(AuthBase):
    """An ``Authorization`` value that is sent to one origin only.

    Used as the ``auth`` of every request a client makes: it sets the header on
    a request for its origin and removes it from any other (so a stray session
    default cannot leak either). Its repr never shows the secret.
    """

    def __init__(self, origin: Origin | str, header_value: str, header: str = "Authorization"):
        self.origin = origin if isinstance(origin, Origin) else Origin.of(origin)
        self.header = header
        self._value = header_value

    @property
    def header_value(self) -> str:
        return self._value

    def matches(self, url: str) -> bool:
        return self.origin.contains(url)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if request.url and self.matches(request.url):
            request.headers[self.header] = self._value
        else:
            request.headers.pop(self.header, None)
        return request

    def __repr__(self) -> str:
        return f"OriginCredential({str(self.origin)!r}, <{self.header} hidden>)"
