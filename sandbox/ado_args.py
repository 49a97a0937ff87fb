"""Request arguments of the ADO routes, parsed or refused in the service's error shape."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from sandbox.ado_errors import bad_request
from sandbox.ado_fields import parse_dt
from sandbox.httpbase import Request


def as_int(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise bad_request(f"VS403472: The value '{value}' is not a valid work item id.") from exc


def plain_int(value: str) -> int:
    """An id on a control route (a ValueError there answers 400 in plain JSON)."""
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"not an id: {value}") from exc


def int_arg(request: Request, name: str) -> int | None:
    raw = request.arg(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_request(f"The value '{raw}' is not valid for {name}.") from exc
    if value < 0:
        raise bad_request(f"The value '{raw}' is not valid for {name}.")
    return value


def as_of_arg(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return parse_dt(str(value))
    except ValueError as exc:
        raise bad_request(f"The value '{value}' is not valid for asOf.") from exc


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        return int(json.loads(base64.urlsafe_b64decode(padded))["o"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise bad_request(f"The continuation token '{token}' is not valid.") from exc


def object_body(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body
