"""A webhook's secret is shown once (the create response, when generated) and then
never: not in a response, a log line, the admin, the delivery log or any row."""

from __future__ import annotations

import json
import logging

import pytest
from django.db import connection

from tests.webhooks.support import add_webhook, deliveries_of, drive

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("allow_private_targets")]

CHOSEN = "whsec_chosen-SECRET-5e1f0c9a"
TABLES = ("webhook", "webhookdelivery", "webhookattempt", "webhookevent")


def test_no_response_row_log_or_admin_page_holds_a_webhook_secret(
    owner_api, project, make_run, receiver, admin_client, caplog, settings
):
    settings.MIGRATOR_WEBHOOK_BACKOFF_SECONDS = 0.1
    caplog.set_level(logging.DEBUG)
    generated_hook = add_webhook(owner_api, project, receiver.script("/gen", 500, 200))
    generated = generated_hook.pop("secret")
    chosen_hook = add_webhook(owner_api, project, receiver.url("/chosen"), secret=CHOSEN)
    secrets = (generated, CHOSEN)

    run = make_run("RUNNING")
    owner_api.post(f"/api/migrations/{run.id}/pause")
    owner_api.post(f"/api/migrations/{run.id}/cancel")
    for hook in (generated_hook, chosen_hook):
        for delivery in deliveries_of(hook["id"]):
            drive(delivery.id)
    # paused, cancelled, finished: each refused once on /gen, then accepted
    assert len(receiver.of("/gen")) == 6 and len(receiver.of("/chosen")) == 3

    bodies = []
    base = f"/api/projects/{project.id}/webhooks"
    for hook in (generated_hook, chosen_hook):
        bodies += [
            owner_api.get(base).content,
            owner_api.get(f"{base}/{hook['id']}").content,
            owner_api.patch(f"{base}/{hook['id']}", {"enabled": True}, format="json").content,
            owner_api.post(f"{base}/{hook['id']}/test").content,
            owner_api.get(f"{base}/{hook['id']}/deliveries").content,
        ]
    text = b"\n".join(bodies).decode()
    assert any(d["attempts"] for d in json.loads(bodies[4])["results"])  # attempts are in it

    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"SELECT * FROM migrations_app_{table}")
            text += json.dumps(cursor.fetchall(), default=str)

    delivery = deliveries_of(generated_hook["id"])[0]
    for url in [
        "/admin/migrations_app/webhook/",
        f"/admin/migrations_app/webhook/{generated_hook['id']}/change/",
        "/admin/migrations_app/webhookdelivery/",
        f"/admin/migrations_app/webhookdelivery/{delivery.id}/change/",
    ]:
        page = admin_client.get(url)
        assert page.status_code == 200, url
        text += page.content.decode()
    assert "secret_encrypted" not in text

    text += caplog.text
    for secret in secrets:
        assert secret not in text
