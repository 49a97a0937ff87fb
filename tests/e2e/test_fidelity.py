"""Content fidelity end to end: runs started through the public API, a real Celery
worker, the sandboxes over HTTP, and every rule checked in the Jira sandbox.

One FULL run of the sandbox's default dataset (200 items, the size ``manage.py
sandbox`` serves; it holds every role of ``sandbox.dataset``) is shared by the
module (``full``); the out-of-scope rule needs a second run with an area filter
(``filtered``), on its own sandboxes and project. The platform's fixtures are
per test (``transactional_db``), so the module fixtures open the database
themselves (outside the tests' transactions, committed, so the worker sees it), keep
what the API answered, and delete their tenant afterwards.

The fidelity report of the full run is written to ``$MIGRATOR_VAR_DIR/fidelity-report.json``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from engine.adf_nodes import adf_to_text
from engine.ado import AdoClient
from engine.model import WorkItem
from sandbox.dataset import BIG_FILE_SIZE
from sandbox.runner import Options, start
from tests.e2e.support import ado_comments_of, items_of, report_of, start_run, wait_final
from tests.fixtures.platform import WorkerFactory, _database_url, _purge_queue
from tests.fixtures.sandbox import SandboxHandle

# The marker makes pytest-django create the test database (it only does for sessions
# holding a django_db test); the module fixtures write outside the tests' transactions.
pytestmark = [pytest.mark.slow, pytest.mark.django_db]

ITEMS = 200  # sandbox.runner's default --items
HISTORY_FILE = re.compile(r"ado-\d+-history(-from-rev-\d+)?\.md")
# the artifact kinds the default dataset links (sandbox.dataset_artifacts.KINDS)
ARTIFACT_KINDS = (
    "commit",
    "pull_request",
    "branch",
    "tag",
    "build",
    "changeset",
    "versioned_item",
    "wiki_page",
)
LINK_TYPE = {  # ADO forward relation -> Jira link type, and whether the ADO item is outward
    "System.LinkTypes.Related": "Relates",
    "System.LinkTypes.Dependency-Forward": "Blocks",
    "System.LinkTypes.Duplicate-Forward": "Duplicate",
    "Microsoft.VSTS.Common.TestedBy-Forward": "Tests",
}


@dataclass
class Run:
    boxes: SandboxHandle
    run_id: str
    final: dict[str, Any]
    report: dict[str, Any]
    items: list[dict[str, Any]]
    work_items: dict[int, WorkItem]

    @property
    def keys(self) -> dict[int, str]:
        return {i["adoId"]: i["jiraKey"] for i in self.items if i["jiraKey"]}

    def issue(self, ado_id: int) -> dict[str, Any]:
        return self.boxes.jira.dump_issue(self.keys[ado_id])  # type: ignore[union-attr]

    @property
    def dataset(self) -> Any:
        return self.boxes.dataset

    def role(self, name: str) -> int:
        return int(self.dataset.roles[name])


def _worker_factory(tmp: Path) -> WorkerFactory:
    """What the ``celery_worker`` fixture starts, for a module-scoped run."""
    import os

    from django.conf import settings

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "SECRET_KEY": "test-worker-secret-key-0123456789-abcdefghij",
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEY),
        "MIGRATOR_VAR_DIR": str(settings.MIGRATOR_VAR_DIR),
        "MIGRATOR_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "MIGRATOR_PROGRESS_EVENT_INTERVAL": "0.5",
        "MIGRATOR_ALLOW_PRIVATE_TARGETS": "true",  # the sandboxes are on loopback
        "PYTHONUNBUFFERED": "1",
    }
    return WorkerFactory(env=env, tmp=tmp)


def _migrate(tmp: Path, boxes: SandboxHandle, **start: Any) -> tuple[Run, Callable[[], None]]:
    from django.db import connection

    from migrations_app.models import Project, Tenant, User

    if connection.vendor == "sqlite" and ":memory:" in str(connection.settings_dict["NAME"]):
        pytest.skip("the worker needs a file test database")
    slug = f"fid-{uuid.uuid4().hex[:8]}"
    tenant = Tenant.objects.create(slug=slug, name="Fidelity")
    user = User.objects.create_user(username=slug, password="pw", tenant=tenant)
    project = Project.objects.create(tenant=tenant, name="Fidelity", description="ADO → MIG")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    _purge_queue()
    workers = _worker_factory(tmp)
    workers()

    def cleanup() -> None:
        for worker in workers.started:
            worker.kill()
        _purge_queue()
        Project.objects.filter(tenant=tenant).delete()
        User.objects.filter(tenant=tenant).delete()
        tenant.delete()

    try:
        run = start_run(api, project, boxes, "FULL", **start)
        final = wait_final(api, run["id"], timeout=600)
        report = report_of(api, run["id"])
        items = items_of(api, run["id"])
    except BaseException:
        cleanup()
        raise
    conn = boxes.connection()
    ado = AdoClient(conn["ado_base_url"], conn["org"], conn["project"], conn["pat"])
    work_items = {wi.id: wi for wi in ado.get_work_items(list(boxes.dataset.ids()))}
    return Run(boxes, run["id"], final, report.get("report", report), items, work_items), cleanup


@pytest.fixture(scope="module")
def full(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    boxes = SandboxHandle(start(Options(items=ITEMS, seed=1)))
    with django_db_blocker.unblock(), override_settings(MIGRATOR_ALLOW_PRIVATE_TARGETS=True):
        try:
            result, cleanup = _migrate(tmp_path_factory.mktemp("full"), boxes)
            try:
                from django.conf import settings

                out = Path(settings.MIGRATOR_VAR_DIR) / "fidelity-report.json"
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(result.report, indent=2, ensure_ascii=False) + "\n")
                yield result
            finally:
                cleanup()
        finally:
            boxes.running.stop()


@pytest.fixture(scope="module")
def filtered(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    """A FULL run of the top area of the dataset's "story" role only."""
    boxes = SandboxHandle(start(Options(items=ITEMS, seed=1)))
    data = boxes.dataset
    story_area = data.areas[data.area_of[data.roles["story"]]].path
    top = "\\".join(story_area.split("\\")[:2])
    with django_db_blocker.unblock(), override_settings(MIGRATOR_ALLOW_PRIVATE_TARGETS=True):
        try:
            result, cleanup = _migrate(tmp_path_factory.mktemp("filtered"), boxes, area_filter=top)
            try:
                yield result
            finally:
                cleanup()
        finally:
            boxes.running.stop()


