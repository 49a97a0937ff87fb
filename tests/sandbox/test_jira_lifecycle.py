"""Deletes, comment edits, comment properties and ``created``/``updated``, checked
against the official OpenAPI file over real HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.sandbox.jira_support import (
    PLATFORM,
    Site,
    assert_matches_spec,
    doc,
    load_spec,
    operation,
    para,
    running_site,
)

A = "/rest/api/3"
ISSUE = A + "/issue/{issueIdOrKey}"
COMMENT = ISSUE + "/comment/{id}"
COMMENT_PROPS = A + "/comment/{commentId}/properties"
COMMENT_PROP = COMMENT_PROPS + "/{propertyKey}"
ATTACHMENT = A + "/attachment/{id}"
LINK = A + "/issueLink/{linkId}"
REMOTE = ISSUE + "/remotelink/{linkId}"
JIRA_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
XSRF = {"X-Atlassian-Token": "no-check"}


@pytest.fixture
def site() -> Iterator[Site]:
    with running_site() as s:
        yield s


def _me(site: Site) -> str:
    return site.app.state.me.jira_account_id


def _comment(
    site: Site, key: str, text: str = "hello", properties: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"body": doc(para(text))}
    if properties is not None:
        body["properties"] = properties
    resp = site.http.post(f"{site.api}/issue/{key}/comment", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _attach(site: Site, key: str, name: str = "a.txt") -> dict[str, Any]:
    resp = site.http.post(
        f"{site.api}/issue/{key}/attachments",
        headers=XSRF,
        files=[("file", (name, b"hello", "text/plain"))],
    )
    assert resp.status_code == 200, resp.text
    return resp.json()[0]


def _link(site: Site, inward: str, outward: str) -> str:
    resp = site.http.post(
        site.api + "/issueLink",
        json={
            "type": {"name": "Blocks"},
            "inwardIssue": {"key": inward},
            "outwardIssue": {"key": outward},
        },
    )
    assert resp.status_code == 201, resp.text
    links = site.http.get(f"{site.api}/issue/{inward}", params={"fields": "issuelinks"})
    return str(
        next(
            ln["id"]
            for ln in links.json()["fields"]["issuelinks"]
            if ln.get("outwardIssue", {}).get("key") == outward
        )
    )


def _remote(site: Site, key: str, global_id: str = "ado:1") -> int:
    resp = site.http.post(
        f"{site.api}/issue/{key}/remotelink",
        json={
            "globalId": global_id,
            "object": {"url": "https://dev.azure.com/o/p/1", "title": "1"},
        },
    )
    assert resp.status_code in (200, 201), resp.text
    return int(resp.json()["id"])


def _times(site: Site, key: str) -> tuple[str, str]:
    fields = site.http.get(f"{site.api}/issue/{key}", params={"fields": "created,updated"}).json()[
        "fields"
    ]
    return fields["created"], fields["updated"]


def _search(site: Site, jql: str, fields: list[str]) -> list[dict[str, Any]]:
    resp = site.http.post(site.api + "/search/jql", json={"jql": jql, "fields": fields})
    return list(assert_matches_spec(resp, "POST", A + "/search/jql", 200)["issues"])


def _anonymous(resp: requests.Response, method: str, path: str) -> None:
    """Refused with Jira's plain-text 401, a status the spec declares for the operation."""
    assert resp.status_code == 401 and resp.text.startswith("Client must be authenticated")
    assert "401" in operation(PLATFORM, method, path)["responses"]


def _settings(site: Site, **changes: Any) -> requests.Response:
    return site.http.patch(site.url + "/_sandbox/jira/settings", json=changes)


