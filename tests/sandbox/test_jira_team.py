"""The team-managed project the Jira sandbox serves beside the company-managed one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.sandbox.jira_support import AGILE, Site, assert_matches_spec, running_site

A = "/rest/api/3"


@pytest.fixture
def site() -> Iterator[Site]:
    with running_site() as s:
        yield s


def _create(site: Site, itype: str, summary: str, **fields: Any) -> dict[str, Any]:
    body = {
        "fields": {
            "project": {"key": "TEAM"},
            "issuetype": {"name": itype},
            "summary": summary,
            **fields,
        }
    }
    resp = site.http.post(site.api + "/issue", json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def test_the_team_project_is_next_gen_with_its_own_issue_types(site: Site) -> None:
    project = assert_matches_spec(
        site.http.get(site.api + "/project/TEAM"), "GET", A + "/project/{projectIdOrKey}", 200
    )
    assert project["style"] == "next-gen" and project["simplified"] is True
    assert project["components"] == [] and project["versions"] == []
    levels = {t["name"]: t["hierarchyLevel"] for t in project["issueTypes"]}
    assert levels == {"Epic": 1, "Story": 0, "Task": 0, "Bug": 0, "Subtask": -1}
    scope = {"type": "PROJECT", "project": {"id": project["id"]}}
    assert all(t["scope"] == scope for t in project["issueTypes"])
    company = site.http.get(site.api + "/project/MIG").json()
    assert company["style"] == "classic" and company["simplified"] is False
    assert not {t["id"] for t in company["issueTypes"]} & {t["id"] for t in project["issueTypes"]}
    everything = site.http.get(site.api + "/issuetype").json()
    assert len(everything) == len(company["issueTypes"]) + len(project["issueTypes"])


def test_its_create_screens_have_story_point_estimate_and_parent_but_no_components(
    site: Site,
) -> None:
    types = site.http.get(site.api + "/issue/createmeta/TEAM/issuetypes").json()["issueTypes"]
    screens = {}
    for t in types:
        page = assert_matches_spec(
            site.http.get(site.api + f"/issue/createmeta/TEAM/issuetypes/{t['id']}"),
            "GET",
            A + "/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}",
            200,
        )
        screens[t["name"]] = {f["fieldId"]: f for f in page["fields"]}
    assert all("components" not in s and "customfield_10016" not in s for s in screens.values())
    for name in ("Story", "Task", "Bug", "Subtask"):
        assert "parent" in screens[name]
    for name in ("Story", "Task", "Bug"):
        assert screens[name]["customfield_10040"]["name"] == "Story point estimate"
    assert screens["Subtask"]["parent"]["required"] is True
    fields = {f["id"]: f for f in site.http.get(site.api + "/field").json()}
    assert fields["customfield_10040"]["name"] == "Story point estimate"
    company_story = site.http.get(site.api + "/issue/createmeta/MIG/issuetypes/10011")
    assert company_story.status_code == 400  # a TEAM type is not on the other project


def test_issues_get_team_keys_parents_on_every_level_and_points(site: Site) -> None:
    epic = _create(site, "Epic", "An epic")
    assert epic["key"] == "TEAM-1"
    story = _create(site, "Story", "A story", parent={"key": epic["key"]}, customfield_10040=5)
    sub = _create(site, "Subtask", "A subtask", parent={"key": story["key"]})
    got = site.http.get(site.api + f"/issue/{sub['key']}").json()["fields"]
    assert got["project"]["key"] == "TEAM" and got["project"]["simplified"] is True
    assert got["parent"]["key"] == story["key"]
    story_fields = site.http.get(site.api + f"/issue/{story['key']}").json()["fields"]
    assert story_fields["customfield_10040"] == 5 and story_fields["parent"]["key"] == epic["key"]
    refused = site.http.post(
        site.api + "/issue",
        json={
            "fields": {
                "project": {"key": "TEAM"},
                "issuetype": {"name": "Story"},
                "summary": "x",
                "components": [{"name": "Web"}],
                "customfield_10016": 3,
            }
        },
    )
    assert refused.status_code == 400
    assert set(refused.json()["errors"]) == {"components", "customfield_10016"}
    company_epic = site.create("Epic", "A company epic")
    assert company_epic["key"].startswith("MIG-")
    across = site.http.post(
        site.api + "/issue",
        json={
            "fields": {
                "project": {"key": "TEAM"},
                "issuetype": {"name": "Story"},
                "summary": "x",
                "parent": {"key": company_epic["key"]},
            }
        },
    )
    assert across.status_code == 400 and "parent" in across.json()["errors"]
    found = site.http.get(
        site.api + "/search/jql", params={"jql": "project = TEAM", "fields": "key"}
    )
    assert {i["key"] for i in found.json()["issues"]} == {epic["key"], story["key"], sub["key"]}


def test_its_statuses_and_transitions_are_its_own(site: Site) -> None:
    statuses = assert_matches_spec(
        site.http.get(site.api + "/project/TEAM/statuses"),
        "GET",
        A + "/project/{projectIdOrKey}/statuses",
        200,
    )
    for row in statuses:
        assert [s["name"] for s in row["statuses"]] == ["To Do", "In Progress", "Done"]
    story = _create(site, "Story", "A story")
    moves = site.http.get(site.api + f"/issue/{story['key']}/transitions").json()["transitions"]
    assert {t["to"]["name"] for t in moves} == {"In Progress", "Done"}  # straight to Done too
    done = next(t for t in moves if t["to"]["name"] == "Done")
    resp = site.http.post(
        site.api + f"/issue/{story['key']}/transitions", json={"transition": {"id": done["id"]}}
    )
    assert resp.status_code == 204
    got = site.http.get(site.api + f"/issue/{story['key']}").json()["fields"]["status"]
    assert got["name"] == "Done" and got["statusCategory"]["key"] == "done"


def test_it_has_a_board_of_its_own_and_no_components(site: Site) -> None:
    boards = site.http.get(site.url + "/rest/agile/1.0/board", params={"projectKeyOrId": "TEAM"})
    page = assert_matches_spec(boards, "GET", "/rest/agile/1.0/board", 200, spec=AGILE)
    assert [b["location"]["projectKey"] for b in page["values"]] == ["TEAM"]
    board = page["values"][0]["id"]
    sprint = site.http.post(
        site.url + "/rest/agile/1.0/sprint", json={"name": "S1", "originBoardId": board}
    )
    assert sprint.status_code == 201
    others = site.http.get(site.url + "/rest/agile/1.0/board/1/sprint").json()["values"]
    assert sprint.json()["id"] not in {s["id"] for s in others}
    refused = site.http.post(site.api + "/component", json={"name": "Web", "project": "TEAM"})
    assert refused.status_code == 400
    assert site.http.get(site.api + "/project/TEAM/components").json() == []
