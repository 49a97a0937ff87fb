"""Content fidelity rules: one test group per rule; every ADF output is schema-checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine.adf import ConvertContext
from engine.adf_nodes import adf_char_length, adf_to_text, doc, paragraph
from engine.comments import (
    comment_body,
    comment_content,
    comment_is_migratable,
    comment_marker_of,
    markdown_blocks,
)
from engine.content import (
    DESCRIPTION_BUDGET,
    ContentContext,
    IssueContent,
    fit_to_limit,
    inline_attachment_ids,
    issue_content,
    overflow_file_name,
    user_emails,
)
from engine.itemvalues import (
    area_label,
    format_date,
    identity_of,
    priority_name,
    story_points,
    summary_text,
    tag_labels,
)
from engine.model import Comment, Identity, WorkItem
from tests.engine.adf_schema import assert_valid_adf, specs_path

ADO = "https://dev.azure.com/fabrikam/Fabrikam-Fiber-Git"
JIRA = "https://fab.atlassian.net"
GUID = "4b1c8f2e-9a0d-4e3f-8b7a-6c5d4e3f2a1b"
JAMAL = {
    "displayName": "Jamal Hartnett",
    "uniqueName": "Jamal@Fabrikam.com",
    "id": "d291b0c4-a05c-4ea6-8df1-4b41d5f39eff",
}
NORMAL = {"displayName": "Normal Paulk", "uniqueName": "normal@fabrikam.com", "id": "n-1"}
SCREEN = {
    "summary",
    "description",
    "labels",
    "priority",
    "assignee",
    "reporter",
    "components",
    "customfield_10016",
}
FIXTURES = Path(__file__).parent / "fixtures_html"


def context(**changes: Any) -> ContentContext:
    base = ContentContext(
        ado_web_url=ADO,
        jira_base_url=JIRA,
        story_points_field="customfield_10016",
        screen_fields=set(SCREEN),
        users={"jamal@fabrikam.com": "acc-jamal"},
        crosswalk={301: "FAB-1"},
        attachment_urls={GUID: f"{JIRA}/rest/api/3/attachment/content/10001"},
    )
    return replace(base, **changes)


def work_item(**fields: Any) -> WorkItem:
    values: dict[str, Any] = {
        "System.Title": "Sign in with a Microsoft account",
        "System.WorkItemType": "User Story",
        "System.State": "Active",
        "System.AreaPath": "Fabrikam-Fiber-Git\\Website",
        "System.IterationPath": "Fabrikam-Fiber-Git\\Sprint 3",
        "System.CreatedBy": JAMAL,
        "System.CreatedDate": "2017-09-04T02:08:16.6Z",
        "System.ChangedDate": "2017-09-05T10:00:00.1234567Z",
        "System.Description": "<div>Let users sign in.</div>",
    }
    values.update(fields)
    values = {k: v for k, v in values.items() if v is not None}
    return WorkItem(
        id=299,
        rev=3,
        type=values["System.WorkItemType"],
        title=values["System.Title"],
        state=values["System.State"],
        url=f"{ADO}/_apis/wit/workItems/299",
        fields=values,
    )


def content(item: WorkItem | None = None, **ctx_changes: Any) -> IssueContent:
    """issue_content with every ADF field schema-checked."""
    result = issue_content(item or work_item(), context(**ctx_changes))
    for name in ("description", "environment"):
        if name in result.fields:
            assert_valid_adf(result.fields[name])
    assert not {"project", "issuetype", "parent"} & set(result.fields)
    return result


def description_text(result: IssueContent) -> str:
    return adf_to_text(result.fields["description"])


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for child in node.get("content", []):
            yield from walk(child)


# --------------------------------------------------------------------------- summary
def test_a_short_title_is_the_summary() -> None:
    assert summary_text("  Fix\nthe   login\tpage ", 1) == ("Fix the login page", False)


def test_a_long_title_is_cut_on_a_word_boundary_with_an_ellipsis() -> None:
    title = " ".join(["word"] * 100)
    summary, cut = summary_text(title, 1)
    assert cut
    assert len(summary) <= 255
    assert summary.endswith("word…")


def test_a_long_title_without_spaces_is_cut_hard() -> None:
    summary, cut = summary_text("x" * 400, 1)
    assert cut and len(summary) == 255 and summary.endswith("…")


def test_an_empty_title_gets_a_placeholder() -> None:
    assert summary_text(" \n", 42) == ("(untitled ADO work item 42)", False)


def test_a_cut_title_is_kept_whole_at_the_top_of_the_description() -> None:
    title = "Long " * 80
    result = content(work_item(**{"System.Title": title}))
    assert "summary-cut" in result.rules
    first = result.fields["description"]["content"][0]
    assert adf_to_text(doc(first)) == "Full title: " + title.strip()


# --------------------------------------------------------------------------- description
def test_the_description_comes_from_system_description() -> None:
    result = content()
    assert description_text(result).startswith("Let users sign in.")
    assert "description" in result.rules


def test_a_bug_takes_its_text_from_repro_steps_without_an_extra_heading() -> None:
    item = work_item(
        **{
            "System.WorkItemType": "Bug",
            "System.Description": None,
            "Microsoft.VSTS.TCM.ReproSteps": "<p>step 1</p><p>step 2</p>",
        }
    )
    result = content(item)
    assert description_text(result).startswith("step 1\n\nstep 2")
    assert "repro-steps" in result.rules


def test_repro_steps_get_a_heading_when_there_is_also_a_description() -> None:
    item = work_item(**{"Microsoft.VSTS.TCM.ReproSteps": "<p>step 1</p>"})
    assert "### Repro steps\n\nstep 1" in description_text(content(item))


def test_system_info_goes_under_a_heading_when_environment_is_not_on_the_screen() -> None:
    item = work_item(**{"Microsoft.VSTS.TCM.SystemInfo": "<div>Windows 11</div>"})
    result = content(item)
    assert "### System info\n\nWindows 11" in description_text(result)
    assert "environment" not in result.fields


def test_system_info_fills_environment_when_it_is_on_the_screen() -> None:
    item = work_item(**{"Microsoft.VSTS.TCM.SystemInfo": "<div>Windows 11</div>"})
    result = content(item, screen_fields=SCREEN | {"environment"})
    assert adf_to_text(result.fields["environment"]) == "Windows 11"
    assert "System info" not in description_text(result)


def test_acceptance_criteria_are_appended_under_a_heading() -> None:
    item = work_item(**{"Microsoft.VSTS.Common.AcceptanceCriteria": "<ul><li>works</li></ul>"})
    result = content(item)
    assert "Let users sign in.\n\n### Acceptance criteria\n\n- works" in description_text(result)
    assert "acceptance-criteria" in result.rules


def test_the_migration_panel_says_where_the_item_came_from() -> None:
    item = work_item(**{"System.AssignedTo": NORMAL})
    result = content(item)
    panel = result.fields["description"]["content"][-1]
    assert panel["type"] == "panel" and panel["attrs"]["panelType"] == "info"
    plain = adf_to_text(doc(panel))
    for expected in (
        "Migrated from Azure DevOps: User Story 299",
        "State: Active",
        "Created by: Jamal Hartnett (jamal@fabrikam.com)",
        "Created: 2017-09-04 02:08 UTC",
        "Assigned to: Normal Paulk (normal@fabrikam.com)",
        "Changed: 2017-09-05 10:00 UTC",
        "Area path: Fabrikam-Fiber-Git\\Website",
        "Iteration path: Fabrikam-Fiber-Git\\Sprint 3",
    ):
        assert expected in plain
    hrefs = [
        m["attrs"]["href"] for n in walk(panel) for m in n.get("marks", []) if m["type"] == "link"
    ]
    assert hrefs == [f"{ADO}/_workitems/edit/299"]


def test_an_item_without_any_text_still_gets_the_panel() -> None:
    result = content(work_item(**{"System.Description": None}))
    assert [b["type"] for b in result.fields["description"]["content"]] == ["panel"]


def test_an_oversized_description_is_cut_at_a_block_boundary_with_a_note() -> None:
    html = "".join(f"<p>paragraph {n} " + "lorem ipsum " * 40 + "</p>" for n in range(200))
    result = content(work_item(**{"System.Description": html}))
    description = result.fields["description"]
    assert adf_char_length(description) <= DESCRIPTION_BUDGET
    kinds = [b["type"] for b in description["content"]]
    assert kinds[-2:] == ["panel", "panel"]  # the cut note, then the migration panel
    assert overflow_file_name(299) in adf_to_text(doc(description["content"][-2]))
    assert "description-cut" in result.rules
    assert result.overflow_text is not None and "paragraph 199" in result.overflow_text
    assert any("cut" in note for note in result.notes)


def test_fit_to_limit_keeps_a_document_that_fits() -> None:
    body = [paragraph("a")]
    assert fit_to_limit(body, [], paragraph("note")) == (doc(*body), False)


def test_the_description_is_not_set_when_it_is_not_on_the_screen() -> None:
    result = content(screen_fields=SCREEN - {"description"})
    assert "description" not in result.fields
    assert any("description" in note for note in result.notes)


# --------------------------------------------------------------------------- conversion hooks
def test_inline_images_use_the_uploaded_attachment_url() -> None:
    src = f"{ADO}/_apis/wit/attachments/{GUID.upper()}?fileName=shot.png"
    result = content(work_item(**{"System.Description": f'<div><img src="{src}"></div>'}))
    media = [n for n in walk(result.fields["description"]) if n["type"] == "media"]
    assert media[0]["attrs"]["url"] == f"{JIRA}/rest/api/3/attachment/content/10001"
    assert result.inline_images == [GUID]
    assert "inline-image" in result.rules


def test_inline_images_not_uploaded_yet_are_link_text() -> None:
    src = f"{ADO}/_apis/wit/attachments/{GUID}?fileName=shot.png"
    result = content(work_item(**{"System.Description": f'<img src="{src}">'}), attachment_urls={})
    assert "[image: shot.png]" in description_text(result)
    assert result.inline_images == [GUID]


def test_mentions_of_mapped_people_become_mentions() -> None:
    html = f'<a href="#" data-vss-mention="version:2.0,{JAMAL["id"]}">@Jamal Hartnett</a>'
    result = content(work_item(**{"System.Description": html}))
    mentions = [n for n in walk(result.fields["description"]) if n["type"] == "mention"]
    assert mentions == [
        {"type": "mention", "attrs": {"id": "acc-jamal", "text": "@Jamal Hartnett"}}
    ]


def test_mentions_resolve_through_identity_emails_and_unmapped_ones_are_noted() -> None:
    first, second = "aaaaaaaa-0000-0000-0000-000000000001", "aaaaaaaa-0000-0000-0000-000000000002"
    html = (
        f'<a href="#" data-vss-mention="version:2.0,{first}">@Jamal</a> '
        f'<a href="#" data-vss-mention="version:2.0,{second}">@Ghost</a>'
    )
    emails = {first: "jamal@fabrikam.com"}
    result = content(work_item(**{"System.Description": html}), identity_emails=emails)
    assert [n["type"] for n in walk(result.fields["description"])].count("mention") == 1
    assert "@Ghost" in description_text(result)
    assert "mention-as-text" in result.rules
    assert any("@Ghost" in note for note in result.notes)


def test_references_to_migrated_items_become_jira_keys() -> None:
    url = f"{ADO}/_workitems/edit/301"
    html = f'<div>See #301 and #302 and <a href="{url}">{url}</a></div>'
    result = content(work_item(**{"System.Description": html}))
    assert description_text(result).startswith("See FAB-1 and #302 and FAB-1")
    assert "work-item-ref" in result.rules


# --------------------------------------------------------------------------- priority
@pytest.mark.parametrize(("ado", "jira"), [(1, "Highest"), (2, "High"), (3, "Medium"), (4, "Low")])
def test_priorities_map_by_position(ado: int, jira: str) -> None:
    assert priority_name(ado, ["Highest", "High", "Medium", "Low", "Lowest"]) == jira


def test_priorities_clamp_to_a_short_list_and_refuse_nonsense() -> None:
    assert priority_name(4, ["P1", "P2"]) == "P2"
    assert priority_name("2 - High", ["P1", "P2"]) == "P2"
    assert priority_name(0, ["P1"]) is None
    assert priority_name(5, ["P1"]) is None
    assert priority_name("x", ["P1"]) is None
    assert priority_name(1, []) is None


def test_priority_is_set_only_when_on_the_screen() -> None:
    item = work_item(**{"Microsoft.VSTS.Common.Priority": 2})
    assert content(item).fields["priority"] == {"name": "High"}
    hidden = content(item, screen_fields=SCREEN - {"priority"})
    assert "priority" not in hidden.fields and hidden.notes


def test_an_unmappable_priority_is_noted() -> None:
    result = content(work_item(**{"Microsoft.VSTS.Common.Priority": 9}))
    assert "priority" not in result.fields
    assert any("priority" in note for note in result.notes)


# --------------------------------------------------------------------------- story points
def test_story_points_prefer_story_points_then_effort_then_original_estimate() -> None:
    fields: dict[str, Any] = {
        "Microsoft.VSTS.Scheduling.Effort": 8,
        "Microsoft.VSTS.Scheduling.OriginalEstimate": 2.5,
    }
    assert story_points(fields) == (8, "Microsoft.VSTS.Scheduling.Effort")
    fields["Microsoft.VSTS.Scheduling.StoryPoints"] = "3"
    assert story_points(fields) == (3, "Microsoft.VSTS.Scheduling.StoryPoints")
    estimate_only = {"Microsoft.VSTS.Scheduling.OriginalEstimate": 2.5}
    assert story_points(estimate_only) == (2.5, "Microsoft.VSTS.Scheduling.OriginalEstimate")
    assert story_points({"Microsoft.VSTS.Scheduling.StoryPoints": "n/a"}) is None


def test_story_points_go_to_the_configured_field() -> None:
    item = work_item(**{"Microsoft.VSTS.Scheduling.StoryPoints": 5.0})
    assert content(item).fields["customfield_10016"] == 5
    assert (
        "customfield_10016"
        not in content(item, screen_fields=SCREEN - {"customfield_10016"}).fields
    )
    unset = content(item, story_points_field=None)
    assert not any(k.startswith("customfield") for k in unset.fields) and unset.notes


# --------------------------------------------------------------------------- labels and area
def test_tags_become_labels_with_the_migration_label() -> None:
    assert tag_labels("Tag1; needs  review ;Tag1; ; UI") == ["Tag1", "needs-review", "UI"]
    item = work_item(**{"System.Tags": "Tag1; Tag2"})
    labels = content(item).fields["labels"]
    assert labels == [
        "Tag1",
        "Tag2",
        "ado-299",
        "area-Fabrikam-Fiber-Git-Website",
        "iteration-Fabrikam-Fiber-Git-Sprint-3",
    ]


def test_the_migration_label_is_always_there() -> None:
    assert "ado-299" in content().fields["labels"]


def test_area_becomes_a_component_when_one_is_known() -> None:
    result = content(area_as="component", components={"Fabrikam-Fiber-Git\\Website": "10500"})
    assert result.fields["components"] == [{"id": "10500"}]
    assert not any(label.startswith("area-") for label in result.fields["labels"])


def test_area_without_a_component_falls_back_to_a_label() -> None:
    result = content(area_as="component", components={})
    assert "area-Fabrikam-Fiber-Git-Website" in result.fields["labels"]
    assert any("no component" in note for note in result.notes)


def test_area_labels_have_no_spaces() -> None:
    assert area_label("Team A\\Back end") == "area-Team-A-Back-end"
    assert area_label("") is None


def test_labels_are_not_set_when_not_on_the_screen() -> None:
    result = content(screen_fields=SCREEN - {"labels"})
    assert "labels" not in result.fields
    assert any("labels" in note for note in result.notes)


# --------------------------------------------------------------------------- people
def test_a_mapped_assignee_and_reporter_are_set() -> None:
    item = work_item(**{"System.AssignedTo": JAMAL})
    result = content(item)
    assert result.fields["assignee"] == {"accountId": "acc-jamal"}
    assert result.fields["reporter"] == {"accountId": "acc-jamal"}


def test_an_unmapped_assignee_is_noted_and_named_in_the_panel() -> None:
    result = content(work_item(**{"System.AssignedTo": NORMAL}))
    assert "assignee" not in result.fields
    assert "assignee-unmapped" in result.rules
    assert any("Normal Paulk" in note for note in result.notes)
    assert "Assigned to: Normal Paulk" in description_text(result)


def test_people_are_not_set_when_not_on_the_screen() -> None:
    item = work_item(**{"System.AssignedTo": JAMAL})
    result = content(item, screen_fields=SCREEN - {"assignee", "reporter"})
    assert "assignee" not in result.fields and "reporter" not in result.fields


def test_identities_parse_from_refs_and_from_text() -> None:
    assert identity_of(JAMAL) == Identity("Jamal Hartnett", "Jamal@Fabrikam.com", JAMAL["id"])
    assert identity_of("Jamal Hartnett <fabrikamfiber4@hotmail.com>") == Identity(
        "Jamal Hartnett", "fabrikamfiber4@hotmail.com"
    )
    assert identity_of("") is None and identity_of(None) is None


def test_user_emails_lists_assignee_and_creator_lower_cased() -> None:
    item = work_item(**{"System.AssignedTo": "Normal Paulk <Normal@Fabrikam.com>"})
    assert user_emails(item) == {"jamal@fabrikam.com", "normal@fabrikam.com"}


def test_inline_attachment_ids_reads_img_sources() -> None:
    html = (
        f'<img src="{ADO}/_apis/wit/attachments/{GUID.upper()}?fileName=a.png">'
        f'<img src="{ADO}/_apis/wit/attachments/{GUID}"><img src="https://x.example/b.png">'
    )
    assert inline_attachment_ids(html) == [GUID]
    assert inline_attachment_ids("") == []


def test_dates_format_in_utc_and_odd_values_pass_through() -> None:
    assert format_date("2019-01-21T20:12:14.683Z") == "2019-01-21 20:12 UTC"
    assert format_date("2019-01-21T22:12:14.1234567+02:00") == "2019-01-21 20:12 UTC"
    assert format_date("yesterday") == "yesterday"


# --------------------------------------------------------------------------- comments
def comment(**changes: Any) -> Comment:
    base = Comment(
        id=45,
        work_item_id=299,
        text="<div>Johnnie is taking <b>this</b> over, see #301.</div>",
        created_by=Identity("Jamal Hartnett", "jamal@fabrikam.com", JAMAL["id"]),
        created_date="2019-01-21T20:12:14.683Z",
        modified_date="2019-01-21T20:12:14.683Z",
    )
    return replace(base, **changes)


def checked_body(c: Comment, ctx: ContentContext | None = None) -> dict[str, Any]:
    body = comment_body(c, ctx or context())
    assert_valid_adf(body)
    return body


def test_a_comment_starts_with_the_original_author_and_date() -> None:
    body = checked_body(comment())
    assert adf_to_text(body) == (
        "Originally by Jamal Hartnett on 2019-01-21 20:12 UTC · ADO comment 45\n\n"
        "Johnnie is taking this over, see FAB-1."
    )


def test_the_comment_header_carries_a_marker_a_run_can_read_back() -> None:
    body = checked_body(comment(modified_date="2019-01-22T08:00:00Z", version=2))
    assert comment_marker_of(body) == "45"
    # a comment whose first line merely mentions a marker later on is not one of ours
    other = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [{"type": "text", "text": "see ADO comment 45 for details"}],
            }
        ],
    }
    assert comment_marker_of(other) is None
    assert comment_marker_of({"type": "doc", "version": 1, "content": []}) is None
    assert comment_marker_of("not a document") is None


def test_an_edited_comment_says_when() -> None:
    body = checked_body(comment(modified_date="2019-01-22T08:00:00Z", version=2))
    assert adf_to_text(body).startswith(
        "Originally by Jamal Hartnett on 2019-01-21 20:12 UTC (edited 2019-01-22 08:00 UTC)"
    )


def test_a_markdown_comment_keeps_lines_and_links_urls() -> None:
    text = f"First line\nsecond https://example.org/x.\n\n#301 and @<{JAMAL['id']}>"
    body = checked_body(comment(text=text, format="markdown"))
    paragraphs = body["content"][1:]
    assert [n["type"] for n in paragraphs[0]["content"]] == [
        "text",
        "hardBreak",
        "text",
        "text",
        "text",
    ]
    assert paragraphs[0]["content"][3]["marks"][0]["attrs"]["href"] == "https://example.org/x"
    assert [n["type"] for n in paragraphs[1]["content"]] == ["text", "text", "mention"]


def test_markdown_blocks_of_nothing_is_nothing() -> None:
    assert markdown_blocks("\n\n \n", ConvertContext()) == []


def test_an_oversized_comment_is_cut_with_a_note() -> None:
    huge = "".join(f"<p>{n} " + "text " * 100 + "</p>" for n in range(200))
    result = comment_content(comment(text=huge), context())
    assert_valid_adf(result.body)
    assert adf_char_length(result.body) <= DESCRIPTION_BUDGET
    assert "comment-cut" in result.rules and result.overflow_text


def test_deleted_comments_are_not_migrated() -> None:
    assert comment_is_migratable(comment())
    assert not comment_is_migratable(comment(is_deleted=True))


# --------------------------------------------------------------------------- ADO examples
def example(*parts: str) -> Any:
    return json.loads(
        specs_path("ado-wit-7.1-httpExamples", *parts).read_text(encoding="utf-8-sig")
    )


def example_comments() -> list[dict[str, Any]]:
    root = specs_path("ado-wit-7.1-httpExamples", "comments")
    found: list[dict[str, Any]] = []
    for path in sorted(root.glob("*.json")):
        found.extend(_dicts_with(json.loads(path.read_text(encoding="utf-8-sig")), "createdBy"))
    return [c for c in found if "text" in c]


def _dicts_with(node: Any, key: str) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if key in node:
            yield node
        for value in node.values():
            yield from _dicts_with(value, key)
    elif isinstance(node, list):
        for value in node:
            yield from _dicts_with(value, key)


def test_every_example_comment_gives_a_valid_body() -> None:
    comments = example_comments()
    assert comments
    for raw in comments:
        author = identity_of(raw["createdBy"]) or Identity("unknown")
        c = Comment(
            id=int(raw.get("id") or raw.get("commentId") or 0),
            work_item_id=int(raw.get("workItemId") or 0),
            text=raw.get("text") or "",
            created_by=author,
            created_date=raw.get("createdDate") or "",
            modified_date=raw.get("modifiedDate"),
            version=int(raw.get("version") or 1),
            format=raw.get("format") or "html",
        )
        body = checked_body(c)
        assert adf_to_text(body).startswith(f"Originally by {author.display_name} on ")


def example_work_items() -> list[dict[str, Any]]:
    root = specs_path("ado-wit-7.1-httpExamples")
    found: list[dict[str, Any]] = []
    for path in sorted(root.rglob("*.json")):
        for node in _dicts_with(json.loads(path.read_text(encoding="utf-8-sig")), "fields"):
            fields = node["fields"]
            # Updates also carry "fields" ({old,new}Value pairs); only work items have a str title.
            if isinstance(fields, dict) and isinstance(fields.get("System.Title"), str):
                found.append(node)
    return found


def test_every_example_work_item_gives_valid_content() -> None:
    items = example_work_items()
    assert len(items) > 10
    for raw in items:
        fields = raw["fields"]
        item = WorkItem(
            id=int(raw.get("id") or 1),
            rev=int(raw.get("rev") or 1),
            type=str(fields.get("System.WorkItemType", "Task")),
            title=str(fields["System.Title"]),
            state=str(fields.get("System.State", "")),
            url=str(raw.get("url", "")),
            fields=fields,
        )
        result = content(item, screen_fields=SCREEN | {"environment"})
        assert result.fields["summary"]
        assert f"ado-{item.id}" in result.fields["labels"]


def test_the_example_bug_keeps_its_repro_steps() -> None:
    bugs = [i for i in example_work_items() if "Microsoft.VSTS.TCM.ReproSteps" in i["fields"]]
    assert bugs
    fields = bugs[0]["fields"]
    item = WorkItem(1, 1, "Bug", fields["System.Title"], "New", "", fields)
    assert "step 1" in description_text(content(item))


def test_own_fixtures_as_descriptions_validate() -> None:
    for path in sorted(FIXTURES.glob("*.html")):
        html = path.read_text(encoding="utf-8")
        item = work_item(
            **{"System.Description": html, "Microsoft.VSTS.Common.AcceptanceCriteria": html}
        )
        result = content(item)
        assert result.fields["description"]["content"]


# --------------------------------------------------------------------------- components, sprints
def test_component_names_are_the_path_below_the_project_root() -> None:
    from engine.itemvalues import component_name

    assert component_name("Fabrikam\\Web\\Checkout") == "Web/Checkout"
    assert component_name("Fabrikam\\Data & Analytics") == "Data & Analytics"
    assert component_name("Fabrikam") == ""


def test_an_item_at_the_root_area_gets_no_component_and_no_area_label() -> None:
    item = work_item(**{"System.AreaPath": "Fabrikam-Fiber-Git"})
    result = content(item, area_as="component", components={})
    assert "components" not in result.fields
    assert not any(label.startswith("area-") for label in result.fields["labels"])
    assert not any("no component" in note for note in result.notes)


def test_components_are_not_set_when_not_on_the_screen() -> None:
    result = content(
        area_as="component",
        components={"Fabrikam-Fiber-Git\\Website": "10500"},
        screen_fields=SCREEN - {"components"},
    )
    assert "components" not in result.fields


def test_iteration_with_a_sprint_sets_no_label_the_pipeline_moves_the_issue() -> None:
    result = content(iteration_as="sprint", sprints={"Fabrikam-Fiber-Git\\Sprint 3": 7})
    assert "iteration-sprint" in result.rules
    assert not any(label.startswith("iteration-") for label in result.fields["labels"])


def test_iteration_without_a_board_becomes_a_label() -> None:
    from engine.itemvalues import iteration_label

    result = content()  # iteration_as="label": the project has no scrum board
    assert "iteration-Fabrikam-Fiber-Git-Sprint-3" in result.fields["labels"]
    assert "iteration-label" in result.rules
    assert iteration_label("P\\Release 1\\Sprint 2") == "iteration-P-Release-1-Sprint-2"


def test_iteration_without_an_open_sprint_falls_back_to_a_label_with_a_note() -> None:
    result = content(iteration_as="sprint", sprints={})
    assert "iteration-Fabrikam-Fiber-Git-Sprint-3" in result.fields["labels"]
    assert any(note.startswith("iteration-label:") for note in result.notes)


def test_the_root_iteration_is_unscheduled_and_gets_nothing() -> None:
    item = work_item(**{"System.IterationPath": "Fabrikam-Fiber-Git"})
    result = content(item)
    assert not any(label.startswith("iteration-") for label in result.fields["labels"])
    assert not {"iteration-label", "iteration-sprint"} & result.rules


# --------------------------------------------------------------------------- files not uploaded
def _with_files(*files: tuple[str, str, int]) -> WorkItem:
    from engine.model import Relation

    item = work_item()
    item.relations = [
        Relation(
            "AttachedFile",
            f"{ADO}/_apis/wit/attachments/{guid}?fileName={name}",
            {"name": name, "resourceSize": size},
        )
        for guid, name, size in files
    ]
    return item


def test_files_over_the_upload_limit_are_listed_in_the_panel() -> None:
    big = "11111111-2222-4333-8444-555555555555"
    item = _with_files((big, "dump.bak", 11 * 1024 * 1024), (GUID, "small.txt", 10))
    result = content(item, upload_limit=10 * 1024 * 1024)
    panel = result.fields["description"]["content"][-1]
    shown = adf_to_text({"type": "doc", "version": 1, "content": [panel]})
    assert "dump.bak (11.0 MiB, 11,534,336 bytes; larger than Jira's upload limit)" in shown
    assert "small.txt" not in shown
    hrefs = [
        m["attrs"]["href"]
        for n in panel["content"][-1]["content"]
        for m in n.get("marks", [])
        if m["type"] == "link"
    ]
    assert hrefs == [f"{ADO}/_apis/wit/attachments/{big}?fileName=dump.bak"]
    assert "attachment-listed-not-uploaded" in result.rules


def test_files_skipped_by_the_pipeline_are_listed_once() -> None:
    skipped = [{"id": GUID, "name": "late.bin", "size": 99, "adoUrl": f"{ADO}/x"}]
    result = content(skipped_files=skipped, upload_limit=None)
    assert "late.bin (99 bytes; not uploaded)" in description_text(result)
    assert description_text(result).count("late.bin") == 1


def test_no_files_no_list() -> None:
    result = content(upload_limit=10)
    assert "not migrated" not in description_text(result)
    assert "attachment-listed-not-uploaded" not in result.rules
