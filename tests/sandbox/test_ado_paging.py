"""Paging at both ends: WIQL past the cap by id, comments by continuation token."""

from __future__ import annotations

from typing import Any

from tests.fixtures.sandbox import SandboxHandle

V = "api-version=7.1"
PREVIEW = "api-version=7.1-preview.4"


def _page_by_id(h: SandboxHandle, top: int) -> tuple[list[int], int]:
    session, last, calls = h.ado_session(), 0, 0
    seen: list[int] = []
    while True:
        query = (
            "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project "
            f"AND [System.Id] > {last} ORDER BY [System.Id]"
        )
        r = session.post(f"{h.ado_api}/wit/wiql?{V}&$top={top}", json={"query": query})
        assert r.status_code == 200, r.text
        calls += 1
        ids = [w["id"] for w in r.json()["workItems"]]
        if not ids:
            return seen, calls
        seen += ids
        last = ids[-1]


def test_paging_by_id_under_the_cap_returns_every_id_once(make_sandboxes: Any) -> None:
    h = make_sandboxes(items=230, wiql_cap=50)
    seen, calls = _page_by_id(h, top=50)
    assert seen == sorted(set(seen))
    assert seen == list(h.ado.store.live_ids())
    assert calls == 6  # 5 pages of at most 50, then an empty page


def test_the_default_cap_is_20000(make_sandboxes: Any) -> None:
    h = make_sandboxes(items=20_010)
    session = h.ado_session()
    r = session.post(
        f"{h.ado_api}/wit/wiql?{V}", json={"query": "SELECT [System.Id] FROM WorkItems"}
    )
    assert r.status_code == 400 and "size limit of 20000" in r.json()["message"]
    seen, _ = _page_by_id(h, top=20_000)
    assert len(seen) == len(set(seen)) == 20_010


def test_comment_continuation_tokens_reach_a_last_page_with_null_token(
    ado_sandbox: SandboxHandle,
) -> None:
    story = ado_sandbox.dataset.roles["story"]
    session = ado_sandbox.ado_session()
    url = f"{ado_sandbox.ado_api}/wit/workItems/{story}/comments"
    pages: list[dict[str, Any]] = []
    token = None
    while True:
        params = {"$top": "2", **({"continuationToken": token} if token else {})}
        r = session.get(f"{url}?{PREVIEW}", params=params)
        assert r.status_code == 200, r.text
        pages.append(r.json())
        token = r.json()["continuationToken"]
        if token is None:
            assert r.json()["nextPage"] is None
            break
        assert f"continuationToken={token}" in r.json()["nextPage"]
    ids = [c["id"] for p in pages for c in p["comments"]]
    assert [p["count"] for p in pages] == [2, 2, 2]
    assert len(ids) == len(set(ids)) == pages[0]["totalCount"] == 6
    created = [c["createdDate"] for p in pages for c in p["comments"]]
    assert created == sorted(created, reverse=True)  # newest first by default


def test_deleted_comments_only_with_include_deleted(ado_sandbox: SandboxHandle) -> None:
    story = ado_sandbox.dataset.roles["story"]
    url = f"{ado_sandbox.ado_api}/wit/workItems/{story}/comments?{PREVIEW}"
    session = ado_sandbox.ado_session()
    plain = session.get(url).json()
    assert not any(c["isDeleted"] for c in plain["comments"])
    everything = session.get(url + "&includeDeleted=true&order=asc").json()
    assert everything["totalCount"] == plain["totalCount"] + 1
    assert sum(c["isDeleted"] for c in everything["comments"]) == 1
    created = [c["createdDate"] for c in everything["comments"]]
    assert created == sorted(created)


def test_a_bad_continuation_token_is_400(ado_sandbox: SandboxHandle) -> None:
    r = ado_sandbox.ado_session().get(
        f"{ado_sandbox.ado_api}/wit/workItems/3/comments?{PREVIEW}&continuationToken=%%%"
    )
    assert r.status_code == 400
