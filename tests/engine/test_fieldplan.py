"""The run's field plan, the field rules issue_content runs, and the report's fieldMap (pure)."""

from __future__ import annotations

import json
from typing import Any

from engine.adf_nodes import adf_to_text, doc, paragraph
from engine.content import ContentContext, issue_content
from engine.fieldapply import PlanFieldRules
from engine.fieldplan import FieldPlan, FieldUse, field_uses, plan_fields, suggest_values
from engine.fieldtypes import AdoField, from_meta, jira_fields, type_fit
from engine.model import FieldMeta, WorkItem
from engine.pipeline.runplan import RunPlan
from engine.report import build_report, note_rule
from tests.engine.adf_schema import assert_valid_adf

CF = "com.atlassian.jira.plugin.system.customfieldtypes:"
STORY, TASK = "10001", "10002"


def _meta(fid: str, name: str, schema: dict[str, Any], options: list[str] = ()) -> FieldMeta:  # type: ignore[assignment]
    allowed = [{"id": str(100 + i), "value": v} for i, v in enumerate(options)]
    return FieldMeta(fid, name, False, schema, False, allowed)


AREA = _meta(
    "customfield_10051",
    "Value Area",
    {"type": "option", "custom": CF + "select"},
    ["Business value", "Technical"],
)
BILLABLE = _meta(
    "customfield_10058", "Billable", {"type": "option", "custom": CF + "select"}, ["Yes", "No"]
)
CUSTOMER = _meta("customfield_10053", "Customer", {"type": "string", "custom": CF + "textfield"})
SCORE = _meta("customfield_10054", "Risk Score", {"type": "number", "custom": CF + "float"})
PLATFORMS = _meta(
    "customfield_10060",
    "Platforms",
    {"type": "array", "items": "option", "custom": CF + "multiselect"},
    ["Web", "iOS", "Android"],
)
CRITERIA = _meta(
    "customfield_10062", "Acceptance Criteria", {"type": "string", "custom": CF + "textarea"}
)
BASE = [
    FieldMeta("summary", "Summary", True, {"type": "string", "system": "summary"}),
    FieldMeta("description", "Description", False, {"type": "string", "system": "description"}),
    FieldMeta("labels", "Labels", False, {"type": "array", "items": "string", "system": "labels"}),
]
SCREENS = {
    STORY: [*BASE, AREA, CUSTOMER, PLATFORMS, SCORE, CRITERIA],
    TASK: [*BASE, BILLABLE, SCORE],
}
ADO = {
    d.reference_name: d
    for d in (
        AdoField("Microsoft.VSTS.Common.ValueArea", "Value Area", "string", is_picklist=True),
        AdoField("Custom.Billable", "Billable", "boolean"),
        AdoField("Custom.Customer", "Customer", "string"),
        AdoField("Custom.Platforms", "Platforms", "plainText"),
        AdoField("Custom.RiskScore", "Risk Score", "integer"),
        AdoField("Custom.MitigationPlan", "Mitigation Plan", "html"),
        AdoField("Custom.Notes", "Notes", "html"),
    )
}
JIRA = jira_fields(
    [{"id": m.field_id, "name": m.name, "schema": m.schema} for m in [*SCREENS[STORY], BILLABLE]]
)
USES = {
    "Microsoft.VSTS.Common.ValueArea": FieldUse({STORY: 3}, ("Architectural", "Business")),
    "Custom.Billable": FieldUse({TASK: 2}),
    "Custom.Customer": FieldUse({STORY: 2}),
    "Custom.Platforms": FieldUse({STORY: 2}),
    "Custom.MitigationPlan": FieldUse({TASK: 1}),
}


def _plan(field_map: Any = None, uses: dict[str, FieldUse] | None = None) -> FieldPlan:
    return plan_fields(
        field_map=field_map,
        ado_defs=ADO,
        jira_fields=JIRA,
        screens=SCREENS,
        uses=USES if uses is None else uses,
        type_names={STORY: "Story", TASK: "Task"},
    )


