"""The field map end to end: runs started through the public API, a real Celery worker,
the sandboxes over HTTP, and every mapped field read back from the Jira sandbox over
HTTP and compared with the ADO value.

- a FULL run with an explicit map (a value map for Value Area, the user map for the
  two people whose Jira address differs) carries every mapped field with its type;
- a dry run without a map suggests one, and a FULL run given the suggestions as they
  come carries the fields they name;
- a bad map (unknown field, missing option, wrong type) is reported by a dry run,
  and a real run with it fails in phase 1 and writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from engine.adf_nodes import adf_to_text
from engine.history import render_value
from tests.e2e.support import items_of, jira_issues, report_of, run_to_end, writes
from tests.engine.adf_schema import assert_valid_adf

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("allow_private_targets"),
]

VALUE_AREA = {"Business": "Business value", "Architectural": "Technical"}
FIELD_MAP: dict[str, Any] = {
    "Microsoft.VSTS.Common.Severity": "Severity",
    "Microsoft.VSTS.Common.ValueArea": {"field": "customfield_10051", "values": VALUE_AREA},
    "Custom.Impact": "customfield_10052",
    "Custom.Customer": "Customer",
    "Custom.RiskScore": "Risk Score",
    "Custom.Confidence": "Confidence",
    "Custom.Deadline": "Deadline",
    "Microsoft.VSTS.Scheduling.TargetDate": "Target Date",
    "Microsoft.VSTS.Scheduling.DueDate": "duedate",
    "Custom.Billable": "Billable",
    "Custom.Reviewer": "Reviewer",
    "Custom.Platforms": "Platforms",
    "Custom.Notes": "Notes",
}
JIRA_ID = {
    "Microsoft.VSTS.Common.Severity": "customfield_10050",
    "Microsoft.VSTS.Common.ValueArea": "customfield_10051",
    "Custom.Impact": "customfield_10052",
    "Custom.Customer": "customfield_10053",
    "Custom.RiskScore": "customfield_10054",
    "Custom.Confidence": "customfield_10055",
    "Custom.Deadline": "customfield_10056",
    "Microsoft.VSTS.Scheduling.TargetDate": "customfield_10057",
    "Microsoft.VSTS.Scheduling.DueDate": "duedate",
    "Custom.Billable": "customfield_10058",
    "Custom.Reviewer": "customfield_10059",
    "Custom.Platforms": "customfield_10060",
    "Custom.Notes": "customfield_10061",
}


def _moment(text: str) -> datetime:
    raw = text.replace("Z", "+00:00")
    if raw[-5] in "+-" and raw[-3] != ":":
        raw = raw[:-2] + ":" + raw[-2:]
    moment = datetime.fromisoformat(raw)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _jira_session(boxes: Any) -> requests.Session:
    session = requests.Session()
    session.auth = (boxes.email, boxes.api_token)
    return session


def _issues_over_http(boxes: Any, keys: dict[int, str]) -> dict[int, dict[str, Any]]:
    session = _jira_session(boxes)
    out = {}
    for ado_id, key in keys.items():
        r = session.get(f"{boxes.jira_url}/rest/api/3/issue/{key}")
        assert r.status_code == 200, r.text
        out[ado_id] = r.json()["fields"]
    return out


def _account_of(boxes: Any, email: str, user_map: bool) -> str | None:
    """The person's account; one whose Jira address differs is found only by the user map."""
    person = next(p for p in boxes.dataset.people if p.email == email)
    found = person.in_jira and (user_map or not person.jira_email)
    return person.jira_account_id if found else None


