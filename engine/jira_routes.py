"""Which Jira endpoint a request calls and which issues it writes to (pure).

Jira Cloud limits bursts per HTTP method and endpoint, and writes per issue (api-notes
B.13). The engine's scheduler keys its limiters the same way, so it needs, for each
request, the endpoint's *route template* as the REST specification names it
(``/rest/api/3/issue/ABC-1/comment`` → ``/rest/api/3/issue/{issueIdOrKey}/comment``)
and the issues the request writes to: the ``{issueIdOrKey}`` of a write's path, or
both ends of an issue link, which only its body names (the caller passes them as a
hint). :func:`route_of` computes both from ``(method, URL or path, hint)`` and reads
nothing else.

The templates are the specification's, for the endpoints the engine calls and their
neighbours (``tests/engine/test_jira_routes.py`` checks each against the official
OpenAPI document). A path no template matches keeps its literal segments and has
every segment that looks like an id or an issue key replaced by ``{id}``, so one
unknown endpoint still shares one limiter, whatever it is called with.

An issue is known by what the path says: a write by id and a write by key to one
issue count as two issues here (Jira counts them as one). The engine writes by key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
ISSUE_PARAM = "{issueIdOrKey}"
# Read-only POSTs: Jira counts them per endpoint like any other, but they write no issue.
_READ_POSTS = frozenset({"/rest/api/3/search/jql", "/rest/api/3/issue/bulkfetch"})

API = "/rest/api/3"
AGILE = "/rest/agile/1.0"
_ISSUE = API + "/issue/" + ISSUE_PARAM
TEMPLATES: tuple[str, ...] = (
    API + "/issue",
    API + "/issue/bulk",
    API + "/issue/bulkfetch",
    API + "/issue/createmeta",
    API + "/issue/createmeta/{projectIdOrKey}/issuetypes",
    API + "/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}",
    API + "/issue/properties",
    API + "/issue/properties/multi",
    API + "/issue/properties/{propertyKey}",
    API + "/issue/picker",
    _ISSUE,
    _ISSUE + "/assignee",
    _ISSUE + "/attachments",
    _ISSUE + "/changelog",
    _ISSUE + "/comment",
    _ISSUE + "/comment/{id}",
    _ISSUE + "/editmeta",
    _ISSUE + "/notify",
    _ISSUE + "/properties",
    _ISSUE + "/properties/{propertyKey}",
    _ISSUE + "/remotelink",
    _ISSUE + "/remotelink/{linkId}",
    _ISSUE + "/transitions",
    _ISSUE + "/watchers",
    _ISSUE + "/worklog",
    _ISSUE + "/worklog/{id}",
    API + "/issueLink",
    API + "/issueLink/{linkId}",
    API + "/issueLinkType",
    API + "/issueLinkType/{issueLinkTypeId}",
    API + "/comment/list",
    API + "/comment/{commentId}/properties",
    API + "/comment/{commentId}/properties/{propertyKey}",
    API + "/attachment/meta",
    API + "/attachment/{id}",
    API + "/attachment/content/{id}",
    API + "/attachment/thumbnail/{id}",
    API + "/bulk/issues/delete",
    API + "/bulk/issues/fields",
    API + "/bulk/issues/transition",
    API + "/bulk/queue/{taskId}",
    API + "/search/jql",
    API + "/myself",
    API + "/mypermissions",
    API + "/serverInfo",
    API + "/field",
    API + "/priority",
    API + "/status",
    API + "/statuses/search",
    API + "/issuetype",
    API + "/component",
    API + "/component/{id}",
    API + "/project/{projectIdOrKey}",
    API + "/project/{projectIdOrKey}/components",
    API + "/project/{projectIdOrKey}/statuses",
    API + "/user",
    API + "/user/bulk",
    API + "/user/search",
    API + "/users/search",
    AGILE + "/board",
    AGILE + "/board/{boardId}",
    AGILE + "/board/{boardId}/sprint",
    AGILE + "/sprint",
    AGILE + "/sprint/{sprintId}",
    AGILE + "/sprint/{sprintId}/issue",
)

_ID_LIKE = re.compile(r"^(\d+|[A-Za-z][A-Za-z0-9_]*-\d+|[0-9a-fA-F-]{16,})$")


@dataclass(frozen=True)
class JiraRoute:
    """One request's scope: its method, its endpoint's template, the issues it writes."""

    method: str
    template: str
    issues: tuple[str, ...] = ()

    @property
    def endpoint(self) -> str:
        """``"METHOD /template"``: the key of the endpoint's limiter."""
        return f"{self.method} {self.template}"

    @property
    def writes(self) -> bool:
        return bool(self.issues)


def route_of(method: str, url: str, writes_to: Iterable[str] = ()) -> JiraRoute:
    """The route template of ``url`` (a full URL or a path) and the issues it writes.

    ``writes_to`` names issues the path does not (an issue link's two ends, read from
    its body by the caller). Reads write no issue, whatever the hint says.
    """
    verb = method.upper()
    path = _rest_path(url)
    template, issue = _match(path)
    issues: list[str] = []
    if verb in WRITE_METHODS and template not in _READ_POSTS:
        if issue:
            issues.append(issue)
        issues.extend(str(ref) for ref in writes_to if ref)
    return JiraRoute(verb, template, _normal_issues(issues))


def _rest_path(url: str) -> str:
    """The path from ``/rest/`` on (a site may sit under a context path), without query."""
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0].split("#", 1)[0]
    at = path.find("/rest/")
    path = path[at:] if at >= 0 else path
    return unquote(path) if "%" in path else path


def _normal_issues(refs: list[str]) -> tuple[str, ...]:
    """Upper-cased (Jira keys are case-insensitive), each once, in order."""
    seen: dict[str, None] = {}
    for ref in refs:
        seen.setdefault(ref.strip().upper(), None)
    return tuple(r for r in seen if r)


@dataclass
class _Node:
    """One segment position of the template tree: literal children first, then a parameter."""

    literals: dict[str, _Node]
    param: tuple[str, _Node] | None = None  # (its name, the node after it)
    template: str = ""  # set where a template ends


@lru_cache(maxsize=1)
def _tree() -> _Node:
    root = _Node({})
    for template in TEMPLATES:
        node = root
        for part in (s for s in template.split("/") if s):
            if part.startswith("{"):
                if node.param is None:
                    node.param = (part, _Node({}))
                node = node.param[1]
            else:
                node = node.literals.setdefault(part, _Node({}))
        node.template = template
    return root


def _walk(node: _Node, segments: list[str], at: int) -> tuple[str, str] | None:
    """The template matching ``segments[at:]`` from ``node`` (literals win), and its issue."""
    if at == len(segments):
        return (node.template, "") if node.template else None
    child = node.literals.get(segments[at])
    if child is not None:
        found = _walk(child, segments, at + 1)
        if found is not None:
            return found
    if node.param is not None:
        name, after = node.param
        found = _walk(after, segments, at + 1)
        if found is not None:
            return found[0], segments[at] if name == ISSUE_PARAM else found[1]
    return None


def _match(path: str) -> tuple[str, str]:
    """``(template, the issue its {issueIdOrKey} holds or "")`` for one path."""
    segments = [s for s in path.split("/") if s]
    found = _walk(_tree(), segments, 0)
    if found is not None:
        return found
    # ``rest/api/3`` and ``rest/agile/1.0`` stay: only what follows the version varies.
    generic = ("{id}" if n > 2 and _ID_LIKE.match(s) else s for n, s in enumerate(segments))
    return "/" + "/".join(generic), ""