# ---------------------------------------------------------------------- DELETE issue
def test_delete_issue_removes_it_everywhere_and_never_reuses_its_key(site: Site) -> None:
    a, b = site.create(summary="a"), site.create(summary="b")
    link_id = _link(site, a["key"], b["key"])
    comment = _comment(site, a["key"], properties=[{"key": "ado", "value": 1}])
    att = _attach(site, a["key"])
    _remote(site, a["key"])
    b_before = _times(site, b["key"])[1]
    resp = site.http.delete(f"{site.api}/issue/{a['key']}")
    assert_matches_spec(resp, "DELETE", ISSUE, 204)
    assert resp.content == b""
    for ref in (a["key"], a["id"]):
        assert_matches_spec(site.http.get(f"{site.api}/issue/{ref}"), "GET", ISSUE, 404)
    assert [i["key"] for i in _search(site, "project = MIG", ["summary"])] == [b["key"]]
    gone_key = site.http.post(site.api + "/search/jql", json={"jql": f"key = {a['key']}"})
    assert gone_key.status_code == 400  # Jira: the issue key does not exist
    b_now = site.http.get(f"{site.api}/issue/{b['key']}", params={"fields": "issuelinks"})
    assert b_now.json()["fields"]["issuelinks"] == []
    assert _times(site, b["key"])[1] > b_before  # its links changed
    assert site.http.get(f"{site.api}/issueLink/{link_id}").status_code == 404
    assert site.http.get(f"{site.api}/attachment/{att['id']}").status_code == 404
    assert site.http.get(f"{site.api}/comment/{comment['id']}/properties/ado").status_code == 404
    assert site.create(summary="c")["key"] == "MIG-3"  # MIG-1 is not handed out again
    assert site.app.issue_keys() == [b["key"], "MIG-3"]
    snapshot = site.http.get(site.url + "/_sandbox/jira/issues").json()
    assert [i["key"] for i in snapshot["issues"]] == [b["key"], "MIG-3"]
    writes = snapshot["writes"]
    assert writes["issues_deleted"] == 1
    assert all(
        writes.get(k, 0) == 0
        for k in (
            "comments_deleted",
            "attachments_deleted",
            "links_deleted",
            "remote_links_deleted",
        )
    )
    assert site.http.get(site.url + "/_sandbox/jira/writes").json() == writes
    again = site.http.delete(f"{site.api}/issue/{a['key']}")
    assert_matches_spec(again, "DELETE", ISSUE, 404)
    assert site.app.writes["issues_deleted"] == 1


def test_an_issue_with_subtasks_needs_delete_subtasks(site: Site) -> None:
    story = site.create("Story", "s")
    subs = [site.create("Sub-task", f"sub {n}", parent={"key": story["key"]}) for n in range(2)]
    url = f"{site.api}/issue/{story['key']}"
    for params in ({}, {"deleteSubtasks": "false"}):
        refused = site.http.delete(url, params=params)
        assert_matches_spec(refused, "DELETE", ISSUE, 400)
        assert "deleteSubtasks" in refused.json()["errorMessages"][0]
    assert site.http.delete(url, params={"deleteSubtasks": "maybe"}).status_code == 400
    assert len(site.app.issue_keys()) == 3 and not site.app.writes.get("issues_deleted")
    # A sub-task itself goes without the flag.
    assert site.http.delete(f"{site.api}/issue/{subs[0]['key']}").status_code == 204
    left = site.http.get(url, params={"fields": "subtasks"}).json()["fields"]["subtasks"]
    assert [s["key"] for s in left] == [subs[1]["key"]]
    resp = site.http.delete(url, params={"deleteSubtasks": "true"})
    assert_matches_spec(resp, "DELETE", ISSUE, 204)
    assert site.app.issue_keys() == []
    assert site.app.writes["issues_deleted"] == 3  # the sub-tasks count as issues


def test_deleting_an_epic_clears_its_childrens_parent(site: Site) -> None:
    epic = site.create("Epic", "e")
    story = site.create("Story", "s", parent={"key": epic["key"]})
    before = _times(site, story["key"])[1]
    assert site.http.delete(f"{site.api}/issue/{epic['key']}").status_code == 204
    got = site.http.get(f"{site.api}/issue/{story['key']}", params={"fields": "parent"})
    assert got.json()["fields"]["parent"] is None
    assert _times(site, story["key"])[1] > before


def test_delete_issue_unknown_anonymous_and_without_permission(site: Site) -> None:
    assert_matches_spec(site.http.delete(f"{site.api}/issue/MIG-99"), "DELETE", ISSUE, 404)
    key = site.create()["key"]
    _anonymous(site.anon.delete(f"{site.api}/issue/{key}"), "DELETE", ISSUE)
    assert _settings(site, delete_permission=False).status_code == 200
    refused = site.http.delete(f"{site.api}/issue/{key}")
    assert_matches_spec(refused, "DELETE", ISSUE, 403)
    assert site.app.issue_keys() == [key]


