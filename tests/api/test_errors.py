"""Every answer under /api/ is JSON; every error there is {"code", "message", "details"}.

Requests go through Django's full stack with CSRF checks enforced (as for a real
client: Django's test client skips them by default), for unknown URLs, methods a
URL does not serve, and the failures Django answers before or around the views.
The dashboard's pages keep Django's HTML.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.views.csrf import csrf_failure

from migrations_app.api.middleware import ApiGuardMiddleware

pytestmark = pytest.mark.django_db

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
SOME_ID = "6f1c1f7e-4f2a-4c59-9a55-2f1b8f0c0d11"


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content[:200])
    assert response["Content-Type"].startswith("application/json")
    if response.request["REQUEST_METHOD"] == "HEAD":
        assert response.content == b""
        return {}
    body = json.loads(response.content)
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], dict)
    return dict(body)


@pytest.fixture
def client() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.fixture(params=["anonymous", "authenticated"])
def headers(request: Any, owner: Any) -> dict[str, str]:
    from rest_framework_simplejwt.tokens import RefreshToken

    if request.param == "anonymous":
        return {}
    return {"Authorization": f"Bearer {RefreshToken.for_user(owner).access_token}"}


def call(client: Client, method: str, path: str, **kwargs: Any) -> Any:
    return client.generic(method, path, **kwargs)


# --------------------------------------------------------------------------- unknown URLs
UNKNOWN = [
    "/api",
    "/api/",
    "/api/nonexistent",
    "/api/nonexistent/deep/path",
    "/api/nonexistent/deep/path/",
    f"/api/migrations/{SOME_ID}/nope",
    f"/api/migrations/{SOME_ID}/nope/",
    f"/api/migrations/{SOME_ID}/stream/extra",
    "/api/projects/",  # endpoints are spelled without their trailing slash...
    f"/api/migrations/{SOME_ID}/status/",
    "/api/schema",  # ...except the schema and the docs, spelled with it
    "/api/docs",
]


@pytest.mark.parametrize("path", UNKNOWN)
@pytest.mark.parametrize("method", METHODS)
def test_an_unknown_api_url_is_404_for_every_method(
    client: Client, headers: dict[str, str], method: str, path: str
) -> None:
    response = call(client, method, path, headers=headers)
    assert_error(response, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("path", "meant"),
    [
        ("/api/projects/", "/api/projects"),
        (f"/api/migrations/{SOME_ID}/status/", f"/api/migrations/{SOME_ID}/status"),
        ("/api/schema", "/api/schema/"),
    ],
)
def test_a_trailing_slash_mismatch_names_the_endpoint(
    client: Client, path: str, meant: str
) -> None:
    body = assert_error(client.get(path), 404, "NOT_FOUND")
    assert body["message"].endswith(f"did you mean {meant}?")


def test_an_unknown_url_with_a_json_body_is_still_404(client: Client) -> None:
    response = client.post("/api/nothing/here", {"a": 1}, content_type="application/json")
    assert_error(response, 404, "NOT_FOUND")


# --------------------------------------------------------------------------- methods
PID, RID = str(uuid.uuid4()), str(uuid.uuid4())
ALLOWED = {
    "/api/auth/token": {"POST", "OPTIONS"},
    "/api/auth/token/refresh": {"POST", "OPTIONS"},
    "/api/projects": {"GET", "HEAD", "POST", "OPTIONS"},
    f"/api/projects/{PID}": {"GET", "HEAD", "PATCH", "DELETE", "OPTIONS"},
    "/api/migrations": {"GET", "HEAD", "OPTIONS"},
    f"/api/migrations/project/{PID}/start": {"POST", "OPTIONS"},
    f"/api/migrations/{RID}/status": {"GET", "HEAD", "OPTIONS"},
    f"/api/migrations/{RID}/pause": {"POST", "OPTIONS"},
    f"/api/migrations/{RID}/resume": {"POST", "OPTIONS"},
    f"/api/migrations/{RID}/cancel": {"POST", "OPTIONS"},
    f"/api/migrations/{RID}/items": {"GET", "HEAD", "OPTIONS"},
    f"/api/migrations/{RID}/crosswalk.csv": {"GET", "HEAD", "OPTIONS"},
    f"/api/migrations/{RID}/report": {"GET", "HEAD", "OPTIONS"},
    f"/api/migrations/{RID}/stream": {"GET"},
    f"/api/migrations/{RID}/stream-token": {"POST", "OPTIONS"},
    "/api/schema/": {"GET", "HEAD", "OPTIONS"},
    "/api/docs/": {"GET", "HEAD"},
}
NOT_SERVED = [
    (path, method)
    for path, allowed in ALLOWED.items()
    for method in (*METHODS, "TRACE", "FROBNICATE")
    if method not in allowed
]


@pytest.mark.parametrize(("path", "method"), NOT_SERVED)
def test_a_method_a_url_does_not_serve_is_405_with_allow(
    client: Client, headers: dict[str, str], path: str, method: str
) -> None:
    response = call(client, method, path, headers=headers)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert {m.strip() for m in response["Allow"].split(",")} == ALLOWED[path]


def test_a_405_names_the_method(client: Client) -> None:
    body = assert_error(client.put("/api/projects"), 405, "METHOD_NOT_ALLOWED")
    assert body["message"] == 'Method "PUT" not allowed.'


@pytest.mark.parametrize(("path", "allowed"), ALLOWED.items(), ids=list(ALLOWED))
def test_a_served_method_without_credentials_is_never_html(
    client: Client, path: str, allowed: set[str]
) -> None:
    for method in allowed:
        response = call(client, method, path)
        if path in ("/api/schema/", "/api/docs/") and method in ("GET", "HEAD", "OPTIONS"):
            continue  # public: the schema and the docs page themselves
        assert response["Content-Type"].startswith("application/json"), (method, path)
        # OPTIONS on the login endpoints (no credentials needed) is DRF's JSON metadata.
        expected = {400, 401, 415} | ({200} if method == "OPTIONS" else set())
        assert response.status_code in expected, (method, path, response.status_code)


# --------------------------------------------------------------------------- CSRF
def test_a_session_cookie_does_not_bring_csrf_into_the_api(client: Client, owner: Any) -> None:
    """The API reads bearer tokens only: a logged-in browser's cookie-carrying POST
    without a CSRF token is an unauthenticated API call, not Django's HTML 403."""
    client.force_login(owner)
    response = client.post("/api/projects", {"name": "x"}, content_type="application/json")
    assert_error(response, 401, "NOT_AUTHENTICATED")
    response = client.post("/api/nothing", {}, content_type="application/json")
    assert_error(response, 404, "NOT_FOUND")


