"""Login, refresh, and the 401 shape of every protected endpoint."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.django_db

PROTECTED = [
    ("get", "/api/projects"),
    ("post", "/api/projects"),
    ("get", f"/api/projects/{uuid.uuid4()}"),
    ("patch", f"/api/projects/{uuid.uuid4()}"),
    ("delete", f"/api/projects/{uuid.uuid4()}"),
    ("get", f"/api/migrations?projectId={uuid.uuid4()}"),
    ("post", f"/api/migrations/project/{uuid.uuid4()}/start"),
    ("get", f"/api/migrations/{uuid.uuid4()}/status"),
    ("post", f"/api/migrations/{uuid.uuid4()}/pause"),
    ("post", f"/api/migrations/{uuid.uuid4()}/resume"),
    ("post", f"/api/migrations/{uuid.uuid4()}/cancel"),
    ("get", f"/api/migrations/{uuid.uuid4()}/items"),
    ("get", f"/api/migrations/{uuid.uuid4()}/crosswalk.csv"),
    ("get", f"/api/migrations/{uuid.uuid4()}/report"),
]


def test_it_issues_access_and_refresh_tokens(anon_api, owner):
    r = anon_api.post(
        "/api/auth/token", {"username": "alice", "password": "pw-alice"}, format="json"
    )
    assert r.status_code == 200
    assert set(r.json()) == {"access", "refresh"}

    r2 = anon_api.post("/api/auth/token/refresh", {"refresh": r.json()["refresh"]}, format="json")
    assert r2.status_code == 200
    assert "access" in r2.json()


def test_an_access_token_from_login_opens_the_api(anon_api, owner):
    access = anon_api.post(
        "/api/auth/token", {"username": "alice", "password": "pw-alice"}, format="json"
    ).json()["access"]
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert anon_api.get("/api/projects").status_code == 200


def test_it_refuses_a_wrong_password_with_401_in_the_error_shape(anon_api, owner):
    r = anon_api.post("/api/auth/token", {"username": "alice", "password": "nope"}, format="json")
    assert r.status_code == 401
    assert r.json()["code"] == "NOT_AUTHENTICATED"
    assert set(r.json()) == {"code", "message", "details"}


def test_it_reports_missing_login_fields_as_validation_error(anon_api, db):
    r = anon_api.post("/api/auth/token", {}, format="json")
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert set(body["details"]) == {"username", "password"}


def test_it_refuses_a_bad_refresh_token(anon_api, db):
    r = anon_api.post("/api/auth/token/refresh", {"refresh": "garbage"}, format="json")
    assert r.status_code == 401
    assert r.json()["code"] == "NOT_AUTHENTICATED"


@pytest.mark.parametrize(("method", "url"), PROTECTED)
def test_every_endpoint_requires_a_bearer_token(anon_api, method, url):
    r = getattr(anon_api, method)(url, format="json")
    assert r.status_code == 401
    body = r.json()
    assert body["code"] == "NOT_AUTHENTICATED"
    assert set(body) == {"code", "message", "details"}
    assert r["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "url"), PROTECTED[:3])
def test_a_garbage_bearer_token_is_401(api, method, url):
    client = api(None)
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    r = getattr(client, method)(url, format="json")
    assert r.status_code == 401
    assert r.json()["code"] == "NOT_AUTHENTICATED"


def test_a_user_without_tenant_is_refused(api, db):
    from migrations_app.models import User

    operator = User.objects.create_user(username="op", password="x")
    r = api(operator).get("/api/projects")
    assert r.status_code == 403
    assert r.json()["code"] == "PERMISSION_DENIED"


def test_login_is_throttled_in_the_error_shape(anon_api, owner, settings):
    from rest_framework.throttling import ScopedRateThrottle

    rates = {**ScopedRateThrottle.THROTTLE_RATES, "auth": "2/min"}
    original = ScopedRateThrottle.THROTTLE_RATES
    ScopedRateThrottle.THROTTLE_RATES = rates
    try:
        codes = [
            anon_api.post("/api/auth/token", {"username": "alice", "password": "x"}, format="json")
            for _ in range(3)
        ]
    finally:
        ScopedRateThrottle.THROTTLE_RATES = original
    assert codes[-1].status_code == 429
    assert codes[-1].json()["code"] == "THROTTLED"
    assert "Retry-After" in codes[-1]