# ---------------------------------------------------------------------- comments
def test_delete_comment(site: Site) -> None:
    key = site.create()["key"]
    first, second = _comment(site, key, "one"), _comment(site, key, "two")
    before = _times(site, key)[1]
    url = f"{site.api}/issue/{key}/comment/{first['id']}"
    assert_matches_spec(site.http.delete(url), "DELETE", COMMENT, 204)
    listed = site.http.get(f"{site.api}/issue/{key}/comment").json()
    assert [c["id"] for c in listed["comments"]] == [second["id"]] and listed["total"] == 1
    assert_matches_spec(site.http.get(url), "GET", COMMENT, 404)
    assert_matches_spec(site.http.delete(url), "DELETE", COMMENT, 404)
    assert _times(site, key)[1] > before
    other = site.create()["key"]  # a comment is found only under its own issue
    wrong = site.http.delete(f"{site.api}/issue/{other}/comment/{second['id']}")
    assert_matches_spec(wrong, "DELETE", COMMENT, 404)
    missing = site.http.delete(f"{site.api}/issue/MIG-99/comment/{second['id']}")
    assert_matches_spec(missing, "DELETE", COMMENT, 404)
    assert _settings(site, delete_permission=False).status_code == 200
    no_right = site.http.delete(f"{site.api}/issue/{key}/comment/{second['id']}")
    assert_matches_spec(no_right, "DELETE", COMMENT, 400)  # the spec's code for this case
    assert [c["id"] for c in site.app.dump_issue(key)["comments"]] == [second["id"]]
    assert site.app.writes["comments_deleted"] == 1


def test_update_comment_moves_its_updated_and_the_issues(site: Site) -> None:
    key = site.create()["key"]
    created = _comment(site, key, "first", properties=[{"key": "ado", "value": {"v": 1}}])
    assert created["created"] == created["updated"]
    issue_before = _times(site, key)[1]
    url = f"{site.api}/issue/{key}/comment/{created['id']}"
    resp = site.http.put(
        url,
        params={"notifyUsers": "false", "expand": "renderedBody"},
        json={"body": doc(para("edited")), "properties": [{"key": "ado", "value": {"v": 2}}]},
    )
    edited = assert_matches_spec(resp, "PUT", COMMENT, 200)
    assert edited["id"] == created["id"] and edited["body"] == doc(para("edited"))
    assert edited["created"] == created["created"] and edited["updated"] > created["updated"]
    assert edited["updateAuthor"]["accountId"] == _me(site)
    assert "<p>edited</p>" in edited["renderedBody"]
    got = assert_matches_spec(site.http.get(url), "GET", COMMENT, 200)
    assert (got["body"], got["updated"]) == (doc(para("edited")), edited["updated"])
    assert _times(site, key)[1] > issue_before
    prop = site.http.get(f"{site.api}/comment/{created['id']}/properties/ado").json()
    assert prop == {"key": "ado", "value": {"v": 2}}
    assert site.app.writes["comments_edited"] == 1


@pytest.mark.parametrize(
    ("params", "body"),
    [
        ({}, {}),  # no body
        ({}, {"body": "plain text is not ADF"}),
        ({}, {"body": doc(para("x")), "visibility": "Administrators"}),
        ({"notifyUsers": "sometimes"}, {"body": doc(para("x"))}),
    ],
)
def test_update_comment_refuses_an_invalid_request(
    site: Site, params: dict[str, str], body: dict[str, Any]
) -> None:
    key = site.create()["key"]
    comment = _comment(site, key)
    resp = site.http.put(
        f"{site.api}/issue/{key}/comment/{comment['id']}", params=params, json=body
    )
    assert_matches_spec(resp, "PUT", COMMENT, 400)
    assert site.app.dump_issue(key)["comments"][0]["body"] == doc(para("hello"))
    assert not site.app.writes.get("comments_edited")


def test_update_comment_of_an_unknown_issue_or_comment(site: Site) -> None:
    key = site.create()["key"]
    body = {"body": doc(para("x"))}
    for url in (f"{site.api}/issue/{key}/comment/99999", f"{site.api}/issue/MIG-9/comment/1"):
        assert_matches_spec(site.http.put(url, json=body), "PUT", COMMENT, 404)


