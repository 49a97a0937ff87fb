"""A small multipart/form-data reader for attachment uploads.

The stdlib ``cgi`` module is deprecated and ``email`` copies every part several
times; uploads can be large, so this splits the body on its boundary once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_DISPOSITION_PARAM = re.compile(r'(\w+\*?)=(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))')


class MultipartError(ValueError):
    pass


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytes


def boundary_of(headers: Message) -> str:
    ctype = headers.get("Content-Type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise MultipartError("the request is not multipart/form-data")
    m = _BOUNDARY.search(ctype)
    if not m:
        raise MultipartError("multipart boundary missing")
    return m.group(1)


def _parse_part(raw: bytes) -> Part:
    head, sep, data = raw.partition(b"\r\n\r\n")
    if not sep:
        raise MultipartError("malformed part: no header separator")
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    params: dict[str, str] = {}
    for m in _DISPOSITION_PARAM.finditer(headers.get("content-disposition", "")):
        params[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    filename = params.get("filename")
    if "filename*" in params and "''" in params["filename*"]:
        from urllib.parse import unquote

        filename = unquote(params["filename*"].split("''", 1)[1])
    return Part(
        params.get("name", ""),
        filename,
        headers.get("content-type", "application/octet-stream"),
        data,
    )


def parse(body: bytes, headers: Message) -> list[Part]:
    delimiter = b"--" + boundary_of(headers).encode()
    chunks = body.split(delimiter)
    if len(chunks) < 3:
        raise MultipartError("no parts found")
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        # Each chunk is CRLF, the part, CRLF (the CRLF belongs to the next delimiter).
        chunk = chunk.removeprefix(b"\r\n").removesuffix(b"\r\n")
        parts.append(_parse_part(chunk))
    return parts
