"""The connect-time guard and the origin binding, over real sockets on loopback.

DNS is simulated through ``engine.netpolicy.lookup`` (the one seam for the OS
resolver); everything else (pools, sockets, TLS) is the real stack.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from engine import netpolicy
from engine.ado import AdoClient
from engine.errors import BlockedAddress, PermanentError
from engine.http import RetryPolicy, Transport, make_session
from engine.netpolicy import (
    AddressPolicy,
    GuardedAdapter,
    Origin,
    OriginCredential,
    UnsafeTarget,
    is_public,
    resolve,
)

PUBLIC = ipaddress.ip_address("93.184.216.34")
LOOPBACK = ipaddress.ip_address("127.0.0.1")
HOST = "rebind.example"  # .example never resolves for real: only the fake DNS knows it


# --------------------------------------------------------------------------- helpers
class RecordingServer(ThreadingHTTPServer):
    """Counts every accepted connection (not only complete requests)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0
        self.requests: list[dict[str, str]] = []

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server: Any = self.server
        server.requests.append({"path": self.path, **{k: v for k, v in self.headers.items()}})
        body = json.dumps({"id": "p", "name": "Project"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(server: ThreadingHTTPServer) -> Iterator[Any]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def loopback() -> Iterator[RecordingServer]:
    yield from serve(RecordingServer())


class FakeDns:
    """Answers per host, one answer list per lookup (the last one repeats).

    Keyword names stand for host names with ``_`` for ``.`` (``rebind_example``).
    """

    def __init__(self, **answers: list[list[Any]]) -> None:
        self.answers = {host.replace("_", "."): list(a) for host, a in answers.items()}
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[Any]:
        self.asked.append(host)
        queue = self.answers.get(host)
        if not queue:
            raise OSError(f"no such host {host}")
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeDns]:
    def install(**answers: list[list[Any]]) -> FakeDns:
        fake = FakeDns(**answers)
        monkeypatch.setattr(netpolicy, "lookup", fake)
        return fake

    return install


def no_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=3, sleep=lambda s: None, rng=lambda: 0.0)


# --------------------------------------------------------------------------- address rules
@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
        ("100.64.0.1", False),  # carrier-grade NAT: not global
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_resolve_takes_literals_as_they_are_and_names_through_the_seam(dns: Any) -> None:
    fake = dns(a_example=[[PUBLIC, PUBLIC, LOOPBACK]])
    assert resolve("[::1]", 1.0) == [ipaddress.ip_address("::1")]
    assert resolve("a.example", 1.0) == [PUBLIC, LOOPBACK]  # repeats dropped, order kept
    assert fake.asked == ["a.example"]
    with pytest.raises(UnsafeTarget, match="does not resolve"):
        resolve("nowhere.example", 1.0)


def test_resolve_gives_up_after_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def hang(host: str) -> list[Any]:
        release.wait(5)
        return [PUBLIC]

    monkeypatch.setattr(netpolicy, "lookup", hang)
    try:
        with pytest.raises(UnsafeTarget, match=r"did not resolve within 0\.2 s"):
            resolve("slow.example", 0.2)
    finally:
        release.set()


def test_one_private_address_among_public_ones_is_refused(dns: Any) -> None:
    dns(mixed_example=[[PUBLIC, LOOPBACK]])
    with pytest.raises(BlockedAddress) as info:
        AddressPolicy().checked_addresses("mixed.example")
    assert info.value.host == "mixed.example" and info.value.address == "127.0.0.1"
    assert AddressPolicy(allow_private=True).checked_addresses("mixed.example") == [
        PUBLIC,
        LOOPBACK,
    ]


def test_netguard_keeps_its_api_on_the_engine_rules() -> None:
    from migrations_app import netguard

    assert netguard.is_public is netpolicy.is_public
    assert netguard.resolve is netpolicy.resolve
    assert netguard.UnsafeTarget is netpolicy.UnsafeTarget


