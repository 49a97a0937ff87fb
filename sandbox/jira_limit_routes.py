"""The Jira sandbox's side of :mod:`sandbox.jira_limits`: which issues a request writes,
the 429 it answers, ``GET/PATCH /_sandbox/jira/limits`` and the tally of answers per
endpoint at ``GET /_sandbox/jira/limits/usage`` (``POST .../usage/reset`` clears it)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from sandbox.httpbase import Request, Response, empty_response, json_response
from sandbox.jira_limits import EndpointUsage, JiraLimits, LimitSettings, Verdict
from sandbox.jira_state import JiraError, JiraState

ISSUE_LINK_ROUTE = "/rest/api/3/issueLink"


def written_issues(state: JiraState, request: Request) -> list[str]:
    """The issues a write names: ``{issueIdOrKey}``, or both ends of an issue link.

    An id and a key of one issue count as one issue (its id); an unknown reference
    counts as itself (the handler will answer 404, after the limits had their say).
    """
    refs: list[Any] = []
    if "issueIdOrKey" in request.params:
        refs.append(request.params["issueIdOrKey"])
    elif request.route.endswith(ISSUE_LINK_ROUTE) and request.method == "POST":
        refs.extend(_link_ends(request.body))
    out = []
    with state.lock:
        for ref in refs:
            issue = state.find_issue(ref)
            out.append(str(issue.id) if issue is not None else str(ref).upper())
    return out


def _link_ends(body: bytes) -> list[Any]:
    try:
        raw = json.loads(body or b"{}")
    except ValueError:
        return []
    if not isinstance(raw, dict):
        return []
    ends = []
    for side in ("inwardIssue", "outwardIssue"):
        ref = raw.get(side)
        if isinstance(ref, dict):
            ends.append(ref.get("id") or ref.get("key"))
    return [e for e in ends if isinstance(e, str | int)]


def refusal(verdict: Verdict) -> Response:
    return json_response(
        429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}, verdict.headers()
    )


class LimitRoutes:
    """``GET/PATCH /_sandbox/jira/limits``: the model's settings (no auth, no faults)."""

    def __init__(self, limits: JiraLimits, usage: EndpointUsage | None = None) -> None:
        self.limits = limits
        self.usage = usage or EndpointUsage()

    def get(self, request: Request) -> Response:
        return json_response(200, asdict(self.limits.settings))

    def patch(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise JiraError(400, ["expected an object"])
        try:
            unknown = self.limits.settings.update(body)
        except (TypeError, ValueError) as exc:
            raise JiraError(400, [str(exc)]) from exc
        if unknown:
            raise JiraError(400, [f"unknown limit settings: {', '.join(unknown)}"])
        self.limits.reset()  # new rates start from full buckets and empty windows
        return json_response(200, asdict(self.limits.settings))

    def get_usage(self, request: Request) -> Response:
        return json_response(200, self.usage.snapshot())

    def reset_usage(self, request: Request) -> Response:
        self.usage.clear()
        return empty_response(204)


def fresh_limits(initial: LimitSettings) -> JiraLimits:
    return JiraLimits(LimitSettings(**asdict(initial)))
