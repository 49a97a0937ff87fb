"""Serving a :class:`~sandbox.httpbase.SandboxApp` over HTTP/1.1 on loopback.

A threaded server with keep-alive (so pooled client sessions behave as against
the real services), chunked request bodies, streamed or chunked answers, and
dropped connections for the lost-answer fault.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from sandbox.http_messages import Request, Response, json_response

if TYPE_CHECKING:
    from sandbox.httpbase import SandboxApp


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, a keep-alive client
    # waits for the delayed ACK (~40 ms) on every request.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        # A client that gave up (a read timeout during a late write) has closed
        # its socket; answering it fails with EPIPE/ECONNRESET. That is expected,
        # not a sandbox bug, so it ends the connection without a traceback.
        try:
            super().handle()
        except ConnectionError:
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline().split(b";", 1)[0].strip()
                size = int(size_line or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=self._read_body(),
        )
        try:
            response = self.server.app.dispatch(request)
        except Exception as exc:  # a sandbox bug must still answer, like a real 500
            response = json_response(500, {"message": f"sandbox error: {exc!r}"})
        self._send(response)

    def _send(self, response: Response) -> None:
        if response.drop_connection:
            # Nothing has been written for this request yet (headers are buffered
            # until end_headers), so the client sees the connection close with no
            # status line at all.
            self.close_connection = True
            return
        self.send_response(response.status)
        body = response.body
        for key, value in response.headers.items():
            self.send_header(key, value)
        if isinstance(body, bytes | bytearray):
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        if response.content_length is not None:
            self.send_header("Content-Length", str(response.content_length))
            self.end_headers()
            for chunk in body:
                self.wfile.write(chunk)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in body:
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Same reason as _Handler.handle: a vanished client is not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class SandboxServer:
    """Serves a :class:`SandboxApp` on loopback from a daemon thread."""

    def __init__(self, app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._server = _Server((host, port), app)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name=f"{app.name}-http",
            daemon=True,
            kwargs={"poll_interval": 0.05},  # so that stop() returns promptly
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        if isinstance(host, bytes):  # typeshed allows bytes for AF_UNIX; never the case here
            host = host.decode()
        return f"http://{host}:{self.port}"

    def start(self) -> SandboxServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