def _expected(boxes: Any, ref: str, value: Any, values: dict[str, str], user_map: bool) -> Any:
    """What Jira should hold for one ADO value, in the shape the check compares."""
    if ref in ("Microsoft.VSTS.Common.Severity", "Custom.Impact"):
        return value
    if ref == "Microsoft.VSTS.Common.ValueArea":
        return values.get(value)
    if ref == "Custom.Billable":
        return "Yes" if value else "No"
    if ref == "Custom.Reviewer":
        return _account_of(boxes, value["uniqueName"], user_map)
    if ref == "Custom.Platforms":
        return [p.strip() for p in value.split(";")]
    if ref == "Custom.Deadline":
        return _moment(value)
    if ref in ("Microsoft.VSTS.Scheduling.TargetDate", "Microsoft.VSTS.Scheduling.DueDate"):
        return _moment(value).astimezone(UTC).date().isoformat()
    if ref == "Custom.Notes":
        return " ".join(render_value(value).split())
    return value


def _shown(ref: str, got: Any) -> Any:
    """The Jira value in the shape :func:`_expected` gives."""
    if got is None:
        return None
    if isinstance(got, dict) and "value" in got:
        return got["value"]
    if isinstance(got, dict) and "accountId" in got:
        return got["accountId"]
    if isinstance(got, list):
        return [o["value"] for o in got]
    if ref == "Custom.Deadline":
        return _moment(got)
    if ref == "Custom.Notes":
        assert_valid_adf(got)
        return " ".join(adf_to_text(got).split())
    return got


def _compare(
    boxes: Any,
    run_id: str,
    api: Any,
    refs: dict[str, tuple[str, dict[str, str]]],
    *,
    user_map: bool,
) -> dict[str, int]:
    """Every item's ADO value of each field against the Jira issue; returns items carried."""
    keys = {i["adoId"]: i["jiraKey"] for i in items_of(api, run_id) if i["jiraKey"]}
    issues = _issues_over_http(boxes, keys)
    checked: dict[str, int] = {}
    for ado_id, fields in issues.items():
        ado = boxes.dataset.item(ado_id).fields
        for ref, (jira_id, values) in refs.items():
            if ref not in ado:
                assert fields.get(jira_id) is None, (ado_id, ref, fields.get(jira_id))
                continue
            want = _expected(boxes, ref, ado[ref], values, user_map)
            got = _shown(ref, fields.get(jira_id))
            assert got == want, (ado_id, ref, ado[ref], fields.get(jira_id))
            if want is not None:  # None: a person without a Jira account, an unmapped value
                checked[ref] = checked.get(ref, 0) + 1
    return checked


def test_a_full_run_with_a_field_map_carries_every_mapped_field_with_its_type(
    owner_api, project, celery_worker, sandboxes
):
    celery_worker()
    people = sandboxes.dataset.people
    user_map = {p.email: p.jira_email for p in people if p.jira_email}
    assert len(user_map) == 2
    final = run_to_end(owner_api, project, sandboxes, field_map=FIELD_MAP, user_map=user_map)
    report = report_of(owner_api, final["id"])["report"]
    assert final["status"] == "COMPLETED", (final, report.get("reason"))
    section = report["fieldMap"]
    assert section["problems"] == [] and section["source"] == "override"
    assert {e["adoField"]: e["jiraField"] for e in section["entries"]} == JIRA_ID
    refs = {ref: (JIRA_ID[ref], VALUE_AREA) for ref in FIELD_MAP}
    checked = _compare(sandboxes, final["id"], owner_api, refs, user_map=True)
    assert set(checked) == set(FIELD_MAP), checked  # each field held by some item
    for ref in FIELD_MAP:
        assert report["fidelity"][f"field:{ref}"]["items"] == checked[ref], ref
    # the two people with another Jira address are placed by the user map
    unmapped = {u["email"] for u in report["problems"]["unmappedUsers"]}
    assert not unmapped & set(user_map)
    assert report["fidelity"]["user-map"]["items"] > 0
    # acceptance criteria: the Story field where its screen has it, else the description
    keys = {i["adoId"]: i["jiraKey"] for i in items_of(owner_api, final["id"]) if i["jiraKey"]}
    issues = _issues_over_http(sandboxes, keys)
    for ado_id, fields in issues.items():
        criteria = sandboxes.dataset.item(ado_id).fields.get(
            "Microsoft.VSTS.Common.AcceptanceCriteria"
        )
        if not criteria:
            continue
        if fields["issuetype"]["name"] == "Story":
            assert "Given " in adf_to_text(fields["customfield_10062"]), ado_id
        else:
            assert "Acceptance criteria" in adf_to_text(fields["description"]), ado_id


