"""create_tenant_user: creates, is idempotent, refuses to move a user between tenants."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def run(*args: str) -> None:
    call_command("create_tenant_user", *args)


def test_it_creates_the_tenant_and_the_user():
    from migrations_app.models import Tenant, User

    run("--tenant", "acme", "--username", "alice", "--password", "pw", "--email", "a@acme.test")
    user = User.objects.get(username="alice")
    assert user.tenant == Tenant.objects.get(slug="acme")
    assert user.check_password("pw")
    assert user.email == "a@acme.test"


def test_running_it_twice_changes_nothing():
    from migrations_app.models import Tenant, User

    args = ("--tenant", "acme", "--username", "alice", "--password", "pw")
    run(*args)
    before = User.objects.values().get(username="alice")
    run(*args)
    assert User.objects.values().get(username="alice") == before
    assert Tenant.objects.count() == 1
    assert User.objects.count() == 1


def test_a_second_user_joins_the_existing_tenant():
    from migrations_app.models import Tenant

    run("--tenant", "acme", "--username", "alice", "--password", "pw")
    run("--tenant", "acme", "--username", "bob", "--password", "pw")
    assert Tenant.objects.get(slug="acme").users.count() == 2


def test_it_refuses_to_move_a_user_to_another_tenant():
    run("--tenant", "acme", "--username", "alice", "--password", "pw")
    with pytest.raises(CommandError, match="another tenant"):
        run("--tenant", "globex", "--username", "alice", "--password", "pw")


def test_it_refuses_a_tenant_that_is_not_a_slug():
    with pytest.raises(CommandError):
        run("--tenant", "Not A Slug", "--username", "alice", "--password", "pw")


def test_the_user_can_log_in(client):
    run("--tenant", "acme", "--username", "alice", "--password", "s3cret")
    r = client.post(
        "/api/auth/token",
        {"username": "alice", "password": "s3cret"},
        content_type="application/json",
    )
    assert r.status_code == 200