# --------------------------------------------------------------------------- suggestions
def test_without_a_map_it_suggests_by_name_and_type_with_value_maps() -> None:
    plan = _plan()
    assert plan.mapped == [] and plan.problems == [] and not plan.explicit
    by_ref = {s.suggestion.ado_field: s for s in plan.suggestions}
    assert set(by_ref) == {
        "Microsoft.VSTS.Common.ValueArea",
        "Custom.Billable",
        "Custom.Customer",
        "Custom.Platforms",
    }
    area = by_ref["Microsoft.VSTS.Common.ValueArea"]
    assert area.values == {"Business": "Business value"}
    assert area.unmatched_values == ("Architectural",)
    assert by_ref["Custom.Billable"].values == {"true": "Yes", "false": "No"}
    assert all(s.suggestion.reason and 0 < s.suggestion.confidence <= 1 for s in plan.suggestions)
    assert plan.unmatched == ["Custom.MitigationPlan"]
    shaped = plan.suggested_field_map()
    assert shaped["Custom.Customer"] == {"field": "customfield_10053", "values": {}}
    json.dumps(shaped)  # sent back as it is


def test_suggestions_sent_back_are_entries_whose_source_is_suggested() -> None:
    plan = _plan(_plan().suggested_field_map())
    assert plan.problems == []
    assert {m.source for m in plan.mapped} == {"suggested"}
    assert {m.ado.reference_name: m.jira.id for m in plan.mapped}["Custom.Billable"] == (
        "customfield_10058"
    )


def test_suggest_values_leaves_ambiguous_and_unknown_values_out() -> None:
    ado = ADO["Microsoft.VSTS.Common.ValueArea"]
    values, left = suggest_values(ado, from_meta(AREA), [AREA, AREA], ["Business", "Technical", ""])
    assert values == {"Business": "Business value"} and left == ("",)
    assert suggest_values(ado, from_meta(CUSTOMER), [CUSTOMER], ["x"]) == ({}, ())


# --------------------------------------------------------------------------- explicit maps
def test_a_good_map_resolves_each_entry_with_its_types_and_value_map() -> None:
    plan = _plan(
        {
            "Microsoft.VSTS.Common.ValueArea": {
                "field": "Value Area",
                "values": {"Business": "Business value", "Architectural": "Technical"},
            },
            "Custom.Customer": "customfield_10053",
            "Custom.RiskScore": "Risk Score",  # no item holds it: nothing suggested it
        }
    )
    assert plan.problems == [] and plan.explicit
    area = next(m for m in plan.mapped if m.ado.reference_name.endswith("ValueArea"))
    # the map agrees with the suggestion: the user accepted it
    assert (area.jira.id, area.jira.kind, area.source) == (
        "customfield_10051",
        "option",
        "suggested",
    )
    score = next(m for m in plan.mapped if m.ado.reference_name == "Custom.RiskScore")
    assert (score.jira.kind, score.source) == ("number", "override")
    assert "Custom.Billable" in plan.unmatched  # not in the map: not carried
    assert {m.field_id for m in plan.metas[STORY]} == {
        "customfield_10051",
        "customfield_10053",
        "customfield_10054",
        "customfield_10062",  # the acceptance criteria field is kept for the rule
    }


def test_a_bad_map_gives_one_problem_per_entry_with_a_code() -> None:
    plan = _plan(
        {
            "Custom.Customer": "No Such Field",
            "Microsoft.VSTS.Common.ValueArea": {"field": "Value Area", "values": {"x": "Blocker"}},
            "Custom.Notes": "Risk Score",
            "Custom.Billable": {"field": "Billable", "bogus": 1},
        }
    )
    codes = sorted((p.ado_field, p.code) for p in plan.problems)
    assert codes == [
        ("Custom.Billable", "unknown-key"),
        ("Custom.Customer", "unknown-jira-field"),
        ("Custom.Notes", "wrong-type"),
        ("Microsoft.VSTS.Common.ValueArea", "option-missing"),
    ]


def test_a_field_missing_from_the_screen_of_a_type_holding_it_is_a_problem() -> None:
    uses = {**USES, "Custom.Customer": FieldUse({STORY: 1, TASK: 4})}
    plan = _plan({"Custom.Customer": "Customer"}, uses)
    assert [(p.code, p.ado_field) for p in plan.problems] == [("not-on-screen", "Custom.Customer")]
    assert "Task" in plan.problems[0].message