def test_a_dashboard_form_still_requires_its_csrf_token(client: Client, owner: Any) -> None:
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


def guarded(view: Callable[[HttpRequest], HttpResponse], path: str) -> Any:
    request = RequestFactory().post(path)
    return ApiGuardMiddleware(view)(request)


def test_the_guard_reshapes_a_csrf_failure_under_api_only() -> None:
    def reject(request: HttpRequest) -> HttpResponse:
        return csrf_failure(request, reason="CSRF cookie not set.")

    response = guarded(reject, "/api/anything")
    assert response.status_code == 403
    assert json.loads(response.content)["code"] == "PERMISSION_DENIED"
    page = guarded(reject, "/accounts/login/")
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "BAD_REQUEST"),
        (405, "METHOD_NOT_ALLOWED"),
        (429, "THROTTLED"),
        (503, "INTERNAL_ERROR"),
    ],
)
def test_the_guard_keeps_status_and_headers_of_a_non_json_error(status: int, code: str) -> None:
    def plain(request: HttpRequest) -> HttpResponse:
        response = HttpResponse("<h1>no</h1>", status=status, content_type="text/html")
        response["Allow"] = "GET"
        response["Retry-After"] = "7"
        return response

    response = guarded(plain, "/api/x")
    assert response.status_code == status
    assert json.loads(response.content)["code"] == code
    assert response["Allow"] == "GET" and response["Retry-After"] == "7"


def test_the_guard_leaves_successes_and_json_alone() -> None:
    def ok(request: HttpRequest) -> HttpResponse:
        return HttpResponse("a,b\n", content_type="text/csv")

    assert guarded(ok, "/api/x").content == b"a,b\n"


# --------------------------------------------------------------------------- Django-level
@pytest.mark.parametrize("debug", [False, True])
def test_a_disallowed_host_is_400_in_shape(client: Client, settings: Any, debug: bool) -> None:
    settings.DEBUG = debug
    for method in ("GET", "POST"):
        response = call(client, method, "/api/projects", HTTP_HOST="evil.example")
        body = assert_error(response, 400, "BAD_REQUEST")
        assert "ALLOWED_HOSTS" not in body["message"]  # no configuration hints to clients


