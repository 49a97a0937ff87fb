"""Reading Server-Sent Events in tests, with a timeout around every read."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

# The stream's own event types; everything else it sends is comment lines.
EVENT_TYPES = {"progress", "log", "status", "done"}
# What ``next(skip_control=False)`` returns for a block of comment lines only
# (the opening padding, a keep-alive): ``SSE(COMMENT, <comment text>, None)``.
COMMENT = ":"


@dataclass
class SSE:
    event: str
    data: str
    id: str | None

    @property
    def json(self) -> Any:
        return json.loads(self.data)


def is_comment(block: str) -> bool:
    return all(line.startswith(":") for line in block.splitlines() if line)


def parse_block(block: str) -> SSE | None:
    """The event of one block; None for a block of comment lines only."""
    event, data, event_id = "message", [], None
    for line in block.splitlines():
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = value
    if not data and event == "message":
        return None
    return SSE(event, "\n".join(data), event_id)


def _returned(block: str, skip_control: bool) -> SSE | None:
    if is_comment(block):
        return None if skip_control else SSE(COMMENT, block.lstrip(":").strip(), None)
    return parse_block(block)


class SSEReader:
    """Events from an async byte iterator (an AsyncClient streaming response).

    ``blocks`` keeps every block read, comments included, from the first byte.
    """

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = ""
        self.blocks: list[str] = []

    async def next(self, timeout: float = 5.0, *, skip_control: bool = True) -> SSE:
        """The next event; with ``skip_control=False`` comment blocks too."""
        while True:
            while "\n\n" not in self._buffer:
                chunk = await asyncio.wait_for(anext(self._chunks), timeout)
                self._buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
            block, self._buffer = self._buffer.split("\n\n", 1)
            self.blocks.append(block)
            event = _returned(block, skip_control)
            if event is not None:
                return event

    async def opened(self, timeout: float = 5.0) -> None:
        """Wait for the opening comment: the stream listens from here on."""
        first = await self.next(timeout, skip_control=False)
        assert first.event == COMMENT, first

    async def take(self, count: int, timeout: float = 5.0) -> list[SSE]:
        return [await self.next(timeout) for _ in range(count)]

    async def until(self, types: Iterable[str], timeout: float = 5.0) -> list[SSE]:
        """Events up to and including the first of one of ``types``."""
        wanted, seen = set(types), []
        while True:
            event = await self.next(timeout)
            seen.append(event)
            if event.event in wanted:
                return seen

    async def expect_nothing(self, seconds: float) -> None:
        try:
            event = await self.next(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event {event}")


class HttpSSE:
    """A minimal SSE client over a raw loopback connection (HTTP/1.1, chunked).

    Cheap enough to hold hundreds of streams in one event loop (the benchmark).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.status = 0
        self.headers: dict[str, str] = {}
        self._chunked = False
        self._text = ""

    @classmethod
    async def open(
        cls, base_url: str, path: str, headers: dict[str, str] | None = None, timeout: float = 10.0
    ) -> HttpSSE:
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port), timeout
        )
        lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        client = cls(reader, writer)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        client.status = int(status_line.split()[1])
        for line in header_lines:
            if ":" in line:
                name, _, value = line.partition(":")
                client.headers[name.strip().lower()] = value.strip()
        client._chunked = client.headers.get("transfer-encoding", "").lower() == "chunked"
        return client

    async def _more(self) -> None:
        if self._chunked:
            size_line = await self._reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                raise EOFError("stream ended")
            data = await self._reader.readexactly(size + 2)
            self._text += data[:-2].decode()
        else:
            data = await self._reader.read(65536)
            if not data:
                raise EOFError("stream ended")
            self._text += data.decode()

    async def body(self, timeout: float = 10.0) -> str:
        """The whole body of a non-streaming (error) response."""
        length = int(self.headers.get("content-length", "0"))
        data = await asyncio.wait_for(self._reader.readexactly(length), timeout)
        return data.decode()

    async def next(self, timeout: float = 5.0, *, skip_control: bool = True) -> SSE:
        """The next event; with ``skip_control=False`` comment blocks too."""
        while True:
            while "\n\n" not in self._text:
                await asyncio.wait_for(self._more(), timeout)
            block, self._text = self._text.split("\n\n", 1)
            event = _returned(block, skip_control)
            if event is not None:
                return event

    async def opened(self, timeout: float = 5.0) -> None:
        """Wait for the opening comment: the stream listens from here on."""
        first = await self.next(timeout, skip_control=False)
        assert first.event == COMMENT, first

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()
