"""Each served endpoint, with its response checked against the official OpenAPI files."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.httpbase import CONTROL_PREFIX
from sandbox.jira import JiraApp
from tests.sandbox.jira_support import (
    AGILE,
    PEOPLE,
    PLATFORM,
    Site,
    assert_matches_spec,
    assert_schema,
    doc,
    issue_body,
    load_spec,
    para,
    running_site,
)

A = "/rest/api/3"
ISSUE = A + "/issue/{issueIdOrKey}"


@pytest.fixture
def site() -> Iterator[Site]:
    with running_site() as s:
        yield s


def _spec_path(pattern: str) -> tuple[str, str]:
    """Our route pattern → (spec file, the spec's path key)."""
    name = AGILE if pattern.startswith("/rest/agile/") else PLATFORM
    return name, pattern


def test_every_served_route_exists_in_the_official_specs() -> None:
    app = JiraApp(email="a@b.c", api_token="t")
    served = [
        (r.method, r.pattern) for r in app._routes if not r.pattern.startswith(CONTROL_PREFIX)
    ]
    assert len(served) > 50
    for method, pattern in served:
        name, path = _spec_path(pattern)
        spec_paths = load_spec(name)["paths"]
        # The spec names some path parameters differently (e.g. {id} vs {attachmentId}).
        shape = re.sub(r"\{[^}]+\}", "{}", path)
        matches = [p for p in spec_paths if re.sub(r"\{[^}]+\}", "{}", p) == shape]
        assert matches, f"{method} {path} is not in {name}"
        assert any(method.lower() in spec_paths[p] for p in matches), f"{method} {path}"


# Operations the migrator's clean-up and verification rely on: each must be in the
# official spec under exactly this path (parameter names included) and be served.
DOCUMENTED = [
    ("DELETE", ISSUE),
    ("DELETE", ISSUE + "/comment/{id}"),
    ("PUT", ISSUE + "/comment/{id}"),
    ("DELETE", A + "/attachment/{id}"),
    ("DELETE", A + "/issueLink/{linkId}"),
    ("DELETE", ISSUE + "/remotelink/{linkId}"),
    ("DELETE", ISSUE + "/properties/{propertyKey}"),
    ("GET", A + "/comment/{commentId}/properties"),
    ("GET", A + "/comment/{commentId}/properties/{propertyKey}"),
    # a rollback's removals and its checks that a removal landed (404 = done)
    ("POST", A + "/bulk/issues/delete"),
    ("POST", A + "/bulk/issues/transition"),
    ("GET", A + "/bulk/queue/{taskId}"),
    ("GET", A + "/mypermissions"),
    ("GET", ISSUE),
    ("GET", ISSUE + "/comment/{id}"),
    ("GET", A + "/attachment/{id}"),
    ("GET", A + "/issueLink/{linkId}"),
    ("GET", ISSUE + "/remotelink"),
]


@pytest.mark.parametrize(("method", "path"), DOCUMENTED)
def test_documented_delete_edit_and_comment_property_routes_are_served(
    method: str, path: str
) -> None:
    app = JiraApp(email="a@b.c", api_token="t")
    assert method.lower() in load_spec(PLATFORM)["paths"].get(path, {}), f"{method} {path}"
    assert (method, path) in {(r.method, r.pattern) for r in app._routes}
    assert f"{method} {path}" in app.faultable_routes()  # a valid fault selector too


# ---------------------------------------------------------------------- metadata
def test_myself_and_server_info_match_the_spec(site: Site) -> None:
    me = assert_matches_spec(site.http.get(site.api + "/myself"), "GET", A + "/myself", 200)
    assert me["emailAddress"] == "migrator@example.com"
    info = assert_matches_spec(
        site.anon.get(site.api + "/serverInfo"), "GET", A + "/serverInfo", 200
    )
    assert info["deploymentType"] == "Cloud"


def test_project_is_company_managed_with_hierarchy_levels(site: Site) -> None:
    project = assert_matches_spec(
        site.http.get(site.api + "/project/MIG"), "GET", A + "/project/{projectIdOrKey}", 200
    )
    assert project["simplified"] is False and project["style"] == "classic"
    levels = {t["name"]: t["hierarchyLevel"] for t in project["issueTypes"]}
    assert levels == {"Epic": 1, "Story": 0, "Task": 0, "Bug": 0, "Sub-task": -1}
    by_id = site.http.get(site.api + "/project/10000")
    assert by_id.json()["key"] == "MIG"
    types = assert_matches_spec(
        site.http.get(site.api + "/issuetype/project", params={"projectId": "10000"}),
        "GET",
        A + "/issuetype/project",
        200,
    )
    assert [t["subtask"] for t in types].count(True) == 1
    assert_matches_spec(site.http.get(site.api + "/issuetype"), "GET", A + "/issuetype", 200)


def test_create_metadata_pages_and_lists_fields_per_screen(site: Site) -> None:
    page = assert_matches_spec(
        site.http.get(
            site.api + "/issue/createmeta/MIG/issuetypes", params={"startAt": 1, "maxResults": 2}
        ),
        "GET",
        A + "/issue/createmeta/{projectIdOrKey}/issuetypes",
        200,
    )
    assert (page["startAt"], page["maxResults"], page["total"]) == (1, 2, 5)
    assert [t["name"] for t in page["issueTypes"]] == ["Story", "Task"]
    capped = site.http.get(
        site.api + "/issue/createmeta/MIG/issuetypes", params={"maxResults": 1000}
    ).json()
    assert capped["maxResults"] == 200
    path = A + "/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}"
    story = assert_matches_spec(
        site.http.get(site.api + "/issue/createmeta/MIG/issuetypes/10001"), "GET", path, 200
    )
    fields = {f["fieldId"]: f for f in story["fields"]}
    assert {"summary", "customfield_10016", "customfield_10020", "parent"} <= set(fields)
    assert "environment" not in fields
    assert not fields["customfield_10016"]["required"]
    bug = site.http.get(site.api + "/issue/createmeta/MIG/issuetypes/10003").json()
    assert "environment" in {f["fieldId"] for f in bug["fields"]}
    subtask = site.http.get(site.api + "/issue/createmeta/MIG/issuetypes/10004").json()
    assert {f["fieldId"]: f["required"] for f in subtask["fields"]}["parent"] is True


def test_statuses_fields_priorities_link_types_match_the_spec(site: Site) -> None:
    statuses = assert_matches_spec(
        site.http.get(site.api + "/project/MIG/statuses"),
        "GET",
        A + "/project/{projectIdOrKey}/statuses",
        200,
    )
    story = next(t for t in statuses if t["name"] == "Story")
    assert {s["name"]: s["statusCategory"]["key"] for s in story["statuses"]} == {
        "To Do": "new",
        "In Progress": "indeterminate",
        "In Review": "indeterminate",
        "Done": "done",
        "Won't Do": "done",
    }
    fields = assert_matches_spec(site.http.get(site.api + "/field"), "GET", A + "/field", 200)
    assert {"customfield_10016", "customfield_10020"} <= {f["id"] for f in fields}
    prios = assert_matches_spec(site.http.get(site.api + "/priority"), "GET", A + "/priority")
    assert [p["name"] for p in prios] == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert_matches_spec(
        site.http.get(site.api + "/priority/search"), "GET", A + "/priority/search", 200
    )
    links = assert_matches_spec(
        site.http.get(site.api + "/issueLinkType"), "GET", A + "/issueLinkType", 200
    )
    assert {t["name"] for t in links["issueLinkTypes"]} == {
        "Blocks",
        "Cloners",
        "Duplicate",
        "Implements",
        "Relates",
        "Tests",
    }
    for path in ("/resolution", "/status", "/statuscategory", "/project/MIG/versions"):
        spec_path = A + path.replace("/MIG/", "/{projectIdOrKey}/")
        assert_matches_spec(site.http.get(site.api + path), "GET", spec_path, 200)
    meta = assert_matches_spec(
        site.http.get(site.api + "/attachment/meta"), "GET", A + "/attachment/meta", 200
    )
    assert meta == {"enabled": True, "uploadLimit": 10 * 1024 * 1024}


# ---------------------------------------------------------------------- issues
def test_create_get_and_edit_an_issue(site: Site) -> None:
    resp = site.http.post(
        site.api + "/issue",
        json=issue_body(
            "Bug",
            "Crash on save",
            description=doc(para("Steps")),
            environment=doc(para("Win")),
            priority={"name": "High"},
            labels=["ado-1", "imported"],
            assignee={"accountId": PEOPLE[0].jira_account_id},
            properties=[{"key": "ado", "value": {"id": 1}}],
        ),
    )
    created = assert_matches_spec(resp, "POST", A + "/issue", 201)
    assert created["key"] == "MIG-1"
    got = assert_matches_spec(
        site.http.get(
            f"{site.api}/issue/{created['key']}",
            params={"expand": "names,renderedFields", "properties": "ado"},
        ),
        "GET",
        ISSUE,
        200,
    )
    f = got["fields"]
    assert f["summary"] == "Crash on save" and f["priority"]["name"] == "High"
    assert f["status"]["name"] == "Open" and f["assignee"]["displayName"] == "Ann Lee"
    assert f["description"] == doc(para("Steps")) and got["properties"] == {"ado": {"id": 1}}
    assert (
        got["names"]["summary"] == "Summary"
        and "<p>Steps</p>" in got["renderedFields"]["description"]
    )
    edit = site.http.put(
        f"{site.api}/issue/MIG-1",
        json={
            "fields": {"summary": "Crash on save (edited)"},
            "update": {"labels": [{"add": "triaged"}, {"remove": "imported"}]},
        },
    )
    assert_matches_spec(edit, "PUT", ISSUE, 204)
    fields = site.http.get(f"{site.api}/issue/MIG-1", params={"fields": "summary,labels"}).json()
    assert fields["fields"] == {"summary": "Crash on save (edited)", "labels": ["ado-1", "triaged"]}
    returned = site.http.put(
        f"{site.api}/issue/10000",
        params={"returnIssue": "true"},
        json={"fields": {"priority": {"id": "5"}}},
    )
    assert returned.status_code == 200 and returned.json()["fields"]["priority"]["name"] == "Lowest"


def test_hierarchy_parents_and_subtasks(site: Site) -> None:
    epic = site.create("Epic", "Epic")
    story = site.create("Story", "Story", parent={"key": epic["key"]})
    sub = site.create("Sub-task", "Sub", parent={"id": story["id"]})
    got = site.http.get(f"{site.api}/issue/{story['key']}").json()["fields"]
    assert got["parent"]["key"] == epic["key"]
    assert [s["key"] for s in got["subtasks"]] == [sub["key"]]


def test_bulk_create_reports_partial_success_per_element(site: Site) -> None:
    updates = [
        issue_body("Task", "ok 1"),
        issue_body("Task", "x" * 256),
        issue_body("Story", "ok 2"),
        issue_body("Nope", "bad type"),
    ]
    resp = site.http.post(site.api + "/issue/bulk", json={"issueUpdates": updates})
    body = assert_matches_spec(resp, "POST", A + "/issue/bulk", 201)
    assert [i["key"] for i in body["issues"]] == ["MIG-1", "MIG-2"]
    assert [(e["failedElementNumber"], e["status"]) for e in body["errors"]] == [(1, 400), (3, 400)]
    assert body["errors"][0]["elementErrors"]["errors"] == {
        "summary": "Summary must be less than 255 characters."
    }
    assert body["errors"][1]["elementErrors"]["errors"] == {
        "issuetype": "Specify a valid issue type"
    }
    all_bad = site.http.post(
        site.api + "/issue/bulk", json={"issueUpdates": [issue_body("Task", "")]}
    )
    assert all_bad.status_code == 400 and all_bad.json()["issues"] == []
    assert_schema(PLATFORM, "CreatedIssues", all_bad.json())
    too_many = site.http.post(site.api + "/issue/bulk", json={"issueUpdates": [issue_body()] * 51})
    assert too_many.status_code == 400


def test_bulk_fetch_returns_issues_and_errors(site: Site) -> None:
    site.create(summary="one")
    resp = site.http.post(
        site.api + "/issue/bulkfetch",
        json={"issueIdsOrKeys": ["MIG-1", "MIG-99"], "fields": ["summary"]},
    )
    body = assert_matches_spec(resp, "POST", A + "/issue/bulkfetch", 200)
    assert [i["fields"] for i in body["issues"]] == [{"summary": "one"}]
    assert body["issueErrors"][0]["id"] == "MIG-99"


# ---------------------------------------------------------------------- transitions
def _walk(site: Site, key: str, name: str) -> int:
    resp = site.http.get(f"{site.api}/issue/{key}/transitions")
    body = assert_matches_spec(resp, "GET", ISSUE + "/transitions", 200)
    tid = next(t["id"] for t in body["transitions"] if t["name"] == name)
    return site.http.post(
        f"{site.api}/issue/{key}/transitions", json={"transition": {"id": tid}}
    ).status_code


def _available(site: Site, key: str) -> set[str]:
    resp = site.http.get(f"{site.api}/issue/{key}/transitions")
    return {t["to"]["name"] for t in resp.json()["transitions"]}


def test_story_done_is_reachable_only_through_in_review(site: Site) -> None:
    key = site.create("Story", "s")["key"]
    assert _available(site, key) == {"In Progress", "Won't Do"}
    refused = site.http.post(
        f"{site.api}/issue/{key}/transitions", json={"transition": {"id": "41"}}
    )  # "Done" from To Do
    assert refused.status_code == 400
    assert refused.json()["errorMessages"] == ["Transition id '41' is not valid for this issue."]
    assert _walk(site, key, "Start progress") == 204
    assert "Done" not in _available(site, key) and "Won't Do" not in _available(site, key)
    assert _walk(site, key, "Submit for review") == 204
    resp = site.http.post(f"{site.api}/issue/{key}/transitions", json={"transition": {"id": "41"}})
    assert_matches_spec(resp, "POST", ISSUE + "/transitions", 204)
    fields = site.http.get(f"{site.api}/issue/{key}").json()["fields"]
    assert fields["status"]["name"] == "Done" and fields["resolution"]["name"] == "Done"
    assert [h["to"] for h in site.app.dump_issue(key)["history"]] == [
        "In Progress",
        "In Review",
        "Done",
    ]


def test_bug_workflow_and_wont_do_only_from_to_do(site: Site) -> None:
    bug = site.create("Bug", "b")["key"]
    for step in ("Start progress", "Resolve", "Close"):
        assert _walk(site, bug, step) == 204
    assert site.app.dump_issue(bug)["status"] == "Closed"
    story = site.create("Story", "s", transition="51")["key"]  # Won't Do at create time
    dump = site.app.dump_issue(story)
    assert (dump["status"], dump["resolution"]) == ("Won't Do", "Won't Do")
    bad = site.http.post(site.api + "/issue", json=issue_body("Epic", "e", transition="41"))
    assert bad.status_code == 400 and site.app.issue_keys() == [bug, story]


def test_transition_with_comment_and_refused_fields(site: Site) -> None:
    key = site.create("Task", "t")["key"]
    with_comment = site.http.post(
        f"{site.api}/issue/{key}/transitions",
        json={
            "transition": {"id": "21"},
            "update": {"comment": [{"add": {"body": doc(para("c"))}}]},
        },
    )
    assert with_comment.status_code == 204
    assert len(site.app.dump_issue(key)["comments"]) == 1
    refused = site.http.post(
        f"{site.api}/issue/{key}/transitions",
        json={"transition": {"id": "31"}, "fields": {"summary": "x"}},
    )
    assert refused.status_code == 400 and "summary" in refused.json()["errors"]
    missing = site.http.post(f"{site.api}/issue/{key}/transitions", json={})
    assert missing.status_code == 400


# ---------------------------------------------------------------------- comments
def test_comments_with_properties_paging_and_order(site: Site) -> None:
    key = site.create()["key"]
    for n in range(3):
        resp = site.http.post(
            f"{site.api}/issue/{key}/comment",
            json={"body": doc(para(f"c{n}")), "properties": [{"key": "ado", "value": {"n": n}}]},
        )
        assert_matches_spec(resp, "POST", ISSUE + "/comment", 201)
    page = assert_matches_spec(
        site.http.get(
            f"{site.api}/issue/{key}/comment",
            params={"startAt": "1", "maxResults": "1", "expand": "properties"},
        ),
        "GET",
        ISSUE + "/comment",
        200,
    )
    assert page["total"] == 3 and page["startAt"] == 1
    # The spec documents only renderedBody for this expand (comment_properties_in_list
    # is off): the properties are read through the comment property routes.
    assert "properties" not in page["comments"][0]
    prop = site.http.get(f"{site.api}/comment/{page['comments'][0]['id']}/properties/ado")
    assert_matches_spec(prop, "GET", A + "/comment/{commentId}/properties/{propertyKey}", 200)
    assert prop.json() == {"key": "ado", "value": {"n": 1}}
    newest = site.http.get(
        f"{site.api}/issue/{key}/comment", params={"orderBy": "-created"}
    ).json()["comments"]
    assert [c["body"]["content"][0]["content"][0]["text"] for c in newest] == ["c2", "c1", "c0"]
    one = site.http.get(f"{site.api}/issue/{key}/comment/{newest[0]['id']}")
    assert_matches_spec(one, "GET", ISSUE + "/comment/{id}", 200)
    dump = site.app.dump_issue(key)["comments"]
    assert dump[2]["properties"] == {"ado": {"n": 2}}


# ---------------------------------------------------------------------- attachments
def test_attachments_upload_download_and_sha256(site: Site) -> None:
    key = site.create()["key"]
    files = [
        ("file", ("a.txt", b"hello", "text/plain")),
        ("file", ("b.png", b"\x89PNG" + bytes(100), "image/png")),
    ]
    resp = site.http.post(
        f"{site.api}/issue/{key}/attachments",
        files=files,
        headers={"X-Atlassian-Token": "no-check"},
    )
    body = assert_matches_spec(resp, "POST", ISSUE + "/attachments", 200)
    assert [(a["filename"], a["size"]) for a in body] == [("a.txt", 5), ("b.png", 104)]
    content = site.http.get(f"{site.api}/attachment/content/{body[0]['id']}")
    assert content.status_code == 200 and content.content == b"hello"
    assert_matches_spec(
        site.http.get(f"{site.api}/attachment/{body[1]['id']}"), "GET", A + "/attachment/{id}", 200
    )
    dump = site.app.dump_issue(key)["attachments"]
    assert dump[0]["sha256"] == hashlib.sha256(b"hello").hexdigest()
    fields = site.http.get(f"{site.api}/issue/{key}", params={"fields": "attachment"}).json()
    assert len(fields["fields"]["attachment"]) == 2


# ---------------------------------------------------------------------- links
def test_issue_links_are_idempotent_and_shown_on_both_issues(site: Site) -> None:
    a, b = site.create(summary="a")["key"], site.create(summary="b")["key"]
    body = {"type": {"name": "Blocks"}, "inwardIssue": {"key": a}, "outwardIssue": {"key": b}}
    first = site.http.post(site.api + "/issueLink", json=body)
    assert_matches_spec(first, "POST", A + "/issueLink", 201)
    assert first.content == b""
    assert site.http.post(site.api + "/issueLink", json=body).status_code == 201
    on_a = assert_matches_spec(
        site.http.get(f"{site.api}/issue/{a}", params={"fields": "issuelinks"}), "GET", ISSUE, 200
    )
    links = on_a["fields"]["issuelinks"]
    assert len(links) == 1 and links[0]["outwardIssue"]["key"] == b
    on_b = site.http.get(f"{site.api}/issue/{b}", params={"fields": "issuelinks"}).json()
    assert on_b["fields"]["issuelinks"][0]["inwardIssue"]["key"] == a
    link = site.http.get(f"{site.api}/issueLink/{links[0]['id']}")
    assert_matches_spec(link, "GET", A + "/issueLink/{linkId}", 200)
    assert site.app.writes["links"] == 1
    missing = site.http.post(site.api + "/issueLink", json={**body, "type": {"name": "Nope"}})
    assert missing.status_code == 404


def test_remote_links_upsert_by_global_id(site: Site) -> None:
    key = site.create()["key"]
    target = {"url": "https://dev.azure.com/o/p/_workitems/1", "title": "ADO 1"}
    link: dict[str, Any] = {"globalId": "ado:1", "object": target}
    first = site.http.post(f"{site.api}/issue/{key}/remotelink", json=link)
    created = assert_matches_spec(first, "POST", ISSUE + "/remotelink", 201)
    again = site.http.post(
        f"{site.api}/issue/{key}/remotelink",
        json={**link, "object": {**target, "title": "ADO 1 v2"}},
    )
    updated = assert_matches_spec(again, "POST", ISSUE + "/remotelink", 200)
    assert updated["id"] == created["id"]
    listed = site.http.get(f"{site.api}/issue/{key}/remotelink").json()
    assert len(listed) == 1 and listed[0]["object"]["title"] == "ADO 1 v2"
    for item in listed:
        assert_schema(PLATFORM, "RemoteIssueLink", item)
    one = site.http.get(f"{site.api}/issue/{key}/remotelink", params={"globalId": "ado:1"})
    assert_matches_spec(one, "GET", ISSUE + "/remotelink", 200)


# ---------------------------------------------------------------------- properties
def test_issue_properties_created_updated_read_deleted(site: Site) -> None:
    key = site.create()["key"]
    url = f"{site.api}/issue/{key}/properties/ado.marker"
    path = ISSUE + "/properties/{propertyKey}"
    assert_matches_spec(site.http.put(url, json={"id": 7}), "PUT", path, 201)
    assert_matches_spec(site.http.put(url, json={"id": 8}), "PUT", path, 200)
    got = assert_matches_spec(site.http.get(url), "GET", path, 200)
    assert got == {"key": "ado.marker", "value": {"id": 8}}
    keys = site.http.get(f"{site.api}/issue/{key}/properties")
    assert_matches_spec(keys, "GET", ISSUE + "/properties", 200)
    assert_matches_spec(site.http.delete(url), "DELETE", path, 204)
    assert site.http.get(url).status_code == 404


# ---------------------------------------------------------------------- labels, components
def test_labels_and_components(site: Site) -> None:
    site.create(labels=["b", "a"])
    labels = assert_matches_spec(site.http.get(site.api + "/label"), "GET", A + "/label", 200)
    assert labels["values"] == ["a", "b"]
    created = site.http.post(site.api + "/component", json={"name": "Backend", "project": "MIG"})
    component = assert_matches_spec(created, "POST", A + "/component", 201)
    dup = site.http.post(site.api + "/component", json={"name": "backend", "project": "MIG"})
    assert dup.status_code == 400
    listed = assert_matches_spec(
        site.http.get(site.api + "/project/MIG/components"),
        "GET",
        A + "/project/{projectIdOrKey}/components",
        200,
    )
    assert [c["name"] for c in listed] == ["Backend"]
    key = site.create(components=[{"id": component["id"]}])["key"]
    got = site.http.get(f"{site.api}/issue/{key}", params={"fields": "components"}).json()
    assert got["fields"]["components"][0]["name"] == "Backend"


# ---------------------------------------------------------------------- users
def test_user_search_respects_privacy_and_existence(site: Site) -> None:
    def search(query: str) -> list[str]:
        resp = site.http.get(site.api + "/user/search", params={"query": query})
        return [u["displayName"] for u in assert_matches_spec(resp, "GET", A + "/user/search")]

    assert search("ann.lee@example.com") == ["Ann Lee"]
    assert search("ann") == ["Ann Lee", "Dana Annand"]  # word prefixes match
    assert search("bob.stone@example.com") == []  # hidden email: not found by email
    assert search("Bob") == ["Bob Stone"]
    assert search("carl") == []  # not a Jira user
    bob = site.http.get(site.api + "/user/search", params={"query": "bob"}).json()[0]
    assert "emailAddress" not in bob
    bulk = site.http.get(
        site.api + "/user/bulk",
        params={"accountId": [PEOPLE[0].jira_account_id, PEOPLE[2].jira_account_id]},
    )
    page = assert_matches_spec(bulk, "GET", A + "/user/bulk", 200)
    assert [u["displayName"] for u in page["values"]] == ["Ann Lee"]
    one = site.http.get(site.api + "/user", params={"accountId": PEOPLE[1].jira_account_id})
    assert_matches_spec(one, "GET", A + "/user", 200)


# ---------------------------------------------------------------------- search
def _search(site: Site, **body: Any) -> Any:
    resp = site.http.post(site.api + "/search/jql", json=body)
    return resp


def test_search_pages_with_next_page_token_to_the_last_page(site: Site) -> None:
    for n in range(7):
        site.create(
            summary=f"i{n}", labels=["batch"], properties=[{"key": "ado", "value": {"id": n}}]
        )
    seen, token, pages = [], None, 0
    while True:
        body: dict[str, Any] = {
            "jql": "project = MIG AND labels = batch ORDER BY key",
            "maxResults": 3,
            "fields": ["summary"],
            "properties": ["ado"],
        }
        if token:
            body["nextPageToken"] = token
        page = assert_matches_spec(_search(site, **body), "POST", A + "/search/jql", 200)
        assert "total" not in page
        pages += 1
        seen += [(i["key"], i["properties"]["ado"]["id"]) for i in page["issues"]]
        if page["isLast"]:
            assert "nextPageToken" not in page
            break
        token = page["nextPageToken"]
    assert pages == 3 and seen == [(f"MIG-{n + 1}", n) for n in range(7)]
    get = site.http.get(site.api + "/search/jql", params={"jql": "project = MIG"})
    body = assert_matches_spec(get, "GET", A + "/search/jql", 200)
    assert body["issues"][0] == {"id": "10000"}  # fields default to id only


def test_search_jql_subset(site: Site) -> None:
    epic = site.create("Epic", "epic", labels=["x"])["key"]
    story = site.create("Story", "story", parent={"key": epic}, labels=["y"])["key"]
    bug = site.create("Bug", "bug")["key"]

    def keys(jql: str) -> list[str]:
        resp = _search(site, jql=jql, fields=["key"])
        assert resp.status_code == 200, resp.text
        return [i["key"] for i in resp.json()["issues"]]

    assert keys(f"key in ({bug}, {epic}) order by key desc") == [bug, epic]
    assert keys("issuetype in (Epic, Bug) order by created") == [epic, bug]
    assert keys('labels in (x, y) AND NOT issuetype = "Epic"') == [story]
    assert keys(f"parent = {epic}") == [story]
    assert keys('status = "Open"') == [bug]
    assert keys("statusCategory = 'To Do' and project = MIG") == [epic, story, bug]
    assert keys('summary ~ "STO"') == [story]
    assert keys("labels is EMPTY") == [bug]


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("", "Unbounded JQL"),
        ("order by key desc", "Unbounded JQL"),
        ("project = NOPE", "does not exist for the field 'project'"),
        ("key = MIG-999", "An issue with key 'MIG-999' does not exist"),
        ("frobnicate = 1", "Field 'frobnicate' does not exist"),
        ("project = MIG AND", "Expecting more input"),
    ],
)
def test_search_refuses_bad_jql(site: Site, jql: str, message: str) -> None:
    resp = _search(site, jql=jql)
    assert resp.status_code == 400 and message in resp.json()["errorMessages"][0]


