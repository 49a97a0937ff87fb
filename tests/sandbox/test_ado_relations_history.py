"""The ADO sandbox's development links, link types, repositories, builds, web pages
and revision history (``Updates_List``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import requests

from engine.artifacts import ArtifactContext, artifact_web_url, parse_artifact_uri
from engine.history import build_history, render_history
from sandbox.dataset_artifacts import KINDS
from tests.fixtures.sandbox import SandboxHandle

V = "api-version=7.1"


def _item(h: SandboxHandle, ident: int) -> dict[str, Any]:
    r = h.ado_session().get(f"{h.ado_api}/wit/workitems/{ident}?$expand=relations&{V}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def _updates(h: SandboxHandle, ident: int, top: int = 200) -> list[dict[str, Any]]:
    session, skip, out = h.ado_session(), 0, []
    while True:
        r = session.get(f"{h.ado_api}/wit/workItems/{ident}/updates?$top={top}&$skip={skip}&{V}")
        assert r.status_code == 200, r.text
        page = r.json()["value"]
        assert r.json()["count"] == len(page)
        out += page
        if len(page) < top:
            return out
        skip += len(page)


def test_every_artifact_kind_is_on_at_least_three_items(ado_sandbox: SandboxHandle) -> None:
    seen: Counter[str] = Counter()
    rels: Counter[str] = Counter()
    for ident in ado_sandbox.dataset.ids():
        for rel in ado_sandbox.dataset.item(ident).other_relations:
            rels[rel["rel"]] += 1
            if rel["rel"] == "ArtifactLink":
                seen[rel["attributes"]["name"]] += 1
                assert parse_artifact_uri(rel["url"]).kind != "unknown"  # type: ignore[union-attr]
        for link, _, _ in ado_sandbox.dataset.item(ident).links:
            rels[link] += 1
    if ado_sandbox.dataset.count >= 200:
        assert all(seen[k] >= 3 for k in KINDS), seen
        for wanted in (
            "Microsoft.VSTS.Common.Affects-Forward",
            "Custom.LinkTypes.Implements-Forward",
            "System.LinkTypes.Remote.Related",
        ):
            assert rels[wanted] >= 3, rels


def test_new_link_types_are_in_the_relation_types(ado_sandbox: SandboxHandle) -> None:
    url = f"{ado_sandbox.ado_url}/{ado_sandbox.org}/_apis/wit/workitemrelationtypes?{V}"
    names = {
        t["referenceName"]: t["name"] for t in ado_sandbox.ado_session().get(url).json()["value"]
    }
    assert names["Microsoft.VSTS.Common.Affects-Forward"] == "Affects"
    assert names["Custom.LinkTypes.Implements-Reverse"] == "Implemented By"
    assert "System.LinkTypes.Remote.Related" in names


def test_repositories_and_builds_are_served(ado_sandbox: SandboxHandle) -> None:
    session = ado_sandbox.ado_session()
    repos = session.get(f"{ado_sandbox.ado_api}/git/repositories?{V}").json()["value"]
    assert sorted(r["name"] for r in repos) == ["api-service", "infra", "web-app"]
    one = session.get(f"{ado_sandbox.ado_api}/git/repositories/{repos[0]['id']}?{V}")
    assert one.status_code == 200 and one.json()["name"] == repos[0]["name"]
    assert session.get(f"{ado_sandbox.ado_api}/git/repositories/nope?{V}").status_code == 404
    build = session.get(f"{ado_sandbox.ado_api}/build/builds/5001?{V}")
    assert build.status_code == 200 and build.json()["buildNumber"]
    assert session.get(f"{ado_sandbox.ado_api}/build/builds/4?{V}").status_code == 404


def test_artifact_web_urls_open_and_unknown_ones_do_not(ado_sandbox: SandboxHandle) -> None:
    h = ado_sandbox
    repos = h.ado_session().get(f"{h.ado_api}/git/repositories?{V}").json()["value"]
    ctx = ArtifactContext(
        f"{h.ado_url}/{h.org}",
        h.project,
        {h.dataset.project_id: h.project},
        {r["id"]: r["name"] for r in repos},
    )
    opened = 0
    for ident in list(h.dataset.ids())[:80]:
        for rel in h.dataset.item(ident).other_relations:
            if rel["rel"] != "ArtifactLink":
                continue
            art = parse_artifact_uri(rel["url"])
            assert art is not None
            page = requests.get(artifact_web_url(art, ctx), timeout=10)
            assert page.status_code == 200, (rel, page.url)
            opened += 1
    assert opened
    base = f"{h.ado_url}/{h.org}/{h.project}"
    assert requests.get(f"{base}/_git/web-app/commit/{'0' * 40}", timeout=10).status_code == 404
    assert requests.get(f"{base}/_build/results?buildId=1", timeout=10).status_code == 404
    assert requests.get(f"{base}/_workitems/edit/1", timeout=10).status_code == 200
    assert requests.get(f"{base}/_workitems/edit/999999", timeout=10).status_code == 404


def test_updates_page_and_replay_to_the_current_fields(ado_sandbox: SandboxHandle) -> None:
    h = ado_sandbox
    for ident in (1, 2, 3, 34):
        item = _item(h, ident)
        rows = _updates(h, ident, top=7)
        assert len(rows) == item["rev"]
        assert [r["rev"] for r in rows] == list(range(1, item["rev"] + 1))
        now: dict[str, Any] = {}
        for row in rows:
            for ref, delta in row["fields"].items():
                if "newValue" in delta:
                    now[ref] = delta["newValue"]
                else:
                    now.pop(ref, None)
        for ref in ("System.State", "System.Title", "Microsoft.VSTS.Common.Priority"):
            assert now.get(ref) == item["fields"].get(ref), (ident, ref)


def test_some_histories_are_longer_than_the_inline_limit(ado_sandbox: SandboxHandle) -> None:
    long = 0
    for ident in range(1, min(ado_sandbox.dataset.count, 70) + 1):
        rendering = render_history(build_history(ident, _updates(ado_sandbox, ident)))
        long += bool(rendering and rendering.file_name)
    assert long >= 2


def test_an_edit_is_a_new_update(ado_sandbox: SandboxHandle) -> None:
    h = ado_sandbox
    before = _updates(h, 2)
    h.ado.edit_item(2, {"System.Title": "Renamed in the test"})
    after = _updates(h, 2)
    assert len(after) == len(before) + 1
    assert after[-1]["fields"]["System.Title"]["newValue"] == "Renamed in the test"
    assert after[-2]["revisedDate"] == after[-1]["fields"]["System.ChangedDate"]["newValue"]
