"""The request and response values the sandbox framework passes between its parts.

A handler takes a :class:`Request` and returns a :class:`Response`; the helpers
build the common answers (JSON, empty, a dropped connection).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any


class BadRequestBody(ValueError):
    """The request body is not what the route needs (e.g. not JSON)."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    route: str = ""
    # Headers the service adds to whatever it answers (set while the request is checked).
    answer_headers: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def json(self) -> Any:
        if not self.body:
            raise BadRequestBody("empty body")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequestBody(str(exc)) from exc


@dataclass
class Response:
    status: int
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_length: int | None = None  # needed when ``body`` is an iterable
    # Close the connection without sending a byte (a lost answer); status, body
    # and headers are then ignored.
    drop_connection: bool = False


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
    payload = json.dumps(obj, separators=(",", ":")).encode()
    hdrs = {"Content-Type": "application/json; charset=utf-8"}
    hdrs.update(headers or {})
    return Response(status, payload, hdrs)


def empty_response(status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(status, b"", dict(headers or {}))


def dropped_connection() -> Response:
    """No answer at all: the server closes the connection after reading the request."""
    return Response(0, drop_connection=True)


Handler = Callable[[Request], Response]