def test_search_refuses_old_style_requests(site: Site) -> None:
    assert _search(site, jql="project = MIG", startAt=0).status_code == 400
    assert _search(site, jql="project = MIG", properties=list("abcdef")).status_code == 400
    bad_token = _search(site, jql="project = MIG", nextPageToken="garbage")
    assert bad_token.status_code == 400
    for method in ("GET", "POST"):
        gone = site.http.request(method, site.api + "/search", json={"jql": "project = MIG"})
        assert gone.status_code == 410


# ---------------------------------------------------------------------- agile
def test_boards_sprints_and_moving_issues(site: Site) -> None:
    ag = site.url + "/rest/agile/1.0"
    boards = site.http.get(ag + "/board", params={"projectKeyOrId": "MIG"})
    board = assert_matches_spec(boards, "GET", "/rest/agile/1.0/board", 200, spec=AGILE)
    board_id = board["values"][0]["id"]
    created = site.http.post(ag + "/sprint", json={"name": "Sprint 1", "originBoardId": board_id})
    sprint = assert_matches_spec(created, "POST", "/rest/agile/1.0/sprint", 201, spec=AGILE)
    assert sprint["state"] == "future"
    listed = site.http.get(f"{ag}/board/{board_id}/sprint").json()
    assert [s["name"] for s in listed["values"]] == ["Sprint 1"]
    keys = [site.create("Story", f"s{n}")["key"] for n in range(3)]
    moved = site.http.post(f"{ag}/sprint/{sprint['id']}/issue", json={"issues": keys})
    assert_matches_spec(moved, "POST", "/rest/agile/1.0/sprint/{sprintId}/issue", 204, spec=AGILE)
    fields = site.http.get(f"{site.api}/issue/{keys[0]}").json()["fields"]
    assert fields["customfield_10020"][0]["name"] == "Sprint 1"
    too_many = site.http.post(f"{ag}/sprint/{sprint['id']}/issue", json={"issues": keys * 17})
    assert too_many.status_code == 400
    at_create = site.create("Task", "t", customfield_10020=sprint["id"])
    assert site.app.dump_issue(at_create["key"])["fields"]["customfield_10020"] == sprint["id"]
    closed = site.http.post(
        f"{ag}/sprint/{sprint['id']}",
        json={
            "state": "active",
            "startDate": "2026-01-01T00:00:00.000Z",
            "endDate": "2026-01-14T00:00:00.000Z",
        },
    )
    assert closed.status_code == 200 and closed.json()["state"] == "active"


