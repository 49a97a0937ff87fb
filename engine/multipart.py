"""A streaming ``multipart/form-data`` body with one file part or several.

``requests`` (``files=``) builds the whole body in memory; ADO attachments can be
hundreds of megabytes. :class:`MultipartFiles` yields the body in chunks straight
from the source streams. When every stream's size is known (seekable, or it says
its ``content_length``) the body knows its exact length, so ``requests`` sends a
``Content-Length``; otherwise the body goes out with ``Transfer-Encoding: chunked``.

The part is encoded the way browsers do (HTML5 / RFC 7578): the filename is UTF-8
inside quotes, with ``"``, CR and LF percent-encoded.
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO

CHUNK = 64 * 1024


def _quote(value: str) -> bytes:
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A").encode("utf-8")


def stream_size(stream: IO[bytes]) -> int | None:
    """Bytes left in ``stream`` from its current position, when that can be known cheaply."""
    try:
        if stream.seekable():
            here = stream.tell()
            end = stream.seek(0, os.SEEK_END)
            stream.seek(here)
            return max(0, end - here)
    except (OSError, ValueError, AttributeError):
        pass
    declared = getattr(stream, "content_length", None)
    return declared if isinstance(declared, int) and declared >= 0 else None


class _Part:
    """One file part: its headers and the file, read chunk by chunk."""

    def __init__(
        self,
        stream: IO[bytes],
        *,
        filename: str,
        content_type: str,
        field: str,
        boundary: str,
        chunk_size: int,
    ) -> None:
        self.stream = stream
        self.size = stream_size(stream)
        self.chunk_size = chunk_size
        self._head = (
            f"--{boundary}\r\n".encode()
            + b'Content-Disposition: form-data; name="'
            + _quote(field)
            + b'"; filename="'
            + _quote(filename)
            + b'"\r\n'
            + f"Content-Type: {content_type or 'application/octet-stream'}\r\n\r\n".encode()
        )

    @property
    def length(self) -> int | None:
        """The part's bytes without the closing boundary."""
        return None if self.size is None else len(self._head) + self.size

    def chunks(self) -> Iterator[bytes]:
        """The part's bytes; raises if the stream's size changed under it."""
        yield self._head
        sent = 0
        while True:
            chunk = self.stream.read(self.chunk_size)
            if not chunk:
                break
            sent += len(chunk)
            yield chunk
        if self.size is not None and sent != self.size:
            raise OSError(f"attachment stream gave {sent} bytes, {self.size} were declared")


@dataclass(frozen=True)
class FilePart:
    """One file of a multi-file upload."""

    stream: IO[bytes]
    filename: str
    content_type: str = "application/octet-stream"


class MultipartFiles:
    """The body of an upload with several file parts (all named ``field``), streamed."""

    def __init__(
        self,
        parts: Sequence[FilePart],
        *,
        field: str = "file",
        boundary: str | None = None,
        chunk_size: int = CHUNK,
    ) -> None:
        if not parts:
            raise ValueError("a multipart upload needs at least one file")
        self.boundary = boundary or "----migrator" + secrets.token_hex(16)
        self._files = [
            _Part(
                p.stream,
                filename=p.filename,
                content_type=p.content_type,
                field=field,
                boundary=self.boundary,
                chunk_size=chunk_size,
            )
            for p in parts
        ]
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def content_length(self) -> int | None:
        lengths = [f.length for f in self._files]
        if any(n is None for n in lengths):
            return None
        return sum(n or 0 for n in lengths) + 2 * (len(lengths) - 1) + len(self._tail)

    def chunks(self) -> Iterator[bytes]:
        """The body's bytes; raises if a file's size does not match its stream."""
        for index, part in enumerate(self._files):
            if index:
                yield b"\r\n"
            yield from part.chunks()
        yield self._tail

    def body(self) -> Iterator[bytes] | _SizedBody:
        """What to pass as ``data=``: sized when the length is known, else chunked."""
        length = self.content_length
        if length is None:
            return self.chunks()
        return _SizedBody(self.chunks(), length)


class _SizedBody:
    """An iterable with ``__len__``, so ``requests`` sets ``Content-Length`` and streams it."""

    def __init__(self, chunks: Iterator[bytes], length: int) -> None:
        self._chunks = chunks
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks


def rewindable(stream: IO[bytes]) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return False