def test_a_malformed_map_is_problems_never_an_exception() -> None:
    for raw in (["a list"], {"": "x"}, {"Custom.Customer": 3}, "text"):
        assert _plan(raw).problems, raw


# --------------------------------------------------------------------------- storage
def test_the_field_plan_round_trips_and_an_old_plan_is_marked_legacy() -> None:
    plan = _plan({"Custom.Customer": "Customer", "Custom.Notes": "Risk Score"})
    plan.mapped_users = {"ann@fabrikam.example": "acc-1"}
    stored = json.loads(json.dumps(plan.to_dict()))
    assert FieldPlan.from_dict(stored) == plan
    assert FieldPlan.from_dict(None).legacy
    run = RunPlan(fields=plan)
    assert RunPlan.from_dict(json.loads(json.dumps(run.to_dict()))).fields == plan


def test_field_uses_counts_items_per_type_and_picklist_values() -> None:
    uses = field_uses(
        [
            (STORY, {"Microsoft.VSTS.Common.ValueArea": "Business", "Custom.Customer": ""}),
            (STORY, {"Microsoft.VSTS.Common.ValueArea": "Architectural", "System.Title": "t"}),
            (TASK, {"Custom.Billable": False}),
        ],
        ADO,
    )
    assert uses["Microsoft.VSTS.Common.ValueArea"] == FieldUse(
        {STORY: 2}, ("Architectural", "Business")
    )
    assert uses["Custom.Billable"] == FieldUse({TASK: 1})
    assert "Custom.Customer" not in uses and "System.Title" not in uses


def test_plain_text_multi_values_fit_a_multi_select() -> None:
    assert type_fit(ADO["Custom.Platforms"], "options") > 0
    assert type_fit(ADO["Custom.Platforms"], "labels") > 0


# --------------------------------------------------------------------------- field rules
def _item(fields: dict[str, Any], item_type: str = "User Story") -> WorkItem:
    return WorkItem(
        id=7,
        rev=1,
        type=item_type,
        title="Checkout",
        state="New",
        url="https://dev.azure.com/o/p/_apis/wit/workItems/7",
        fields={
            "System.AreaPath": "P",
            "System.IterationPath": "P",
            "System.Description": "<div>Body</div>",
            **fields,
        },
    )


def _ctx(plan: FieldPlan, type_id: str, users: dict[str, str] | None = None) -> ContentContext:
    return ContentContext(
        ado_web_url="https://dev.azure.com/o/p",
        jira_base_url="https://x.atlassian.net",
        screen_fields={m.field_id for m in SCREENS[type_id]},
        field_rules=PlanFieldRules(plan, type_id, users or {}),
    )


def test_issue_content_fills_mapped_fields_and_notes_what_cannot_be_carried() -> None:
    plan = _plan(
        {
            "Microsoft.VSTS.Common.ValueArea": {"field": "Value Area", "values": {}},
            "Custom.Customer": "Customer",
            "Custom.Platforms": "Platforms",
        }
    )
    item = _item(
        {
            "Microsoft.VSTS.Common.ValueArea": "Architectural",
            "Custom.Customer": "Contoso",
            "Custom.Platforms": "Web; Desktop; iOS",
        }
    )
    out = issue_content(item, _ctx(plan, STORY))
    assert out.fields["customfield_10053"] == "Contoso"
    assert out.fields["customfield_10060"] == [{"id": "100"}, {"id": "101"}]
    assert "customfield_10051" not in out.fields
    assert {"field:Custom.Customer", "field:Custom.Platforms"} <= out.rules
    assert "field:Microsoft.VSTS.Common.ValueArea" not in out.rules
    notes = [n for n in out.notes if n.startswith("field:")]
    assert any("Architectural" in n and n.endswith("not carried") for n in notes)
    assert any("Desktop" in n for n in notes)
    assert {note_rule(n) for n in notes} == {
        "field:Microsoft.VSTS.Common.ValueArea",
        "field:Custom.Platforms",
    }