def test_sprint_states_follow_the_agile_spec(site: Site) -> None:
    """partiallyUpdateSprint: future -> active (with dates) -> closed; nothing else."""
    ag = site.url + "/rest/agile/1.0"
    board_id = site.http.get(ag + "/board").json()["values"][0]["id"]
    sprint = site.http.post(
        ag + "/sprint",
        json={
            "name": "Past",
            "originBoardId": board_id,
            "startDate": "2024-01-01T00:00:00.000Z",
            "endDate": "2024-01-14T00:00:00.000Z",
        },
    ).json()
    url = f"{ag}/sprint/{sprint['id']}"
    assert site.http.post(url, json={"state": "closed"}).status_code == 400  # not yet active
    assert site.http.post(url, json={"state": "active"}).json()["state"] == "active"
    key = site.create("Story", "s")["key"]
    assert site.http.post(url + "/issue", json={"issues": [key]}).status_code == 204
    assert site.http.post(url, json={"state": "closed"}).json()["state"] == "closed"
    assert site.http.post(url, json={"state": "active"}).status_code == 400  # no reopening
    refused = site.http.post(url + "/issue", json={"issues": [key]})
    assert refused.status_code == 400  # only open or active sprints take issues


def test_knobs_for_no_board_and_no_component_permission(site: Site) -> None:
    ag = site.url + "/rest/agile/1.0"
    site.app.settings.update({"scrum_board": False, "manage_components": False})
    boards = site.http.get(ag + "/board", params={"projectKeyOrId": "MIG"}).json()
    assert boards["values"] == [] and boards["total"] == 0
    denied = site.http.post(site.api + "/component", json={"name": "Web", "project": "MIG"})
    assert denied.status_code == 403 and denied.json()["errorMessages"]
    assert site.http.get(site.api + "/project/MIG/components").json() == []


