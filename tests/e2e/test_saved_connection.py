"""Starts that leave the secrets (or the whole connection) to the project's saved
connection, end to end: the public API, a real worker, the sandboxes over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.support import (
    assert_no_duplicates,
    body_for,
    issues_by_ado,
    start_url,
    wait_final,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("allow_private_targets"),
]


def save_connection(api: Any, project: Any, boxes: Any, *, pat: str, api_token: str) -> None:
    body = {
        "source": {
            "base_url": boxes.ado_url,
            "org": boxes.org,
            "project": boxes.project,
            "pat": pat,
        },
        "target": {
            "base_url": boxes.jira_url,
            "email": boxes.email,
            "project_key": boxes.project_key,
            "api_token": api_token,
        },
    }
    r = api.put(f"/api/projects/{project.id}/connection", body, format="json")
    assert r.status_code in (200, 201), r.content


def start(api: Any, project: Any, body: dict[str, Any]) -> dict[str, Any]:
    r = api.post(start_url(project), body, format="json")
    assert r.status_code == 200, r.content
    return dict(r.json())


def test_a_start_that_leaves_out_the_secrets_completes_with_the_saved_ones(
    owner_api, project, celery_worker, sandboxes
):
    save_connection(owner_api, project, sandboxes, pat=sandboxes.pat, api_token=sandboxes.api_token)
    body = body_for(sandboxes)
    del body["enginePayload"]["source"]["pat"]
    del body["enginePayload"]["target"]["api_token"]
    celery_worker()
    final = wait_final(owner_api, start(owner_api, project, body)["id"])
    assert final["status"] == "COMPLETED", final
    assert final["successCount"] > 0
    assert_no_duplicates(sandboxes)

    # and with no source or target at all: everything from the saved connection
    again = wait_final(
        owner_api, start(owner_api, project, {"type": "FULL", "enginePayload": {}})["id"]
    )
    assert again["status"] == "COMPLETED", again
    assert again["successCount"] == 0  # all migrated already, nothing duplicated
    assert_no_duplicates(sandboxes)


def test_inline_secrets_win_over_the_saved_ones(owner_api, project, celery_worker, sandboxes):
    # Saved secrets the sandbox refuses: a run that used them would fail.
    save_connection(owner_api, project, sandboxes, pat="wrong-pat", api_token="wrong-token")
    celery_worker()
    inline = wait_final(owner_api, start(owner_api, project, body_for(sandboxes))["id"])
    assert inline["status"] == "COMPLETED", inline
    assert issues_by_ado(sandboxes)

    saved = body_for(sandboxes)
    del saved["enginePayload"]["source"]["pat"]
    refused = wait_final(owner_api, start(owner_api, project, saved)["id"])
    assert refused["status"] == "FAILED", refused  # the saved (wrong) PAT was used this time
    assert "wrong-pat" not in refused["statusReason"]
