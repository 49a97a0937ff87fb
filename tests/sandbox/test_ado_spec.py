"""The ADO sandbox against Microsoft's Swagger files and recorded examples."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.sandbox import SandboxHandle
from tests.sandbox import _ado_spec as specs

V = "api-version=7.1"
PREVIEW = "api-version=7.1-preview.4"


def _candidates(pattern: str) -> set[str]:
    """Our route, plus the spec forms with the optional project/team or trailing path."""
    ours = specs.normalize(pattern.replace(":path", ""))
    head, _, tail = ours.partition("/_apis")
    out = {ours, ours + "/{}"}
    if head == "/{}":
        out |= {f"/{{}}/{{}}/_apis{tail}", f"/{{}}/{{}}/{{}}/_apis{tail}"}
    if head == "/{}/{}":
        out.add(f"/{{}}/{{}}/{{}}/_apis{tail}")
    return out


def test_every_served_route_is_an_operation_of_the_spec(ado_sandbox: SandboxHandle) -> None:
    assert ado_sandbox.ado.route_specs
    for route in ado_sandbox.ado.route_specs:
        ops = specs.operations(route.spec)
        matches = {
            (m, p, o) for (m, p, o) in ops if m == route.method and p in _candidates(route.pattern)
        }
        assert matches, f"{route.method} {route.pattern} is not in the {route.spec} spec"
        assert route.operation_id in {o for (_, _, o) in matches}, (route, matches)


def _get(h: SandboxHandle, path: str, query: str = V) -> Any:
    r = h.ado_session().get(f"{h.ado_api}{path}?{query}")
    assert r.status_code == 200, r.text
    return r.json()


def test_wiql_result_matches_the_schema(ado_sandbox: SandboxHandle) -> None:
    r = ado_sandbox.ado_session().post(
        f"{ado_sandbox.ado_api}/wit/wiql?{V}",
        json={
            "query": "SELECT [System.Id], [System.Title] FROM WorkItems WHERE "
            "[System.TeamProject] = @project ORDER BY [System.Id]"
        },
    )
    assert r.status_code == 200
    specs.validate("wit", "Wiql_Query By Wiql", r.json())
    assert r.json()["workItems"][0]["id"] == 1


@pytest.mark.parametrize("expand", ["none", "relations", "all"])
def test_batch_and_list_match_the_schema(ado_sandbox: SandboxHandle, expand: str) -> None:
    session = ado_sandbox.ado_session()
    batch = session.post(
        f"{ado_sandbox.ado_api}/wit/workitemsbatch?{V}",
        json={"ids": list(range(1, 30)), "$expand": expand},
    )
    assert batch.status_code == 200
    specs.validate("wit", "Work Items_Get Work Items Batch", batch.json())
    listed = _get(ado_sandbox, "/wit/workitems", f"{V}&ids=1,2,3&$expand={expand}")
    specs.validate("wit", "Work Items_List", listed)
    single = _get(ado_sandbox, "/wit/workitems/3", f"{V}&$expand={expand}")
    specs.validate("wit", "Work Items_Get Work Item", single)


def test_comments_match_the_schema(ado_sandbox: SandboxHandle) -> None:
    story = ado_sandbox.dataset.roles["story"]
    page = _get(ado_sandbox, f"/wit/workItems/{story}/comments", f"{PREVIEW}&$top=2")
    specs.validate("wit", "Comments_Get Comments", page)
    last = _get(ado_sandbox, f"/wit/workItems/{story}/comments", PREVIEW)
    assert last["continuationToken"] is None
    specs.validate("wit", "Comments_Get Comments", last)
    one = _get(
        ado_sandbox,
        f"/wit/workItems/{story}/comments/{page['comments'][0]['id']}",
        f"{PREVIEW}&$expand=renderedText",
    )
    specs.validate("wit", "Comments_Get Comment", one)


@pytest.mark.parametrize(
    ("path", "operation"),
    [
        ("/wit/workitemtypes", "Work Item Types_List"),
        ("/wit/workitemtypes/Bug", "Work Item Types_Get"),
        ("/wit/workitemtypes/User%20Story/states", "Work Item Type States_List"),
        ("/wit/workitemtypes/Risk/fields", "Work Item Types Field_List"),
        ("/wit/fields", "Fields_List"),
        ("/wit/fields/System.Title", "Fields_Get"),
    ],
)
def test_metadata_matches_the_schema(ado_sandbox: SandboxHandle, path: str, operation: str) -> None:
    specs.validate("wit", operation, _get(ado_sandbox, path))


def test_classification_nodes_match_the_schema(ado_sandbox: SandboxHandle) -> None:
    specs.validate(
        "wit",
        "Classification Nodes_Get Root Nodes",
        _get(ado_sandbox, "/wit/classificationnodes", f"{V}&$depth=3"),
    )
    specs.validate(
        "wit",
        "Classification Nodes_Get",
        _get(ado_sandbox, "/wit/classificationnodes/iterations/Release 1/Sprint 2"),
    )


def test_org_level_resources_match_the_schema(ado_sandbox: SandboxHandle) -> None:
    session, org = ado_sandbox.ado_session(), f"{ado_sandbox.ado_url}/{ado_sandbox.org}/_apis"
    rel = session.get(f"{org}/wit/workitemrelationtypes?{V}").json()
    specs.validate("wit", "Work Item Relation Types_List", rel)
    projects = session.get(f"{org}/projects?{V}").json()
    specs.validate("core", "Projects_List", projects)
    project = session.get(f"{org}/projects/{ado_sandbox.ado.project_id}?{V}").json()
    specs.validate("core", "Projects_Get", project)


# ---------------------------------------------------------------- recorded examples
def _example_body(name: str) -> Any:
    return specs.example(name)["responses"]["200"]["body"]


def test_wiql_has_the_recorded_shape(ado_sandbox: SandboxHandle) -> None:
    recorded = _example_body("wiql/GET__wit_get_id_workitems.json")
    ours = (
        ado_sandbox.ado_session()
        .post(
            f"{ado_sandbox.ado_url}/{ado_sandbox.org}/_apis/wit/wiql?{V}",
            json={
                "query": "Select [System.Id], [System.Title], [System.State] From WorkItems Where "
                "[System.WorkItemType] = 'Task' AND [State] <> 'Closed' order by "
                "[Microsoft.VSTS.Common.Priority] asc, [System.CreatedDate] desc"
            },
        )
        .json()
    )
    assert not specs.keys_missing(recorded, ours)
    assert not specs.keys_missing(recorded["columns"][0], ours["columns"][0])
    assert not specs.keys_missing(recorded["sortColumns"][0], ours["sortColumns"][0])
    assert not specs.keys_missing(recorded["workItems"][0], ours["workItems"][0])


def test_work_items_have_the_recorded_shape(ado_sandbox: SandboxHandle) -> None:
    recorded = _example_body("workItems/GET__wit_WorkItems_ids-_ids___expand-all.json")
    story = ado_sandbox.dataset.roles["story"]
    ours = _get(ado_sandbox, "/wit/workitems", f"{V}&ids={story}&$expand=all")
    assert set(recorded) == set(ours)
    item = ours["value"][0]
    assert not specs.keys_missing(recorded["value"][0], item, ignore=frozenset({"relations"}))
    wanted_rel = {r["rel"]: r for r in recorded["value"][0]["relations"]}
    ours_rel = {r["rel"]: r for r in item["relations"]}
    for rel in ("AttachedFile", "System.LinkTypes.Hierarchy-Reverse"):
        if rel in wanted_rel:
            assert not specs.keys_missing(
                wanted_rel[rel]["attributes"],
                ours_rel[rel]["attributes"],
                ignore=frozenset({"comment"}),
            )
    identity = recorded["value"][0]["fields"]["System.CreatedBy"]
    assert not specs.keys_missing(identity, item["fields"]["System.CreatedBy"])
    assert not specs.keys_missing(recorded["value"][0]["_links"], item["_links"])


def test_batch_with_fields_has_the_recorded_shape(ado_sandbox: SandboxHandle) -> None:
    recorded = specs.example(
        "workItemsBatch/POST__wit_WorkItemsBatch_ids-_ids__fields-_columns_.json"
    )
    fields = recorded["parameters"]["body"]["fields"]
    ours = (
        ado_sandbox.ado_session()
        .post(
            f"{ado_sandbox.ado_api}/wit/workitemsbatch?{V}", json={"ids": [1, 7], "fields": fields}
        )
        .json()
    )
    body = recorded["responses"]["200"]["body"]
    assert set(body) == set(ours)
    assert set(body["value"][0]) == set(ours["value"][0])
    assert set(ours["value"][1]["fields"]) <= set(fields)


def test_comments_have_the_recorded_shape_with_7_1_ids(ado_sandbox: SandboxHandle) -> None:
    """The examples are 5.1-preview captures naming the id ``commentId``; 7.1 says ``id``."""
    recorded = _example_body("comments/GET__wit_workitems__issueId__comments_1.json")
    story = ado_sandbox.dataset.roles["story"]
    ours = _get(ado_sandbox, f"/wit/workItems/{story}/comments", f"{PREVIEW}&$top=2")
    assert not specs.keys_missing(recorded, ours)
    comment = ours["comments"][0]
    assert "commentId" not in comment
    assert not specs.keys_missing(recorded["comments"][0], comment, {"commentId": "id"})


def test_metadata_has_the_recorded_shapes(ado_sandbox: SandboxHandle) -> None:
    states = _example_body("workItemTypeStates/GET__workitem_type_states.json")
    ours = _get(ado_sandbox, "/wit/workitemtypes/Bug/states")
    assert set(states["value"][0]) == set(ours["value"][0])
    rel = _example_body("workItemRelationTypes/GET__relation_types.json")["value"]
    served = (
        ado_sandbox.ado_session()
        .get(f"{ado_sandbox.ado_url}/{ado_sandbox.org}/_apis/wit/workitemrelationtypes?{V}")
        .json()
    )
    by_ref = {r["referenceName"]: r for r in served["value"]}
    for recorded in rel:
        if recorded["referenceName"] in by_ref:
            mine = by_ref[recorded["referenceName"]]
            assert recorded["attributes"] == mine["attributes"] or not specs.keys_missing(
                recorded["attributes"], mine["attributes"]
            )
    node = _example_body(
        "classificationNodes/GET__wit_classificationNodes_iterations__iterationPath_.json"
    )
    ours_node = _get(ado_sandbox, "/wit/classificationnodes/Iterations/Release 1/Sprint 1")
    assert not specs.keys_missing(node, ours_node, ignore=frozenset({"_links"}))
    assert set(node["attributes"]) == set(ours_node["attributes"])
    types = _example_body("workItemTypes/GET__wit_workItemTypes.json")
    ours_types = _get(ado_sandbox, "/wit/workitemtypes")
    assert not specs.keys_missing(
        types["value"][0], ours_types["value"][0], ignore=frozenset({"xmlForm", "_links"})
    )