# ---------------------------------------------------------------------- comment properties
def test_comment_property_keys_and_values(site: Site) -> None:
    key = site.create()["key"]
    comment = _comment(
        site,
        key,
        properties=[{"key": "ado.comment", "value": {"id": 7}}, {"key": "other", "value": [1, 2]}],
    )
    base = f"{site.api}/comment/{comment['id']}/properties"
    keys = assert_matches_spec(site.http.get(base), "GET", COMMENT_PROPS, 200)
    assert [k["key"] for k in keys["keys"]] == ["ado.comment", "other"]
    assert keys["keys"][0]["self"] == base + "/ado.comment"
    got = assert_matches_spec(site.http.get(base + "/ado.comment"), "GET", COMMENT_PROP, 200)
    assert got == {"key": "ado.comment", "value": {"id": 7}}
    assert_matches_spec(site.http.get(base + "/nope"), "GET", COMMENT_PROP, 404)
    plain = _comment(site, key)
    empty = site.http.get(f"{site.api}/comment/{plain['id']}/properties")
    assert assert_matches_spec(empty, "GET", COMMENT_PROPS, 200) == {"keys": []}
    for path, pattern in (("", COMMENT_PROPS), ("/ado.comment", COMMENT_PROP)):
        unknown = site.http.get(f"{site.api}/comment/99999/properties{path}")
        assert_matches_spec(unknown, "GET", pattern, 404)
        invalid = site.http.get(f"{site.api}/comment/abc/properties{path}")
        assert_matches_spec(invalid, "GET", pattern, 400)
        anonymous = site.anon.get(f"{site.api}/comment/{comment['id']}/properties{path}")
        _anonymous(anonymous, "GET", pattern)
    assert site.http.delete(f"{site.api}/issue/{key}/comment/{comment['id']}").status_code == 204
    assert_matches_spec(site.http.get(base + "/ado.comment"), "GET", COMMENT_PROP, 404)


# ---------------------------------------------------------------------- the knob
def test_the_spec_documents_only_rendered_body_for_comment_expand() -> None:
    """Why ``comment_properties_in_list`` defaults to False."""
    paths = load_spec(PLATFORM)["paths"]
    for path in (ISSUE + "/comment", COMMENT):
        [expand] = [p for p in paths[path]["get"]["parameters"] if p["name"] == "expand"]
        assert "renderedBody" in expand["description"]
        assert "properties" not in expand["description"]


