"""Key rotation of the stored secrets: saved connections' as runs', with MultiFernet."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from tests.fixtures.platform import API_TOKEN, PAT

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@pytest.fixture
def saved_under_the_old_key(settings, project, make_run):
    from migrations_app import connections

    settings.FIELD_ENCRYPTION_KEY = [OLD]
    connections.connection_put(
        project=project,
        change=connections.ConnectionChange(
            source={"base_url": "https://dev.azure.com", "org": "contoso", "project": "Fabrikam"},
            target={
                "base_url": "https://acme.atlassian.net",
                "email": "m@example.com",
                "project_key": "PROJ",
            },
            pat=PAT,
            api_token=API_TOKEN,
        ),
    )
    return make_run("COMPLETED")


def secrets_of(project, run):
    from migrations_app import crypto
    from migrations_app.models import MigrationRun, ProjectConnection

    row = ProjectConnection.objects.get(project=project)
    run = MigrationRun.objects.get(pk=run.pk)
    return [
        crypto.decrypt(token)
        for token in (
            row.pat_encrypted,
            row.api_token_encrypted,
            run.pat_encrypted,
            run.api_token_encrypted,
        )
    ]


def test_a_new_key_in_front_still_reads_the_saved_secrets(
    settings, project, saved_under_the_old_key
):
    from migrations_app import connections

    settings.FIELD_ENCRYPTION_KEY = [NEW, OLD]
    start = connections.resolve_start(project=project, run_type="FULL", payload={})
    assert (start.pat, start.api_token) == (PAT, API_TOKEN)


def test_rotate_secrets_re_encrypts_everything_so_the_old_key_can_go(
    settings, project, saved_under_the_old_key, capsys
):
    settings.FIELD_ENCRYPTION_KEY = [NEW, OLD]
    call_command("rotate_secrets")
    assert "re-encrypted 4 secret(s)" in capsys.readouterr().out
    settings.FIELD_ENCRYPTION_KEY = [NEW]
    assert secrets_of(project, saved_under_the_old_key) == [PAT, API_TOKEN, PAT, API_TOKEN]


def test_rotate_secrets_reports_secrets_no_key_reads(settings, project, saved_under_the_old_key):
    settings.FIELD_ENCRYPTION_KEY = [NEW]  # the old key dropped too early
    with pytest.raises(CommandError, match="4 secret"):
        call_command("rotate_secrets")


def test_a_start_with_an_unreadable_saved_secret_names_the_field(
    settings, project, saved_under_the_old_key
):
    from migrations_app import connections
    from migrations_app.errors import ApplicationError

    settings.FIELD_ENCRYPTION_KEY = [NEW]
    with pytest.raises(ApplicationError) as caught:
        connections.resolve_start(project=project, run_type="FULL", payload={})
    assert set(caught.value.details) == {
        "enginePayload.source.pat",
        "enginePayload.target.api_token",
    }
