"""Each refusal of the ADO sandbox, answered as the real service does."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests

from tests.fixtures.sandbox import SandboxHandle

V = "api-version=7.1"
ERROR_KEYS = {"$id", "innerException", "message", "typeName", "typeKey", "errorCode", "eventId"}


def _error(r: requests.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == ERROR_KEYS
    assert body["$id"] == "1" and body["innerException"] is None
    return body


def test_more_than_200_ids_in_a_batch_is_vs403474(ado_sandbox: SandboxHandle) -> None:
    r = ado_sandbox.ado_session().post(
        f"{ado_sandbox.ado_api}/wit/workitemsbatch?{V}", json={"ids": list(range(1, 202))}
    )
    body = _error(r, 400)
    assert (
        body["message"] == "VS403474: You requested 201 work items which exceeds the limit of 200"
    )


def test_more_than_200_ids_in_a_list_is_vs403474(ado_sandbox: SandboxHandle) -> None:
    ids = ",".join(str(i) for i in range(1, 251))
    r = ado_sandbox.ado_session().get(f"{ado_sandbox.ado_api}/wit/workitems?ids={ids}&{V}")
    assert _error(r, 400)["message"].startswith("VS403474: You requested 250 work items")


def test_exactly_200_ids_are_fine(ado_sandbox: SandboxHandle) -> None:
    ids = list(range(1, 61)) * 3 + list(range(1, 21))
    r = ado_sandbox.ado_session().post(
        f"{ado_sandbox.ado_api}/wit/workitemsbatch?{V}", json={"ids": ids, "fields": ["System.Id"]}
    )
    assert r.status_code == 200 and r.json()["count"] == 200


@pytest.mark.parametrize("how", ["batch", "list", "single"])
def test_fields_with_expand_is_refused(ado_sandbox: SandboxHandle, how: str) -> None:
    session, api = ado_sandbox.ado_session(), ado_sandbox.ado_api
    if how == "batch":
        r = session.post(
            f"{api}/wit/workitemsbatch?{V}",
            json={"ids": [1], "fields": ["System.Title"], "$expand": "relations"},
        )
    elif how == "list":
        r = session.get(f"{api}/wit/workitems?ids=1&fields=System.Title&$expand=all&{V}")
    else:
        r = session.get(f"{api}/wit/workitems/1?fields=System.Title&$expand=relations&{V}")
    body = _error(r, 400)
    assert body["message"] == "The expand parameter can not be used with the fields parameter."


def test_wiql_over_the_cap_is_vs402337(make_sandboxes: Any) -> None:
    h = make_sandboxes(items=120, wiql_cap=50)
    r = h.ado_session().post(
        f"{h.ado_api}/wit/wiql?{V}", json={"query": "SELECT [System.Id] FROM WorkItems"}
    )
    body = _error(r, 400)
    assert body["message"] == (
        "VS402337: The number of work items returned exceeds the size "
        "limit of 50. Change the query to return fewer items."
    )
    assert body["typeKey"] == "WorkItemTrackingQueryResultSizeLimitExceededException"


def test_wrong_pat_is_401_tf400813(ado_sandbox: SandboxHandle) -> None:
    token = base64.b64encode(b":not-the-pat").decode()
    r = requests.get(
        f"{ado_sandbox.ado_api}/wit/workitems/1?{V}",
        headers={"Authorization": f"Basic {token}"},
        timeout=5,
    )
    body = _error(r, 401)
    assert body["message"].startswith("TF400813")
    assert "Basic" in r.headers["WWW-Authenticate"]


@pytest.mark.parametrize("header", ["Bearer nope", "Basic !!!notbase64", "Digest abc"])
def test_malformed_or_foreign_credentials_are_401(ado_sandbox: SandboxHandle, header: str) -> None:
    r = requests.get(
        f"{ado_sandbox.ado_api}/wit/workitems/1?{V}", headers={"Authorization": header}, timeout=5
    )
    _error(r, 401)


def test_missing_credentials_get_the_203_sign_in_page(ado_sandbox: SandboxHandle) -> None:
    r = requests.get(f"{ado_sandbox.ado_api}/wit/workitems/1?{V}", timeout=5)
    assert r.status_code == 203
    assert r.headers["Content-Type"].startswith("text/html")
    assert "Sign In" in r.text


def test_missing_credentials_with_fedauth_suppress_are_401(ado_sandbox: SandboxHandle) -> None:
    r = requests.get(
        f"{ado_sandbox.ado_api}/wit/workitems/1?{V}",
        headers={"X-TFS-FedAuthRedirect": "Suppress"},
        timeout=5,
    )
    _error(r, 401)


def test_any_user_name_and_bearer_pat_are_accepted(ado_sandbox: SandboxHandle) -> None:
    url = f"{ado_sandbox.ado_api}/wit/workitems/1?{V}"
    assert requests.get(url, auth=("whoever", ado_sandbox.pat), timeout=5).status_code == 200
    bearer = {"Authorization": f"Bearer {ado_sandbox.pat}"}
    assert requests.get(url, headers=bearer, timeout=5).status_code == 200


def test_missing_api_version_is_400(ado_sandbox: SandboxHandle) -> None:
    r = ado_sandbox.ado_session().get(f"{ado_sandbox.ado_api}/wit/workitems/1")
    body = _error(r, 400)
    assert body["typeKey"] == "VssVersionNotSpecifiedException"
    assert body["message"].startswith('No api-version was supplied for the "GET" request.')


def test_api_version_in_the_accept_header_is_honoured(ado_sandbox: SandboxHandle) -> None:
    r = ado_sandbox.ado_session().get(
        f"{ado_sandbox.ado_api}/wit/workitems/1",
        headers={"Accept": "application/json; api-version=7.1"},
    )
    assert r.status_code == 200


def test_comments_need_the_preview_flag(ado_sandbox: SandboxHandle) -> None:
    r = ado_sandbox.ado_session().get(f"{ado_sandbox.ado_api}/wit/workItems/3/comments?{V}")
    assert _error(r, 400)["typeKey"] == "VssInvalidPreviewVersionException"


def test_too_new_api_version_is_out_of_range(ado_sandbox: SandboxHandle) -> None:
    r = ado_sandbox.ado_session().get(f"{ado_sandbox.ado_api}/wit/workitems/1?api-version=9.0")
    assert _error(r, 400)["typeKey"] == "VssVersionOutOfRangeException"


def test_unknown_project_is_404_tf200016(ado_sandbox: SandboxHandle) -> None:
    session = ado_sandbox.ado_session()
    r = session.post(
        f"{ado_sandbox.ado_url}/{ado_sandbox.org}/NoSuchProject/_apis/wit/wiql?{V}",
        json={"query": "SELECT [System.Id] FROM WorkItems"},
    )
    body = _error(r, 404)
    assert body["message"].startswith(
        "TF200016: The following project does not exist: NoSuchProject."
    )
    assert body["typeKey"] == "ProjectDoesNotExistWithNameException"
    assert body["eventId"] == 3000 and body["errorCode"] == 0
    r = session.get(f"{ado_sandbox.ado_url}/{ado_sandbox.org}/_apis/projects/NoSuchProject?{V}")
    assert _error(r, 404)["message"].startswith("TF200016")


def test_unknown_work_item_is_404_unless_errors_are_omitted(ado_sandbox: SandboxHandle) -> None:
    session, api = ado_sandbox.ado_session(), ado_sandbox.ado_api
    body = _error(session.get(f"{api}/wit/workitems/99999?{V}"), 404)
    assert body["message"].startswith("TF401232: Work item 99999 does not exist")
    _error(session.post(f"{api}/wit/workitemsbatch?{V}", json={"ids": [1, 99999]}), 404)
    r = session.post(
        f"{api}/wit/workitemsbatch?{V}", json={"ids": [1, 99999], "errorPolicy": "omit"}
    )
    assert r.status_code == 200 and r.json()["value"][1] is None


def test_unknown_field_is_refused(ado_sandbox: SandboxHandle) -> None:
    r = ado_sandbox.ado_session().post(
        f"{ado_sandbox.ado_api}/wit/workitemsbatch?{V}", json={"ids": [1], "fields": ["Nope.Field"]}
    )
    assert _error(r, 400)["message"] == "TF51535: Cannot find field Nope.Field."


def test_bad_wiql_is_400(ado_sandbox: SandboxHandle) -> None:
    session = ado_sandbox.ado_session()
    url = f"{ado_sandbox.ado_api}/wit/wiql?{V}"
    body = _error(session.post(url, json={"query": "SELECT [Nope] FROM WorkItems"}), 400)
    assert body["message"].startswith("TF51005")
    _error(session.post(url, json={"query": "SELECT [System.Id] WHERE"}), 400)
    _error(session.post(url, json={}), 400)
    no_project = f"{ado_sandbox.ado_url}/{ado_sandbox.org}/_apis/wit/wiql?{V}"
    query = "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project"
    _error(session.post(no_project, json={"query": query}), 400)


def test_non_json_body_is_400(ado_sandbox: SandboxHandle) -> None:
    r = ado_sandbox.ado_session().post(
        f"{ado_sandbox.ado_api}/wit/workitemsbatch?{V}",
        data=b"not json",
        headers={"Content-Type": "application/json"},
    )
    _error(r, 400)


def test_unknown_attachment_and_comment_are_404(ado_sandbox: SandboxHandle) -> None:
    session, api = ado_sandbox.ado_session(), ado_sandbox.ado_api
    _error(session.get(f"{api}/wit/attachments/00000000-0000-4000-8000-000000000000?{V}"), 404)
    _error(session.get(f"{api}/wit/workItems/3/comments/1?api-version=7.1-preview.4"), 404)
