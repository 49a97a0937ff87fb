"""The PAT and the API token never come back: not in a response, the stored row,
an event, a log line, the admin, the report or an item error."""

from __future__ import annotations

import json
import logging

import pytest
from django.db import connection

from tests.fixtures.platform import API_TOKEN, PAT, start_body

pytestmark = pytest.mark.django_db

SECRETS = (PAT, API_TOKEN)


def assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"secret leaked in {where}"


def test_no_response_row_event_log_or_admin_page_holds_a_secret(
    owner_api,
    project,
    allow_private_targets,
    admin_client,
    caplog,
    django_capture_on_commit_callbacks,
):
    from django_eventstream.models import Event

    from engine.ports import ItemRecord
    from migrations_app.engine_bridge import DjangoCheckpointStore, DjangoEventSink, Scrubber
    from migrations_app.models import MigrationRun, RunItem

    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []

    def hit(method: str, url: str, **kw) -> None:
        r = getattr(owner_api, method)(url, format="json", **kw)
        content = b"".join(r.streaming_content) if r.streaming else r.content
        bodies.append(f"{method.upper()} {url} -> {content.decode()}")

    with django_capture_on_commit_callbacks(execute=False):
        r = owner_api.post(
            f"/api/migrations/project/{project.id}/start", start_body(), format="json"
        )
    bodies.append(r.content.decode())
    run = MigrationRun.objects.get(pk=r.json()["id"])

    # The engine side: a careless engine echoes the secrets in logs, errors, reports.
    MigrationRun.objects.filter(pk=run.pk).update(status="RUNNING", lease_owner="w1")
    run.refresh_from_db()
    scrub = Scrubber(SECRETS)
    store = DjangoCheckpointStore(run, "w1", scrub)
    sink = DjangoEventSink(run.pk, scrub)
    with django_capture_on_commit_callbacks(execute=True):
        store.set_total(1)
        store.save_items(
            [ItemRecord(1, "Bug", "https://a/1", status="FAILED", error=f"401 for {PAT}")]
        )
        store.save_report({"auth": f"Basic {API_TOKEN}", "problems": [PAT]})
        store.save_plan({"note": PAT})
        sink.log(f"calling with token {API_TOKEN}")
        sink.progress(1, 1, 1.0)
    assert RunItem.objects.get(run=run).error == "401 for [redacted]"

    for url in [
        "/api/projects",
        f"/api/projects/{project.id}",
        f"/api/migrations?projectId={project.id}",
        f"/api/migrations/{run.id}/status",
        f"/api/migrations/{run.id}/items",
        f"/api/migrations/{run.id}/report",
        f"/api/migrations/{run.id}/crosswalk.csv",
    ]:
        hit("get", url)
    for action in ("pause", "resume", "cancel"):
        hit("post", f"/api/migrations/{run.id}/{action}")
    for body in bodies:
        assert_clean(body, body[:60])

    # The stored row, every column (the ciphertext is not the plaintext).
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM migrations_app_migrationrun")
        assert_clean(json.dumps(cursor.fetchall(), default=str), "the run row")
        cursor.execute("SELECT * FROM migrations_app_runitem")
        assert_clean(json.dumps(cursor.fetchall(), default=str), "the item rows")

    # Live events, as stored for replay.
    events = list(Event.objects.filter(channel=f"run-{run.id}").values_list("data", flat=True))
    assert events
    assert_clean("\n".join(events), "events")

    # The admin: list and change pages; not even the encrypted blobs are shown.
    run.refresh_from_db()
    for url in [
        "/admin/migrations_app/migrationrun/",
        f"/admin/migrations_app/migrationrun/{run.pk}/change/",
        "/admin/migrations_app/runitem/",
        "/admin/migrations_app/project/",
    ]:
        page = admin_client.get(url)
        assert page.status_code == 200, url
        text = page.content.decode()
        assert_clean(text, url)
        assert run.pat_encrypted not in text and run.api_token_encrypted not in text

    assert_clean(caplog.text, "logs")