# --------------------------------------------------------------------------- connect time
def test_dns_rebinding_after_the_start_check_is_refused_at_connect_time(
    dns: Any, loopback: RecordingServer, settings: Any
) -> None:
    from migrations_app.netguard import check_url

    settings.MIGRATOR_ALLOW_PRIVATE_TARGETS = False
    fake = dns(rebind_example=[[PUBLIC], [LOOPBACK]])
    url = f"https://{HOST}:{loopback.port}"
    assert check_url(url) == url  # the start-up check sees the public answer

    ado = AdoClient(url, "org", "proj", "secret-pat", policy=AddressPolicy(), retry=no_retry())
    with pytest.raises(BlockedAddress) as info:
        ado.check_access()
    assert info.value.host == HOST and info.value.address == "127.0.0.1"
    assert HOST in str(info.value) and "127.0.0.1" in str(info.value)
    assert isinstance(info.value, PermanentError)
    assert ado.http.requests_sent == 1  # refused once, not retried
    assert fake.asked == [HOST, HOST]
    assert loopback.connections == 0 and loopback.requests == []  # not one byte reached it


def test_the_checked_address_is_the_one_connected_to_with_the_host_header_kept(
    dns: Any, loopback: RecordingServer
) -> None:
    fake = dns(rebind_example=[[LOOPBACK], [PUBLIC]])  # a second lookup would say public
    url = f"http://{HOST}:{loopback.port}"
    policy = AddressPolicy(allow_private=True, allow_http=True)
    ado = AdoClient(url, "org", "proj", "secret-pat", policy=policy, retry=no_retry())
    ado.check_access()
    ado.check_access()  # the kept-alive connection: no new lookup
    assert fake.asked == [HOST]
    assert loopback.connections == 1
    assert [r["Host"] for r in loopback.requests] == [f"{HOST}:{loopback.port}"] * 2
    assert loopback.requests[0]["Authorization"].startswith("Basic ")


def test_every_new_connection_is_checked_again(dns: Any, loopback: RecordingServer) -> None:
    fake = dns(rebind_example=[[LOOPBACK], [ipaddress.ip_address("10.0.0.7")]])
    session = make_session(2, policy=AddressPolicy(allow_private=True, allow_http=True))
    url = f"http://{HOST}:{loopback.port}/x"
    assert session.get(url, timeout=5).status_code == 200
    session.close()  # drops the pools: the next request opens a new connection
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(url, timeout=5)  # 10.0.0.7 is not listening: the new answer was used
    assert fake.asked == [HOST, HOST]
    assert loopback.connections == 1


def test_plain_http_is_refused_unless_allowed(dns: Any, loopback: RecordingServer) -> None:
    dns(rebind_example=[[PUBLIC]])
    tr = Transport(make_session(2, policy=AddressPolicy()), retry=no_retry())
    with pytest.raises(BlockedAddress, match="plain http") as info:
        tr.request("GET", f"http://127.0.0.1:{loopback.port}/x")
    assert info.value.address is None
    assert loopback.connections == 0


def test_a_literal_private_address_is_refused_without_any_lookup(
    dns: Any, loopback: RecordingServer
) -> None:
    fake = dns()
    tr = Transport(make_session(2, policy=AddressPolicy(allow_http=True)), retry=no_retry())
    with pytest.raises(BlockedAddress, match=r"127\.0\.0\.1"):
        tr.request("GET", f"http://127.0.0.1:{loopback.port}/x")
    assert fake.asked == [] and loopback.connections == 0
    assert tr.requests_sent == 1


def test_an_unresolvable_host_is_a_retryable_connection_failure(dns: Any) -> None:
    dns()
    sleeps: list[float] = []
    pol = RetryPolicy(max_attempts=2, sleep=sleeps.append, rng=lambda: 0.0)
    tr = Transport(make_session(2, policy=AddressPolicy()), retry=pol)
    with pytest.raises(Exception, match="does not resolve") as info:
        tr.request("GET", "https://nowhere.example/x")
    assert not isinstance(info.value, BlockedAddress)
    assert tr.requests_sent == 2  # nothing was sent: retried like any failed connect


def test_the_adapter_is_mounted_for_both_schemes_with_the_pool_size() -> None:
    session = make_session(7, policy=AddressPolicy())
    for url in ("https://x.test/", "http://x.test/"):
        adapter = session.get_adapter(url)
        assert isinstance(adapter, GuardedAdapter)
        assert adapter._pool_maxsize == 7
        assert adapter.max_retries.total == 0