def _listed_and_single(site: Site, key: str, cid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    params = {"expand": "properties,renderedBody"}
    listed = site.http.get(f"{site.api}/issue/{key}/comment", params=params)
    one = site.http.get(f"{site.api}/issue/{key}/comment/{cid}", params=params)
    return (
        assert_matches_spec(listed, "GET", ISSUE + "/comment", 200)["comments"][0],
        assert_matches_spec(one, "GET", COMMENT, 200),
    )


def test_comment_properties_in_list_is_off_by_default_and_can_be_turned_on(site: Site) -> None:
    key = site.create()["key"]
    cid = _comment(site, key, properties=[{"key": "ado", "value": {"n": 1}}])["id"]
    assert (
        site.http.get(site.url + "/_sandbox/jira/settings").json()["comment_properties_in_list"]
        is False
    )
    for shown in _listed_and_single(site, key, cid):
        assert "properties" not in shown and shown["renderedBody"] == "<p>hello</p>"
    refused = _settings(site, comment_properties_in_list="yes")
    assert refused.status_code == 400
    assert site.app.settings.comment_properties_in_list is False
    assert (
        _settings(site, comment_properties_in_list=True).json()["comment_properties_in_list"]
        is True
    )
    for shown in _listed_and_single(site, key, cid):
        assert shown["properties"] == [{"key": "ado", "value": {"n": 1}}]
    embedded = site.http.get(f"{site.api}/issue/{key}", params={"fields": "comment"})
    assert "properties" not in embedded.json()["fields"]["comment"]["comments"][0]
    assert site.http.post(site.url + "/_sandbox/jira/reset").status_code == 204
    assert site.app.settings.comment_properties_in_list is False


def test_comment_properties_in_list_as_a_constructor_option() -> None:
    with running_site(comment_properties_in_list=True) as s:
        key = s.create()["key"]
        cid = _comment(s, key, properties=[{"key": "ado", "value": 1}])["id"]
        for shown in _listed_and_single(s, key, cid):
            assert shown["properties"] == [{"key": "ado", "value": 1}]


def test_a_refused_settings_change_changes_nothing(site: Site) -> None:
    before = site.http.get(site.url + "/_sandbox/jira/settings").json()
    refused = _settings(site, delete_permission=False, comment_properties_in_list="on")
    assert refused.status_code == 400
    assert site.http.get(site.url + "/_sandbox/jira/settings").json() == before


# ---------------------------------------------------------------------- attachments
def test_delete_attachment(site: Site) -> None:
    key = site.create()["key"]
    first, second = _attach(site, key, "a.txt"), _attach(site, key, "b.txt")
    before = _times(site, key)[1]
    url = f"{site.api}/attachment/{first['id']}"
    assert_matches_spec(site.http.delete(url), "DELETE", ATTACHMENT, 204)
    assert site.http.get(url).status_code == 404
    assert site.http.get(f"{site.api}/attachment/content/{first['id']}").status_code == 404
    shown = site.http.get(f"{site.api}/issue/{key}", params={"fields": "attachment"}).json()
    assert [a["id"] for a in shown["fields"]["attachment"]] == [second["id"]]
    assert [a["id"] for a in site.app.dump_issue(key)["attachments"]] == [second["id"]]
    assert _times(site, key)[1] > before
    assert_matches_spec(site.http.delete(url), "DELETE", ATTACHMENT, 404)
    assert_matches_spec(site.http.delete(f"{site.api}/attachment/abc"), "DELETE", ATTACHMENT, 404)
    assert _settings(site, delete_permission=False).status_code == 200
    other = f"{site.api}/attachment/{second['id']}"
    assert_matches_spec(site.http.delete(other), "DELETE", ATTACHMENT, 403)
    assert _settings(site, delete_permission=True, attachments_enabled=False).status_code == 200
    assert_matches_spec(site.http.delete(other), "DELETE", ATTACHMENT, 404)  # as the spec says
    assert len(site.app.dump_issue(key)["attachments"]) == 1
    assert site.app.writes["attachments_deleted"] == 1


# ---------------------------------------------------------------------- issue links
def test_delete_issue_link(site: Site) -> None:
    a, b = site.create(summary="a")["key"], site.create(summary="b")["key"]
    link_id = _link(site, a, b)
    before = {k: _times(site, k)[1] for k in (a, b)}
    url = f"{site.api}/issueLink/{link_id}"
    assert_matches_spec(site.http.delete(url), "DELETE", LINK, 204)
    assert_matches_spec(site.http.get(url), "GET", LINK, 404)
    for k in (a, b):
        fields = site.http.get(f"{site.api}/issue/{k}", params={"fields": "issuelinks"})
        assert fields.json()["fields"]["issuelinks"] == []
        assert _times(site, k)[1] > before[k]
    assert_matches_spec(site.http.delete(url), "DELETE", LINK, 404)
    assert_matches_spec(site.http.delete(f"{site.api}/issueLink/abc"), "DELETE", LINK, 400)
    _anonymous(site.anon.delete(url), "DELETE", LINK)
    assert _link(site, a, b) != link_id  # linking again makes a new link
    assert site.app.writes["links_deleted"] == 1 and site.app.writes["links"] == 2


# ---------------------------------------------------------------------- remote links
def test_delete_remote_link(site: Site) -> None:
    key, other = site.create()["key"], site.create()["key"]
    link_id = _remote(site, key)
    foreign = _remote(site, other, "ado:2")
    before = _times(site, key)[1]
    url = f"{site.api}/issue/{key}/remotelink/{link_id}"
    assert_matches_spec(site.http.delete(url), "DELETE", REMOTE, 204)
    assert site.http.get(f"{site.api}/issue/{key}/remotelink").json() == []
    assert _times(site, key)[1] > before
    assert_matches_spec(site.http.delete(url), "DELETE", REMOTE, 404)
    assert_matches_spec(
        site.http.delete(f"{site.api}/issue/{key}/remotelink/abc"), "DELETE", REMOTE, 400
    )
    not_its_own = site.http.delete(f"{site.api}/issue/{key}/remotelink/{foreign}")
    assert_matches_spec(not_its_own, "DELETE", REMOTE, 400)
    assert_matches_spec(
        site.http.delete(f"{site.api}/issue/MIG-99/remotelink/{foreign}"), "DELETE", REMOTE, 404
    )
    assert len(site.app.dump_issue(other)["remoteLinks"]) == 1
    assert site.app.writes["remote_links_deleted"] == 1
    again = site.http.post(
        f"{site.api}/issue/{key}/remotelink",
        json={"globalId": "ado:1", "object": {"url": "https://dev.azure.com/o/p/1", "title": "1"}},
    )
    assert again.status_code == 201  # the globalId is free again


# ---------------------------------------------------------------------- created, updated
def test_created_updated_and_creator_on_get_and_search(site: Site) -> None:
    key = site.create(labels=["ado"])["key"]
    requested = ["created", "updated", "creator", "labels"]
    [hit] = _search(site, "project = MIG", requested)
    got = assert_matches_spec(site.http.get(f"{site.api}/issue/{key}"), "GET", ISSUE, 200)
    for fields in (hit["fields"], got["fields"]):
        assert set(requested) <= set(fields)
        assert JIRA_TIME.match(fields["created"]) and JIRA_TIME.match(fields["updated"])
        assert fields["updated"] == fields["created"]  # nothing happened since
        assert fields["creator"]["accountId"] == _me(site)
        assert fields["labels"] == ["ado"]
    assert set(hit["fields"]) == set(requested)
    # Entity properties are not fields: setting one changes nothing of the issue's own.
    prop = site.http.put(f"{site.api}/issue/{key}/properties/ado.marker", json={"n": 1})
    assert prop.status_code == 201
    assert _times(site, key)[0] == _times(site, key)[1]


def test_updated_moves_on_with_every_change(site: Site) -> None:
    key, other = site.create()["key"], site.create()["key"]
    created, updated = _times(site, key)
    assert created == updated
    seen = [updated]

    def changed(what: str) -> None:
        now = _times(site, key)
        assert now[0] == created, what
        assert now[1] > seen[-1], what
        [hit] = _search(site, f"key = {key}", ["updated"])
        assert hit["fields"]["updated"] == now[1], what  # search shows the same
        seen.append(now[1])

    assert (
        site.http.put(f"{site.api}/issue/{key}", json={"fields": {"summary": "x"}}).status_code
        == 204
    )
    changed("edit")
    assert (
        site.http.post(
            f"{site.api}/issue/{key}/transitions", json={"transition": {"id": "21"}}
        ).status_code
        == 204
    )
    changed("transition")
    comment = _comment(site, key)
    changed("comment added")
    assert (
        site.http.put(
            f"{site.api}/issue/{key}/comment/{comment['id']}", json={"body": doc(para("edited"))}
        ).status_code
        == 200
    )
    changed("comment edited")
    assert site.http.delete(f"{site.api}/issue/{key}/comment/{comment['id']}").status_code == 204
    changed("comment deleted")
    att = _attach(site, key)
    changed("attachment added")
    assert site.http.delete(f"{site.api}/attachment/{att['id']}").status_code == 204
    changed("attachment deleted")
    link_id = _link(site, key, other)
    changed("link added")
    assert site.http.delete(f"{site.api}/issueLink/{link_id}").status_code == 204
    changed("link deleted")
    remote = _remote(site, key)
    changed("remote link added")
    assert site.http.delete(f"{site.api}/issue/{key}/remotelink/{remote}").status_code == 204
    changed("remote link deleted")
    assert site.app.dump_issue(key)["updated"] == seen[-1]


def test_comments_and_attachments_carry_their_authors_and_times(site: Site) -> None:
    key = site.create()["key"]
    _comment(site, key)
    _attach(site, key)
    fields = site.http.get(
        f"{site.api}/issue/{key}", params={"fields": "comment,attachment"}
    ).json()["fields"]
    [comment] = fields["comment"]["comments"]
    assert comment["author"]["accountId"] == _me(site)
    assert JIRA_TIME.match(comment["created"]) and comment["updated"] == comment["created"]
    [att] = fields["attachment"]
    assert att["author"]["accountId"] == _me(site) and JIRA_TIME.match(att["created"])
    listed = site.http.get(f"{site.api}/issue/{key}/comment").json()["comments"][0]
    assert listed["author"]["accountId"] == _me(site) and "updated" in listed


# ---------------------------------------------------------------------- faults
def test_a_delete_whose_answer_is_lost_was_applied(site: Site) -> None:
    key = site.create()["key"]
    route = "DELETE /rest/api/3/issue/{issueIdOrKey}"
    knobs = site.http.patch(
        site.url + "/_sandbox/knobs",
        json={"lost_answer_p": 1.0, "lost_answer_mode": "502", "fault_routes": [route]},
    )
    assert knobs.status_code == 200, knobs.text
    lost = site.http.delete(f"{site.api}/issue/{key}")
    assert lost.status_code == 502 and lost.headers["Content-Type"] == "text/html"
    retry = site.http.delete(f"{site.api}/issue/{key}")
    assert retry.status_code == 404  # the first one was applied
    assert site.app.writes["issues_deleted"] == 1
