"""The field map: parsing, resolving, suggesting, converting; acceptance criteria (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.acceptance import description_with_criteria, place_criteria
from engine.adf_nodes import adf_char_length, doc, heading, panel, paragraph
from engine.content import DESCRIPTION_BUDGET
from engine.fieldconv import ConvertInput, convert_value, mapped_fields
from engine.fieldmap import (
    parse_field_map,
    resolve_field_map,
    suggest_field_map,
    unmatched_fields,
)
from engine.fieldtypes import AdoField, ado_fields, from_meta, jira_fields, jira_kind
from engine.model import FieldMeta, Identity
from tests.engine.adf_schema import assert_valid_adf, specs_path

CF = "com.atlassian.jira.plugin.system.customfieldtypes:"
RISK_OPTIONS = [
    {"id": "1", "value": "High"},
    {"id": "2", "value": "Medium"},
    {"id": "3", "value": "Low"},
]
AREA_OPTIONS = [{"id": "10", "value": "Business"}, {"id": "11", "value": "Architectural"}]
RAW_JIRA = [
    {
        "id": "summary",
        "name": "Summary",
        "custom": False,
        "schema": {"type": "string", "system": "summary"},
    },
    {
        "id": "description",
        "name": "Description",
        "schema": {"type": "string", "system": "description"},
    },
    {
        "id": "labels",
        "name": "Labels",
        "schema": {"type": "array", "items": "string", "system": "labels"},
    },
    {
        "id": "customfield_10100",
        "name": "Risk",
        "custom": True,
        "schema": {"type": "option", "custom": CF + "select"},
    },
    {
        "id": "customfield_10101",
        "name": "Target date",
        "custom": True,
        "schema": {"type": "date", "custom": CF + "datepicker"},
    },
    {
        "id": "customfield_10102",
        "name": "Customer",
        "custom": True,
        "schema": {"type": "string", "custom": CF + "textfield"},
    },
    {
        "id": "customfield_10103",
        "name": "Effort hours",
        "custom": True,
        "schema": {"type": "number", "custom": CF + "float"},
    },
    {
        "id": "customfield_10104",
        "name": "Reviewer",
        "custom": True,
        "schema": {"type": "user", "custom": CF + "userpicker"},
    },
    {
        "id": "customfield_10105",
        "name": "Value area",
        "custom": True,
        "schema": {"type": "array", "items": "option", "custom": CF + "multiselect"},
    },
    {
        "id": "customfield_10106",
        "name": "Notes",
        "custom": True,
        "schema": {"type": "string", "custom": CF + "textarea"},
    },
    {
        "id": "customfield_10107",
        "name": "Deployed at",
        "custom": True,
        "schema": {"type": "datetime", "custom": CF + "datetime"},
    },
    {
        "id": "customfield_10108",
        "name": "Team",
        "custom": True,
        "schema": {"type": "string", "custom": CF + "textfield"},
    },
    {
        "id": "customfield_10109",
        "name": "Team",
        "custom": True,
        "schema": {"type": "string", "custom": CF + "textfield"},
    },
    {
        "id": "customfield_10110",
        "name": "Components used",
        "custom": True,
        "schema": {"type": "array", "items": "string", "custom": CF + "labels"},
    },
    {
        "id": "customfield_10111",
        "name": "Sprint",
        "custom": True,
        "schema": {"type": "array", "items": "json"},
    },
    {"name": "no id"},
    "junk",
]
JIRA = jira_fields(RAW_JIRA)
BY_ID = {f.id: f for f in JIRA}


def meta(fid: str, allowed: list[dict[str, Any]] | None = None) -> FieldMeta:
    f = BY_ID[fid]
    schema = next(r["schema"] for r in RAW_JIRA if isinstance(r, dict) and r.get("id") == fid)
    return FieldMeta(fid, f.name, False, schema, allowed_values=allowed or [])


SCREEN = [
    meta("summary"),
    meta("description"),
    meta("labels"),
    meta("customfield_10100", RISK_OPTIONS),
    meta("customfield_10101"),
    meta("customfield_10102"),
    meta("customfield_10103"),
    meta("customfield_10104"),
    meta("customfield_10105", AREA_OPTIONS),
    meta("customfield_10106"),
    meta("customfield_10107"),
    meta("customfield_10110"),
]
SCREENS = {"Story": SCREEN, "Bug": SCREEN[:4]}
RAW_ADO = [
    {"referenceName": "Custom.Risk", "name": "Risk", "type": "string", "isPicklist": True},
    {"referenceName": "Custom.TargetDate", "name": "Target Date", "type": "dateTime"},
    {"referenceName": "Custom.Customer", "name": "Customer", "type": "string"},
    {"referenceName": "Custom.EffortHours", "name": "Effort Hours", "type": "double"},
    {
        "referenceName": "Custom.Reviewer",
        "name": "Reviewer",
        "type": "identity",
        "isIdentity": True,
    },
    {
        "referenceName": "Microsoft.VSTS.Common.ValueArea",
        "name": "Value Area",
        "type": "string",
        "isPicklist": True,
    },
    {"referenceName": "Custom.Notes", "name": "Notes", "type": "html"},
    {"referenceName": "Custom.DeployedAt", "name": "Deployed At", "type": "dateTime"},
    {"referenceName": "Custom.Flag", "name": "Flag", "type": "boolean"},
    {"referenceName": "Custom.Count", "name": "Count", "type": "integer"},
    {"referenceName": "Custom.Components", "name": "Components Used", "type": "string"},
    {"referenceName": "System.Title", "name": "Title", "type": "string"},
    {
        "referenceName": "Microsoft.VSTS.Common.AcceptanceCriteria",
        "name": "Acceptance Criteria",
        "type": "html",
    },
    {"name": "no reference"},
]
ADO = ado_fields(RAW_ADO)
PEOPLE = {"ana@fabrikam.example": "acc-ana"}


def resolve_user(identity: Identity) -> str | None:
    return PEOPLE.get((identity.unique_name or "").lower())


# --------------------------------------------------------------------------- shapes
@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        ({"type": "string", "system": "description"}, "doc"),
        ({"type": "string", "system": "environment"}, "doc"),
        ({"type": "string", "custom": CF + "textarea"}, "doc"),
        ({"type": "doc"}, "doc"),
        ({"type": "string", "custom": CF + "textfield"}, "string"),
        ({"type": "string", "custom": CF + "url"}, "string"),
        ({"type": "number"}, "number"),
        ({"type": "date"}, "date"),
        ({"type": "datetime"}, "datetime"),
        ({"type": "user"}, "user"),
        ({"type": "array", "items": "user"}, "users"),
        ({"type": "option"}, "option"),
        ({"type": "array", "items": "option"}, "options"),
        ({"type": "array", "items": "string", "system": "labels"}, "labels"),
        ({"type": "array", "items": "string", "custom": CF + "labels"}, "labels"),
        ({"type": "array", "items": "string"}, "strings"),
        ({"type": "array", "items": "json"}, "unsupported"),
        ({"type": "option-with-child"}, "unsupported"),
        ({}, "unsupported"),
    ],
)
def test_jira_kinds(schema: dict[str, Any], kind: str) -> None:
    assert (
        jira_kind(
            schema.get("type", ""),
            schema.get("items", ""),
            schema.get("custom", ""),
            schema.get("system", ""),
        )
        == kind
    )


def test_field_lists_skip_junk() -> None:
    assert "no id" not in {f.name for f in JIRA}
    assert len(ADO) == 13
    assert ADO["Custom.Risk"].value_type == "picklistString"
    assert ADO["Custom.Reviewer"].value_type == "identity"
    assert from_meta(SCREEN[3]).kind == "option"


# --------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("raw", "codes", "entries"),
    [
        (None, [], 0),
        ({}, [], 0),
        ([], ["not-an-object"], 0),
        ({"Custom.Risk": "Risk"}, [], 1),
        ({"Custom.Risk": {"field": "Risk", "values": {"1 - High": "High"}}}, [], 1),
        ({"Custom.Risk": {"jira": "customfield_10100"}}, [], 1),
        ({"": "Risk"}, ["empty-ado-field"], 0),
        ({"Custom.Risk": ""}, ["missing-jira-field"], 0),
        ({"Custom.Risk": {}}, ["missing-jira-field"], 0),
        ({"Custom.Risk": 3}, ["bad-entry"], 0),
        ({"Custom.Risk": None}, ["bad-entry"], 0),
        ({"Custom.Risk": {"field": "Risk", "valeus": {}}}, ["unknown-key"], 1),
        ({"Custom.Risk": {"field": "Risk", "values": ["High"]}}, ["bad-values"], 1),
        (
            {"Custom.Risk": {"field": "Risk", "values": {"a": None, "b": True, "c": "Low"}}},
            ["bad-value-option"] * 2,
            1,
        ),
    ],
)
def test_it_parses_and_validates_the_map(raw: Any, codes: list[str], entries: int) -> None:
    parsed = parse_field_map(raw)
    assert [p.code for p in parsed.problems] == codes
    assert len(parsed.entries) == entries
    assert all(p.message for p in parsed.problems)


def test_numbers_in_value_maps_are_text() -> None:
    (entry,) = parse_field_map({"Custom.Count": {"field": "Risk", "values": {"1": 1}}}).entries
    assert entry.values == {"1": "1"}


# --------------------------------------------------------------------------- resolving
def resolve(raw: Any, screens: dict[str, list[FieldMeta]] | None = None) -> Any:
    return resolve_field_map(parse_field_map(raw), JIRA, screens or SCREENS, ADO)


@pytest.mark.parametrize(
    ("raw", "codes", "resolved"),
    [
        ({"Custom.Risk": "Risk"}, [], {"Custom.Risk": "customfield_10100"}),
        ({"Custom.Risk": "  risk "}, [], {"Custom.Risk": "customfield_10100"}),
        ({"Custom.Risk": "customfield_10100"}, [], {"Custom.Risk": "customfield_10100"}),
        ({"Custom.Risk": "Hazard"}, ["unknown-jira-field"], {}),
        ({"Custom.Customer": "Team"}, ["ambiguous-or-unknown"], {}),
        ({"Custom.Customer": "customfield_10108"}, ["not-on-screen"], {}),
        ({"Custom.Notes": "Effort hours"}, ["wrong-type"], {}),
        ({"Custom.Flag": "Target date"}, ["wrong-type"], {}),
        ({"Custom.Risk": {"field": "Risk", "values": {"1": "Critical"}}}, ["option-missing"], {}),
        (
            {"Custom.Risk": {"field": "Risk", "values": {"1": "high"}}},
            [],
            {"Custom.Risk": "customfield_10100"},
        ),
        ({"Custom.Nope": "Customer"}, ["unknown-ado-field"], {"Custom.Nope": "customfield_10102"}),
        ({"Custom.Customer": "summary"}, ["reserved-field"], {}),
        (
            {"Custom.Customer": "Customer", "Custom.Components": "Customer"},
            ["duplicate-target"],
            {"Custom.Customer": "customfield_10102"},
        ),
    ],
)
def test_it_resolves_against_jira_and_the_screens(
    raw: Any, codes: list[str], resolved: dict[str, str]
) -> None:
    out = resolve(raw)
    expected = ["unknown-jira-field" if c == "ambiguous-or-unknown" else c for c in codes]
    assert [p.code for p in out.problems] == expected, out.problems
    assert {k: v.jira.id for k, v in out.fields.items()} == resolved


def test_two_fields_of_one_name_ask_for_an_id() -> None:
    (problem,) = resolve({"Custom.Customer": "Team"}).problems
    assert "customfield_10108, customfield_10109" in problem.message


def test_screen_types_are_recorded() -> None:
    out = resolve({"Custom.Risk": "Risk", "Custom.Customer": "Customer"})
    assert out.fields["Custom.Risk"].screen_types == ("Bug", "Story")
    assert out.fields["Custom.Customer"].screen_types == ("Story",)


# --------------------------------------------------------------------------- suggesting
def test_it_suggests_custom_fields_by_name_and_type() -> None:
    used = [ADO[k] for k in ADO]
    suggestions = {s.ado_field: s for s in suggest_field_map(used, SCREEN)}
    assert {k: s.jira_field_id for k, s in suggestions.items()} == {
        "Custom.Risk": "customfield_10100",
        "Custom.TargetDate": "customfield_10101",
        "Custom.Customer": "customfield_10102",
        "Custom.EffortHours": "customfield_10103",
        "Custom.Reviewer": "customfield_10104",
        "Microsoft.VSTS.Common.ValueArea": "customfield_10105",
        "Custom.Notes": "customfield_10106",
        "Custom.DeployedAt": "customfield_10107",
        "Custom.Components": "customfield_10110",
    }
    risk = suggestions["Custom.Risk"]
    assert risk.confidence == 1.0
    assert "picklistString into option" in risk.reason
    assert 0 < suggestions["Custom.Components"].confidence < 1
    # System fields and the fields the content rules carry are never suggested
    assert "System.Title" not in suggestions
    assert "Microsoft.VSTS.Common.AcceptanceCriteria" not in suggestions


def test_a_suggestion_needs_a_compatible_type() -> None:
    html_only = [AdoField("Custom.Effort", "Effort Hours", "html")]
    assert suggest_field_map(html_only, SCREEN) == []


def test_each_jira_field_is_suggested_once() -> None:
    twins = [
        AdoField("Custom.Risk", "Risk", "string"),
        AdoField("Custom.RiskLevel", "Risk", "string", True),
    ]
    (only,) = suggest_field_map(twins, SCREEN)
    assert only.ado_field == "Custom.RiskLevel"  # the picklist fits an option better


def test_suggestions_resolve_cleanly() -> None:
    suggestions = suggest_field_map(list(ADO.values()), SCREEN)
    raw = {s.ado_field: s.jira_field_id for s in suggestions}
    assert resolve(raw).problems == []


# --------------------------------------------------------------------------- converting
def convert(
    ref: str, fid: str, value: Any, values: dict[str, str] | None = None, **over: Any
) -> Any:
    screen_meta = next((m for m in SCREEN if m.field_id == fid), None)
    inp = ConvertInput(
        ADO[ref], BY_ID[fid], values or {}, over.get("meta", screen_meta), resolve_user
    )
    return convert_value(value, inp)


@pytest.mark.parametrize(
    ("ref", "fid", "value", "expected"),
    [
        ("Custom.Customer", "customfield_10102", "  Contoso \n Ltd ", "Contoso Ltd"),
        ("Custom.Notes", "customfield_10102", "<p>Hello <b>world</b></p>", "Hello world"),
        (
            "Custom.Reviewer",
            "customfield_10102",
            {"displayName": "Ana", "uniqueName": "a@x.example"},
            "Ana (a@x.example)",
        ),
        ("Custom.EffortHours", "customfield_10103", 2.5, 2.5),
        ("Custom.EffortHours", "customfield_10103", "3", 3),
        ("Custom.Count", "customfield_10103", 7, 7),
        ("Custom.TargetDate", "customfield_10101", "2024-05-01T23:30:00.1234567Z", "2024-05-01"),
        ("Custom.TargetDate", "customfield_10101", "2024-05-01T23:30:00-02:00", "2024-05-02"),
        (
            "Custom.DeployedAt",
            "customfield_10107",
            "2024-05-01T10:20:30.4567Z",
            "2024-05-01T10:20:30.456+0000",
        ),
        (
            "Custom.Reviewer",
            "customfield_10104",
            {"displayName": "Ana", "uniqueName": "ana@fabrikam.example"},
            {"accountId": "acc-ana"},
        ),
        (
            "Custom.Reviewer",
            "customfield_10104",
            "Ana Silva <ana@fabrikam.example>",
            {"accountId": "acc-ana"},
        ),
        ("Custom.Risk", "customfield_10100", "high", {"id": "1"}),
        (
            "Microsoft.VSTS.Common.ValueArea",
            "customfield_10105",
            "Business; architectural",
            [{"id": "10"}, {"id": "11"}],
        ),
        ("Custom.Components", "customfield_10110", "web app; API ;", ["web-app", "API"]),
        ("Custom.Customer", "labels", "one;two", ["one", "two"]),
        ("Custom.Flag", "customfield_10102", True, "Yes"),
    ],
)
def test_it_converts_by_both_types(ref: str, fid: str, value: Any, expected: Any) -> None:
    done = convert(ref, fid, value)
    assert done.problem is None, done.problem
    assert done.value == expected


def test_value_maps_pick_the_option() -> None:
    assert convert("Custom.Risk", "customfield_10100", "1 - High", {"1 - High": "High"}).value == {
        "id": "1"
    }
    assert convert("Custom.Count", "customfield_10100", 2, {"2": "Medium"}).value == {"id": "2"}


def test_without_allowed_values_the_option_goes_by_value() -> None:
    done = convert("Custom.Risk", "customfield_10100", "Extreme", meta=None)
    assert done.value == {"value": "Extreme"}


@pytest.mark.parametrize(
    ("ref", "fid", "value", "code"),
    [
        ("Custom.Risk", "customfield_10100", "Critical", "option-missing"),
        ("Microsoft.VSTS.Common.ValueArea", "customfield_10105", "Nope; Nada", "option-missing"),
        (
            "Custom.Reviewer",
            "customfield_10104",
            {"displayName": "Zed", "uniqueName": "zed@x.example"},
            "user-unmapped",
        ),
        ("Custom.Reviewer", "customfield_10104", 42, "wrong-type"),
        ("Custom.EffortHours", "customfield_10103", "lots", "wrong-type"),
        ("Custom.Flag", "customfield_10103", True, "wrong-type"),
        ("Custom.TargetDate", "customfield_10101", "next tuesday", "wrong-type"),
        ("Custom.Notes", "customfield_10103", "<p>1</p>", "wrong-type"),
        ("Custom.Customer", "customfield_10111", "x", "wrong-type"),
        ("Custom.EffortHours", "customfield_10103", "1e999999", "wrong-type"),
    ],
)
def test_bad_values_are_problems_not_exceptions(ref: str, fid: str, value: Any, code: str) -> None:
    done = convert(ref, fid, value)
    assert done.value is None
    assert done.problem is not None and done.problem.code == code
    assert done.problem.ado_field == ref


def test_a_partly_known_multi_value_keeps_what_it_can() -> None:
    done = convert("Microsoft.VSTS.Common.ValueArea", "customfield_10105", "Business;Nope")
    assert done.value == [{"id": "10"}]
    assert done.notes and "Nope" in done.notes[0]


def test_empty_values_set_nothing() -> None:
    assert convert("Custom.Customer", "customfield_10102", None).value is None
    assert convert("Custom.Customer", "customfield_10102", "").problem is None


def test_long_strings_are_cut_with_a_note() -> None:
    done = convert("Custom.Customer", "customfield_10102", "word " * 100)
    assert len(done.value) == 255 and done.value.endswith("…")
    assert done.notes == ("cut to 255 characters",)


@pytest.mark.parametrize(
    ("ref", "value"),
    [
        ("Custom.Notes", "<h1>Title</h1><ul><li>one</li></ul><table><tr><td>x</td></tr></table>"),
        ("Custom.Notes", "<p>" + "big text " * 8000 + "</p>" * 3),
        ("Custom.Customer", "line one\nline two"),
        ("Custom.Notes", "<<<>>><script>x</script>"),
    ],
)
def test_doc_fields_get_valid_adf(ref: str, value: Any) -> None:
    done = convert(ref, "customfield_10106", value)
    assert done.problem is None
    assert_valid_adf(done.value)
    assert adf_char_length(done.value) <= DESCRIPTION_BUDGET


def test_mapped_fields_for_one_item() -> None:
    resolved = resolve(
        {
            "Custom.Risk": {"field": "Risk", "values": {"1 - High": "High"}},
            "Custom.Customer": "Customer",
            "Custom.Reviewer": "Reviewer",
            "Custom.TargetDate": "Target date",
        }
    ).fields
    item = {
        "Custom.Risk": "1 - High",
        "Custom.Customer": "Contoso",
        "Custom.Reviewer": {"displayName": "Zed", "uniqueName": "zed@x.example"},
    }
    values, problems, _ = mapped_fields(item, resolved, SCREEN, resolve_user)
    assert values == {"customfield_10100": {"id": "1"}, "customfield_10102": "Contoso"}
    assert [(p.code, p.ado_field) for p in problems] == [("user-unmapped", "Custom.Reviewer")]
    # a Bug's screen lacks Customer: a problem for that item, not a crash
    values, problems, _ = mapped_fields(item, resolved, SCREENS["Bug"], resolve_user)
    assert values == {"customfield_10100": {"id": "1"}}
    assert ("not-on-screen", "Custom.Customer") in [(p.code, p.ado_field) for p in problems]


def test_the_official_fields_example_reads() -> None:
    path = specs_path("ado-wit-7.1-httpExamples", "fields", "GET__wit_fields.json")
    body = json.loads(path.read_text(encoding="utf-8-sig"))["responses"]["200"]["body"]
    fields = ado_fields(body["value"])
    assert fields["System.IterationPath"].type == "treePath"
    assert suggest_field_map(fields.values(), SCREEN) is not None


# --------------------------------------------------------------------------- acceptance criteria
CRITERIA = "<ul><li>Given a user</li><li>When they log in</li><li>Then it works</li></ul>"
AC_DOC = FieldMeta(
    "customfield_10200", "Acceptance Criteria", False, {"type": "string", "custom": CF + "textarea"}
)
AC_LINE = FieldMeta(
    "customfield_10201",
    "acceptance  criteria",
    False,
    {"type": "string", "custom": CF + "textfield"},
)


def test_criteria_fill_a_field_of_that_name() -> None:
    placed = place_criteria(CRITERIA, [*SCREEN, AC_DOC])
    assert placed is not None and placed.field_id == "customfield_10200"
    assert_valid_adf(placed.value)
    assert placed.blocks == []
    line = place_criteria(CRITERIA, [AC_LINE])
    assert line is not None and line.value == "- Given a user - When they log in - Then it works"


def test_without_a_field_criteria_go_to_the_description_and_survive_the_cut() -> None:
    placed = place_criteria(CRITERIA, SCREEN)
    assert placed is not None and placed.field_id is None
    assert placed.blocks[0] == heading("Acceptance criteria", 3)
    body = [paragraph("filler " * 400) for _ in range(40)]  # far over the budget
    migration = panel([paragraph("Migrated from Azure DevOps")])
    note = panel([paragraph("cut")], "warning")
    document, cut = description_with_criteria(body, placed, [migration], note)
    assert cut
    assert_valid_adf(document)
    assert adf_char_length(document) <= DESCRIPTION_BUDGET
    text = json.dumps(document)
    assert "Then it works" in text and "Migrated from Azure DevOps" in text
    assert document["content"][-1] == migration


def test_huge_criteria_are_capped_to_their_share() -> None:
    huge = "<p>" + "criterion " * 2000 + "</p>" * 10
    placed = place_criteria("".join([huge] * 5), SCREEN)
    assert placed is not None and placed.cut and placed.full_text
    size = adf_char_length(doc(*placed.blocks))
    assert size <= DESCRIPTION_BUDGET // 2 + 10
    document, _ = description_with_criteria([paragraph("body")], placed, [], paragraph("cut"))
    assert_valid_adf(document)
    assert adf_char_length(document) <= DESCRIPTION_BUDGET


def test_no_criteria_no_placement() -> None:
    assert place_criteria("", SCREEN) is None
    assert place_criteria("   ", SCREEN) is None
    document, cut = description_with_criteria([paragraph("x")], None, [], paragraph("cut"))
    assert not cut and document == doc(paragraph("x"))


def test_value_maps_match_ado_values_case_insensitively() -> None:
    done = convert("Custom.Risk", "customfield_10100", "1 - HIGH", {"1 - High": "Low"})
    assert done.value == {"id": "3"}


HOSTILE_VALUES: list[Any] = [
    None,
    0,
    -1,
    2**80,
    float("nan"),
    float("-inf"),
    True,
    "",
    " ",
    ";;;",
    "\x00\ud800",
    "<" * 50,
    "<script>alert(1)</script>",
    "9999-99-99T99:99:99Z",
    "0001-01-01T00:00:00+14:00",
    "x" * 40_000,
    [],
    [None, {"displayName": ""}],
    {},
    {"displayName": "Ana", "uniqueName": "ana@fabrikam.example"},
    {"weird": object()},
    object(),
]


@pytest.mark.parametrize("ref", sorted(ADO))
def test_no_value_of_any_type_into_any_field_raises(ref: str) -> None:
    for fid in BY_ID:
        for value in HOSTILE_VALUES:
            screen_meta = next((m for m in SCREEN if m.field_id == fid), None)
            done = convert_value(
                value, ConvertInput(ADO[ref], BY_ID[fid], {}, screen_meta, resolve_user)
            )
            assert (done.value is None) or (done.problem is None)
            if done.problem is None and BY_ID[fid].kind == "doc" and done.value is not None:
                assert adf_char_length(done.value) <= DESCRIPTION_BUDGET


def test_unmatched_custom_fields_are_listed() -> None:
    used = list(ADO.values())
    assert unmatched_fields(used, suggest_field_map(used, SCREEN)) == [
        "Custom.Count",
        "Custom.Flag",
    ]


def test_a_screen_field_missing_from_the_fields_list_still_resolves() -> None:
    extra = FieldMeta("customfield_10300", "Story point estimate", False, {"type": "number"})
    out = resolve_field_map(
        parse_field_map({"Custom.EffortHours": "story point estimate"}),
        JIRA,
        {"Story": [extra]},
        ADO,
    )
    assert out.problems == []
    assert out.fields["Custom.EffortHours"].jira.id == "customfield_10300"