def _text(adf: Any) -> str:
    return adf_to_text(adf) if adf else ""


def _below_root(path: str) -> str:
    return path.split("\\", 1)[1] if "\\" in path else ""


# =========================================================================== the run itself
def test_the_full_run_completes_with_every_active_item_in_jira(full: Run) -> None:
    assert full.final["status"] == "COMPLETED", full.final
    created = [i for i in full.items if i["status"] == "CREATED"]
    assert len(created) == len(full.keys) > ITEMS * 0.9
    assert full.report["verification"]["ok"] is True


# =========================================================================== fields
def test_summary_description_acceptance_priority_points_tags(full: Run) -> None:
    story = full.role("story")
    wi, issue = full.work_items[story], full.issue(story)
    fields = issue["fields"]
    assert fields["summary"] == " ".join(wi.title.split())
    text = _text(fields["description"])
    # The Story create screen has an "Acceptance Criteria" field: the criteria go there;
    # other types keep them in the description, after the part a cut may take.
    story_type = full.boxes.jira.state.issue(issue["key"]).type  # type: ignore[union-attr]
    if "customfield_10062" in story_type.screen:
        assert "Given " in _text(fields["customfield_10062"])
        assert "Acceptance criteria" not in text
    else:
        assert "Acceptance criteria" in text and "Given " in text
    assert "Migrated from Azure DevOps" in text
    names = ["Highest", "High", "Medium", "Low"]
    snapshot_priority = full.boxes.jira.state.issue(issue["key"]).fields.get("priority")  # type: ignore[union-attr]
    assert snapshot_priority is not None
    priority = wi.fields["Microsoft.VSTS.Common.Priority"]
    from sandbox.jira_workflow import PRIORITIES

    assert PRIORITIES[snapshot_priority]["name"] == names[priority - 1]
    if "customfield_10016" in full.boxes.jira.state.issue(issue["key"]).type.screen:  # type: ignore[union-attr]
        assert fields["customfield_10016"] == wi.fields["Microsoft.VSTS.Scheduling.StoryPoints"]
    for ado_id, w in full.work_items.items():
        if ado_id in full.keys and w.fields.get("System.Tags"):
            labels = full.issue(ado_id)["fields"]["labels"]
            for tag in str(w.fields["System.Tags"]).split(";"):
                assert "-".join(tag.split()) in labels


def test_bug_description_comes_from_repro_steps_with_system_info(full: Run) -> None:
    bug = full.role("bug")
    issue = full.issue(bug)
    text = _text(issue["fields"].get("description")) + _text(issue["fields"].get("environment"))
    assert "As a customer" in text  # the repro steps
    assert "Edge 126" in text and "Windows 11" in text  # the system info


