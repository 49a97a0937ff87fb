"""`make demo` runs again and again in one checkout: its setup finds the same demo
project, points its saved connection at the new sandboxes, keeps one schedule, and
clears what an earlier demo left (active runs, the ledger of a vanished Jira)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from tests.fixtures.platform import ROOT, _database_url


def sandbox_line(port: int, secret: str) -> dict[str, Any]:
    """What ``manage.py sandbox`` prints; ports and secrets change with every start."""
    return {
        "ado_base_url": f"http://127.0.0.1:{port}",
        "org": "fabrikam",
        "project": "Fabrikam Fiber",
        "pat": f"pat-{secret}",
        "jira_base_url": f"http://127.0.0.1:{port + 1}",
        "email": "migrator@example.com",
        "api_token": f"token-{secret}",
        "project_key": "FAB",
    }


def setup(line: dict[str, Any]) -> Any:
    from migrations_app.demo import SandboxConnection, setup_demo

    return setup_demo(SandboxConnection.from_line(line))


def state() -> dict[str, Any]:
    from django_celery_beat.models import PeriodicTask

    from migrations_app import crypto
    from migrations_app.demo import PROJECT_NAME
    from migrations_app.models import Project, ProjectConnection, SyncSchedule, Tenant, User

    connection = ProjectConnection.objects.get()
    schedule = SyncSchedule.objects.get()
    return {
        "tenants": list(Tenant.objects.values_list("slug", flat=True)),
        "users": list(User.objects.values_list("username", flat=True)),
        "projects": list(Project.objects.values_list("name", flat=True)),
        "project_name": PROJECT_NAME,
        "urls": (connection.ado_base_url, connection.jira_base_url),
        "secrets": (
            crypto.decrypt(connection.pat_encrypted),
            crypto.decrypt(connection.api_token_encrypted),
        ),
        "schedule": schedule,
        "beat_entries": PeriodicTask.objects.filter(task="migrations.schedule_tick").count(),
    }


@pytest.mark.django_db
def test_the_demo_setup_twice_in_a_row_gives_one_project_updated():
    first = setup(sandbox_line(41000, "first"))
    assert first.project_created
    second = setup(sandbox_line(42000, "second"))
    assert not second.project_created and second.project_id == first.project_id

    now = state()
    assert now["tenants"] == ["demo"] and now["users"] == ["demo"]
    assert now["projects"] == [now["project_name"]]
    assert now["urls"] == ("http://127.0.0.1:42000", "http://127.0.0.1:42001")
    assert now["secrets"] == ("pat-second", "token-second")
    schedule = now["schedule"]
    assert schedule.status == "ACTIVE" and schedule.interval_seconds == 120
    assert schedule.cutover_at - timezone.now() > timedelta(hours=23)
    assert now["beat_entries"] == 1


@pytest.mark.django_db
def test_the_demo_setup_cancels_runs_left_active_and_forgets_the_old_jira(make_run):
    from migrations_app.models import LedgerEntry, MigrationRun, Project

    first = setup(sandbox_line(41000, "first"))
    project = Project.objects.get(pk=first.project_id)
    left = make_run("RUNNING", of=project)
    LedgerEntry.objects.create(project=project, ado_id=1, jira_key="FAB-1", jira_id="10001")
    second = setup(sandbox_line(42000, "second"))
    assert second.cancelled_runs == [left.pk]
    assert MigrationRun.objects.get(pk=left.pk).status == "CANCELLED"
    assert second.ledger_forgotten == 1 and not LedgerEntry.objects.exists()


@pytest.mark.django_db
def test_a_paused_demo_schedule_stays_paused(client):
    from migrations_app import schedules
    from migrations_app.models import Project

    first = setup(sandbox_line(41000, "first"))
    schedules.schedule_pause(project=Project.objects.get(pk=first.project_id))
    setup(sandbox_line(42000, "second"))
    assert state()["schedule"].status == "PAUSED"


@pytest.mark.django_db
def test_the_demo_user_logs_in_and_sees_the_saved_connection(client):
    first = setup(sandbox_line(41000, "first"))
    r = client.post(
        "/api/auth/token",
        {"username": "demo", "password": "demo-password"},
        content_type="application/json",
    )
    token = r.json()["access"]
    r = client.get(
        f"/api/projects/{first.project_id}/connection", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200 and r.json()["hasPat"] and r.json()["hasApiToken"]


@pytest.mark.django_db
def test_the_command_reads_the_sandbox_line_on_stdin(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(sandbox_line(41000, "x")) + "\n"))
    call_command("demo_setup")
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["projectCreated"] is True and out["cancelledRuns"] == []


def load_demo_script() -> Any:
    spec = importlib.util.spec_from_file_location("demo_script", ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)
def test_the_demo_scripts_setup_step_runs_twice_against_one_database():
    """The very step ``make demo`` runs (``manage.py demo_setup`` in a subprocess), twice."""
    demo = load_demo_script()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEY),
        "MIGRATOR_VAR_DIR": str(settings.MIGRATOR_VAR_DIR),
        "MIGRATOR_ALLOW_PRIVATE_TARGETS": "true",
        "DEBUG": "true",
    }
    first = demo.setup_demo(sandbox_line(41000, "first"), env)
    second = demo.setup_demo(sandbox_line(42000, "second"), env)
    assert second["projectId"] == first["projectId"]
    assert (first["projectCreated"], second["projectCreated"]) == (True, False)
    now = state()
    assert now["projects"] == [now["project_name"]]
    assert now["secrets"] == ("pat-second", "token-second")
    assert now["beat_entries"] == 1
