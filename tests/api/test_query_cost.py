"""What a status poll, a run list, an item page, the dashboard and the stream cost.

A run's plan and report grow with the project (20,000 items make them tens of
MiB); only the report answers may read them. The other answers must neither
read the document table nor issue more queries for a bigger run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.live.conftest import access_token
from tests.platform.documents import with_report

pytestmark = pytest.mark.django_db

DOCUMENT_TABLE = "migrations_app_rundocument"


def _sql_of(call: Callable[[], Any]) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = call()
        # A stream's headers are decided here; its events are not read (closing it would
        # end the request and, with it, the test's database connection).
        status = response.status_code
    assert status == 200, status
    return [q["sql"] for q in queries.captured_queries]


def _big_run(make_run: Any, items: int, status: str = "COMPLETED", **fields: Any) -> Any:
    from migrations_app.models import RunDocument, RunItem

    run = make_run(status, total_count=items, **fields)
    plan = {"items": [{"ado_id": n, "type": "Bug"} for n in range(items)]}
    RunDocument.objects.create(run=run, plan=plan)
    with_report(run, {"typeMappings": [{"adoType": "Bug", "jiraType": "Bug"}], "plan": plan})
    RunItem.objects.bulk_create(
        [
            RunItem(run=run, ado_id=n, ado_type="Bug", status="FAILED" if n % 7 else "CREATED")
            for n in range(1, items + 1)
        ],
        batch_size=500,
    )
    return run


@pytest.fixture
def browser(owner: Any) -> Client:
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def answers(owner_api: Any, browser: Client, owner: Any) -> Callable[[Any], dict[str, Any]]:
    """Every answer about a run that must not read its documents, by name."""

    def for_run(run: Any) -> dict[str, Callable[[], Any]]:
        page = f"/projects/{run.project_id}/runs/{run.pk}"
        bearer = {"Authorization": f"Bearer {access_token(owner)}"}
        return {
            "status": lambda: owner_api.get(f"/api/migrations/{run.pk}/status"),
            "list": lambda: owner_api.get(f"/api/migrations?projectId={run.project_id}"),
            "items": lambda: owner_api.get(f"/api/migrations/{run.pk}/items"),
            "items of a status": lambda: owner_api.get(
                f"/api/migrations/{run.pk}/items?status=FAILED"
            ),
            "project page": lambda: browser.get(f"/projects/{run.project_id}"),
            "projects page": lambda: browser.get("/"),
            "run page": lambda: browser.get(page),
            "run state": lambda: browser.get(f"{page}/state"),
            "run panels": lambda: browser.get(f"{page}/panels"),
            "item page": lambda: browser.get(f"{page}/items/1"),
            "rollback page": lambda: browser.get(f"{page}/rollback"),
            "stream": lambda: Client().get(f"/api/migrations/{run.pk}/stream", headers=bearer),
        }

    return for_run


def test_no_answer_but_the_report_reads_the_plan_or_the_report(make_run, answers):
    run = _big_run(make_run, 50)
    for name, call in answers(run).items():
        touched = [sql for sql in _sql_of(call) if DOCUMENT_TABLE in sql]
        assert touched == [], f"{name} read the run's documents: {touched}"


def test_the_report_answers_do_read_the_report(make_run, owner_api, browser):
    run = _big_run(make_run, 5)
    api = _sql_of(lambda: owner_api.get(f"/api/migrations/{run.pk}/report"))
    page = _sql_of(lambda: browser.get(f"/projects/{run.project_id}/runs/{run.pk}/report"))
    assert any(DOCUMENT_TABLE in sql for sql in api)
    assert any(DOCUMENT_TABLE in sql for sql in page)


def test_the_run_page_shows_the_mappings_from_the_digest(make_run, browser):
    run = _big_run(make_run, 5)
    page = browser.get(f"/projects/{run.project_id}/runs/{run.pk}/panels").content.decode()
    assert "Bug" in page


@pytest.mark.parametrize("answer", ["status", "list", "items", "run page", "stream"])
def test_the_query_count_does_not_grow_with_the_run(make_run, project, answers, answer):
    from migrations_app.models import Project

    small = _big_run(make_run, 10)
    other = Project.objects.create(tenant=project.tenant, name="big")
    big = _big_run(make_run, 2000, of=other)
    _sql_of(answers(small)[answer])  # warm per-process caches (content types, sessions)
    counts = [len(_sql_of(answers(run)[answer])) for run in (small, big)]
    assert counts[0] == counts[1], (
        f"{answer}: {counts[0]} queries for 10 items, {counts[1]} for 2,000"
    )


def test_the_project_list_loads_only_each_projects_latest_run(make_run, project, owner_api):
    from migrations_app import selectors

    for _ in range(30):
        make_run("COMPLETED")
    latest = make_run("RUNNING")
    (listed,) = selectors.project_list(tenant=project.tenant)
    assert [run.pk for run in listed.latest_runs] == [latest.pk]  # type: ignore[attr-defined]
    assert owner_api.get("/api/projects").json()[0]["lastRun"]["id"] == str(latest.id)