def test_panel_names_origin_people_and_paths(full: Run) -> None:
    epic = full.role("epic")
    wi, issue = full.work_items[epic], full.issue(epic)
    text = _text(issue["fields"]["description"])
    assert f"{wi.type} {epic}" in text
    assert "Created by" in text and "Area path" in text and "Iteration path" in text
    assert wi.title in issue["fields"]["summary"]  # the epic's title keeps <, &, " and 🚀


def test_remote_link_back_to_ado_on_every_issue(full: Run) -> None:
    for ado_id, key in full.keys.items():
        links = full.boxes.jira.dump_issue(key)["remoteLinks"]  # type: ignore[union-attr]
        back = [r for r in links if r["globalId"] == f"ado-item-{ado_id}"]
        assert len(back) == 1, (ado_id, links)
        assert back[0]["object"]["url"].endswith(f"/_workitems/edit/{ado_id}")


# =========================================================================== components
def test_area_paths_become_components(full: Run) -> None:
    state = full.boxes.jira.state  # type: ignore[union-attr]
    by_name = {c["name"]: c["id"] for c in state.components.values()}
    used = {_below_root(full.work_items[i].area_path).replace("\\", "/") for i in full.keys}
    assert set(by_name) == used - {""}
    for ado_id, key in full.keys.items():
        name = _below_root(full.work_items[ado_id].area_path).replace("\\", "/")
        assert state.issue(key).fields.get("components") == [by_name[name]], (ado_id, name)
        assert not any(label.startswith("area-") for label in state.issue(key).fields["labels"])
    section = full.report["components"]
    assert section["mode"] == "component" and sorted(section["created"]) == sorted(by_name)
    assert full.report["fidelity"]["area-component"]["items"] == len(full.keys)


# =========================================================================== sprints
def test_iteration_paths_become_sprints_with_their_dates(full: Run) -> None:
    from sandbox.jira_workflow import SPRINT

    state = full.boxes.jira.state  # type: ignore[union-attr]
    sprints = {s.name: s for s in state.sprints.values()}
    nodes = {n.path: n for n in full.dataset.iterations}
    now = datetime.now(UTC).isoformat()
    scheduled = 0
    for ado_id, key in full.keys.items():
        path = full.work_items[ado_id].iteration_path
        issue = state.issue(key)
        if not _below_root(path):
            assert issue.fields.get(SPRINT) is None
            continue
        scheduled += 1
        sprint = sprints[path.rsplit("\\", 1)[-1]]
        assert issue.fields.get(SPRINT) == sprint.id, (ado_id, path)
        node = nodes[path]
        assert sprint.start_date[:19] == node.start[:19]
        assert sprint.end_date[:19] == node.finish[:19]
        assert not any(label.startswith("iteration-") for label in issue.fields["labels"])
    assert scheduled > ITEMS * 0.8
    for sprint in sprints.values():
        assert sprint.state == ("closed" if sprint.end_date < now else "future"), sprint
    assert full.report["fidelity"]["sprint-membership"]["items"] == scheduled
    assert full.report["sprints"]["mode"] == "sprint"


# =========================================================================== attachments
def test_every_uploaded_attachment_has_the_ado_checksum(full: Run) -> None:
    data = full.dataset
    checked = 0
    for ado_id, key in full.keys.items():
        jira = full.boxes.jira.dump_issue(key)["attachments"]  # type: ignore[union-attr]
        wanted = [a for a in data.attachments_of(ado_id) if a.size <= 10 * 1024 * 1024]
        wanted += data.inline_images(ado_id)
        got = sorted(
            (a["filename"], a["size"], a["sha256"])
            for a in jira
            if not a["filename"].endswith("-description.txt")
            and not HISTORY_FILE.fullmatch(a["filename"])  # the item's history, not ADO's
        )
        expected = sorted((a.name, a.size, data.checksum(a.guid)) for a in wanted)
        assert got == expected, (ado_id, got, expected)
        checked += len(expected)
    assert checked > 20
    assert full.report["fidelity"]["attachment"]["items"] > 0


def test_duplicate_file_names_are_both_kept_and_distinct(full: Run) -> None:
    story = full.role("story")
    shots = [a for a in full.issue(story)["attachments"] if a["filename"] == "screenshot.png"]
    assert sorted(a["size"] for a in shots) == [2_345, 5_432]
    assert len({a["sha256"] for a in shots}) == 2 and len({a["id"] for a in shots}) == 2


