"""The schema migration that moves each run's plan and report into RunDocument."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

APP = "migrations_app"
BEFORE = [(APP, "0005_merge_rollback")]
AFTER = [(APP, "0006_run_document")]


def _migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_apps() -> Any:
    apps = _migrate(BEFORE)
    yield apps
    _migrate(executor_leaf_nodes())  # back to the latest schema for the other tests


def executor_leaf_nodes() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _old_run(apps: Any, **fields: Any) -> Any:
    slug = f"t-{uuid.uuid4().hex[:8]}"
    tenant = apps.get_model(APP, "Tenant").objects.create(slug=slug, name=slug)
    project = apps.get_model(APP, "Project").objects.create(tenant=tenant, name="p")
    return apps.get_model(APP, "MigrationRun").objects.create(
        tenant=tenant, project=project, pat_encrypted="x", api_token_encrypted="y", **fields
    )


def test_plans_and_reports_move_to_the_document_with_a_digest(old_apps):
    mappings = [{"adoType": "Bug", "jiraType": "Bug"}]
    report = {"typeMappings": mappings, "problems": {"many": list(range(100))}}
    run = _old_run(old_apps, type="FULL", plan={"ids": [1, 2]}, report=report)
    rollback_report = {
        "counts": {"planned": {"issues": 2}},
        "left": [{"adoId": n} for n in range(30)],
    }
    rollback = _old_run(old_apps, type="ROLLBACK", report=rollback_report)
    empty = _old_run(old_apps, type="FULL")

    apps = _migrate(AFTER)
    documents = apps.get_model(APP, "RunDocument").objects
    runs = apps.get_model(APP, "MigrationRun").objects
    moved = documents.get(run_id=run.pk)
    assert (moved.plan, moved.report) == ({"ids": [1, 2]}, report)
    assert runs.get(pk=run.pk).report_digest["type_mappings"] == mappings
    summary = runs.get(pk=rollback.pk).report_digest["rollback"]
    assert summary["rows"][0]["planned"] == 2
    assert (len(summary["left"]), summary["left_more"]) == (20, 10)
    assert not documents.filter(run_id=empty.pk).exists()
    assert runs.get(pk=empty.pk).report_digest == {}  # as added: an empty digest


def test_the_migration_can_be_reversed(old_apps):
    run = _old_run(old_apps, type="FULL", plan={"ids": [3]}, report={"counts": {}})
    _migrate(AFTER)
    apps = _migrate(BEFORE)
    restored = apps.get_model(APP, "MigrationRun").objects.get(pk=run.pk)
    assert (restored.plan, restored.report) == ({"ids": [3]}, {"counts": {}})
