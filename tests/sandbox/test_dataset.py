"""The dataset generator: determinism, size range and the contents a real project has."""

from __future__ import annotations

import re
import tracemalloc
from collections import Counter

import pytest

from sandbox.dataset import BIG_FILE_SIZE, TYPE_INDEX, TYPES, Dataset, generate


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate(60, seed=1)


def _everything(d: Dataset) -> list[object]:
    out: list[object] = []
    for ident in d.ids():
        rec = d.item(ident)
        out.append((rec.fields, rec.links, rec.hyperlinks, rec.attachments, d.comments_for(ident)))
    return out


def test_same_seed_gives_the_same_data() -> None:
    a, b = generate(150, seed=9), generate(150, seed=9)
    assert _everything(a) == _everything(b)
    guid = a.attachments_of(a.roles["story"])[0].guid
    assert a.checksum(guid) == b.checksum(guid)


def test_another_seed_gives_other_data() -> None:
    assert _everything(generate(150, seed=1)) != _everything(generate(150, seed=2))


@pytest.mark.parametrize("size", [20, 100_000])
def test_sizes_from_20_to_100000(size: int) -> None:
    d = generate(size, seed=1)
    assert len(d.ids()) == size
    assert {d.type_name(i) for i in d.ids()} >= {"Epic", "Feature", "User Story", "Task", "Bug"}
    assert d.item(size).fields["System.Id"] == size


def test_generation_is_cheap_in_memory() -> None:
    tracemalloc.start()
    generate(10_000, seed=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


def test_every_agile_type_and_the_custom_one(data: Dataset) -> None:
    counts = Counter(data.type_name(i) for i in data.ids())
    assert set(counts) == {t.name for t in TYPES}  # Test Case and Shared Steps included


def test_hierarchy_epic_feature_story_task(data: Dataset) -> None:
    allowed = {
        "Feature": {"Epic"},
        "User Story": {"Feature"},
        "Task": {"User Story", "Bug"},
        "Bug": {"Feature", "User Story"},
        "Risk": {"Epic"},
    }
    for ident in data.ids():
        parent = data.parent(ident)
        if parent:
            assert parent < ident
            assert data.type_name(parent) in allowed[data.type_name(ident)]
    assert all(data.parent(i) == 0 for i in data.ids() if data.type_name(i) == "Epic")


def test_states_belong_to_their_type_and_include_removed_and_resolved(data: Dataset) -> None:
    for ident in data.ids():
        assert data.state_name(ident) in {
            s.name for s in TYPES[TYPE_INDEX[data.type_name(ident)]].states
        }
    states = Counter(data.state_name(i) for i in data.ids())
    assert states["Removed"] >= 1 and states["Resolved"] >= 1 and states["Closed"] >= 1


def test_bugs_keep_their_text_in_repro_steps(data: Dataset) -> None:
    for ident in (i for i in data.ids() if data.type_name(i) == "Bug"):
        fields = data.item(ident).fields
        assert "System.Description" not in fields
        assert fields["Microsoft.VSTS.TCM.ReproSteps"] and fields["Microsoft.VSTS.TCM.SystemInfo"]


def test_rich_text_has_every_construct(data: Dataset) -> None:
    html = data.description_html(data.roles["story"], "http://h")
    for pattern in (
        r"<ul><li>[^<]*<ul><li>",
        r"<table>",
        r"<pre><code>",
        r'<a href="https://',
        r'<img src="http://h/fabrikam/[0-9a-f-]{36}/_apis/wit/attachments/[0-9a-f-]{36}'
        r'\?fileName=[^"]+\.png"',
        r'<a href="#" data-vss-mention="version:2\.0,[0-9a-f-]{36}">@[^<]+</a>',
        r"#\d+",
    ):
        assert re.search(pattern, html), pattern
    story = data.item(data.roles["story"]).fields
    assert "<li>" in story["Microsoft.VSTS.Common.AcceptanceCriteria"]


def test_fields_cover_tags_paths_priority_and_estimates(data: Dataset) -> None:
    items = [data.item(i).fields for i in data.ids()]
    tags = [f["System.Tags"] for f in items if "System.Tags" in f]
    assert tags and all(re.fullmatch(r"[^;]+(; [^;]+)*", t) for t in tags)
    assert any(" " in t for t in tags)  # tags may hold spaces ("tech debt")
    assert max(f["System.AreaPath"].count("\\") for f in items) >= 2
    assert {f["Microsoft.VSTS.Common.Priority"] for f in items} <= {1, 2, 3, 4}
    for ref in (
        "Microsoft.VSTS.Scheduling.StoryPoints",
        "Microsoft.VSTS.Scheduling.Effort",
        "Microsoft.VSTS.Scheduling.OriginalEstimate",
        "System.CreatedDate",
        "System.ChangedDate",
        "System.AssignedTo",
    ):
        assert any(ref in f for f in items), ref
    assert all(f["System.ChangedDate"] >= f["System.CreatedDate"] for f in items)
    assert all(n.start and n.finish for n in data.iterations[1:])


def test_people_include_ones_missing_from_jira_and_hidden_emails(data: Dataset) -> None:
    assert any(not p.in_jira for p in data.people) and any(p.email_hidden for p in data.people)
    used = {
        f[k]["uniqueName"]
        for i in data.ids()
        for f in [data.item(i).fields]
        for k in ("System.AssignedTo", "System.CreatedBy")
        if k in f
    }
    missing = {p.email for p in data.people if not p.in_jira}
    assert used & missing


def test_comments_by_several_authors_edited_and_deleted(data: Dataset) -> None:
    comments = [c for i in data.ids() for c in data.comments_for(i)]
    assert len({c.author for c in comments}) >= 3
    assert any(c.version > 1 and c.modified > c.created for c in comments)
    assert sum(c.is_deleted for c in comments) == 1
    assert any(c.format == "markdown" for c in comments)
    assert any(c.mentions for c in comments)
    for ident in data.ids():  # comments happen before the item's last change
        for c in data.comments_for(ident):
            assert data.created_date(ident) <= c.created <= c.modified <= data.changed_date(ident)


def test_attachments_edge_cases(data: Dataset) -> None:
    r = data.roles
    assert [a.size for a in data.attachments_of(r["task"])][-1] == 0
    names = Counter(a.name for a in data.attachments_of(r["story"]))
    assert names.most_common(1)[0][1] == 2
    big = data.attachments_of(r["feature"])[-1]
    assert big.size == BIG_FILE_SIZE > 10 * 1024 * 1024
    _, size, chunks = data.attachment(big.guid)
    first = next(chunks)
    assert len(first) == 64 * 1024 and size == BIG_FILE_SIZE  # produced chunk by chunk
    assert data.attachment_info("not-a-guid") is None


def test_links_cross_areas_and_reference_existing_items(data: Dataset) -> None:
    crossing = 0
    for ident in data.ids():
        for rel, target in data.links(ident):
            assert 1 <= target <= data.count
            assert (rel.replace("Forward", "X").replace("Reverse", "X"), ident) in {
                (r.replace("Forward", "X").replace("Reverse", "X"), t)
                for r, t in data.links(target)
            }
            top = data.area_path(ident).split("\\")[:2]
            crossing += top != data.area_path(target).split("\\")[:2]
    assert crossing >= 1
    assert data.item(data.roles["story"]).hyperlinks