# ---------------------------------------------------------------------- bulk delete, permissions
BULK_DELETE = A + "/bulk/issues/delete"
BULK_QUEUE = A + "/bulk/queue/{taskId}"


def _finished_task(site: Site, task_id: str) -> dict[str, Any]:
    import time

    for _ in range(400):
        answer = site.http.get(f"{site.api}/bulk/queue/{task_id}")
        body = assert_matches_spec(answer, "GET", BULK_QUEUE, 200)
        if body["status"] == "COMPLETE":
            return dict(body)
        time.sleep(0.01)
    raise AssertionError(f"bulk task {task_id} did not complete")


def test_bulk_delete_is_a_task_that_deletes_children_first_and_reports_per_issue(
    site: Site,
) -> None:
    epic = site.create("Epic", "epic")
    story = site.create("Story", "story", parent={"key": epic["key"]})
    sub = site.create("Sub-task", "sub", parent={"key": story["key"]})
    keep_parent = site.create("Story", "keeps its sub-task")
    kept_sub = site.create("Sub-task", "not selected", parent={"key": keep_parent["key"]})
    body = {
        "selectedIssueIdsOrKeys": [
            epic["key"],
            story["id"],
            sub["key"],
            keep_parent["key"],
            "MIG-999",
        ],
        "sendBulkNotification": False,
    }
    submitted = assert_matches_spec(
        site.http.post(site.api + "/bulk/issues/delete", json=body), "POST", BULK_DELETE, 201
    )
    done = _finished_task(site, submitted["taskId"])
    assert sorted(done["processedAccessibleIssues"]) == sorted(
        int(i["id"]) for i in (epic, story, sub)
    )
    assert list(done["failedAccessibleIssues"]) == [keep_parent["id"]]
    assert done["invalidOrInaccessibleIssueCount"] == 1
    assert done["totalIssueCount"] == 5 and done["progressPercent"] == 100
    assert sorted(site.app.issue_keys()) == sorted([keep_parent["key"], kept_sub["key"]])
    assert site.app.writes["issues_deleted"] == 3 and site.app.writes["bulk_deletes"] == 1


