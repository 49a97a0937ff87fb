"""The custom fields of the shared dataset: ADO definitions and values, and the Jira
fields, screens and value rules (checked against the official OpenAPI file)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import jira_custom
from sandbox.ado_fields import ALLOWED, FIELDS, TYPE_FIELDS
from sandbox.dataset_custom import CARRIERS
from sandbox.dataset_process import TYPES
from tests.fixtures.sandbox import SandboxHandle
from tests.sandbox.jira_support import (
    PEOPLE,
    Site,
    assert_matches_spec,
    doc,
    issue_body,
    para,
    running_site,
)

A = "/rest/api/3"
V = "api-version=7.1"
EXPECTED_ADO = {
    "Custom.Customer": ("string", False, False),
    "Custom.RiskScore": ("integer", False, False),
    "Custom.Confidence": ("double", False, False),
    "Custom.Deadline": ("dateTime", False, False),
    "Custom.Billable": ("boolean", False, False),
    "Custom.Reviewer": ("identity", True, False),
    "Custom.Platforms": ("plainText", False, False),
    "Custom.Notes": ("html", False, False),
    "Microsoft.VSTS.Common.ValueArea": ("string", False, True),
    "Microsoft.VSTS.Common.Severity": ("string", False, True),
    "Custom.Impact": ("string", False, True),
}


@pytest.fixture
def site() -> Iterator[Site]:
    with running_site() as s:
        yield s


# ---------------------------------------------------------------------- ADO
def test_ado_fields_endpoint_lists_the_custom_fields_with_their_types(
    ado_sandbox: SandboxHandle,
) -> None:
    url = f"{ado_sandbox.ado_url}/{ado_sandbox.org}/_apis/wit/fields?{V}"
    r = ado_sandbox.ado_session().get(url)
    assert r.status_code == 200, r.text
    by_ref = {f["referenceName"]: f for f in r.json()["value"]}
    for ref, (ftype, identity, picklist) in EXPECTED_ADO.items():
        got = by_ref[ref]
        assert (got["type"], got["isIdentity"], got["isPicklist"]) == (ftype, identity, picklist)


def test_ado_type_fields_list_each_custom_field_and_picklist_values(
    ado_sandbox: SandboxHandle,
) -> None:
    session = ado_sandbox.ado_session()
    for ref, kinds in CARRIERS.items():
        for kind in kinds:
            name = TYPES[kind].name
            assert ref in TYPE_FIELDS[name]
            r = session.get(f"{ado_sandbox.ado_api}/wit/workitemtypes/{name}/fields?{V}")
            assert ref in {f["referenceName"] for f in r.json()["value"]}
    r = session.get(f"{ado_sandbox.ado_api}/wit/workitemtypes/Feature/fields?{V}")
    value_area = next(
        f for f in r.json()["value"] if f["referenceName"] == "Microsoft.VSTS.Common.ValueArea"
    )
    assert value_area["allowedValues"] == ALLOWED["Microsoft.VSTS.Common.ValueArea"]


def test_dataset_sets_custom_values_on_most_items_of_their_types(
    ado_sandbox: SandboxHandle,
) -> None:
    d = ado_sandbox.dataset
    for ref, kinds in CARRIERS.items():
        holders = [i for i in d.ids() if d.type_of[i] in kinds]
        having = [i for i in holders if ref in d.item(i).fields]
        assert holders and having, ref
        assert len(having) > len(holders) // 2, ref
        spec_type = FIELDS[ref.lower()][2]
        for i in having[:5]:
            value = d.item(i).fields[ref]
            checks: dict[str, Any] = {
                "string": str,
                "integer": int,
                "double": float,
                "dateTime": str,
                "boolean": bool,
                "identity": dict,
                "plainText": str,
                "html": str,
            }
            assert isinstance(value, checks[spec_type]), (ref, value)
    assert d.item(1).fields == d.item(1).fields  # deterministic


# ---------------------------------------------------------------------- Jira
def test_jira_fields_list_the_custom_fields_with_their_schema(site: Site) -> None:
    fields = assert_matches_spec(site.http.get(site.api + "/field"), "GET", A + "/field", 200)
    by_id = {f["id"]: f for f in fields}
    for fid, name, schema, _ in jira_custom.CUSTOM_FIELDS:
        got = by_id[fid]
        assert got["name"] == name and got["schema"] == schema
        assert got["custom"] is fid.startswith("customfield_")
    assert by_id["customfield_10060"]["schema"]["items"] == "option"
    assert by_id["duedate"]["schema"] == {"type": "date", "system": "duedate"}


def test_screens_hold_the_custom_fields_and_acceptance_criteria_on_story_only(
    site: Site,
) -> None:
    path = A + "/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}"
    for type_id, name in (("10000", "Epic"), ("10001", "Story"), ("10002", "Task")):
        page = assert_matches_spec(
            site.http.get(f"{site.api}/issue/createmeta/MIG/issuetypes/{type_id}"),
            "GET",
            path,
            200,
        )
        metas = {f["fieldId"]: f for f in page["fields"]}
        assert set(jira_custom.SCREEN) <= set(metas), name
        assert (jira_custom.ACCEPTANCE in metas) is (name == "Story")
        values = [o["value"] for o in metas["customfield_10051"]["allowedValues"]]
        assert values == ["Business value", "Technical"]
        severity = [o["value"] for o in metas["customfield_10050"]["allowedValues"]]
        assert severity == ["1 - Critical", "2 - High", "3 - Medium", "4 - Low"]


def _valid_fields() -> dict[str, Any]:
    return {
        "customfield_10050": {"value": "2 - High"},
        "customfield_10051": {"id": jira_custom.OPTIONS["customfield_10051"][1]["id"]},
        "customfield_10053": "Contoso Ltd",
        "customfield_10054": 12,
        "customfield_10055": 0.75,
        "customfield_10056": "2024-03-01T10:30:00.000+0100",
        "customfield_10057": "2024-04-02",
        "customfield_10058": {"value": "Yes"},
        "customfield_10059": {"accountId": PEOPLE[0].jira_account_id},
        "customfield_10060": [{"value": "Web"}, {"value": "iOS"}],
        "customfield_10061": doc(para("Notes")),
        "customfield_10062": doc(para("Given, when, then")),
        "duedate": "2024-05-06",
    }


def test_create_then_get_returns_the_stored_values(site: Site) -> None:
    created = site.create("Story", "Custom", **_valid_fields())
    got = assert_matches_spec(
        site.http.get(f"{site.api}/issue/{created['key']}"), "GET", A + "/issue/{issueIdOrKey}"
    )
    f = got["fields"]
    assert f["customfield_10050"]["value"] == "2 - High"
    assert f["customfield_10051"]["value"] == "Technical"
    assert f["customfield_10053"] == "Contoso Ltd"
    assert (f["customfield_10054"], f["customfield_10055"]) == (12, 0.75)
    assert f["customfield_10056"] == "2024-03-01T09:30:00.000+0000"
    assert (f["customfield_10057"], f["duedate"]) == ("2024-04-02", "2024-05-06")
    assert f["customfield_10058"]["value"] == "Yes"
    assert f["customfield_10059"]["accountId"] == PEOPLE[0].jira_account_id
    assert [o["value"] for o in f["customfield_10060"]] == ["Web", "iOS"]
    assert f["customfield_10061"] == doc(para("Notes"))
    edit = site.http.put(
        f"{site.api}/issue/{created['key']}", json={"fields": {"customfield_10053": None}}
    )
    assert edit.status_code == 204
    again = site.http.get(f"{site.api}/issue/{created['key']}").json()["fields"]
    assert again["customfield_10053"] is None


BAD: dict[str, Any] = {
    "customfield_10050": {"value": "Critical"},
    "customfield_10051": "Business value",
    "customfield_10053": "x" * 256,
    "customfield_10054": "12",
    "customfield_10056": "2024-03-01",
    "customfield_10057": "2024-04-02T10:00:00Z",
    "customfield_10059": {"accountId": "nobody"},
    "customfield_10060": {"value": "Web"},
    "customfield_10061": "plain text",
}


def test_create_refuses_bad_values_field_by_field(site: Site) -> None:
    resp = site.http.post(site.api + "/issue", json=issue_body("Story", "Bad", **BAD))
    assert resp.status_code == 400
    assert set(resp.json()["errors"]) == set(BAD)
    task = site.http.post(
        site.api + "/issue",
        json=issue_body("Task", "No AC", customfield_10062=doc(para("x"))),
    )
    assert task.status_code == 400 and "customfield_10062" in task.json()["errors"]


def test_bulk_create_and_edit_validate_custom_values(site: Site) -> None:
    good = issue_body("Task", "Good", customfield_10058={"value": "No"})
    bad = issue_body("Task", "Bad", customfield_10058={"value": "Maybe"})
    resp = site.http.post(site.api + "/issue/bulk", json={"issueUpdates": [good, bad]})
    body = resp.json()
    assert len(body["issues"]) == 1
    assert "customfield_10058" in body["errors"][0]["elementErrors"]["errors"]
    key = body["issues"][0]["key"]
    edit = site.http.put(f"{site.api}/issue/{key}", json={"fields": {"customfield_10055": True}})
    assert edit.status_code == 400 and "customfield_10055" in edit.json()["errors"]


def test_editmeta_lists_the_edit_screen(site: Site) -> None:
    created = site.create("Bug", "Edit me")
    meta = assert_matches_spec(
        site.http.get(f"{site.api}/issue/{created['key']}/editmeta"),
        "GET",
        A + "/issue/{issueIdOrKey}/editmeta",
        200,
    )
    assert set(jira_custom.SCREEN) <= set(meta["fields"])
    assert jira_custom.ACCEPTANCE not in meta["fields"] and "issuetype" not in meta["fields"]
    assert [o["value"] for o in meta["fields"]["customfield_10052"]["allowedValues"]] == [
        "High",
        "Medium",
        "Low",
    ]
