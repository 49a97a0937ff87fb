"""An item's ADO updates to a typed history and its Jira rendering (pure)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from engine.adf_nodes import adf_char_length
from engine.history import (
    VALUE_LIMIT,
    build_history,
    history_file_name,
    history_markdown,
    next_page,
    render_history,
    render_value,
)
from tests.engine.adf_schema import assert_valid_adf, specs_path

JAMAL = {
    "displayName": "Jamal Hartnett",
    "uniqueName": "fabrikamfiber4@hotmail.com",
    "id": "d291b0c4-a05c-4ea6-8df1-4b41d5f39eff",
}
ANA = {"displayName": "Ana Silva", "uniqueName": "ana@fabrikam.example"}


def update(
    uid: int, rev: int, fields: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": uid,
        "workItemId": 1,
        "rev": rev,
        "revisedBy": extra.pop("by", JAMAL),
        "revisedDate": extra.pop("date", f"2024-05-0{min(uid, 9)}T10:00:00.1234567Z"),
    }
    if fields is not None:
        out["fields"] = fields
    out.update(extra)
    return out


UPDATES = [
    update(
        1,
        1,
        {
            "System.Rev": {"newValue": 1},
            "System.State": {"newValue": "New"},
            "System.Title": {"newValue": "Login fails"},
            "System.AssignedTo": {},
            "System.AreaLevel1": {"newValue": "Fabrikam"},
        },
    ),
    update(
        2,
        2,
        {
            "System.Rev": {"oldValue": 1, "newValue": 2},
            "System.State": {"oldValue": "New", "newValue": "Active"},
            "System.AssignedTo": {"newValue": ANA},
            "Microsoft.VSTS.Common.Priority": {"oldValue": 2, "newValue": 1},
        },
        by=ANA,
    ),
    update(
        3,
        2,
        relations={
            "added": [{"rel": "System.LinkTypes.Related", "url": "https://x/_apis/wit/workItems/7"}]
        },
    ),
    update(4, 3, {"System.History": {"newValue": "<div>Looks <b>bad</b> on Safari</div>"}}),
    update(5, 4, {"System.Watermark": {"oldValue": 5, "newValue": 6}}),
    update(
        6,
        5,
        {
            "System.Description": {
                "oldValue": "<p>old</p>",
                "newValue": "<p>" + "long " * 200 + "</p>",
            },
            "Custom.Done": {"oldValue": False, "newValue": True},
            "Custom.Due": {"newValue": "2024-06-01T00:00:00Z"},
        },
        relations={
            "removed": [
                {
                    "rel": "ArtifactLink",
                    "url": "vstfs:///Build/Build/3",
                    "attributes": {"name": "Build"},
                }
            ]
        },
        date="9999-01-01T00:00:00Z",
    ),
]


def test_it_builds_a_typed_history() -> None:
    history = build_history(1, UPDATES, field_names={"Microsoft.VSTS.Common.Priority": "Priority"})
    assert [r.update_id for r in history.revisions] == [1, 2, 3, 4, 6]
    assert history.skipped == 1  # the watermark-only update
    first, second, linked, commented, last = history.revisions
    assert first.state == ("", "New")
    assert [c.field for c in first.changes] == ["System.Title"]
    assert second.by == "Ana Silva (ana@fabrikam.example)"
    assert second.state == ("New", "Active")
    assert [(c.name, c.old, c.new) for c in second.changes] == [
        ("AssignedTo", "", "Ana Silva (ana@fabrikam.example)"),
        ("Priority", "2", "1"),
    ]
    assert linked.links_added == ("Related #7",)
    assert commented.comment == "Looks bad on Safari"
    assert last.links_removed == ("Build: Build 3",)
    assert [(c.name, c.new) for c in last.changes][1:] == [
        ("Done", "Yes"),
        ("Due", "2024-06-01 00:00 UTC"),
    ]
    assert last.date == "9999-01-01T00:00:00Z"  # no ChangedDate to take instead
    assert history.last_rev == 5


def test_since_rev_keeps_only_new_revisions() -> None:
    history = build_history(1, UPDATES, since_rev=3)
    assert [r.rev for r in history.revisions] == [5]
    assert build_history(1, UPDATES, since_rev=99).revisions == []


def test_the_current_revision_takes_its_changed_date() -> None:
    raw = update(
        9,
        9,
        {
            "System.ChangedDate": {"newValue": "2024-07-01T08:00:00Z"},
            "System.Title": {"newValue": "T"},
        },
        date="9999-01-01T00:00:00Z",
    )
    (rev,) = build_history(1, [raw]).revisions
    assert rev.date == "2024-07-01T08:00:00Z"


def test_a_revision_is_dated_by_its_changed_date_not_when_it_was_superseded() -> None:
    raw = update(
        2,
        2,
        {
            "System.ChangedDate": {
                "oldValue": "2024-06-01T08:00:00Z",
                "newValue": "2024-06-02T08:00:00Z",
            },
            "System.Title": {"oldValue": "A", "newValue": "B"},
        },
        date="2024-06-05T08:00:00Z",
    )
    (rev,) = build_history(1, [raw]).revisions
    assert rev.date == "2024-06-02T08:00:00Z"


@pytest.mark.parametrize(
    "updates",
    [
        [None, 3, "x", []],
        [{"id": "x", "rev": None, "fields": "nope", "relations": 5, "revisedBy": 7}],
        [{"fields": {"System.Title": "not a delta", "X": {"newValue": {"weird": [1]}}}}],
        [{"rev": 1, "relations": {"added": "nope", "removed": [None, 3, {"url": 9}]}}],
    ],
)
def test_malformed_updates_never_crash(updates: list[Any]) -> None:
    history = build_history(1, updates)
    rendering = render_history(history)
    if rendering is not None:
        assert_valid_adf(rendering.body)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, ""),
        ("", ""),
        (True, "Yes"),
        (3.5, "3.5"),
        (JAMAL, "Jamal Hartnett (fabrikamfiber4@hotmail.com)"),
        ("Jamal Hartnett <jamal@x.example>", "Jamal Hartnett <jamal@x.example>"),
        ("<p>Hello <i>there</i></p><ul><li>one</li></ul>", "Hello there\n\n- one"),
        ("a < b and c > d", "a < b and c > d"),
        ("2024-05-01T10:00:00Z", "2024-05-01 10:00 UTC"),
        ({"odd": 1}, "{'odd': 1}"),
    ],
)
def test_values_are_rendered_readably(value: Any, shown: str) -> None:
    assert render_value(value) == shown


def test_a_short_history_is_a_collapsed_section() -> None:
    rendering = render_history(build_history(1, UPDATES))
    assert rendering is not None
    assert_valid_adf(rendering.body)
    assert rendering.file_name is None and rendering.file_text is None
    (section,) = rendering.body["content"]
    assert section["type"] == "expand"
    assert section["attrs"]["title"] == "Azure DevOps history (5 revisions)"
    text = json.dumps(section, ensure_ascii=False)
    assert "State: New → Active" in text
    assert "Comment: Looks bad on Safari" in text
    assert "long " * 200 not in text  # shortened in the view
    lines = [
        n["text"]
        for item in section["content"]
        if item["type"] == "bulletList"
        for li in item["content"]
        for p in li["content"]
        for n in p.get("content", [])
    ]
    assert max(len(line) for line in lines) < 2 * VALUE_LIMIT + 40


def test_a_long_history_goes_to_a_file_with_a_summary() -> None:
    many = [
        update(
            i,
            i,
            {
                "System.State": {"oldValue": "A", "newValue": "B"},
                "Custom.Notes": {"newValue": "x" * 500},
            },
        )
        for i in range(1, 400)
    ]
    history = build_history(1, many)
    rendering = render_history(history)
    assert rendering is not None and rendering.revisions == 399
    assert_valid_adf(rendering.body)
    assert adf_char_length(rendering.body) < 4000
    assert rendering.file_name == history_file_name(1) == "ado-1-history.md"
    assert rendering.file_text is not None
    assert rendering.file_text.count("## Revision") == 399
    assert "x" * 500 in rendering.file_text  # complete in the file
    assert "ado-1-history.md" in json.dumps(rendering.body)


def test_the_markdown_file_is_complete() -> None:
    text = history_markdown(build_history(1, UPDATES))
    assert text.startswith("# Azure DevOps history (5 revisions) of work item 1")
    assert "long " * 199 in text
    assert "- Link removed: Build: Build 3" in text


def test_nothing_to_show_renders_nothing() -> None:
    assert render_history(build_history(1, [])) is None


def test_paging_updates() -> None:
    assert next_page(200, 0) == 200
    assert next_page(200, 200) == 400
    assert next_page(13, 400) is None
    assert next_page(0, 0) is None


def test_the_official_update_example_builds() -> None:
    path = specs_path("ado-wit-7.1-httpExamples", "updates", "GET__list_of_workitem_updates.json")
    body = json.loads(path.read_text(encoding="utf-8-sig"))["responses"]["200"]["body"]
    history = build_history(1, body["value"])
    assert history.revisions
    assert [r.update_id for r in history.revisions if r.state] == [1, 6]
    assert history.revisions[5].state == ("New", "Active")
    assert "yeah" in [r.comment for r in history.revisions]
    assert ("Related #10",) in [r.links_added for r in history.revisions]
    rendering = render_history(history)
    assert rendering is not None
    assert_valid_adf(rendering.body)


@pytest.mark.parametrize(
    ("relation", "line"),
    [
        (
            {"rel": "System.LinkTypes.Hierarchy-Reverse", "url": "https://x/_apis/wit/workItems/2"},
            "Parent #2",
        ),
        (
            {"rel": "Custom.Link-Forward", "url": "https://x/_apis/wit/workItems/3"},
            "Link-Forward #3",
        ),
        (
            {
                "rel": "ArtifactLink",
                "url": "vstfs:///Git/Commit/p%2Fr%2F4800cfa0be564b1e606d6811e99e0380f765a9c4",
                "attributes": {"name": "Fixed in Commit"},
            },
            "Fixed in Commit: Commit 4800cfa in repo r",
        ),
        ({"rel": "ArtifactLink", "url": "vstfs:///Build/Build/9"}, "Artifact: Build 9"),
        (
            {
                "rel": "AttachedFile",
                "url": "https://x/_apis/wit/attachments/g",
                "attributes": {"name": "a.png"},
            },
            "Attached file: a.png",
        ),
        (
            {"rel": "Hyperlink", "url": "https://wiki.example/p"},
            "Hyperlink: https://wiki.example/p",
        ),
        ({"url": "weird"}, "link: weird"),
    ],
)
def test_relation_changes_read_as_links(relation: dict[str, Any], line: str) -> None:
    (rev,) = build_history(1, [update(1, 1, relations={"added": [relation]})]).revisions
    assert rev.links_added == (line,)


def test_characters_jira_refuses_are_removed() -> None:
    raw = update(
        1,
        1,
        {"Custom.X": {"newValue": "bad\ud800\x00 value"}, "System.History": {"newValue": "hi\x07"}},
    )
    rendering = render_history(build_history(1, [raw]))
    assert rendering is not None
    assert_valid_adf(rendering.body)
    text = json.dumps(rendering.body, ensure_ascii=False)
    assert "bad value" in text and "Comment: hi" in text


def test_random_junk_never_crashes() -> None:
    rng = random.Random(12)
    atoms: list[Any] = [
        None,
        0,
        1.5,
        True,
        "",
        "x",
        "<b>",
        "2024-01-01T00:00:00Z",
        [],
        {},
        {"displayName": "A"},
    ]

    def junk(depth: int = 0) -> Any:
        if depth > 2 or rng.random() < 0.4:
            return rng.choice(atoms)
        return {
            rng.choice(
                ["id", "rev", "fields", "relations", "revisedBy", "newValue", "oldValue", "added"]
            ): junk(depth + 1)
            for _ in range(3)
        }

    for _ in range(300):
        history = build_history(1, [junk() for _ in range(3)], since_rev=rng.choice([0, 1]))
        rendering = render_history(history, threshold=rng.choice([50, 24_000]))
        if rendering is not None:
            assert rendering.body["type"] == "doc"


def test_an_incremental_part_says_where_it_starts() -> None:
    many = [update(i, i, {"Custom.Notes": {"newValue": "x" * 500}}) for i in range(1, 200)]
    history = build_history(1, many, since_rev=150)
    assert history.since_rev == 150 and history.revisions[0].rev == 151
    rendering = render_history(history, threshold=1000)
    assert rendering is not None
    assert rendering.file_name == "ado-1-history-from-rev-151.md"
    assert (
        rendering.body["content"][0]["attrs"]["title"]
        == "Azure DevOps history (49 revisions, after revision 150)"
    )
    assert_valid_adf(rendering.body)


@pytest.mark.parametrize("threshold", [24_000, 500])
def test_an_uncollapsed_rendering_has_no_expand(threshold: int) -> None:
    rendering = render_history(build_history(1, UPDATES), threshold, collapsed=False)
    assert rendering is not None
    assert_valid_adf(rendering.body)
    kinds = {n["type"] for n in rendering.body["content"]}
    assert "expand" not in kinds and rendering.body["content"][0]["type"] == "heading"
    assert (rendering.file_name is None) is (threshold == 24_000)
