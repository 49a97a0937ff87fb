"""/api/projects/{id}/schedule: CRUD, validation, pause/resume, the cut-over, tenant
isolation, and the django-celery-beat entry kept in step with the schedule."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.fixtures.platform import API_TOKEN, PAT

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("allow_private_targets")]


def url(project: Any, suffix: str = "") -> str:
    return f"/api/projects/{project.id}/schedule{suffix}"


def iso(delta: timedelta) -> str:
    return (timezone.now() + delta).isoformat()


@pytest.fixture
def connected(owner_api, project):
    r = owner_api.put(
        f"/api/projects/{project.id}/connection",
        {
            "source": {"base_url": "http://127.0.0.1:9", "org": "o", "project": "p", "pat": PAT},
            "target": {
                "base_url": "http://127.0.0.1:9",
                "email": "m@example.com",
                "project_key": "PROJ",
                "api_token": API_TOKEN,
            },
        },
        format="json",
    )
    assert r.status_code == 201
    return project


def beat_entry(project: Any) -> Any:
    from django_celery_beat.models import PeriodicTask

    from migrations_app.models import SyncSchedule

    schedule = SyncSchedule.objects.get(project=project)
    assert schedule.periodic_task_id is not None
    return PeriodicTask.objects.select_related("interval").get(pk=schedule.periodic_task_id)


def put(api: Any, project: Any, **fields: Any) -> Any:
    body = {"intervalMinutes": 15, "cutoverAt": iso(timedelta(days=7)), **fields}
    return api.put(url(project), body, format="json")


# --------------------------------------------------------------------------- CRUD
def test_put_creates_it_with_defaults_and_a_beat_entry(owner_api, connected):
    r = put(owner_api, connected)
    assert r.status_code == 201, r.content
    out = r.json()
    assert out["status"] == "ACTIVE"
    assert out["intervalMinutes"] == 15
    assert out["options"] == {
        "migrate_attachments": True,
        "migrate_comments": True,
        "migrate_links": True,
        "type_overrides": {},
        "state_overrides": {},
        "field_map": {},
        "user_map": {},
        "link_type_map": {},
        "migrate_history": True,
        "area_filter": None,
        "type_filter": None,
    }
    assert out["runCount"] == out["skipCount"] == 0 and out["recentTicks"] == []
    assert out["nextTickAt"] is not None
    assert owner_api.get(url(connected)).json() | {"nextTickAt": None} == out | {"nextTickAt": None}
    entry = beat_entry(connected)
    assert entry.task == "migrations.schedule_tick"
    assert json.loads(entry.args) == [str(connected.id)]
    assert (entry.interval.every, entry.interval.period) == (900, "seconds")
    assert entry.enabled and entry.expire_seconds == 900
    assert entry.start_time.isoformat().replace("+00:00", "Z") == out["startAt"]


def test_put_again_replaces_it_and_moves_the_beat_entry(owner_api, connected):
    put(owner_api, connected)
    start = iso(timedelta(hours=1))
    r = put(
        owner_api,
        connected,
        intervalMinutes=5,
        startAt=start,
        options={"type_filter": "Bug, Task", "migrate_links": False},
    )
    assert r.status_code == 200, r.content
    assert r.json()["options"]["type_filter"] == "Bug, Task"
    assert r.json()["options"]["migrate_links"] is False
    assert r.json()["nextTickAt"] == r.json()["startAt"]  # not started yet
    entry = beat_entry(connected)
    assert entry.interval.every == 300
    assert entry.start_time == datetime.fromisoformat(start)


def test_patch_changes_only_what_it_sends_and_merges_options(owner_api, connected):
    first = put(owner_api, connected, options={"state_overrides": {"Resolved": "Done"}}).json()
    r = owner_api.patch(
        url(connected),
        {"intervalMinutes": 30, "options": {"migrate_comments": False}},
        format="json",
    )
    assert r.status_code == 200, r.content
    out = r.json()
    assert out["intervalMinutes"] == 30 and out["cutoverAt"] == first["cutoverAt"]
    assert out["options"]["state_overrides"] == {"Resolved": "Done"}
    assert out["options"]["migrate_comments"] is False
    assert beat_entry(connected).interval.every == 1800


def test_delete_removes_the_schedule_and_its_beat_entry(owner_api, connected):
    from django_celery_beat.models import PeriodicTask

    put(owner_api, connected)
    assert owner_api.delete(url(connected)).status_code == 204
    assert owner_api.get(url(connected)).json()["code"] == "SCHEDULE_NOT_FOUND"
    assert not PeriodicTask.objects.filter(task="migrations.schedule_tick").exists()


def test_deleting_the_project_takes_the_beat_entry_with_it(owner_api, connected):
    from django_celery_beat.models import PeriodicTask

    put(owner_api, connected)
    assert owner_api.delete(f"/api/projects/{connected.id}").status_code == 204
    assert not PeriodicTask.objects.filter(task="migrations.schedule_tick").exists()


def test_a_project_without_one_answers_schedule_not_found(owner_api, connected):
    for method, suffix in (
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("post", "/pause"),
        ("post", "/resume"),
    ):
        r = getattr(owner_api, method)(url(connected, suffix), {}, format="json")
        assert r.status_code == 404, (method, suffix)
        assert r.json()["code"] == "SCHEDULE_NOT_FOUND"


# --------------------------------------------------------------------------- states
def test_pause_and_resume_toggle_the_beat_entry(owner_api, connected):
    put(owner_api, connected)
    r = owner_api.post(url(connected, "/pause"))
    assert r.status_code == 200 and r.json()["status"] == "PAUSED"
    assert r.json()["nextTickAt"] is None
    assert not beat_entry(connected).enabled
    assert owner_api.post(url(connected, "/pause")).json()["status"] == "PAUSED"  # idempotent
    # a paused schedule stays paused when replaced
    assert put(owner_api, connected, intervalMinutes=20).json()["status"] == "PAUSED"
    r = owner_api.post(url(connected, "/resume"))
    assert r.status_code == 200 and r.json()["status"] == "ACTIVE"
    assert beat_entry(connected).enabled


def test_after_the_cut_over_it_is_ended_and_cannot_resume(owner_api, connected):
    from migrations_app.models import SyncSchedule

    put(owner_api, connected)
    past = timezone.now() - timedelta(minutes=1)
    SyncSchedule.objects.filter(project=connected).update(
        start_at=past - timedelta(hours=1), cutover_at=past
    )
    assert owner_api.get(url(connected)).json()["status"] == "ENDED"
    for action in ("/pause", "/resume"):
        r = owner_api.post(url(connected, action))
        assert r.status_code == 409, r.content
        assert r.json()["code"] == "SCHEDULE_ENDED"
    assert SyncSchedule.objects.get(project=connected).status == "ENDED"
    assert not beat_entry(connected).enabled
    # a later cut-over starts it again
    r = owner_api.patch(url(connected), {"cutoverAt": iso(timedelta(days=1))}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "ACTIVE"
    assert beat_entry(connected).enabled


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("intervalMinutes", 0.5),
        ("intervalMinutes", 0),
        ("intervalMinutes", "15"),
        ("intervalMinutes", True),
        ("intervalMinutes", 7 * 24 * 60 + 1),
        ("intervalMinutes", KeyError),
        ("cutoverAt", KeyError),
        ("cutoverAt", "tomorrow"),
        ("cutoverAt", 1700000000),
        ("startAt", "2024-13-40T00:00:00Z"),
        ("options.dry_run", True),
        ("options.migrate_links", "no"),
        ("options.type_overrides", ["Feature"]),
        ("options.type_filter", ["Bug"]),
        ("every", 5),
    ],
)
def test_put_reports_each_bad_field_by_dotted_path(owner_api, connected, field, value):
    body: dict[str, Any] = {
        "intervalMinutes": 15,
        "cutoverAt": iso(timedelta(days=1)),
        "options": {},
    }
    node, key = (body["options"], field.split(".")[1]) if "." in field else (body, field)
    if value is KeyError:
        del node[key]
    else:
        node[key] = value
    r = owner_api.put(url(connected), body, format="json")
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert field in r.json()["details"], r.json()["details"]


def test_the_cut_over_must_be_after_the_start_and_in_the_future(owner_api, connected):
    r = put(owner_api, connected, startAt=iso(timedelta(days=2)), cutoverAt=iso(timedelta(days=1)))
    assert r.status_code == 400 and set(r.json()["details"]) == {"cutoverAt"}
    r = put(
        owner_api, connected, startAt=iso(-timedelta(days=2)), cutoverAt=iso(-timedelta(days=1))
    )
    assert r.status_code == 400 and "future" in r.json()["details"]["cutoverAt"][0]


def test_a_schedule_needs_a_saved_connection_with_both_secrets(owner_api, project):
    r = put(owner_api, project)
    assert r.status_code == 400
    assert set(r.json()["details"]) == {"connection"}


def test_the_minimum_interval_comes_from_the_setting(owner_api, connected, settings):
    assert put(owner_api, connected, intervalMinutes=0.1).status_code == 400
    settings.MIGRATOR_SCHEDULE_MIN_SECONDS = 5
    r = put(owner_api, connected, intervalMinutes=0.1)
    assert r.status_code == 201, r.content
    assert beat_entry(connected).interval.every == 6


# --------------------------------------------------------------------------- tenants
def test_another_tenants_project_answers_like_a_missing_one(owner_api, outsider_api, connected):
    put(owner_api, connected)
    missing = str(uuid.uuid4())
    for method, suffix in (
        ("get", ""),
        ("put", ""),
        ("patch", ""),
        ("delete", ""),
        ("post", "/pause"),
        ("post", "/resume"),
    ):
        body = {"intervalMinutes": 15, "cutoverAt": iso(timedelta(days=1))}
        theirs = getattr(outsider_api, method)(url(connected, suffix), body, format="json")
        nothing = getattr(outsider_api, method)(
            f"/api/projects/{missing}/schedule{suffix}", body, format="json"
        )
        assert theirs.status_code == nothing.status_code == 404, (method, suffix)
        assert theirs.json() == nothing.json()
        assert theirs.json()["code"] == "PROJECT_NOT_FOUND"
    assert owner_api.get(url(connected)).json()["status"] == "ACTIVE"  # untouched


def test_the_admin_lists_schedules_and_their_ticks(owner_api, connected, admin_client):
    from migrations_app import schedules

    put(owner_api, connected, startAt=iso(-timedelta(minutes=1)))
    assert schedules.schedule_tick(str(connected.id)) == "STARTED"
    assert admin_client.get("/admin/migrations_app/syncschedule/").status_code == 200
    page = admin_client.get(f"/admin/migrations_app/syncschedule/{connected.pk}/change/")
    assert page.status_code == 200 and "STARTED" in page.content.decode()