def test_bulk_delete_refuses_bad_bodies_and_users_without_bulk_change(site: Site) -> None:
    key = site.create()["key"]
    url = site.api + "/bulk/issues/delete"
    bad: dict[str, Any]
    for bad in (
        {},
        {"selectedIssueIdsOrKeys": []},
        {"selectedIssueIdsOrKeys": [1]},
        {"selectedIssueIdsOrKeys": [key], "extra": 1},
        {"selectedIssueIdsOrKeys": [f"MIG-{i}" for i in range(1001)]},
    ):
        assert_matches_spec(site.http.post(url, json=bad), "POST", BULK_DELETE, 400)
    site.http.patch(
        site.url + CONTROL_PREFIX + "/jira/settings", json={"bulk_change_permission": False}
    )
    refused = assert_matches_spec(
        site.http.post(url, json={"selectedIssueIdsOrKeys": [key]}), "POST", BULK_DELETE, 403
    )
    assert "Bulk change" in refused["errors"][0]["message"]
    assert site.app.issue_keys() == [key]
    unknown = site.http.get(f"{site.api}/bulk/queue/424242")
    assert_matches_spec(unknown, "GET", BULK_QUEUE, 400)


def test_my_permissions_follow_the_permission_settings(site: Site) -> None:
    url = site.api + "/mypermissions"
    path = A + "/mypermissions"
    wanted = {"projectKey": "MIG", "permissions": "BULK_CHANGE,DELETE_ISSUES"}
    held = assert_matches_spec(site.http.get(url, params=wanted), "GET", path, 200)
    assert {k: v["havePermission"] for k, v in held["permissions"].items()} == {
        "BULK_CHANGE": True,
        "DELETE_ISSUES": True,
    }
    assert held["permissions"]["BULK_CHANGE"]["type"] == "GLOBAL"
    site.http.patch(
        site.url + CONTROL_PREFIX + "/jira/settings",
        json={"bulk_change_permission": False, "delete_permission": False},
    )
    held = site.http.get(url, params=wanted).json()["permissions"]
    assert not held["BULK_CHANGE"]["havePermission"]
    assert not held["DELETE_ISSUES"]["havePermission"]
    assert_matches_spec(site.http.get(url), "GET", path, 400)
    assert_matches_spec(site.http.get(url, params={"permissions": "NOPE"}), "GET", path, 400)
    assert_matches_spec(
        site.http.get(url, params={**wanted, "projectKey": "ZZZ"}), "GET", path, 404
    )