def test_the_oversized_file_is_not_uploaded_but_listed_on_the_issue_and_in_the_report(
    full: Run,
) -> None:
    feature = full.role("feature")
    issue = full.issue(feature)
    assert "database-dump.bak" not in {a["filename"] for a in issue["attachments"]}
    big = next(a for a in full.work_items[feature].attachments if a.name == "database-dump.bak")
    text = _text(issue["fields"]["description"])
    assert "database-dump.bak (11.0 MiB, 11,534,336 bytes" in text
    hrefs = json.dumps(issue["fields"]["description"])
    assert json.dumps(big.url)[1:-1] in hrefs  # linked to the file in Azure DevOps
    listed = [
        a
        for a in full.report["problems"]["oversizedAttachments"]
        if a["adoId"] == feature and a["name"] == "database-dump.bak"
    ]
    assert listed and listed[0]["size"] == BIG_FILE_SIZE and listed[0]["adoUrl"] == big.url
    assert full.report["fidelity"]["attachment-not-uploaded"]["notCarried"] >= 1


def test_inline_images_point_at_the_uploaded_jira_attachment(full: Run) -> None:
    jira_base = full.boxes.jira_url
    shown = 0
    for ado_id, key in full.keys.items():
        images = full.dataset.inline_images(ado_id)
        if not images:
            continue
        issue = full.boxes.jira.dump_issue(key)  # type: ignore[union-attr]
        media = [n for n in _walk(issue["fields"].get("description")) if n.get("type") == "media"]
        ids = {a["id"] for a in issue["attachments"] if a["filename"] == images[0].name}
        assert media, ado_id
        for node in media:
            url = node["attrs"]["url"]
            assert url.startswith(str(jira_base)) and "_apis/wit/attachments" not in url
            assert url.rstrip("/").rsplit("/", 1)[-1] in ids, (url, ids)
        shown += 1
    assert shown >= 2
    assert full.report["fidelity"]["inline-image"]["items"] == shown


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for child in node.get("content", []) or []:
            yield from _walk(child)


# =========================================================================== comments
def test_comments_in_order_with_headers_edited_marked_deleted_left_out(full: Run) -> None:
    story = full.role("story")
    ado = full.dataset.comments_for(story)
    live = [c for c in ado if not c.is_deleted]
    comments = ado_comments_of(full.issue(story))
    assert [c["properties"]["ado.comment"]["commentId"] for c in comments] == [c.id for c in live]
    for jira, source in zip(comments, live, strict=True):
        text = _text(jira["body"])
        assert text.startswith(f"Originally by {source.author.display_name} on ")
        assert ("(edited " in text.splitlines()[0]) == (source.version > 1)
    assert len(live) == len(ado) - 1
    assert full.report["fidelity"]["comment"]["items"] > 10
    assert full.report["fidelity"]["comment-deleted-skipped"]["notCarried"] >= 1


def test_mentions_and_work_item_references_resolve(full: Run) -> None:
    story = full.role("story")
    nodes = list(_walk(full.issue(story)["fields"]["description"]))
    assert (
        any(n.get("type") == "mention" for n in nodes)
        or "mention-as-text" in full.report["fidelity"]
    )
    marks = [m for n in nodes for m in n.get("marks", []) if m["type"] == "link"]
    assert any("/browse/" in m["attrs"]["href"] for m in marks)  # #id → the Jira issue


# =========================================================================== links
def _links(run: Run) -> set[tuple[str, str, str]]:
    out = set()
    for key in run.keys.values():
        for link in run.boxes.jira.dump_issue(key)["links"]:  # type: ignore[union-attr]
            out.add((link["type"], link["inward"], link["outward"]))
    return out


def test_parent_child_as_jira_parent_or_a_link(full: Run) -> None:
    state = full.boxes.jira.state  # type: ignore[union-attr]
    links = _links(full)
    parents = 0
    for ado_id, key in full.keys.items():
        parent = full.work_items[ado_id].parent_id
        if parent is None or parent not in full.keys:
            continue
        parent_key = full.keys[parent]
        issue = state.issue(key)
        jira_parent = issue.fields.get("parent")
        if jira_parent is not None:
            assert state.issues[jira_parent].key == parent_key
            parents += 1
        else:
            assert ("Relates", key, parent_key) in links or ("Relates", parent_key, key) in links
    assert parents > 50
    assert full.report["fidelity"]["jira-parent"]["items"] == parents


