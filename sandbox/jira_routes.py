"""What every family of Jira routes shares: the app's current state, settings and
renderer (both are replaced when the site is reset, so they are read through the
app on every request), the API prefixes, and the query-argument parsers that
refuse in Jira's error shape."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.httpbase import CONTROL_PREFIX, Request, Response, json_response
from sandbox.jira_render import Renderer
from sandbox.jira_state import JiraError, JiraState, Settings

if TYPE_CHECKING:
    from sandbox.jira import JiraApp

API = "/rest/api/3"
AGILE = "/rest/agile/1.0"
JIRA_CONTROL = CONTROL_PREFIX + "/jira"


class JiraRoutes:
    """Base of a family of route handlers; ``state`` and ``settings`` are the app's current ones."""

    def __init__(self, app: JiraApp) -> None:
        self.app = app

    @property
    def state(self) -> JiraState:
        return self.app.state

    @property
    def settings(self) -> Settings:
        return self.app.settings

    def render(self, request: Request) -> Renderer:
        return self.app.render(request)


def ok(obj: Any, status: int = 200) -> Response:
    return json_response(status, obj)


def int_arg(request: Request, name: str, default: int, cap: int | None = None) -> int:
    raw = request.arg(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)  # type: ignore[arg-type]
    except ValueError as exc:
        raise JiraError(400, [f"The '{name}' parameter must be a number."]) from exc
    if value < 0:
        raise JiraError(400, [f"The '{name}' parameter must not be negative."])
    return min(value, cap) if cap is not None else value


def bool_arg(request: Request, name: str, default: bool) -> bool:
    raw = request.arg(name)
    if raw in (None, ""):
        return default
    value = str(raw).lower()
    if value not in ("true", "false"):
        raise JiraError(400, [f"The '{name}' parameter must be true or false."])
    return value == "true"


def list_arg(request: Request, name: str) -> list[str]:
    return [v.strip() for raw in request.args(name) for v in raw.split(",") if v.strip()]


def page_of(values: list[Any], start: int, size: int, url: str) -> dict[str, Any]:
    """A ``PageBean*`` object."""
    chunk = values[start : start + size]
    return {
        "self": url,
        "maxResults": size,
        "startAt": start,
        "total": len(values),
        "isLast": start + size >= len(values),
        "values": chunk,
    }