def test_suggestions_of_a_dry_run_sent_back_as_they_come_carry_the_fields_they_name(
    owner_api, project, celery_worker, sandboxes
):
    celery_worker()
    dry = run_to_end(owner_api, project, sandboxes, dry_run=True)
    assert dry["status"] == "COMPLETED", dry
    section = report_of(owner_api, dry["id"])["report"]["fieldMap"]
    suggested = section["suggestedFieldMap"]
    assert section["entries"] == [] and section["problems"] == []
    for row in section["suggestions"]:
        assert row["reason"] and 0 < row["confidence"] <= 1
        assert suggested[row["adoField"]] == {"field": row["jiraField"], "values": row["values"]}
    # every custom field of the dataset that has a Jira field of its name is suggested
    assert {ref: suggested[ref]["field"] for ref in JIRA_ID if ref in suggested} == JIRA_ID
    assert "Custom.MitigationPlan" in section["unmatched"]
    assert not jira_issues(sandboxes)

    final = run_to_end(owner_api, project, sandboxes, field_map=suggested)
    assert final["status"] == "COMPLETED", final
    report = report_of(owner_api, final["id"])["report"]
    assert {e["source"] for e in report["fieldMap"]["entries"]} == {"suggested"}
    # without a user map the people whose Jira address differs stay unmapped, listed
    other_address = {p.email for p in sandboxes.dataset.people if p.jira_email}
    unmapped = {u["email"]: u["items"] for u in report["problems"]["unmappedUsers"]}
    assert other_address <= set(unmapped) and all(unmapped[e] > 0 for e in other_address)
    values = suggested["Microsoft.VSTS.Common.ValueArea"]["values"]
    refs = {
        ref: (entry["field"], entry["values"])
        for ref, entry in suggested.items()
        if ref != "Microsoft.VSTS.Common.ValueArea"
    }
    checked = _compare(sandboxes, final["id"], owner_api, refs, user_map=False)
    assert set(checked) == set(refs)
    # Value Area carries the values its suggested value map covers; the rest are notes
    area = report["fidelity"]["field:Microsoft.VSTS.Common.ValueArea"]
    assert area["items"] > 0, (values, area)
    if set(values) != {"Business", "Architectural"}:
        assert area["notCarried"] > 0


BAD_MAP: dict[str, Any] = {
    "Custom.Customer": "No Such Field",
    "Microsoft.VSTS.Common.Severity": {"field": "Severity", "values": {"1 - Critical": "Blocker"}},
    "Custom.Notes": "Risk Score",
}


def test_a_bad_map_is_reported_by_the_dry_run_and_a_real_run_writes_nothing(
    owner_api, project, celery_worker, sandboxes
):
    celery_worker()
    dry = run_to_end(owner_api, project, sandboxes, dry_run=True, field_map=BAD_MAP)
    assert dry["status"] == "COMPLETED", dry
    problems = report_of(owner_api, dry["id"])["report"]["fieldMap"]["problems"]
    codes = {p["adoField"]: p["code"] for p in problems}
    assert codes == {
        "Custom.Customer": "unknown-jira-field",
        "Microsoft.VSTS.Common.Severity": "option-missing",
        "Custom.Notes": "wrong-type",
    }
    before = writes(sandboxes)
    final = run_to_end(owner_api, project, sandboxes, field_map=BAD_MAP)
    assert final["status"] == "FAILED", final
    body = report_of(owner_api, final["id"])["report"]
    assert {p["code"] for p in body["fieldMap"]["problems"]} == set(codes.values())
    assert body["reason"].startswith("field map cannot be filled, nothing was written")
    assert final["statusReason"] == body["reason"]
    for ado_field in codes:
        assert ado_field in body["reason"]
    assert not jira_issues(sandboxes)
    assert writes(sandboxes) == before
