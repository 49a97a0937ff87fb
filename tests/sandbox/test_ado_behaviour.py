"""What the ADO sandbox serves: WIQL subset, work items, attachments, metadata, mutations."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from sandbox.dataset import TYPES
from tests.fixtures.sandbox import SandboxHandle

V = "api-version=7.1"
PREVIEW = "api-version=7.1-preview.4"


def _wiql(h: SandboxHandle, where: str, extra: str = "", url: str | None = None) -> list[int]:
    query = f"SELECT [System.Id] FROM WorkItems WHERE {where}"
    r = h.ado_session().post(f"{url or h.ado_api}/wit/wiql?{V}{extra}", json={"query": query})
    assert r.status_code == 200, r.text
    return [w["id"] for w in r.json()["workItems"]]


def _fields(h: SandboxHandle, ident: int) -> dict[str, Any]:
    r = h.ado_session().get(f"{h.ado_api}/wit/workitems/{ident}?{V}")
    assert r.status_code == 200, r.text
    return r.json()["fields"]


# ---------------------------------------------------------------- WIQL
def test_wiql_filters_by_type_list_and_equality(ado_sandbox: SandboxHandle) -> None:
    d = ado_sandbox.dataset
    ids = _wiql(
        ado_sandbox,
        "[System.TeamProject] = @project AND [System.WorkItemType] IN ('Bug', 'User Story')",
    )
    assert ids == [i for i in d.ids() if d.type_name(i) in ("Bug", "User Story")]
    assert _wiql(ado_sandbox, "[System.WorkItemType] = 'epic'") == [
        i for i in d.ids() if d.type_name(i) == "Epic"
    ]


def test_wiql_area_under_includes_the_subtree(ado_sandbox: SandboxHandle) -> None:
    d = ado_sandbox.dataset
    root = f"{d.project}\\Web"
    ids = _wiql(ado_sandbox, f"[System.AreaPath] UNDER '{root}'")
    expected = [
        i for i in d.ids() if d.area_path(i) == root or d.area_path(i).startswith(root + "\\")
    ]
    assert ids == expected and ids
    exact = _wiql(ado_sandbox, f"[System.AreaPath] = '{root}'")
    assert set(exact) < set(ids) or exact == ids


def test_wiql_changed_date_id_and_order(ado_sandbox: SandboxHandle) -> None:
    d = ado_sandbox.dataset
    cutoff = d.changed_date(30)
    ids = _wiql(
        ado_sandbox,
        f"[System.ChangedDate] >= '{cutoff}' AND [System.Id] > 10 ORDER BY [System.Id] DESC",
        "&timePrecision=true",
    )
    expected = [i for i in d.ids() if i > 10 and d.changed_date(i) >= cutoff]
    assert ids == sorted(expected, reverse=True)


def test_wiql_without_time_precision_compares_days(ado_sandbox: SandboxHandle) -> None:
    d = ado_sandbox.dataset
    cutoff = d.changed_date(30)
    ids = _wiql(ado_sandbox, f"[System.ChangedDate] >= '{cutoff}'")
    assert ids == [i for i in d.ids() if d.changed_date(i)[:10] >= cutoff[:10]]


def test_wiql_with_team_and_without_project(ado_sandbox: SandboxHandle) -> None:
    h = ado_sandbox
    team = f"{h.ado_url}/{h.org}/{h.project}/{h.project}%20Team/_apis"
    assert _wiql(h, "[System.Id] > 55", url=team) == [56, 57, 58, 59, 60]
    assert _wiql(h, "[System.Id] > 55", url=f"{h.ado_url}/{h.org}/_apis") == [56, 57, 58, 59, 60]


def test_wiql_top_truncates(ado_sandbox: SandboxHandle) -> None:
    assert _wiql(ado_sandbox, "[System.Id] > 0 ORDER BY [System.Id]", "&$top=5") == [1, 2, 3, 4, 5]


# ---------------------------------------------------------------- work items
def test_batch_returns_fields_in_request_order(ado_sandbox: SandboxHandle) -> None:
    r = ado_sandbox.ado_session().post(
        f"{ado_sandbox.ado_api}/wit/workitemsbatch?{V}",
        json={"ids": [5, 2, 9], "fields": ["System.Title", "System.State", "System.AssignedTo"]},
    )
    body = r.json()
    assert [w["id"] for w in body["value"]] == [5, 2, 9]
    for item in body["value"]:
        assert set(item["fields"]) <= {"System.Title", "System.State", "System.AssignedTo"}
        assert "relations" not in item


def test_relations_cover_every_link_kind(ado_sandbox: SandboxHandle) -> None:
    d = ado_sandbox.dataset
    r = ado_sandbox.ado_session().post(
        f"{ado_sandbox.ado_api}/wit/workitemsbatch?{V}",
        json={"ids": list(d.ids()), "$expand": "relations"},
    )
    rels = [rel for item in r.json()["value"] for rel in item.get("relations", [])]
    kinds = {rel["rel"] for rel in rels}
    assert {
        "System.LinkTypes.Hierarchy-Forward",
        "System.LinkTypes.Hierarchy-Reverse",
        "System.LinkTypes.Related",
        "System.LinkTypes.Dependency-Forward",
        "System.LinkTypes.Dependency-Reverse",
        "System.LinkTypes.Duplicate-Forward",
        "System.LinkTypes.Duplicate-Reverse",
        "Microsoft.VSTS.Common.TestedBy-Forward",
        "Microsoft.VSTS.Common.TestedBy-Reverse",
        "Hyperlink",
        "AttachedFile",
    } <= kinds
    attached = next(rel for rel in rels if rel["rel"] == "AttachedFile")
    assert {"name", "resourceSize", "id", "resourceCreatedDate"} <= set(attached["attributes"])
    assert re.search(r"/_apis/wit/attachments/[0-9a-f-]{36}$", attached["url"])


def test_single_item_expand_all_and_identities(ado_sandbox: SandboxHandle) -> None:
    story = ado_sandbox.dataset.roles["story"]
    r = ado_sandbox.ado_session().get(
        f"{ado_sandbox.ado_api}/wit/workitems/{story}?$expand=all&{V}"
    )
    body = r.json()
    assert body["relations"] and body["_links"]["self"]["href"] == body["url"]
    who = body["fields"]["System.CreatedBy"]
    assert {"displayName", "uniqueName", "id", "descriptor", "url", "imageUrl"} <= set(who)
    assert body["commentVersionRef"]["commentId"] > 0


def test_attachments_download_with_their_checksums(ado_sandbox: SandboxHandle) -> None:
    d, session = ado_sandbox.dataset, ado_sandbox.ado_session()
    for role in ("story", "task", "feature"):
        for att in d.attachments_of(d.roles[role]):
            url = f"{ado_sandbox.ado_api}/wit/attachments/{att.guid}?{V}&download=true"
            with session.get(url, stream=True) as r:
                assert r.status_code == 200
                assert r.headers["Content-Type"] == "application/octet-stream"
                assert int(r.headers["Content-Length"]) == att.size
                digest = hashlib.sha256()
                for chunk in r.iter_content(1 << 16):
                    digest.update(chunk)
            assert digest.hexdigest() == d.checksum(att.guid)


def test_attachment_file_name_parameter_names_the_download(ado_sandbox: SandboxHandle) -> None:
    att = ado_sandbox.dataset.attachments_of(ado_sandbox.dataset.roles["story"])[0]
    r = ado_sandbox.ado_session().get(
        f"{ado_sandbox.ado_url}/{ado_sandbox.org}/_apis/wit/attachments/{att.guid}"
        f"?fileName=renamed.bin&download=true&{V}"
    )
    assert 'attachment; filename="renamed.bin"' in r.headers["Content-Disposition"]


def test_inline_images_in_html_really_download(ado_sandbox: SandboxHandle) -> None:
    bug = ado_sandbox.dataset.roles["bug"]
    html = _fields(ado_sandbox, bug)["Microsoft.VSTS.TCM.ReproSteps"]
    src = re.search(r'<img src="([^"]+)"', html)
    assert src and src.group(1).startswith(ado_sandbox.ado_url)
    r = ado_sandbox.ado_session().get(src.group(1) + f"&{V}")
    assert r.status_code == 200 and r.content.startswith(b"\x89PNG")


# ---------------------------------------------------------------- metadata
def test_work_item_types_states_and_categories(ado_sandbox: SandboxHandle) -> None:
    session = ado_sandbox.ado_session()
    types = session.get(f"{ado_sandbox.ado_api}/wit/workitemtypes?{V}").json()["value"]
    names = {t["name"] for t in types}
    assert names == {t.name for t in TYPES}
    assert {"Epic", "Risk", "Test Case", "Shared Steps"} <= names
    story = next(t for t in types if t["name"] == "User Story")
    assert [(s["name"], s["category"]) for s in story["states"]] == [
        ("New", "Proposed"),
        ("Active", "InProgress"),
        ("Resolved", "Resolved"),
        ("Closed", "Completed"),
        ("Removed", "Removed"),
    ]
    assert story["fields"]
    bug_states = session.get(f"{ado_sandbox.ado_api}/wit/workitemtypes/bug/states?{V}").json()
    assert "Removed" not in {s["name"] for s in bug_states["value"]}


def test_classification_nodes_by_path_and_depth(ado_sandbox: SandboxHandle) -> None:
    session, api = ado_sandbox.ado_session(), ado_sandbox.ado_api
    roots = session.get(f"{api}/wit/classificationnodes?$depth=5&{V}").json()["value"]
    assert [r["structureType"] for r in roots] == ["area", "iteration"]
    assert roots[0]["children"][0]["children"]  # three area levels
    sprint = session.get(
        f"{api}/wit/classificationnodes/Iterations/Release%202/Sprint%205?{V}"
    ).json()
    assert (
        sprint["name"] == "Sprint 5"
        and sprint["attributes"]["startDate"] < sprint["attributes"]["finishDate"]
    )
    area = session.get(f"{api}/wit/classificationnodes/areas/Mobile?$depth=1&{V}").json()
    assert {c["name"] for c in area["children"]} == {"iOS", "Android"}
    assert session.get(f"{api}/wit/classificationnodes/areas/Nope?{V}").status_code == 404


def test_projects_by_name_and_id(ado_sandbox: SandboxHandle) -> None:
    session = ado_sandbox.ado_session()
    base = f"{ado_sandbox.ado_url}/{ado_sandbox.org}/_apis/projects"
    listed = session.get(f"{base}?{V}").json()
    assert listed["count"] == 1
    by_id = session.get(f"{base}/{listed['value'][0]['id']}?{V}").json()
    by_name = session.get(f"{base}/{ado_sandbox.project}?{V}").json()
    assert by_id == by_name
    assert by_id["capabilities"]["processTemplate"]["templateName"] == "Agile"
    # the project id works in place of the name in API paths too
    r = session.get(
        f"{ado_sandbox.ado_url}/{ado_sandbox.org}/{by_id['id']}/_apis/wit/workitems/1?{V}"
    )
    assert r.status_code == 200


# ---------------------------------------------------------------- mutations
def test_edit_through_http_bumps_rev_and_changed_date(ado_sandbox: SandboxHandle) -> None:
    before = _fields(ado_sandbox, 5)
    since = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.01)
    r = requests.patch(
        f"{ado_sandbox.ado_url}/_sandbox/items/5",
        json={
            "title": "Renamed",
            "state": "Active",
            "fields": {"Microsoft.VSTS.Common.Priority": 1},
        },
        timeout=5,
    )
    assert r.status_code == 200 and r.json()["rev"] == before["System.Rev"] + 1
    after = _fields(ado_sandbox, 5)
    assert after["System.Title"] == "Renamed" and after["System.State"] == "Active"
    assert after["Microsoft.VSTS.Common.Priority"] == 1
    assert after["System.ChangedDate"] > before["System.ChangedDate"]
    assert _wiql(ado_sandbox, f"[System.ChangedDate] >= '{since}'", "&timePrecision=true") == [5]


def test_as_of_returns_the_earlier_revision(ado_sandbox: SandboxHandle) -> None:
    old = _fields(ado_sandbox, 6)
    ado_sandbox.ado.edit_item(6, title="New title")
    r = ado_sandbox.ado_session().get(
        f"{ado_sandbox.ado_api}/wit/workitems/6?asOf={old['System.ChangedDate']}&{V}"
    )
    assert r.json()["fields"]["System.Title"] == old["System.Title"]


def test_add_comment_through_http_is_listed_and_changes_the_item(
    ado_sandbox: SandboxHandle,
) -> None:
    rev = _fields(ado_sandbox, 8)["System.Rev"]
    author = ado_sandbox.dataset.people[2].email
    r = requests.post(
        f"{ado_sandbox.ado_url}/_sandbox/items/8/comments",
        json={"text": "<div>new</div>", "author": author},
        timeout=5,
    )
    assert r.status_code == 201
    comments = (
        ado_sandbox.ado_session()
        .get(f"{ado_sandbox.ado_api}/wit/workItems/8/comments?{PREVIEW}")
        .json()["comments"]
    )
    assert comments[0]["id"] == r.json()["id"] and comments[0]["createdBy"]["uniqueName"] == author
    assert _fields(ado_sandbox, 8)["System.Rev"] == rev + 1


def test_add_item_with_parent_links_both_ends(ado_sandbox: SandboxHandle) -> None:
    r = requests.post(
        f"{ado_sandbox.ado_url}/_sandbox/items",
        json={"type": "Task", "title": "Fresh task", "parent": 3},
        timeout=5,
    )
    assert r.status_code == 201
    new = r.json()["id"]
    assert new == 61
    session = ado_sandbox.ado_session()
    parent = session.get(f"{ado_sandbox.ado_api}/wit/workitems/3?$expand=relations&{V}").json()
    assert any(
        rel["url"].endswith(f"/{new}") and rel["rel"].endswith("Hierarchy-Forward")
        for rel in parent["relations"]
    )
    assert _fields(ado_sandbox, new)["System.Parent"] == 3
    assert _wiql(ado_sandbox, "[System.Id] > 59") == [60, 61]


def test_remove_sets_removed_and_destroy_hides(ado_sandbox: SandboxHandle) -> None:
    task = ado_sandbox.dataset.roles["task"]
    story = ado_sandbox.dataset.roles["story2"]
    assert requests.delete(f"{ado_sandbox.ado_url}/_sandbox/items/{story}", timeout=5).ok
    assert _fields(ado_sandbox, story)["System.State"] == "Removed"
    assert requests.delete(
        f"{ado_sandbox.ado_url}/_sandbox/items/{task}?destroy=true", timeout=5
    ).ok
    assert (
        ado_sandbox.ado_session().get(f"{ado_sandbox.ado_api}/wit/workitems/{task}?{V}").status_code
        == 404
    )
    assert task not in _wiql(ado_sandbox, "[System.Id] > 0")
    state = requests.get(f"{ado_sandbox.ado_url}/_sandbox/state", timeout=5).json()
    assert state["recycled"] == [task] and state["edited"] == [story]


def test_python_api_and_reset(ado_sandbox: SandboxHandle) -> None:
    app = ado_sandbox.ado
    guid = app.add_attachment(4, "late.txt", b"hello")
    r = ado_sandbox.ado_session().get(f"{ado_sandbox.ado_api}/wit/attachments/{guid}?{V}")
    assert r.content == b"hello"
    app.remove_item(ado_sandbox.dataset.roles["bug"])  # Agile bugs have no Removed state
    assert app.item_fields(ado_sandbox.dataset.roles["bug"])["System.State"] == "Closed"
    with pytest.raises(ValueError):
        app.edit_item(4, state="Nonsense")
    app.reset()
    assert app.store.summary()["edited"] == [] and app.store.summary()["addedAttachments"] == 0


def test_control_routes_report_bad_input(ado_sandbox: SandboxHandle) -> None:
    base = ado_sandbox.ado_url
    assert (
        requests.patch(f"{base}/_sandbox/items/9999", json={"title": "x"}, timeout=5).status_code
        == 404
    )
    assert (
        requests.post(f"{base}/_sandbox/items", json={"type": "Nope"}, timeout=5).status_code == 400
    )
    assert requests.patch(f"{base}/_sandbox/items/1", data=b"{", timeout=5).status_code == 400


def test_wiql_orders_timestamps_as_instants_not_as_text() -> None:
    # ADO writes ".9Z" and ".95Z": as text ".9Z" sorts after ".95Z", as instants before.
    from sandbox.ado_wiql import _sort_key

    stamps = ["2026-01-01T10:00:00.95Z", "2026-01-01T10:00:00.9Z", "2026-01-01T10:00:00Z"]
    assert sorted(stamps, key=_sort_key) == [
        "2026-01-01T10:00:00Z",
        "2026-01-01T10:00:00.9Z",
        "2026-01-01T10:00:00.95Z",
    ]
    assert sorted(["b", None, "A"], key=_sort_key) == [None, "A", "b"]


def test_control_delete_of_a_non_numeric_id_is_a_400(ado_sandbox: SandboxHandle) -> None:
    r = requests.delete(f"{ado_sandbox.ado_url}/_sandbox/items/x", timeout=5)
    assert r.status_code == 400 and "not an id" in r.json()["message"]