def test_a_mapped_field_not_on_this_types_screen_is_a_note() -> None:
    plan = _plan({"Custom.Customer": "Customer"})
    out = issue_content(_item({"Custom.Customer": "Contoso"}, "Task"), _ctx(plan, TASK))
    assert "customfield_10053" not in out.fields
    assert any(n.startswith("field:Custom.Customer:") for n in out.notes)


def test_acceptance_criteria_go_to_the_field_when_the_screen_has_it() -> None:
    plan = _plan()
    item = _item({"Microsoft.VSTS.Common.AcceptanceCriteria": "<ul><li>Given x</li></ul>"})
    out = issue_content(item, _ctx(plan, STORY))
    assert "Given x" in adf_to_text(out.fields["customfield_10062"])
    assert_valid_adf(out.fields["customfield_10062"])
    assert "Given x" not in adf_to_text(out.fields["description"])
    assert "acceptance-field" in out.rules


def test_acceptance_criteria_survive_the_description_cut_when_there_is_no_field() -> None:
    plan = _plan()
    long_body = "".join(f"<p>paragraph {i} " + "word " * 40 + "</p>" for i in range(400))
    item = _item(
        {
            "System.Description": long_body,
            "Microsoft.VSTS.Common.AcceptanceCriteria": "<ul><li>Given the end</li></ul>",
        },
        "Task",
    )
    out = issue_content(item, _ctx(plan, TASK))
    text = adf_to_text(out.fields["description"])
    assert "description-cut" in out.rules and "acceptance-description" in out.rules
    assert "Acceptance criteria" in text and "Given the end" in text
    assert_valid_adf(out.fields["description"])


def test_identity_fields_use_the_user_mapping() -> None:
    ado = {**ADO, "Custom.Reviewer": AdoField("Custom.Reviewer", "Reviewer", "identity")}
    reviewer = FieldMeta("customfield_10059", "Reviewer", False, {"type": "user"})
    screens = {STORY: [*SCREENS[STORY], reviewer]}
    plan = plan_fields(
        field_map={"Custom.Reviewer": "Reviewer"},
        ado_defs=ado,
        jira_fields=[from_meta(reviewer)],
        screens=screens,
        uses={"Custom.Reviewer": FieldUse({STORY: 1})},
    )
    plan.mapped_users = {"li@fabrikam.example": "acc-li"}
    person = {"displayName": "Li", "uniqueName": "li@fabrikam.example"}
    ctx = ContentContext(
        ado_web_url="https://dev.azure.com/o/p",
        jira_base_url="https://x.atlassian.net",
        screen_fields={m.field_id for m in screens[STORY]},
        field_rules=PlanFieldRules(plan, STORY, {"li@fabrikam.example": "acc-li"}),
    )
    out = issue_content(_item({"Custom.Reviewer": person}), ctx)
    assert out.fields["customfield_10059"] == {"accountId": "acc-li"}
    assert "user-map" in out.rules
    nobody = {"displayName": "Ann", "uniqueName": "ann@fabrikam.example"}
    out = issue_content(_item({"Custom.Reviewer": nobody}), ctx)
    assert "customfield_10059" not in out.fields
    assert any("user-unmapped" in n for n in out.notes)


# --------------------------------------------------------------------------- report
def test_the_report_gives_entries_suggestions_the_field_map_shape_and_problems() -> None:
    plan = RunPlan(fields=_plan({"Custom.Customer": "Customer", "Custom.Notes": "Risk Score"}))
    section = build_report(plan, {}, {}, status="COMPLETED", phase=1)["fieldMap"]
    assert section["source"] == "override"
    assert section["entries"][0]["adoField"] == "Custom.Customer"
    assert section["entries"][0]["jiraType"] == "string"
    assert [p["code"] for p in section["problems"]] == ["wrong-type"]
    assert section["suggestedFieldMap"]["Custom.Billable"]["field"] == "customfield_10058"
    assert section["suggestions"][0]["reason"]


def test_note_rules_keep_the_field_name() -> None:
    assert note_rule("field:Custom.X: cut to 255 characters") == "field:Custom.X"
    assert note_rule("labels: something") == "labels"
    assert note_rule("no rule here") == "other"
    assert doc(paragraph("x"))  # the builders the rules use stay importable
