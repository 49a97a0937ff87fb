"""Schemathesis against our own OpenAPI schema, authenticated and bounded.

Every documented operation gets generated requests (valid and invalid); no
response may be a 500, carry an undocumented status, or break its schema.
Half the cases use ids that exist, so that success paths are exercised too.
"""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.platform.documents import with_report

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_schema(db, settings):
    from django.core import signals
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    settings.MIGRATOR_ALLOW_PRIVATE_TARGETS = True
    # As Django's test client does: the in-process app must not close the test's
    # connection (it holds the test transaction) at the end of each request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")
_turn = itertools.count()


@pytest.fixture
def fuzz_world(owner, project, make_run):
    from rest_framework_simplejwt.tokens import RefreshToken

    from migrations_app.models import LedgerEntry, RunItem
    from migrations_app.webhooks.services import webhook_create

    run = with_report(make_run("RUNNING"), {"problems": []})
    RunItem.objects.create(run=run, ado_id=1, ado_type="Bug", jira_key="PROJ-1", status="CREATED")
    LedgerEntry.objects.create(project=project, ado_id=1, jira_key="PROJ-1", jira_id="10001")
    webhook = webhook_create(project=project, url="http://127.0.0.1:9/hook").webhook
    return {
        "token": str(RefreshToken.for_user(owner).access_token),
        "ids": {
            "project_id": str(project.id),
            "run_id": str(run.id),
            "webhook_id": str(webhook.id),
        },
    }


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_honours_its_schema(case, fuzz_world):
    if case.path_parameters and next(_turn) % 2 == 0:
        for name in case.path_parameters:
            if name in fuzz_world["ids"]:
                case.path_parameters[name] = fuzz_world["ids"][name]
    case.call_and_validate(
        headers={"Authorization": f"Bearer {fuzz_world['token']}"}, checks=CHECKS
    )
