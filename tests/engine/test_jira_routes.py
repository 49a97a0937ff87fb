"""The route template and written issues of a Jira request: a pure function of its parts."""

from __future__ import annotations

import pytest

from engine.jira_routes import TEMPLATES, JiraRoute, route_of
from tests.sandbox.jira_support import load_spec

ISSUE = "/rest/api/3/issue/{issueIdOrKey}"


A = "/rest/api/3"
CASES = [
    # (method, URL or path, its template, the issues it writes)
    ("POST", A + "/issue/ABC-1/comment", ISSUE + "/comment", ("ABC-1",)),
    (
        "POST",
        "https://x.atlassian.net" + A + "/issue/abc-1/comment",
        ISSUE + "/comment",
        ("ABC-1",),
    ),
    ("GET", A + "/issue/ABC-1?fields=status", ISSUE, ()),
    ("PUT", A + "/issue/10001", ISSUE, ("10001",)),
    ("DELETE", A + "/issue/ABC-1/remotelink/7", ISSUE + "/remotelink/{linkId}", ("ABC-1",)),
    ("PUT", A + "/issue/ABC-1/properties/p", ISSUE + "/properties/{propertyKey}", ("ABC-1",)),
    ("POST", A + "/issue/ABC-1/attachments", ISSUE + "/attachments", ("ABC-1",)),
    ("POST", A + "/issue/ABC-1/transitions", ISSUE + "/transitions", ("ABC-1",)),
    ("POST", A + "/issue/bulk", A + "/issue/bulk", ()),
    ("POST", A + "/issue/bulkfetch", A + "/issue/bulkfetch", ()),
    ("POST", A + "/issue", A + "/issue", ()),
    ("POST", A + "/search/jql", A + "/search/jql", ()),
    ("GET", A + "/bulk/queue/abc123", A + "/bulk/queue/{taskId}", ()),
    ("GET", A + "/comment/5/properties/p", A + "/comment/{commentId}/properties/{propertyKey}", ()),
    ("POST", "/rest/agile/1.0/sprint/12/issue", "/rest/agile/1.0/sprint/{sprintId}/issue", ()),
    ("GET", A + "/project/ABC/statuses", A + "/project/{projectIdOrKey}/statuses", ()),
    ("GET", "/jira" + A + "/myself", A + "/myself", ()),  # under a context path
    ("POST", A + "/issue/A%2D1/comment", ISSUE + "/comment", ("A-1",)),
]


@pytest.mark.parametrize(("method", "url", "template", "issues"), CASES)
def test_a_path_has_its_specs_template_and_the_issue_it_writes(
    method: str, url: str, template: str, issues: tuple[str, ...]
) -> None:
    assert route_of(method, url) == JiraRoute(method, template, issues)


def test_an_issue_link_writes_to_both_ends_named_by_its_body() -> None:
    route = route_of("post", "/rest/api/3/issueLink", ("abc-1", "ABC-2"))
    assert route == JiraRoute("POST", "/rest/api/3/issueLink", ("ABC-1", "ABC-2"))
    assert route.endpoint == "POST /rest/api/3/issueLink" and route.writes


def test_a_read_writes_no_issue_whatever_the_hint() -> None:
    assert route_of("GET", "/rest/api/3/issueLink/5", ("A-1",)).issues == ()
    assert route_of("POST", "/rest/api/3/search/jql", ("A-1",)).issues == ()


def test_a_write_naming_one_issue_twice_counts_it_once() -> None:
    assert route_of("POST", "/rest/api/3/issueLink", ("A-1", "a-1")).issues == ("A-1",)


def test_an_unknown_path_keeps_one_template_whatever_its_ids() -> None:
    first = route_of("GET", "/rest/api/3/worklog/123/properties")
    second = route_of("GET", "/rest/api/3/worklog/456/properties")
    assert first.template == second.template == "/rest/api/3/worklog/{id}/properties"
    assert route_of("GET", "/rest/api/3/thing/ABC-9").template == "/rest/api/3/thing/{id}"


def test_every_template_is_in_the_official_specifications() -> None:
    paths = set(load_spec("jira-platform-v3.openapi.json")["paths"])
    paths |= set(load_spec("jira-software-agile-1.0.openapi.json")["paths"])
    missing = [t for t in TEMPLATES if t not in paths]
    assert not missing, missing
