"""AdoClient against `responses`: URLs, paging, chunking, mapping; checked with the spec."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from engine.ado import AdoClient, auth_header, build_wiql, wiql_literal
from engine.errors import AuthError, ForeignOrigin, PermanentError, StopRequested
from engine.http import RetryPolicy

BASE = "https://dev.azure.com"
ORG, PROJECT = "contoso", "Fabrikam Fiber"
PROJ = f"{BASE}/{ORG}/Fabrikam%20Fiber"
WIT = f"{PROJ}/_apis/wit"


def no_sleep_policy() -> RetryPolicy:
    return RetryPolicy(max_attempts=3, sleep=lambda s: None, rng=lambda: 0.0)


@pytest.fixture
def ado() -> AdoClient:
    return AdoClient(BASE, ORG, PROJECT, "secret-pat", retry=no_sleep_policy())


def body_of(call: Any) -> Any:
    return call.request.body


def kwargs_of(call: Any) -> Any:
    return call.request.req_kwargs


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


# --------------------------------------------------------------------------- auth
def test_a_pat_is_sent_as_basic_with_an_empty_user() -> None:
    assert auth_header("abc") == "Basic " + base64.b64encode(b":abc").decode()


def test_a_jwt_is_sent_as_bearer() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiI0OTliODRhYyJ9.c2lnbmF0dXJl"
    assert auth_header(jwt) == f"Bearer {jwt}"
    client = AdoClient(BASE, ORG, PROJECT, jwt)
    assert client.credential.header_value.startswith("Bearer ")
    assert "Authorization" not in client.session.headers  # bound to the origin, not the session


@responses.activate
def test_check_access_gets_the_project(ado: AdoClient) -> None:
    responses.get(
        f"{BASE}/{ORG}/_apis/projects/Fabrikam%20Fiber", json={"id": "p", "name": PROJECT}
    )
    ado.check_access()
    call = responses.calls[0]
    assert query(call)["api-version"] == ["7.1"]
    assert call.request.headers["Authorization"] == auth_header("secret-pat")
    assert call.request.headers["X-TFS-FedAuthRedirect"] == "Suppress"


@responses.activate
def test_check_access_401_is_auth_error(ado: AdoClient) -> None:
    responses.get(f"{BASE}/{ORG}/_apis/projects/Fabrikam%20Fiber", status=401, body="")
    with pytest.raises(AuthError, match="refused the credentials"):
        ado.check_access()


@responses.activate
def test_check_access_sign_in_page_is_auth_error(ado: AdoClient) -> None:
    responses.get(
        f"{BASE}/{ORG}/_apis/projects/Fabrikam%20Fiber",
        status=203,
        body="<html>Sign in</html>",
        content_type="text/html",
    )
    with pytest.raises(AuthError, match="sign-in page"):
        ado.check_access()


@responses.activate
def test_check_access_404_is_project_not_found(ado: AdoClient) -> None:
    responses.get(
        f"{BASE}/{ORG}/_apis/projects/Fabrikam%20Fiber",
        status=404,
        json={"message": "TF200016: The following project does not exist"},
    )
    with pytest.raises(PermanentError, match="project not found") as info:
        ado.check_access()
    assert info.value.status == 404
    assert not isinstance(info.value, AuthError)


def test_server_urls_use_the_collection_as_org() -> None:
    c = AdoClient("https://tfs.example/tfs/", "DefaultCollection", "P", "x")
    assert c.project_url == "https://tfs.example/tfs/DefaultCollection/P"


# --------------------------------------------------------------------------- WIQL
def test_wiql_escapes_quotes_and_composes_filters() -> None:
    assert wiql_literal("O'Brien") == "'O''Brien'"
    q = build_wiql(
        area_path="Fab\\It's",
        types=["Bug", "User Story"],
        changed_since="2026-01-01T00:00:00Z",
        after_id=41,
    )
    assert q == (
        "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project"
        " AND [System.WorkItemType] IN ('Bug', 'User Story')"
        " AND [System.AreaPath] UNDER 'Fab\\It''s'"
        " AND [System.ChangedDate] >= '2026-01-01T00:00:00Z'"
        " AND [System.Id] > 41 ORDER BY [System.Id] ASC"
    )


def wiql_server(all_ids: list[int], fail_at_or_above: int = 20_001) -> Any:
    """A WIQL endpoint with the real cap: more than the cap -> VS402337."""
    seen: list[tuple[int, int]] = []

    def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        q = parse_qs(urlsplit(request.url or "").query)
        top = int(q["$top"][0])
        body = json.loads(request.body or b"{}")
        m = re.search(r"\[System\.Id\] > (\d+)", body["query"])
        after = int(m.group(1)) if m else 0
        matching = [i for i in all_ids if i > after]
        seen.append((after, top))
        if top >= fail_at_or_above or (top > 20_000 and len(matching) > 20_000):
            return (
                400,
                {},
                json.dumps(
                    {
                        "message": "VS402337: The number of work items returned exceeds the size "
                        "limit of 20000. Change the query to return fewer items.",
                        "typeKey": "QueryResultSizeLimitExceededException",
                    }
                ),
            )
        items = [{"id": i, "url": f"{WIT}/workItems/{i}"} for i in matching[:top]]
        return 200, {}, json.dumps({"queryType": "flat", "workItems": items})

    return callback, seen


@responses.activate
def test_query_ids_pages_by_id_past_the_cap(ado: AdoClient) -> None:
    ids = list(range(5, 45_005, 1))  # 45,000 matching items
    callback, seen = wiql_server(ids)
    responses.add_callback(responses.POST, f"{WIT}/wiql", callback=callback)
    assert ado.query_ids(types=["Bug"]) == ids
    assert seen == [(0, 19_999), (20_003, 19_999), (40_002, 19_999)]
    body = json.loads(body_of(responses.calls[0]))
    assert "[System.TeamProject] = @project" in body["query"]
    assert query(responses.calls[0])["api-version"] == ["7.1"]


@responses.activate
def test_query_ids_shrinks_the_page_on_vs402337(ado: AdoClient) -> None:
    ids = list(range(1, 25_001))
    callback, seen = wiql_server(ids, fail_at_or_above=15_000)
    responses.add_callback(responses.POST, f"{WIT}/wiql", callback=callback)
    assert ado.query_ids() == ids
    assert seen[0] == (0, 19_999)
    assert seen[1] == (0, 9_999)
    assert all(top == 9_999 for _, top in seen[1:])


@responses.activate
def test_query_ids_with_small_configured_page() -> None:
    c = AdoClient(BASE, ORG, PROJECT, "p", page_size=2)
    callback, seen = wiql_server([3, 4, 9, 10, 11])
    responses.add_callback(responses.POST, f"{WIT}/wiql", callback=callback)
    assert c.query_ids() == [3, 4, 9, 10, 11]
    assert [a for a, _ in seen] == [0, 4, 10]


# --------------------------------------------------------------------------- work items
def work_item(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "rev": 3,
        "url": f"{WIT}/workItems/{i}",
        "fields": {
            "System.WorkItemType": "Bug",
            "System.Title": f"T{i}",
            "System.State": "Active",
            "System.AreaPath": "Fab\\Web",
            "System.AssignedTo": {"displayName": "Ann", "uniqueName": "ann@x.test"},
        },
        "relations": [
            {
                "rel": "System.LinkTypes.Hierarchy-Reverse",
                "url": f"{WIT}/workItems/1",
                "attributes": {"isLocked": False},
            },
            {
                "rel": "AttachedFile",
                "url": f"{WIT}/attachments/abc-{i}",
                "attributes": {"name": "a.png", "resourceSize": 12},
            },
        ],
    }


@responses.activate
def test_get_work_items_batches_by_200_with_relations(ado: AdoClient) -> None:
    def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body or b"{}")
        values: list[Any] = [work_item(i) if i != 7 else None for i in body["ids"]]
        return 200, {}, json.dumps({"count": len(values), "value": values})

    responses.add_callback(responses.POST, f"{WIT}/workitemsbatch", callback=callback)
    items = ado.get_work_items(list(range(1, 451)))
    sizes = [len(json.loads(body_of(c))["ids"]) for c in responses.calls]
    assert sizes == [200, 200, 50]
    body = json.loads(body_of(responses.calls[0]))
    assert body["$expand"] == "relations" and body["errorPolicy"] == "omit"
    assert "fields" not in body
    assert len(items) == 449 and 7 not in {w.id for w in items}
    w = items[0]
    assert (w.id, w.rev, w.type, w.title, w.state) == (1, 3, "Bug", "T1", "Active")
    assert w.parent_id == 1 and w.area_path == "Fab\\Web"
    assert w.attachments[0].name == "a.png" and w.attachments[0].id == "abc-1"


# --------------------------------------------------------------------------- comments
@responses.activate
def test_iter_comments_follows_the_continuation_token(ado: AdoClient) -> None:
    url = f"{WIT}/workItems/42/comments"
    responses.get(
        url,
        json={
            "totalCount": 3,
            "count": 2,
            "continuationToken": "tok1",
            "comments": [
                {
                    "id": 1,
                    "workItemId": 42,
                    "version": 1,
                    "text": "<p>a</p>",
                    "format": "html",
                    "createdBy": {"displayName": "Ann", "uniqueName": "ann@x.test", "id": "g1"},
                    "createdDate": "2026-01-01T00:00:00Z",
                },
                {
                    "id": 2,
                    "workItemId": 42,
                    "text": "b",
                    "format": "markdown",
                    "createdBy": {"displayName": "Bob"},
                    "createdDate": "2026-01-02T00:00:00Z",
                    "isDeleted": True,
                },
            ],
        },
        match=[
            responses.matchers.query_param_matcher(
                {
                    "api-version": "7.1-preview.4",
                    "$top": "200",
                    "order": "asc",
                    "includeDeleted": "true",
                }
            )
        ],
    )
    responses.get(
        url,
        json={
            "totalCount": 3,
            "count": 1,
            "continuationToken": None,
            "comments": [
                {
                    "commentId": 3,
                    "text": "old",
                    "createdBy": {"displayName": "Cy"},
                    "createdDate": "2019-01-01T00:00:00Z",
                    "version": 2,
                }
            ],
        },
        match=[
            responses.matchers.query_param_matcher(
                {
                    "api-version": "7.1-preview.4",
                    "$top": "200",
                    "order": "asc",
                    "includeDeleted": "true",
                    "continuationToken": "tok1",
                }
            )
        ],
    )
    comments = list(ado.iter_comments(42))
    assert [c.id for c in comments] == [1, 2, 3]
    assert comments[0].created_by.unique_name == "ann@x.test"
    assert comments[1].format == "markdown" and comments[1].is_deleted
    assert comments[2].work_item_id == 42 and comments[2].version == 2


# --------------------------------------------------------------------------- attachments
@responses.activate
def test_open_attachment_streams_and_decodes(ado: AdoClient) -> None:
    payload = os.urandom(300_000)
    url = f"{WIT}/attachments/abc-1"
    responses.get(
        url,
        body=gzip.compress(payload),
        headers={"Content-Encoding": "gzip"},
        content_type="application/octet-stream",
    )
    stream = ado.open_attachment(url)
    try:
        got = b""
        while chunk := stream.read(65_536):
            got += chunk
    finally:
        stream.close()
    assert got == payload
    assert query(responses.calls[0])["api-version"] == ["7.1"]
    assert kwargs_of(responses.calls[0])["stream"] is True


@responses.activate
def test_open_attachment_knows_its_size_when_not_encoded(ado: AdoClient) -> None:
    url = f"{WIT}/attachments/abc-2?fileName=a.txt&api-version=7.1"
    responses.get(
        url, body=b"hello", content_type="application/octet-stream", headers={"Content-Length": "5"}
    )
    with ado.open_attachment(url) as stream:
        assert stream.content_length == 5  # type: ignore[attr-defined]
        assert stream.read() == b"hello"
    assert query(responses.calls[0])["api-version"] == ["7.1"]  # not sent twice


# --------------------------------------------------------------------------- metadata
@responses.activate
def test_work_item_types_fetch_states_only_when_missing(ado: AdoClient) -> None:
    responses.get(
        f"{WIT}/workitemtypes",
        json={
            "count": 2,
            "value": [
                {
                    "name": "Bug",
                    "referenceName": "Microsoft.VSTS.WorkItemTypes.Bug",
                    "states": [{"name": "New", "color": "b2b2b2", "category": "Proposed"}],
                    "fields": [{"referenceName": "System.Title"}],
                },
                {"name": "User Story", "referenceName": "X.Story", "isDisabled": True},
            ],
        },
    )
    responses.get(
        f"{WIT}/workitemtypes/User%20Story/states",
        json={
            "count": 2,
            "value": [
                {"name": "New", "color": "b2b2b2", "category": "Proposed"},
                {"name": "Closed", "color": "339933", "category": "Completed"},
            ],
        },
    )
    types = ado.work_item_types()
    assert len(responses.calls) == 2
    assert types[0].states[0].category == "Proposed" and types[0].field_refs == ["System.Title"]
    assert [s.category for s in types[1].states] == ["Proposed", "Completed"]
    assert types[1].is_disabled


@responses.activate
def test_classification_nodes_maps_the_tree(ado: AdoClient) -> None:
    responses.get(
        f"{WIT}/classificationnodes/iterations",
        json={
            "id": 1,
            "name": "Fab",
            "structureType": "iteration",
            "path": "\\Fab\\Iteration",
            "children": [
                {
                    "id": 2,
                    "name": "S1",
                    "structureType": "iteration",
                    "path": "\\Fab\\Iteration\\S1",
                    "attributes": {
                        "startDate": "2026-01-01T00:00:00Z",
                        "finishDate": "2026-01-14T00:00:00Z",
                    },
                }
            ],
        },
    )
    root = ado.classification_nodes("iterations")
    assert query(responses.calls[0])["$depth"] == ["20"]
    assert root.children[0].start_date == "2026-01-01T00:00:00Z"
    assert root.children[0].structure_type == "iteration"


# --------------------------------------------------------------------------- against the spec
def specs_dir() -> Path:
    return Path(
        os.environ.get("SPECS_DIR") or Path(__file__).resolve().parents[3] / "shared" / "specs"
    )


def load_spec(name: str) -> dict[str, Any]:
    path = specs_dir() / name
    if not path.exists():
        pytest.skip(f"spec {name} not found in {specs_dir()} (set SPECS_DIR)")
    return dict(json.loads(path.read_text(encoding="utf-8-sig")))


OPTIONAL_SEGMENTS = ("team", "path")  # x-ms-required: false, or optional in practice


def _template_regex(template: str) -> re.Pattern[str]:
    out = ""
    for seg in template.strip("/").split("/"):
        m = re.fullmatch(r"\{(\w+)\}", seg)
        if m and m.group(1) in OPTIONAL_SEGMENTS:
            out += r"(?:/[^/]+)?"
        elif m:
            out += r"/[^/]+"
        else:
            out += "/" + re.escape(seg)
    return re.compile("^" + out + "$", re.IGNORECASE)


def spec_operation(
    specs: list[dict[str, Any]], method: str, path: str, params: set[str]
) -> dict[str, Any] | None:
    """The operation whose path template matches and declares every query param sent."""
    for spec in specs:
        for section in ("paths", "x-ms-paths"):
            for template, ops in spec.get(section, {}).items():
                if not _template_regex(template.split("?")[0]).match(path):
                    continue
                op = ops.get(method.lower())
                if not op:
                    continue
                declared = set()
                for p in op.get("parameters", []):
                    if "$ref" in p:
                        p = spec["parameters"][p["$ref"].rsplit("/", 1)[-1]]
                    if p.get("in") == "query":
                        declared.add(p["name"])
                if params <= declared:
                    return dict(op)
    return None


@responses.activate
def test_every_request_matches_an_operation_of_the_ado_specs(ado: AdoClient) -> None:
    specs = [load_spec("ado-wit-7.1.swagger.json"), load_spec("ado-core-7.1.swagger.json")]
    responses.get(re.compile(r".*/_apis/projects/.*"), json={})
    responses.post(re.compile(r".*/wiql.*"), json={"workItems": [{"id": 1}]})
    responses.post(re.compile(r".*/workitemsbatch.*"), json={"value": [work_item(1)]})
    responses.get(re.compile(r".*/comments.*"), json={"comments": [], "continuationToken": None})
    responses.get(re.compile(r".*/attachments/.*"), body=b"x")
    responses.get(re.compile(r".*/workitemtypes/[^/]+/states.*"), json={"value": []})
    responses.get(re.compile(r".*/workitemtypes\?.*"), json={"value": [{"name": "Bug"}]})
    responses.get(re.compile(r".*/classificationnodes/.*"), json={"id": 1, "name": "r"})
    ado.check_access()
    ado.query_ids(area_path="A", types=["Bug"], changed_since="2026-01-01")
    ado.get_work_items([1])
    list(ado.iter_comments(1))
    ado.open_attachment(f"{WIT}/attachments/abc").close()
    ado.work_item_types()
    ado.classification_nodes("areas")
    assert len(responses.calls) == 8
    batch_schema = specs[0]["definitions"]["WorkItemBatchGetRequest"]["properties"]
    calls: list[Any] = list(responses.calls)
    for call in calls:
        split = urlsplit(call.request.url)
        params = set(parse_qs(split.query))
        op = spec_operation(specs, call.request.method, split.path, params)
        assert op is not None, f"{call.request.method} {split.path} {params} not in the spec"
        if op["operationId"] == "Work Items_Get Work Items Batch":
            assert set(json.loads(call.request.body)) <= set(batch_schema)


# --------------------------------------------------------------------------- origin and stop
@pytest.mark.parametrize(
    ("url", "own"),
    [
        (f"{WIT}/attachments/0f1e2d3c-aaaa-bbbb-cccc-000000000001", True),
        ("https://DEV.AZURE.COM:443/contoso/_apis/wit/attachments/0f1e", True),
        ("https://evil.example/contoso/_apis/wit/attachments/0f1e2d3c", False),
        ("http://dev.azure.com/contoso/_apis/wit/attachments/0f1e2d3c", False),
        ("https://contoso.visualstudio.com/_apis/wit/attachments/0f1e2d3c", False),
    ],
)
def test_is_own_origin(ado: AdoClient, url: str, own: bool) -> None:
    assert ado.is_own_origin(url) is own


@responses.activate
def test_an_attachment_url_on_another_host_gets_nothing_not_even_a_request(
    ado: AdoClient,
) -> None:
    url = "https://evil.example/contoso/_apis/wit/attachments/0f1e2d3c?fileName=a.png"
    responses.get(re.compile(r"https://evil\.example/.*"), body=b"png")
    with pytest.raises(ForeignOrigin) as info:
        ado.open_attachment(url)
    assert info.value.url == url
    assert "outside the Azure DevOps origin https://dev.azure.com" in info.value.reason
    assert isinstance(info.value, PermanentError)
    assert len(responses.calls) == 0 and ado.http.requests_sent == 0


def test_the_pat_is_not_a_session_default() -> None:
    client = AdoClient(BASE, ORG, PROJECT, "secret-pat")
    assert "Authorization" not in client.session.headers
    assert "secret-pat" not in repr(client.credential)


@responses.activate
def test_set_stop_check_reaches_the_transport(ado: AdoClient) -> None:
    responses.get(f"{BASE}/{ORG}/_apis/projects/Fabrikam%20Fiber", json={})
    ado.set_stop_check(lambda: True)
    with pytest.raises(StopRequested):
        ado.check_access()
    assert len(responses.calls) == 0
    ado.set_stop_check(None)
    ado.check_access()
    assert len(responses.calls) == 1


@responses.activate
def test_field_definitions_are_read_typed_and_malformed_rows_left_out(ado: AdoClient) -> None:
    responses.get(
        f"{WIT}/fields",
        json={
            "count": 3,
            "value": [
                {
                    "referenceName": "Custom.Reviewer",
                    "name": "Reviewer",
                    "type": "identity",
                    "isIdentity": True,
                    "isPicklist": False,
                },
                {"referenceName": "Custom.Impact", "name": "Impact", "isPicklist": True},
                {"name": "no reference name"},
                "not an object",
            ],
        },
    )
    defs = {d.reference_name: d for d in ado.field_definitions()}
    assert set(defs) == {"Custom.Reviewer", "Custom.Impact"}
    assert defs["Custom.Reviewer"].value_type == "identity"
    assert defs["Custom.Impact"].value_type == "picklistString"
    assert query(responses.calls[0])["api-version"] == ["7.1"]


@responses.activate
def test_field_definitions_of_a_body_without_a_list_are_none(ado: AdoClient) -> None:
    responses.get(f"{WIT}/fields", json={"value": "nope"})
    assert ado.field_definitions() == []


# --------------------------------------------------------------------------- relations, history
@responses.activate
def test_updates_are_read_page_by_page_with_top_and_skip(ado: AdoClient) -> None:
    from engine.history import UPDATES_PAGE

    rows = [{"id": n, "rev": n, "fields": {}} for n in range(1, UPDATES_PAGE + 6)]
    url = f"{WIT}/workItems/7/updates"

    def page(request: Any) -> tuple[int, dict[str, str], str]:
        q = parse_qs(urlsplit(request.url).query)
        top, skip = int(q["$top"][0]), int(q["$skip"][0])
        chunk = rows[skip : skip + top]
        return 200, {}, json.dumps({"count": len(chunk), "value": chunk})

    responses.add_callback(responses.GET, url, callback=page)
    assert [r["rev"] for r in ado.work_item_updates(7)] == [r["rev"] for r in rows]
    assert [query(c)["$skip"] for c in responses.calls] == [["0"], [str(UPDATES_PAGE)]]


@responses.activate
def test_repository_and_link_type_names_are_read(ado: AdoClient) -> None:
    responses.get(
        f"{PROJ}/_apis/git/repositories",
        json={"count": 2, "value": [{"id": "AB-1", "name": "web-app"}, {"name": "no id"}]},
    )
    responses.get(
        f"{BASE}/{ORG}/_apis/wit/workitemrelationtypes",
        json={"value": [{"referenceName": "Custom.X-Forward", "name": "X"}, 3]},
    )
    assert ado.repository_names() == {"ab-1": "web-app"}
    assert ado.relation_type_names() == {"Custom.X-Forward": "X"}
