"""The limit benchmark's arithmetic on a tiny hand-made end state: the fewest calls it
allows, each endpoint's time bound, the busiest issue's, and the summary's sums."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.jira_limits import is_metadata_read, site_facts, summarise
from bench.jira_minimum import (
    IssueFacts,
    Minimum,
    Rules,
    SiteFacts,
    endpoint_bounds,
    minimum,
    per_issue_bound,
    shortest_path,
)
from sandbox.jira_workflow import Transition, Workflow

# A -> B -> C -> D, and a shortcut back from D to A that no shortest path uses.
FLOW = Workflow(
    "Flow",
    "A",
    (
        Transition("1", "Start", "B", ("A",)),
        Transition("2", "Review", "C", ("B",)),
        Transition("3", "Finish", "D", ("C",)),
        Transition("9", "Reopen", "A", ("D",)),
    ),
)
RULES = Rules(
    workflows={"Epic": FLOW, "Story": FLOW, "Sub-task": FLOW},
    sprint_on_create=frozenset({"Story"}),
    files_per_upload=2,
)


def issue(ident: str, itype: str, status: str, **kw: object) -> IssueFacts:
    return IssueFacts(id=ident, number=int(ident), issue_type=itype, status_id=status, **kw)  # type: ignore[arg-type]


EPIC = issue(
    "1", "Epic", "D", comments=2, files=3, links=1, remote_links=1, sprint=7,
    description_needs_edit=True,
)  # fmt: skip
STATE = SiteFacts(
    issues=(
        EPIC,
        issue("2", "Story", "C", parent_id="1", links=1, sprint=7),
        issue("3", "Story", "A", parent_id="1", comments=1),
        issue("4", "Sub-task", "B", parent_id="2", files=1, remote_links=1),
        issue("5", "Story", "Z"),  # no path reaches it
    ),
    links=1,  # the epic and the first story show the same link
    components_created=2,
    sprint_states={7: "closed", 8: "active", 9: "future"},
)


def test_the_shortest_path_walks_the_workflow_from_its_initial_status() -> None:
    assert [t.id for _, t in shortest_path(FLOW, "D") or []] == ["1", "2", "3"]
    assert [s for s, _ in shortest_path(FLOW, "C") or []] == ["A", "B"]
    assert shortest_path(FLOW, "A") == []
    assert shortest_path(FLOW, "Z") is None


def test_the_minimum_of_a_tiny_state() -> None:
    assert minimum(STATE, RULES) == Minimum(
        bulk_creates=3,  # depths 0 (issues 1, 5), 1 (2, 3), 2 (4): one request each
        # steps beyond the one on create: (B, Review) for 1 and 2, (C, Finish) for 1
        transitions_beyond_create=2,
        bulk_transition_polls=2,
        comments=3,
        uploads=3,  # 3 files at 2 a request, then 1
        description_edits=1,
        links=1,
        remote_links=2,
        components_created=2,
        sprints_created=3,
        sprint_moves=1,  # the epic; the story goes into sprint 7 on create
        sprint_start_and_complete=3,  # closed: start and complete; active: start
        unreachable_statuses=1,
    )
    assert minimum(STATE, RULES).writes == 3 + 2 + 2 + 3 + 3 + 1 + 1 + 2 + 2 + 3 + 1 + 3


def test_batch_sizes_and_the_bulk_permission_change_the_counts() -> None:
    small = replace(RULES, bulk_create_size=1, bulk_transition_size=1, sprint_move_size=1)
    got = minimum(STATE, small)
    assert got.bulk_creates == 5 and got.transitions_beyond_create == 3
    assert got.bulk_transition_polls == 3
    per_issue = minimum(STATE, replace(RULES, bulk_transitions=False))
    assert per_issue.transitions_beyond_create == 3 and per_issue.bulk_transition_polls == 0


def test_each_endpoint_s_bound_is_its_admitted_calls_over_its_rate() -> None:
    admitted = {"POST /c": 300, "PUT /i": 120, "GET /x": 10, "POST /bulk": 5, "GET /none": 0}
    bounds = endpoint_bounds(
        admitted, {"GET": 100.0, "POST": 100.0, "PUT": 50.0}, {"POST /bulk": 1.0}
    )
    assert [(b.endpoint, b.seconds) for b in bounds] == [
        ("POST /bulk", 5.0),  # the route's own rate wins over its method's
        ("POST /c", 3.0),
        ("PUT /i", 2.4),
        ("GET /x", 0.1),
    ]


def test_the_busiest_issue_s_writes_spread_over_its_windows() -> None:
    windows = [(3, 2.0), (5, 30.0)]
    # the epic: 2 comments + 2 uploads + 1 edit + 1 link + 1 remote link = 7 writes;
    # 3 per 2 s: 4 s; 5 per 30 s: the 6th waits 30 s
    assert per_issue_bound(STATE.issues, RULES, windows) == (30.0, "1")
    assert per_issue_bound(STATE.issues, RULES, [(3, 2.0)]) == (4.0, "1")
    # per-issue transitions name the issue too: the epic's 2 beyond create make 9
    assert per_issue_bound(STATE.issues, replace(RULES, bulk_transitions=False), [(4, 2.0)]) == (
        4.0,
        "1",
    )


def test_the_summary_adds_up_calls_refusals_and_metadata_reads() -> None:
    comment = "POST /rest/api/3/issue/{issueIdOrKey}/comment"
    usage = {
        "answers": {
            comment: {"201": 3, "429": 1},
            "GET /rest/api/3/myself": {"200": 1},
            "GET /rest/api/3/issue/{issueIdOrKey}/transitions": {"200": 2},
            "POST /rest/api/3/search/jql": {"200": 1},
        },
        "refused": {"jira-per-issue-on-write": {comment: 1}},
    }
    limits = {"rates": {"GET": 100.0, "POST": 2.0}, "route_rates": {}, "issue_windows": [[20, 2.0]]}
    out = summarise(usage, STATE, RULES, limits, "model", 50.0, elapsed=3.0)
    assert out["jira_calls"] == 8 and out["jira_calls_admitted"] == 7
    assert out["metadata_reads"] == {"GET /rest/api/3/myself": 1}
    assert out["minimum_total"] == minimum(STATE, RULES).writes + 1
    assert out["busiest_endpoint"]["endpoint"] == comment
    assert out["bound_seconds"] == 1.5 and out["elapsed_vs_bound"] == 2.0
    assert out["throttled_429_by_reason"] == {"jira-per-issue-on-write": 1}
    bucket = summarise(usage, STATE, RULES, limits, "bucket", 3.5, elapsed=3.0)
    assert bucket["bound_seconds"] == 2.0 and bucket["bound_is"] == "single bucket"


@pytest.mark.parametrize(
    ("endpoint", "metadata"),
    [
        ("GET /rest/api/3/user/search", True),
        ("GET /rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}", True),
        ("GET /rest/api/3/search/jql", False),
        ("GET /rest/api/3/issue/{issueIdOrKey}", False),
        ("GET /rest/api/3/bulk/queue/{taskId}", False),
        ("POST /rest/api/3/component", False),
    ],
)
def test_metadata_reads_are_gets_about_the_site_not_items(endpoint: str, metadata: bool) -> None:
    assert is_metadata_read(endpoint) is metadata


def test_facts_read_from_a_snapshot() -> None:
    def media(url: str) -> dict[str, object]:
        return {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"url": url}}]}

    def link(key: str) -> dict[str, object]:
        mark = {"type": "link", "attrs": {"href": f"http://h/browse/{key}"}}
        return {"type": "paragraph", "content": [{"type": "text", "text": key, "marks": [mark]}]}

    def raw(key: str, *blocks: dict[str, object], **fields: object) -> dict[str, object]:
        description = {"type": "doc", "version": 1, "content": list(blocks)}
        return {
            "id": str(10000 + int(key.split("-")[1])),
            "key": key,
            "issuetype": "Story",
            "status": "Done",
            "fields": {"description": description, **fields},
            "comments": [{}],
            "attachments": [],
            "links": [{"id": "5"}],
            "remoteLinks": [],
        }

    snapshot = {
        "issues": [
            raw("MIG-1", link("MIG-2"), customfield_10020=3),  # names a later issue
            raw("MIG-2", link("MIG-1"), parent=10001),  # an earlier one: known at create
            raw("MIG-3", media("http://h/rest/api/3/attachment/content/7")),
        ],
        "components": [{}, {}, {}],
    }
    facts = site_facts(snapshot, "MIG", {3: "closed"}, components_before=1)
    assert [i.description_needs_edit for i in facts.issues] == [True, False, True]
    assert [i.status_id for i in facts.issues] == ["10002"] * 3  # Story's Done
    assert facts.issues[0].sprint == 3 and facts.issues[1].parent_id == "10001"
    assert facts.links == 1 and facts.components_created == 2