def test_a_disallowed_host_on_a_page_stays_html(client: Client) -> None:
    response = client.get("/accounts/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "path",
    ["/api/nothing", "/api/auth/token", "/api/projects", f"/api/migrations/{RID}/pause"],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_an_oversized_body_is_413_in_shape(
    client: Client, settings: Any, headers: dict[str, str], method: str, path: str
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "x" * 2000})
    response = call(
        client, method, path, data=body, content_type="application/json", headers=headers
    )
    detail = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert detail["details"] == {"maxBytes": 1000}


@pytest.mark.parametrize(
    "raw", [b"{not json", b"\xff\xfe", b'{"name": NaN}', b"[" * 50_000 + b"]" * 50_000]
)
@pytest.mark.parametrize("path", ["/api/projects", "/api/auth/token", "/api/auth/token/refresh"])
def test_malformed_json_is_a_parse_error(client: Client, owner: Any, raw: bytes, path: str) -> None:
    from rest_framework_simplejwt.tokens import RefreshToken

    token = RefreshToken.for_user(owner).access_token
    response = client.post(
        path, raw, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )
    assert_error(response, 400, "PARSE_ERROR")


@pytest.mark.parametrize("path", ["/api/projects", "/api/schema/", f"/api/projects/{PID}"])
def test_an_unknown_format_is_406_in_json(client: Client, owner_api: Any, path: str) -> None:
    response = owner_api.get(path, {"format": "xml"})
    assert response.status_code == 406
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "NOT_ACCEPTABLE"


def test_an_accept_json_cannot_satisfy_is_406(owner_api: Any) -> None:
    response = owner_api.get("/api/projects", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json()["code"] == "NOT_ACCEPTABLE"


def test_the_schema_still_serves_json_and_yaml(client: Client) -> None:
    assert client.get("/api/schema/", {"format": "json"}).json()["openapi"].startswith("3.")
    assert client.get("/api/schema/").content.startswith(b"openapi: 3")


# --------------------------------------------------------------------------- 500s
def broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("boom")


@pytest.mark.parametrize("debug", [False, True])
def test_an_error_outside_drf_is_500_in_shape(settings: Any, debug: bool) -> None:
    settings.DEBUG = debug
    client = Client(raise_request_exception=False)
    with mock.patch("migrations_app.api.docs.SchemaGenerator.get_schema", broken):
        response = client.get("/api/docs/")
    body = assert_error(response, 500, "INTERNAL_ERROR")
    assert "boom" not in body["message"]


def test_an_error_inside_a_drf_view_is_500_in_shape(owner_api: Any) -> None:
    owner_api.raise_request_exception = False
    with mock.patch("migrations_app.selectors.project_list", broken):
        response = owner_api.get("/api/projects")
    assert response.status_code == 500
    assert response.json()["code"] == "INTERNAL_ERROR"


def test_an_error_in_a_page_keeps_djangos_html() -> None:
    client = Client(raise_request_exception=False)
    with mock.patch("django.contrib.auth.views.LoginView.get", broken):
        response = client.get("/accounts/login/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


def test_an_unknown_page_keeps_djangos_html(client: Client) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("handler", "args", "status", "code"),
    [
        ("handler400", (Exception("x"),), 400, "BAD_REQUEST"),
        ("handler403", (Exception("x"),), 403, "PERMISSION_DENIED"),
        ("handler404", (Exception("x"),), 404, "NOT_FOUND"),
        ("handler500", (), 500, "INTERNAL_ERROR"),
    ],
)
def test_the_site_handlers_answer_json_for_the_api_and_html_for_pages(
    rf: RequestFactory, handler: str, args: tuple[Any, ...], status: int, code: str
) -> None:
    from migrations_app.api import errors

    view = getattr(errors, handler)
    api = view(rf.get("/api/projects"), *args)
    assert api.status_code == status
    assert json.loads(api.content)["code"] == code
    page = view(rf.get("/projects/x"), *args)
    assert page.status_code == status
    assert page["Content-Type"].startswith("text/html")


def test_a_too_big_body_seen_by_the_400_handler_is_413(rf: RequestFactory) -> None:
    from django.core.exceptions import RequestDataTooBig

    from migrations_app.api.errors import handler400

    response = handler400(rf.post("/api/projects"), RequestDataTooBig("big"))
    assert response.status_code == 413
    assert json.loads(response.content)["code"] == "PAYLOAD_TOO_LARGE"