# --------------------------------------------------------------------------- TLS
def _certificates(tmp: Path, name: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for ``name`` signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[RecordingServer, Path, list[str | None]]]:
    ca, cert, key = _certificates(tmp_path, HOST)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []

    def remember(sock: Any, server_name: str | None, ctx: Any) -> None:
        names.append(server_name)

    context.sni_callback = remember
    server = RecordingServer()
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for running in serve(server):
        yield running, ca, names


def test_tls_on_a_pinned_address_still_checks_the_host_name(
    dns: Any, tls_server: tuple[RecordingServer, Path, list[str | None]]
) -> None:
    server, ca, names = tls_server
    dns(rebind_example=[[LOOPBACK]], other_example=[[LOOPBACK]])
    session = make_session(2, policy=AddressPolicy(allow_private=True))
    # Per request: REQUESTS_CA_BUNDLE in the environment would override session.verify.
    response = session.get(f"https://{HOST}:{server.port}/x", timeout=5, verify=str(ca))
    assert response.status_code == 200
    assert names == [HOST]  # SNI carries the name, not the pinned address
    assert server.requests[0]["Host"] == f"{HOST}:{server.port}"
    # Same address, another name: the certificate (for rebind.example) must not pass.
    with pytest.raises(requests.exceptions.SSLError, match=r"other\.example|hostname|match"):
        session.get(f"https://other.example:{server.port}/x", timeout=5, verify=str(ca))


# --------------------------------------------------------------------------- origins
@pytest.mark.parametrize(
    ("url", "same"),
    [
        ("https://dev.azure.com/org/_apis/wit/attachments/1", True),
        ("https://DEV.Azure.com:443/org", True),
        ("HTTPS://dev.azure.com./org", True),
        ("https://dev.azure.com:8443/org", False),
        ("http://dev.azure.com/org", False),
        ("https://evil.example/org/_apis/wit/attachments/1", False),
        ("https://dev.azure.com.evil.example/", False),
        ("https://dev.azure.com@evil.example/", False),
        ("https://evil.example\\@dev.azure.com/", False),  # parsers disagree: no origin
        ("//dev.azure.com/org", False),
        ("/org/_apis/wit/attachments/1", False),
        ("not a url", False),
        ("", False),
    ],
)
def test_origin_matching(url: str, same: bool) -> None:
    assert Origin.of("https://dev.azure.com").contains(url) is same


def test_origins_normalise_default_ports_and_print_plainly() -> None:
    assert Origin.of("http://Host:80/x") == Origin("http", "host", 80)
    assert str(Origin.of("https://h.example:443/tfs")) == "https://h.example"
    assert str(Origin.of("https://[::1]:8443/")) == "https://[::1]:8443"


def test_the_credential_goes_only_to_its_origin_and_strips_strays() -> None:
    cred = OriginCredential("https://acme.atlassian.net", "Basic c2VjcmV0")
    mine = requests.Request("GET", "https://acme.atlassian.net/rest/api/3/myself").prepare()
    assert cred(mine).headers["Authorization"] == "Basic c2VjcmV0"
    foreign = requests.Request(
        "GET", "https://other.example/", headers={"Authorization": "Basic c2VjcmV0"}
    ).prepare()
    assert "Authorization" not in cred(foreign).headers
    assert "c2VjcmV0" not in repr(cred)


# --------------------------------------------------------------------------- sandboxes
def test_loopback_sandboxes_work_when_private_targets_are_allowed(
    request: pytest.FixtureRequest,
) -> None:
    pytest.importorskip("sandbox.ado")
    sb = request.getfixturevalue("sandboxes")
    allow = AddressPolicy(allow_private=True, allow_http=True)
    ado = AdoClient(sb.ado_url, sb.org, sb.project, sb.pat, policy=allow)
    ado.check_access()
    items = ado.get_work_items(ado.query_ids())
    ref = next(a for w in items for a in w.attachments)
    with ado.open_attachment(ref.url) as stream:
        assert stream.read()
    if sb.jira_url is not None:
        from engine.jira import JiraClient

        jira = JiraClient(sb.jira_url, sb.email, sb.api_token, policy=allow)
        assert jira.myself()
    guarded = AddressPolicy(allow_http=True)  # the address, not the scheme, is refused
    refused = AdoClient(sb.ado_url, sb.org, sb.project, sb.pat, policy=guarded)
    with pytest.raises(BlockedAddress, match="non-public"):
        refused.check_access()