def test_work_item_links_map_to_the_site_link_types(full: Run) -> None:
    links = _links(full)
    seen: set[str] = set()
    for ado_id, wi in full.work_items.items():
        for rel in wi.relations:
            other = rel.target_id
            if rel.rel not in LINK_TYPE or other is None:
                continue
            if ado_id not in full.keys or other not in full.keys:
                continue
            name = LINK_TYPE[rel.rel]
            a, b = full.keys[ado_id], full.keys[other]
            if name == "Relates":
                assert ("Relates", a, b) in links or ("Relates", b, a) in links
            elif name == "Blocks":  # the successor is blocked by the predecessor
                assert (name, a, b) in links or (name, b, a) in links, (rel.rel, a, b)
            else:
                assert (name, a, b) in links or (name, b, a) in links, (rel.rel, a, b)
            seen.add(name)
    assert seen == set(LINK_TYPE.values())
    for name in ("Relates", "Blocks", "Duplicate", "Tests"):
        assert full.report["fidelity"][f"link-{name}"]["items"] >= 1


def test_link_directions_follow_the_ado_roles(full: Run) -> None:
    """Predecessor blocks successor; the duplicate duplicates the original; the test tests."""
    links = _links(full)
    for ado_id, wi in full.work_items.items():
        for rel in wi.relations:
            other = rel.target_id
            if other is None or ado_id not in full.keys or other not in full.keys:
                continue
            me, them = full.keys[ado_id], full.keys[other]
            if rel.rel == "System.LinkTypes.Dependency-Reverse":  # other is my predecessor
                assert ("Blocks", me, them) in links, (ado_id, other)
            if rel.rel == "Microsoft.VSTS.Common.TestedBy-Forward":  # other tests me
                assert ("Tests", me, them) in links, (ado_id, other)


def test_hyperlinks_become_remote_links(full: Run) -> None:
    count = 0
    for ado_id, wi in full.work_items.items():
        urls = {r.url for r in wi.relations if r.rel == "Hyperlink"}
        if not urls or ado_id not in full.keys:
            continue
        remote = {r["object"]["url"] for r in full.issue(ado_id)["remoteLinks"]}
        assert urls <= remote, (ado_id, urls, remote)
        count += 1
    assert count >= 1
    assert full.report["fidelity"]["hyperlink-remote-link"]["items"] == count


def test_out_of_scope_targets_become_remote_links_to_ado(filtered: Run) -> None:
    assert filtered.final["status"] == "COMPLETED", filtered.final
    found = 0
    in_run = {i["adoId"] for i in filtered.items}  # removed items are in the run, skipped
    for ado_id in filtered.keys:
        wi = filtered.work_items[ado_id]
        remote = {r["globalId"]: r for r in filtered.issue(ado_id)["remoteLinks"]}
        for rel in wi.relations:
            other = rel.target_id
            if other is None or other in in_run:
                continue
            if (
                rel.rel == "System.LinkTypes.Hierarchy-Forward"
                or rel.rel in LINK_TYPE
                or rel.rel.endswith("-Reverse")
            ):
                assert f"ado-workitem-{other}" in remote, (ado_id, rel.rel, other)
                assert remote[f"ado-workitem-{other}"]["object"]["url"].endswith(
                    f"/_workitems/edit/{other}"
                )
                found += 1
    assert found >= 1
    assert filtered.report["fidelity"]["out-of-scope-remote-link"]["items"] >= 1


# =========================================================================== the report
def test_the_fidelity_report_is_complete(full: Run) -> None:
    fidelity = full.report["fidelity"]
    for rule in (
        "summary",
        "description",
        "acceptance-field",  # the Story screen's Acceptance Criteria field
        "acceptance-description",  # other types: kept in the description's uncut tail
        "repro-steps",
        "priority",
        "story-points",
        "tags",
        "labels",
        "area-component",
        "iteration-sprint",
        "sprint-membership",
        "migration-panel",
        "assignee",
        "reporter",
        "inline-image",
        "inline-image-upload",
        "mention",
        "work-item-ref",
        "attachment",
        "attachment-not-uploaded",
        "attachment-listed-not-uploaded",
        "comment",
        "comment-edited-header",
        "comment-deleted-skipped",
        "jira-parent",
        "link-Relates",
        "link-Blocks",
        "link-Duplicate",
        "link-Tests",
        "hyperlink-remote-link",
        "ado-backlink",
        "artifact-remote-link",
        *(f"artifact:{kind}" for kind in ARTIFACT_KINDS),
        "link:Implements",
        "remote-link:Affects",
        "remote-link:Affected By",
        "remote-link:Remote Related",
        "history-comment",
        "history-file",
    ):
        assert rule in fidelity, rule
        row = fidelity[rule]
        assert set(row) == {"items", "notCarried", "examples"}
    assert fidelity["ado-backlink"]["items"] == len(full.keys)
    unmapped = full.report["problems"]["unmappedUsers"]
    assert unmapped and all(u["items"] > 0 for u in unmapped)
