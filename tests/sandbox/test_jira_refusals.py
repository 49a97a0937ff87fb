"""Refusals a migrator can run into, answered as Jira Cloud answers them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.sandbox.jira_support import (
    EMAIL,
    PEOPLE,
    PLATFORM,
    Site,
    assert_schema,
    doc,
    issue_body,
    para,
    running_site,
)


@pytest.fixture
def site() -> Iterator[Site]:
    with running_site() as s:
        yield s


def _errors(resp: requests.Response, status: int = 400) -> dict[str, str]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"errorMessages", "errors"}
    assert_schema(PLATFORM, "ErrorCollection", body)
    return body["errors"]


# ---------------------------------------------------------------------- authentication
def test_an_anonymous_call_is_refused_with_401(site: Site) -> None:
    resp = site.anon.get(site.api + "/myself")
    assert resp.status_code == 401
    assert resp.text == "Client must be authenticated to access this resource."
    assert "X-Seraph-LoginReason" not in resp.headers
    assert site.anon.post(site.api + "/issue", json=issue_body()).status_code == 401


@pytest.mark.parametrize("auth", [(EMAIL, "wrong"), ("other@example.com", "api-token-123")])
def test_bad_credentials_are_refused_with_401(site: Site, auth: tuple[str, str]) -> None:
    resp = requests.get(site.api + "/myself", auth=auth)
    assert resp.status_code == 401
    assert resp.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"


def test_a_bearer_token_or_garbage_is_refused(site: Site) -> None:
    for header in ("Bearer abc", "Basic !!!notbase64"):
        resp = requests.get(site.api + "/myself", headers={"Authorization": header})
        assert resp.status_code == 401


def test_server_info_and_control_routes_need_no_auth(site: Site) -> None:
    assert site.anon.get(site.api + "/serverInfo").status_code == 200
    assert site.anon.get(site.url + "/_sandbox/jira/issues").status_code == 200


# ---------------------------------------------------------------------- create validation
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"summary": None}, {"summary": "You must specify a summary of the issue."}),
        ({"summary": "x" * 256}, {"summary": "Summary must be less than 255 characters."}),
        (
            {"summary": "two\nlines"},
            {"summary": "The summary is invalid because it contains newline characters."},
        ),
        (
            {"labels": ["has space"]},
            {"labels": "The label 'has space' contains spaces which is invalid."},
        ),
        (
            {"environment": doc(para("x"))},
            {
                "environment": "Field 'environment' cannot be set. "
                "It is not on the appropriate screen, or unknown."
            },
        ),
        (
            {"customfield_99999": 1},
            {
                "customfield_99999": "Field 'customfield_99999' cannot be set. It is not on the "
                "appropriate screen, or unknown."
            },
        ),
        (
            {"priority": {"name": "Urgent"}},
            {"priority": "Specify a valid 'id' or 'name' for Priority"},
        ),
        ({"parent": {"key": "MIG-404"}}, {"parent": "Could not find issue by id or key."}),
        (
            {"assignee": {"accountId": PEOPLE[2].jira_account_id}},
            {"assignee": "Specified user does not exist or you do not have required permissions"},
        ),
        ({"customfield_10016": "five"}, {"customfield_10016": "Operation value must be a number"}),
    ],
)
def test_create_refuses_bad_fields(
    site: Site, fields: dict[str, Any], expected: dict[str, str]
) -> None:
    body = issue_body("Story", "ok")
    body["fields"].update(fields)
    body["fields"] = {k: v for k, v in body["fields"].items() if v is not None}
    assert _errors(site.http.post(site.api + "/issue", json=body)) == expected
    assert site.app.issue_keys() == []


@pytest.mark.parametrize(
    "description",
    [
        "plain text is not ADF",
        doc({"type": "paragraph", "content": [{"type": "text", "text": ""}]}),
        {"type": "doc", "content": []},
        doc({"type": "bulletList", "content": [para("x")]}),
    ],
)
def test_description_must_be_valid_adf(site: Site, description: Any) -> None:
    body = issue_body("Task", "t", description=description)
    errors = _errors(site.http.post(site.api + "/issue", json=body))
    assert errors["description"].startswith("Operation value must be an Atlassian Document")


def test_unknown_issue_type_and_project_are_refused(site: Site) -> None:
    body = issue_body("Feature", "f")
    body["fields"]["project"] = {"key": "OTHER"}
    assert _errors(site.http.post(site.api + "/issue", json=body)) == {
        "project": "Specify a valid project ID or key",
        "issuetype": "Specify a valid issue type",
    }
    missing = {"fields": {"project": {"key": "MIG"}, "summary": "s"}}
    assert _errors(site.http.post(site.api + "/issue", json=missing)) == {
        "issuetype": "Specify an issue type"
    }


def test_parents_must_fit_the_hierarchy(site: Site) -> None:
    task = site.create("Task", "t")["key"]
    story_under_task = issue_body("Story", "s", parent={"key": task})
    assert _errors(site.http.post(site.api + "/issue", json=story_under_task)) == {
        "parent": "Given parent work item does not belong to appropriate hierarchy."
    }
    orphan = issue_body("Sub-task", "s")
    assert "parent" in _errors(site.http.post(site.api + "/issue", json=orphan))
    epic_with_parent = issue_body("Epic", "e", parent={"key": task})
    assert "parent" in _errors(site.http.post(site.api + "/issue", json=epic_with_parent))


def test_a_knob_can_make_story_points_required_on_story_only() -> None:
    with running_site(require_story_points=True) as s:
        errors = _errors(s.http.post(s.api + "/issue", json=issue_body("Story", "s")))
        assert errors == {"customfield_10016": "Story Points is required."}
        assert s.http.post(s.api + "/issue", json=issue_body("Task", "t")).status_code == 201
        ok = issue_body("Story", "s", customfield_10016=3)
        assert s.http.post(s.api + "/issue", json=ok).status_code == 201
        meta = s.http.get(s.api + "/issue/createmeta/MIG/issuetypes/10001").json()
        assert {f["fieldId"]: f["required"] for f in meta["fields"]}["customfield_10016"]


def test_edit_refuses_fields_not_on_the_screen(site: Site) -> None:
    key = site.create("Task", "t")["key"]
    resp = site.http.put(f"{site.api}/issue/{key}", json={"fields": {"issuetype": {"id": "1"}}})
    assert "issuetype" in _errors(resp)
    both = site.http.put(
        f"{site.api}/issue/{key}",
        json={"fields": {"labels": ["a"]}, "update": {"labels": [{"add": "b"}]}},
    )
    assert "labels" in _errors(both)


def test_unknown_issue_is_404_with_jira_body(site: Site) -> None:
    resp = site.http.get(site.api + "/issue/MIG-42")
    _errors(resp, 404)
    assert resp.json()["errorMessages"] == [
        "Issue does not exist or you do not have permission to see it."
    ]


def test_invalid_json_body_is_400(site: Site) -> None:
    resp = site.http.post(
        site.api + "/issue", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    _errors(resp)


# ---------------------------------------------------------------------- comments, properties
def test_comment_body_must_be_valid_adf(site: Site) -> None:
    key = site.create()["key"]
    resp = site.http.post(f"{site.api}/issue/{key}/comment", json={"body": "plain"})
    assert "comment" in _errors(resp)
    empty_text = doc({"type": "paragraph", "content": [{"type": "text", "text": ""}]})
    resp = site.http.post(f"{site.api}/issue/{key}/comment", json={"body": empty_text})
    assert "comment" in _errors(resp)


def test_property_values_over_32768_characters_are_refused(site: Site) -> None:
    key = site.create()["key"]
    url = f"{site.api}/issue/{key}/properties/big"
    assert site.http.put(url, json="x" * 32766).status_code == 201  # 32768 with quotes
    _errors(site.http.put(url, json="x" * 32767))
    too_big = issue_body(properties=[{"key": "k", "value": "x" * 40000}])
    assert "properties" in _errors(site.http.post(site.api + "/issue", json=too_big))


# ---------------------------------------------------------------------- attachments
def _upload(site: Site, key: str, files: list[Any], **headers: str) -> requests.Response:
    return site.http.post(
        f"{site.api}/issue/{key}/attachments",
        files=files,
        headers={"X-Atlassian-Token": "no-check", **headers},
    )


def test_attachments_need_the_xsrf_header(site: Site) -> None:
    key = site.create()["key"]
    resp = site.http.post(f"{site.api}/issue/{key}/attachments", files=[("file", ("a.txt", b"a"))])
    assert resp.status_code == 403 and resp.text == "XSRF check failed"
    assert site.app.writes.get("attachments", 0) == 0


def test_attachments_over_the_upload_limit_are_413_and_the_limit_changes_live(site: Site) -> None:
    key = site.create()["key"]
    resp = site.http.patch(site.url + "/_sandbox/jira/settings", json={"upload_limit": 1000})
    assert resp.json()["upload_limit"] == 1000
    assert site.http.get(site.api + "/attachment/meta").json()["uploadLimit"] == 1000
    _errors(_upload(site, key, [("file", ("big.bin", bytes(1001)))]), 413)
    assert _upload(site, key, [("file", ("ok.bin", bytes(1000)))]).status_code == 200
    site.app.settings.upload_limit = 2000  # the Python handle works as well
    assert _upload(site, key, [("file", ("ok2.bin", bytes(1500)))]).status_code == 200


def test_more_than_60_files_is_413(site: Site) -> None:
    key = site.create()["key"]
    files = [("file", (f"f{n}.txt", b"x")) for n in range(61)]
    _errors(_upload(site, key, files), 413)
    assert _upload(site, key, files[:60]).status_code == 200


def test_uploads_without_file_parts_or_when_disabled_are_refused(site: Site) -> None:
    key = site.create()["key"]
    _errors(_upload(site, key, [("other", ("a.txt", b"a"))]))
    site.http.patch(site.url + "/_sandbox/jira/settings", json={"attachments_enabled": False})
    _errors(_upload(site, key, [("file", ("a.txt", b"a"))]), 403)
    assert site.http.get(site.api + "/attachment/meta").json()["enabled"] is False
