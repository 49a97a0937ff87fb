"""/api/projects/{id}/webhooks: create, read, change, delete, ping, delivery log;
the secret write-only, the URL guarded, other tenants' ids answered as missing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from tests.webhooks.support import add_webhook

pytestmark = pytest.mark.django_db


def hooks_url(project: Any, *rest: str) -> str:
    return "/".join([f"/api/projects/{project.id}/webhooks", *rest])


@pytest.fixture
def hook(owner_api: Any, project: Any, allow_private_targets: None) -> dict[str, Any]:
    return add_webhook(owner_api, project, "http://127.0.0.1:9/hook")


# --------------------------------------------------------------------------- create
def test_it_generates_a_secret_and_shows_it_once(owner_api, project, allow_private_targets):
    created = add_webhook(owner_api, project, "http://127.0.0.1:9/hook/")
    assert created["secret"].startswith("whsec_")
    assert created["url"] == "http://127.0.0.1:9/hook/"  # the trailing slash is kept
    assert created["enabled"] is True and created["projectId"] == str(project.id)
    assert set(created) == {"id", "projectId", "url", "enabled", "createdAt", "updatedAt", "secret"}
    shown = owner_api.get(hooks_url(project, created["id"])).json()
    listed = owner_api.get(hooks_url(project)).json()
    assert "secret" not in shown and all("secret" not in w for w in listed)
    assert created["secret"] not in json.dumps([shown, listed])


def test_a_chosen_secret_is_not_echoed_and_is_stored_encrypted(
    owner_api, project, allow_private_targets
):
    from migrations_app import crypto
    from migrations_app.models import Webhook

    secret = "whsec_my-own-secret-value"
    created = add_webhook(owner_api, project, "http://127.0.0.1:9/hook", secret=secret)
    assert "secret" not in created
    stored = Webhook.objects.get(pk=created["id"]).secret_encrypted
    assert secret not in stored and crypto.decrypt(stored) == secret
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM migrations_app_webhook")
        assert secret not in json.dumps(cursor.fetchall(), default=str)


def test_a_private_url_is_refused_when_private_targets_are_not_allowed(
    owner_api, project, settings
):
    settings.MIGRATOR_ALLOW_PRIVATE_TARGETS = False
    for url in ("https://127.0.0.1/hook", "https://10.0.0.8/hook", "https://[::1]:8443/x"):
        r = owner_api.post(hooks_url(project), {"url": url}, format="json")
        assert r.status_code == 400, (url, r.content)
        body = r.json()
        assert body["code"] == "VALIDATION_ERROR" and list(body["details"]) == ["url"]
        assert "non-public" in body["details"]["url"][0]
    r = owner_api.post(hooks_url(project), {"url": "http://93.184.216.34/hook"}, format="json")
    assert r.status_code == 400 and "https" in r.json()["details"]["url"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": 5}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "http://user:pw@127.0.0.1/hook"}, "url"),
        ({"url": "http://127.0.0.1/hook?token=x"}, "url"),
        ({"url": "http://127.0.0.1/hook", "secret": "short"}, "secret"),
        ({"url": "http://127.0.0.1/hook", "secret": 12345678901234567}, "secret"),
        ({"url": "http://127.0.0.1/hook", "enabled": "yes"}, "enabled"),
        ({"url": "http://127.0.0.1/hook", "events": ["run.status"]}, "events"),
    ],
)
def test_bad_fields_are_named(owner_api, project, allow_private_targets, body, field):
    r = owner_api.post(hooks_url(project), body, format="json")
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "VALIDATION_ERROR" and field in r.json()["details"]


def test_the_same_url_twice_is_refused(owner_api, project, hook):
    r = owner_api.post(hooks_url(project), {"url": hook["url"]}, format="json")
    assert r.status_code == 400 and list(r.json()["details"]) == ["url"]


def test_a_project_has_a_bounded_number_of_webhooks(owner_api, project, allow_private_targets):
    from migrations_app.webhooks.services import MAX_WEBHOOKS_PER_PROJECT

    for n in range(MAX_WEBHOOKS_PER_PROJECT):
        add_webhook(owner_api, project, f"http://127.0.0.1:9/hook/{n}")
    r = owner_api.post(hooks_url(project), {"url": "http://127.0.0.1:9/more"}, format="json")
    assert r.status_code == 400 and r.json()["code"] == "VALIDATION_ERROR"


# --------------------------------------------------------------------------- change, delete
def test_it_changes_the_url_and_the_enabled_flag(owner_api, project, hook):
    r = owner_api.patch(
        hooks_url(project, hook["id"]),
        {"url": "http://127.0.0.1:9/moved", "enabled": False},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["url"] == "http://127.0.0.1:9/moved" and r.json()["enabled"] is False
    assert "secret" not in r.json()


def test_a_patch_is_guarded_and_validated_too(owner_api, project, hook, settings):
    settings.MIGRATOR_ALLOW_PRIVATE_TARGETS = False
    r = owner_api.patch(
        hooks_url(project, hook["id"]), {"url": "https://127.0.0.1/x"}, format="json"
    )
    assert r.status_code == 400 and list(r.json()["details"]) == ["url"]
    r = owner_api.patch(hooks_url(project, hook["id"]), {"secret": "x"}, format="json")
    assert r.status_code == 400 and list(r.json()["details"]) == ["secret"]


def test_it_deletes_a_webhook(owner_api, project, hook):
    assert owner_api.delete(hooks_url(project, hook["id"])).status_code == 204
    r = owner_api.get(hooks_url(project, hook["id"]))
    assert r.status_code == 404 and r.json()["code"] == "WEBHOOK_NOT_FOUND"
    assert owner_api.get(hooks_url(project)).json() == []


# --------------------------------------------------------------------------- who sees what
def test_a_teammate_manages_the_tenants_webhooks(teammate_api, project, hook):
    assert teammate_api.get(hooks_url(project, hook["id"])).status_code == 200


def test_another_tenants_ids_answer_like_missing_ones(
    outsider_api, outsider, project, hook, allow_private_targets
):
    from migrations_app.models import Project

    for method in ("get", "patch", "delete"):
        r = getattr(outsider_api, method)(hooks_url(project, hook["id"]), {}, format="json")
        assert r.status_code == 404 and r.json()["code"] == "PROJECT_NOT_FOUND", method
    for path in (hooks_url(project), hooks_url(project, hook["id"], "deliveries")):
        r = outsider_api.get(path)
        assert r.status_code == 404 and r.json()["code"] == "PROJECT_NOT_FOUND"
    r = outsider_api.post(hooks_url(project), {"url": "http://127.0.0.1:9/x"}, format="json")
    assert r.status_code == 404 and r.json()["code"] == "PROJECT_NOT_FOUND"
    r = outsider_api.post(hooks_url(project, hook["id"], "test"))
    assert r.status_code == 404
    # Their own project with our webhook's id: as if it did not exist.
    theirs = Project.objects.create(tenant=outsider.tenant, name="Theirs")
    r = outsider_api.get(hooks_url(theirs, hook["id"]))
    assert r.status_code == 404 and r.json()["code"] == "WEBHOOK_NOT_FOUND"
    r = outsider_api.get(hooks_url(theirs, "not-a-uuid"))
    assert r.status_code == 404 and r.json()["code"] == "WEBHOOK_NOT_FOUND"


def test_a_webhook_of_another_project_is_not_found_under_this_one(owner_api, project, hook, tenant):
    from migrations_app.models import Project

    other = Project.objects.create(tenant=tenant, name="Other")
    r = owner_api.get(hooks_url(other, hook["id"]))
    assert r.status_code == 404 and r.json()["code"] == "WEBHOOK_NOT_FOUND"


def test_anonymous_callers_are_refused(anon_api, project, hook):
    r = anon_api.get(hooks_url(project))
    assert r.status_code == 401 and r.json()["code"] == "NOT_AUTHENTICATED"


def test_an_unserved_method_is_405(owner_api, project, hook):
    r = owner_api.put(hooks_url(project, hook["id"]), {}, format="json")
    assert r.status_code == 405 and r.json()["code"] == "METHOD_NOT_ALLOWED"
    assert r["Allow"] == "GET, PATCH, DELETE, HEAD, OPTIONS"


# --------------------------------------------------------------------------- delivery log
def test_the_delivery_log_is_paged_newest_first_and_filters_by_state(
    owner_api, project, hook, make_run
):
    from migrations_app.models import WebhookDelivery

    for _ in range(3):
        run = make_run("RUNNING")
        owner_api.post(f"/api/migrations/{run.id}/pause")
        owner_api.post(f"/api/migrations/{run.id}/cancel")
    WebhookDelivery.objects.filter(type="run.finished").update(state="delivered")
    url = hooks_url(project, hook["id"], "deliveries")
    page = owner_api.get(f"{url}?page_size=4").json()
    assert page["count"] == 9 and len(page["results"]) == 4 and page["next"]
    assert page["previous"] is None
    first = page["results"][0]
    assert first["event"] == "run.finished" and first["runId"] == str(run.id)
    assert first["payload"]["deliveryId"] == first["id"]
    assert set(first) == {
        "id",
        "webhookId",
        "event",
        "runId",
        "state",
        "attemptCount",
        "lastStatusCode",
        "lastError",
        "nextAttemptAt",
        "payload",
        "createdAt",
        "finishedAt",
        "attempts",
    }
    delivered = owner_api.get(f"{url}?state=delivered").json()
    assert delivered["count"] == 3 and {d["state"] for d in delivered["results"]} == {"delivered"}
    pending = owner_api.get(f"{url}?state=pending").json()["results"]
    assert all(d["nextAttemptAt"] for d in pending)
    r = owner_api.get(f"{url}?state=lost")
    assert r.status_code == 400 and list(r.json()["details"]) == ["state"]
    r = owner_api.get(f"{url}?page=99")
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"


def test_the_ping_is_enqueued_after_commit(
    owner_api, project, hook, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        r = owner_api.post(hooks_url(project, hook["id"], "test"))
    assert r.status_code == 202 and r.json()["payload"]["event"] == "ping"
    assert len(callbacks) == 1
