"""Every relation kind and the item history end to end: runs started through the
public API, a real Celery worker, the sandboxes over HTTP.

One project (``linked``) takes a FULL run with the default link mapping, then an
INCREMENTAL run after new revisions in ADO; a second sandbox pair (``mapped``)
takes a dry run and a real run with a link type map naming a type Jira lacks
(reported, nothing written), then a FULL run with ``{"Affects": "Blocks"}``.
Expected links are derived from the work items as the ADO sandbox serves them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from engine.adf_nodes import adf_to_text
from engine.ado import AdoClient
from engine.artifacts import ArtifactContext, artifact_title, parse_artifact_uri
from engine.model import WorkItem
from sandbox.runner import Options, start
from tests.e2e.support import (
    assert_no_duplicates,
    items_of,
    report_of,
    start_run,
    wait_final,
    writes,
)
from tests.e2e.test_fidelity import _worker_factory
from tests.engine.adf_schema import assert_valid_adf
from tests.fixtures.platform import _purge_queue
from tests.fixtures.sandbox import SandboxHandle

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

ITEMS = 80  # holds every artifact kind, three Affects and Implements pairs, long histories
AFFECTS = "Microsoft.VSTS.Common.Affects-Forward"
IMPLEMENTS = "Custom.LinkTypes.Implements-Forward"
REMOTE = "System.LinkTypes.Remote.Related"


@dataclass
class Project:
    boxes: SandboxHandle
    api: APIClient
    project: Any
    cleanup: Callable[[], None]

    def run(self, run_type: str = "FULL", **options: Any) -> dict[str, Any]:
        run = start_run(self.api, self.project, self.boxes, run_type, **options)
        final = wait_final(self.api, run["id"], timeout=600)
        report = report_of(self.api, run["id"])
        return {
            "final": final,
            "report": report.get("report", report),
            "items": items_of(self.api, run["id"]),
        }

    def work_items(self) -> dict[int, WorkItem]:
        conn = self.boxes.connection()
        ado = AdoClient(conn["ado_base_url"], conn["org"], conn["project"], conn["pat"])
        return {wi.id: wi for wi in ado.get_work_items(list(self.boxes.ado.store.live_ids()))}

    def keys(self, run: dict[str, Any]) -> dict[int, str]:
        return {i["adoId"]: i["jiraKey"] for i in run["items"] if i["jiraKey"]}

    def issue(self, key: str) -> dict[str, Any]:
        return self.boxes.jira.dump_issue(key)  # type: ignore[union-attr]


def _project(tmp: Path, boxes: SandboxHandle) -> Project:
    from django.db import connection

    from migrations_app.models import Project as ProjectModel
    from migrations_app.models import Tenant, User

    if connection.vendor == "sqlite" and ":memory:" in str(connection.settings_dict["NAME"]):
        pytest.skip("the worker needs a file test database")
    slug = f"rel-{uuid.uuid4().hex[:8]}"
    tenant = Tenant.objects.create(slug=slug, name="Relations")
    user = User.objects.create_user(username=slug, password="pw", tenant=tenant)
    project = ProjectModel.objects.create(tenant=tenant, name="Relations", description="ADO → MIG")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    _purge_queue()
    workers = _worker_factory(tmp)
    workers()

    def cleanup() -> None:
        for worker in workers.started:
            worker.kill()
        _purge_queue()
        ProjectModel.objects.filter(tenant=tenant).delete()
        User.objects.filter(tenant=tenant).delete()
        tenant.delete()

    return Project(boxes, api, project, cleanup)


@pytest.fixture(scope="module")
def project_env(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Project]]:
    opened: list[Project] = []

    def make(name: str) -> Project:
        boxes = SandboxHandle(start(Options(items=ITEMS, seed=1)))
        proj = _project(tmp_path_factory.mktemp(name), boxes)
        opened.append(proj)
        return proj

    with django_db_blocker.unblock(), override_settings(MIGRATOR_ALLOW_PRIVATE_TARGETS=True):
        try:
            yield make
        finally:
            for proj in opened:
                proj.cleanup()
                proj.boxes.running.stop()


@dataclass
class Linked:
    """The FULL run (and Jira as it left it), then the INCREMENTAL runs after two edits."""

    proj: Project
    run: dict[str, Any]
    issues: dict[int, dict[str, Any]]  # ADO id -> the issue as the FULL run left it
    work_items: dict[int, WorkItem]  # as the FULL run read them
    edited: int
    second: dict[str, Any]
    edited_issue: dict[str, Any]
    quiet_status: str
    quiet_wrote: bool

    @property
    def keys(self) -> dict[int, str]:
        return self.proj.keys(self.run)


@pytest.fixture(scope="module")
def linked(project_env: Callable[[str], Project]) -> Linked:
    # Runs start here, outside the tests' transactions, so the worker sees them.
    proj = project_env("linked")
    run = proj.run("FULL")
    assert run["final"]["status"] == "COMPLETED", run["final"]
    keys = proj.keys(run)
    issues = {ado_id: proj.issue(key) for ado_id, key in keys.items()}
    work_items = proj.work_items()
    edited = next(i for i in sorted(keys) if i > 1)
    proj.boxes.ado.edit_item(edited, {"System.Title": "Renamed for the history"})
    priority = work_items[edited].fields.get("Microsoft.VSTS.Common.Priority")
    proj.boxes.ado.edit_item(edited, {"Microsoft.VSTS.Common.Priority": 2 if priority == 1 else 1})
    second = proj.run("INCREMENTAL")
    edited_issue = proj.issue(keys[edited])
    before = writes(proj.boxes)
    quiet = proj.run("INCREMENTAL")
    return Linked(
        proj,
        run,
        issues,
        work_items,
        edited,
        second,
        edited_issue,
        quiet["final"]["status"],
        writes(proj.boxes) != before,
    )


@dataclass
class Mapped:
    proj: Project
    dry: dict[str, Any]
    failed: dict[str, Any]
    wrote_after_bad_map: bool
    run: dict[str, Any]


@pytest.fixture(scope="module")
def mapped(project_env: Callable[[str], Project]) -> Mapped:
    proj = project_env("mapped")
    bad = {"Affects": "Nope"}
    dry = proj.run("FULL", dry_run=True, link_type_map=bad)
    failed = proj.run("FULL", link_type_map=bad)
    wrote = any(writes(proj.boxes).values())
    run = proj.run("FULL", link_type_map={"Affects": "Blocks"})
    return Mapped(proj, dry, failed, wrote, run)


def _pairs(work_items: dict[int, WorkItem], rel: str) -> list[tuple[int, int]]:
    return [
        (wi.id, int(r.target_id))
        for wi in work_items.values()
        for r in wi.relations
        if r.rel == rel and r.target_id is not None
    ]


def _links(issues: dict[int, dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (ln["type"], ln["inward"], ln["outward"])
        for issue in issues.values()
        for ln in issue["links"]
    }


# =========================================================================== artifacts
def test_artifact_links_are_remote_links_that_open_and_name_the_artifact(linked: Linked) -> None:
    h = linked.proj.boxes
    repos = {r.id: r.name for r in h.dataset.artifacts.repos}
    names = ArtifactContext(f"{h.ado_url}/{h.org}", h.project, repo_names=repos)
    kinds = set()
    for ado_id, wi in linked.work_items.items():
        artifacts = [r for r in wi.relations if r.rel == "ArtifactLink"]
        if not artifacts or ado_id not in linked.issues:
            continue
        remote = {r["object"]["title"]: r for r in linked.issues[ado_id]["remoteLinks"]}
        for rel in artifacts:
            art = parse_artifact_uri(rel.url)
            assert art is not None
            title = artifact_title(art, names)
            assert title in remote, (ado_id, title, sorted(remote))
            if art.kind in ("commit", "pull_request", "branch", "tag"):
                assert any(name in title for name in repos.values()), title
            page = requests.get(remote[title]["object"]["url"], timeout=10)
            assert page.status_code == 200, (title, page.url)
            kinds.add(art.kind)
    assert {"commit", "pull_request", "branch", "tag", "build", "changeset"} <= kinds
    assert {"versioned_item", "wiki_page"} <= kinds
    fidelity = linked.run["report"]["fidelity"]
    assert fidelity["artifact-remote-link"]["items"] >= len(kinds)
    for kind in kinds:
        assert fidelity[f"artifact:{kind}"]["items"] >= 1


# =========================================================================== link types
def test_implements_links_become_jira_implements_links(linked: Linked) -> None:
    keys = linked.keys
    pairs = [(a, b) for a, b in _pairs(linked.work_items, IMPLEMENTS) if a in keys and b in keys]
    assert pairs
    links = _links(linked.issues)
    for task, story in pairs:  # the task implements the story: the task is the outward end
        assert ("Implements", keys[story], keys[task]) in links, (task, story)
    assert linked.run["report"]["fidelity"]["link:Implements"]["items"] >= 1


def test_affects_links_and_other_organisations_become_remote_links(linked: Linked) -> None:
    affects = [(a, b) for a, b in _pairs(linked.work_items, AFFECTS) if a in linked.issues]
    assert affects
    for bug, story in affects:
        remote = {r["globalId"]: r for r in linked.issues[bug]["remoteLinks"]}
        assert f"ado-workitem-{story}" in remote, (bug, story)
        assert "Affects" in remote[f"ado-workitem-{story}"]["object"]["title"]
    assert not any(t == "Affects" for t, _, _ in _links(linked.issues))
    far = [(wi.id, r) for wi in linked.work_items.values() for r in wi.relations if r.rel == REMOTE]
    assert far
    for ado_id, rel in far:
        if ado_id not in linked.issues:
            continue
        urls = {r["object"]["url"] for r in linked.issues[ado_id]["remoteLinks"]}
        base = rel.url.partition("/_apis/")[0]
        assert f"{base}/_workitems/edit/{rel.target_id}" in urls, (ado_id, urls)
    fidelity = linked.run["report"]["fidelity"]
    assert fidelity["remote-link:Affects"]["items"] >= 1
    assert fidelity["remote-link:Remote Related"]["items"] >= 1
    # each of them has its line in the report: carried, but not as a Jira issue link
    assert fidelity["link-type-unmatched"]["notCarried"] >= len(affects)
    assert fidelity["link-other-organisation"]["notCarried"] >= 1
    assert any("Affects" in line for line in fidelity["link-type-unmatched"]["examples"])


# =========================================================================== history
def _history_comments(issue: dict[str, Any]) -> list[dict[str, Any]]:
    found = [c for c in issue["comments"] if "ado.history" in c["properties"]]
    return sorted(found, key=lambda c: int(c["properties"]["ado.history"]["fromRev"]))


def test_every_issue_shows_its_history(linked: Linked) -> None:
    files = 0
    for ado_id, issue in linked.issues.items():
        (comment,) = _history_comments(issue)
        assert_valid_adf(comment["body"])
        part = comment["properties"]["ado.history"]
        assert (part["fromRev"], part["toRev"]) == (1, linked.work_items[ado_id].rev)
        text = adf_to_text(comment["body"])
        name = f"ado-{ado_id}-history.md"
        attached = [a for a in issue["attachments"] if a["filename"] == name]
        if attached:
            files += 1
            assert name in text and len(attached) == 1
        else:
            assert "expand" in {n["type"] for n in comment["body"]["content"]}
            assert "Revision 1" in text
    assert files >= 2  # the dataset's long histories
    fidelity = linked.run["report"]["fidelity"]
    assert fidelity["history-comment"]["items"] + fidelity["history-file"]["items"] == len(
        linked.issues
    )


def test_an_incremental_run_appends_only_the_new_revisions(linked: Linked) -> None:
    assert linked.second["final"]["status"] == "COMPLETED", linked.second["final"]
    before = linked.work_items[linked.edited].rev
    parts = _history_comments(linked.edited_issue)
    assert [p["properties"]["ado.history"]["fromRev"] for p in parts] == [1, before + 1]
    assert parts[1]["properties"]["ado.history"]["toRev"] == before + 2
    text = adf_to_text(parts[1]["body"])
    assert "Renamed for the history" in text and "Priority" in text
    assert f"Revision {before} " not in text
    assert_no_duplicates(linked.proj.boxes)
    assert linked.quiet_status == "COMPLETED" and not linked.quiet_wrote


# =========================================================================== the link map
def test_a_bad_link_map_is_reported_and_nothing_is_written(mapped: Mapped) -> None:
    assert "link_type_map" in str(mapped.dry["report"]), mapped.dry["report"]
    assert mapped.failed["final"]["status"] == "FAILED"
    assert "link_type_map" in str(mapped.failed["final"]) + str(mapped.failed["report"])
    assert not mapped.wrote_after_bad_map


def test_a_mapped_link_type_is_used(mapped: Mapped) -> None:
    run = mapped.run
    assert run["final"]["status"] == "COMPLETED", run["final"]
    keys = mapped.proj.keys(run)
    issues = {ado_id: mapped.proj.issue(key) for ado_id, key in keys.items()}
    links = _links(issues)
    pairs = [
        (a, b) for a, b in _pairs(mapped.proj.work_items(), AFFECTS) if a in keys and b in keys
    ]
    assert pairs
    for bug, story in pairs:  # "Affects" is the forward end: the bug blocks the story
        assert ("Blocks", keys[story], keys[bug]) in links, (bug, story)
    assert run["report"]["fidelity"]["link:Affects"]["items"] >= 1
