"""Both clients over real HTTP against the in-process sandboxes (tests/fixtures/sandbox.py)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from engine.ado import AdoClient
from engine.errors import AuthError, PermanentError
from engine.http import OutcomeUnknown, RetryPolicy
from engine.jira import JiraClient
from engine.ratelimit import AdaptiveRateLimiter

pytest.importorskip("sandbox.ado", reason="the ADO sandbox (sandbox/ado.py) has not landed yet")


def _fixture(request: pytest.FixtureRequest, name: str) -> Any:
    try:
        return request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        pytest.skip(f"fixture {name!r} is not in tests/fixtures/sandbox.py yet")


@pytest.fixture
def sb(request: pytest.FixtureRequest) -> Any:
    return _fixture(request, "sandboxes")


@pytest.fixture
def make_sb(request: pytest.FixtureRequest) -> Callable[..., Any]:
    return _fixture(request, "make_sandboxes")


def ado_client(sb: Any, **kw: Any) -> AdoClient:
    return AdoClient(sb.ado_url, sb.org, sb.project, sb.pat, **kw)


def jira_client(sb: Any, **kw: Any) -> JiraClient:
    if sb.jira_url is None:
        pytest.skip("the Jira sandbox (sandbox/jira.py) has not landed yet")
    kw.setdefault("limiter", AdaptiveRateLimiter(initial_rate=1000, max_rate=1000))
    return JiraClient(sb.jira_url, sb.email, sb.api_token, **kw)


class Sleeps:
    """Records the waits instead of sleeping them (the sandbox's 429s are random, not timed)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


# --------------------------------------------------------------------------- ADO
def test_ado_reads_the_whole_project(sb: Any) -> None:
    ado = ado_client(sb)
    ado.check_access()
    ids = ado.query_ids()
    assert ids == sorted(set(ids)) and len(ids) > 0
    items = ado.get_work_items(ids)
    assert [w.id for w in items] == ids
    assert all(w.type and w.title and w.rev > 0 for w in items)
    assert any(w.parent_id for w in items)
    comments = [c for w in items[:20] for c in ado.iter_comments(w.id)]
    assert comments and all(c.id > 0 and c.created_by.display_name for c in comments)
    types = ado.work_item_types()
    assert types and all(t.states and all(s.category for s in t.states) for t in types)
    areas = ado.classification_nodes("areas")
    iterations = ado.classification_nodes("iterations")
    assert areas.structure_type == "area" and iterations.children
    # One request per call: check, WIQL, one batch, 20 comment pages, types, two trees.
    assert ado.http.requests_sent == 1 + 1 + 1 + 20 + 1 + 2


def test_ado_filters_compose_into_wiql(sb: Any) -> None:
    ado = ado_client(sb)
    all_items = ado.get_work_items(ado.query_ids())
    bug_ids = [w.id for w in all_items if w.type == "Bug"]
    assert ado.query_ids(types=["Bug"]) == bug_ids
    area = all_items[-1].area_path
    under = ado.query_ids(area_path=area)
    assert all_items[-1].id in under
    assert ado.query_ids(changed_since="2999-01-01T00:00:00Z") == []


def test_ado_streams_an_attachment(sb: Any) -> None:
    ado = ado_client(sb)
    items = ado.get_work_items(ado.query_ids())
    ref = min((a for w in items for a in w.attachments), key=lambda a: a.size or 0)
    with ado.open_attachment(ref.url) as stream:
        data = b""
        while chunk := stream.read(8192):
            data += chunk
    assert len(data) == ref.size


def test_ado_bad_pat_is_auth_error(sb: Any) -> None:
    with pytest.raises(AuthError):
        AdoClient(sb.ado_url, sb.org, sb.project, "wrong-pat").check_access()


def test_ado_missing_project_is_permanent(sb: Any) -> None:
    with pytest.raises(PermanentError, match="project not found") as info:
        AdoClient(sb.ado_url, sb.org, "No Such Project", sb.pat).check_access()
    assert not isinstance(info.value, AuthError)


def test_ado_paging_survives_a_small_wiql_cap(make_sb: Callable[..., Any]) -> None:
    sb = make_sb(items=250, wiql_cap=40)
    ado = ado_client(sb)
    ids = ado.query_ids()
    assert len(ids) == len(set(ids)) and ids == sorted(ids)
    reference = ado_client(sb, page_size=30).query_ids()
    assert ids == reference and len(ids) > 200


def test_ado_retries_through_throttling_and_faults(make_sb: Callable[..., Any]) -> None:
    sb = make_sb(items=80, p429=0.25, p5xx=0.1, seed=3)
    sleeps = Sleeps()
    ado = ado_client(sb, retry=RetryPolicy(max_attempts=10, sleep=sleeps))
    ids = ado.query_ids()
    items = ado.get_work_items(ids)
    for w in items[:15]:
        list(ado.iter_comments(w.id))
    assert len(items) == len(ids) > 0
    assert sleeps.waits, "expected the sandbox to throttle at least once"
    assert 1.0 in sleeps.waits  # its Retry-After


# --------------------------------------------------------------------------- Jira
def std_type(jira: JiraClient, key: str) -> str:
    return next(t.id for t in jira.issue_types(key) if t.hierarchy_level == 0)


def payload(key: str, type_id: str, summary: str, ado_id: int = 0) -> dict[str, Any]:
    return {
        "fields": {"project": {"key": key}, "issuetype": {"id": type_id}, "summary": summary},
        "properties": [{"key": "ado.migration", "value": {"adoId": ado_id}}],
    }


def test_jira_metadata(sb: Any) -> None:
    jira = jira_client(sb)
    assert jira.myself()["accountId"]
    key = sb.project_key
    assert jira.get_project(key).key == key
    types = jira.issue_types(key)
    levels = {t.name: t.hierarchy_level for t in types}
    assert levels.get("Epic") == 1 and -1 in levels.values() and 0 in levels.values()
    fields = jira.create_fields(key, std_type(jira, key))
    assert {"summary", "issuetype", "project"} <= {f.field_id for f in fields if f.required}
    statuses = jira.project_statuses(key)
    assert set(statuses) == {t.id for t in types}
    assert jira.fields() and jira.priorities() and jira.link_types()
    assert jira.attachment_upload_limit() == 10 * 1024 * 1024


def test_jira_bulk_create_maps_partial_failures(sb: Any) -> None:
    jira = jira_client(sb)
    key = sb.project_key
    tid = std_type(jira, key)
    bad = {"fields": {"project": {"key": key}, "summary": "no type"}}
    batch = [payload(key, tid, "a", 1), bad, payload(key, tid, "c", 3), bad]
    result = jira.create_issues(batch)
    assert sorted(result.created) == [0, 2] and sorted(result.errors) == [1, 3]
    assert "issuetype" in result.errors[1]
    assert jira.get_issue(result.created[2].key, ["summary"])["fields"]["summary"] == "c"
    all_bad = jira.create_issues([bad, bad])
    assert all_bad.created == {} and sorted(all_bad.errors) == [0, 1]


def test_jira_issue_lifecycle(sb: Any) -> None:
    jira = jira_client(sb)
    key = sb.project_key
    tid = std_type(jira, key)
    a = jira.create_issue(payload(key, tid, "first", 10))
    b = jira.create_issue(payload(key, tid, "second", 11))
    jira.edit_issue(a.key, {"summary": "first, edited"})
    trs = jira.transitions(a.key)
    assert trs
    jira.transition(a.key, trs[0].id)
    assert jira.get_issue(a.key, ["status"])["fields"]["status"]["name"] == trs[0].to.name
    adf = {
        "version": 1,
        "type": "doc",
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}],
    }
    cid = jira.add_comment(a.key, adf, [{"key": "ado.comment", "value": {"id": 7}}])
    [comment] = jira.comments(a.key)
    assert comment["id"] == cid
    # not in the list (the spec documents only renderedBody there): by the property route
    assert "properties" not in comment
    assert jira.comment_property(cid, "ado.comment") == {"id": 7}
    assert jira.comment_property(cid, "no.such.key") is None
    link_type = jira.link_types()[0]["name"]
    jira.link_issues(link_type, a.key, b.key)
    jira.link_issues(link_type, a.key, b.key)  # a repeat is harmless
    jira.remote_link(a.key, "https://dev.azure.com/f/p/_workitems/edit/10", "ADO #10", "ado:10")
    jira.remote_link(a.key, "https://dev.azure.com/f/p/_workitems/edit/10", "ADO 10", "ado:10")
    jira.set_property(a.key, "ado.migration", {"adoId": 10, "rev": 2})
    dump = sb.jira.dump_issue(a.key)
    [remote] = dump["remoteLinks"]  # upserted by globalId, not duplicated
    assert remote["globalId"] == "ado:10" and remote["object"]["title"] == "ADO 10"
    assert len(dump["links"]) == 1
    issue = jira.get_issue(a.key, ["issuelinks"])
    assert len(issue["fields"]["issuelinks"]) == 1


def test_jira_search_pages_and_reads_properties(make_sb: Callable[..., Any]) -> None:
    sb = make_sb(items=20)  # a private site: the shared one keeps issues between tests
    jira = jira_client(sb)
    key = sb.project_key
    tid = std_type(jira, key)
    for start in range(0, 120, 50):
        batch = [payload(key, tid, f"s{i}", i) for i in range(start, min(start + 50, 120))]
        assert not jira.create_issues(batch).errors
    hits = list(jira.search(f"project = {key}", ["key", "summary"], ["ado.migration"]))
    assert len(hits) == 120
    assert {h["properties"]["ado.migration"]["adoId"] for h in hits} == set(range(120))
    light = list(jira.search(f"project = {key}", ["key"]))
    assert len(light) == 120


def test_jira_find_users(sb: Any) -> None:
    jira = jira_client(sb)
    me = jira.myself()
    found = jira.find_users(me["emailAddress"])
    assert [u["accountId"] for u in found] == [me["accountId"]]


def test_attachment_streams_from_ado_into_jira(sb: Any) -> None:
    ado, jira = ado_client(sb), jira_client(sb)
    items = ado.get_work_items(ado.query_ids())
    limit = jira.attachment_upload_limit() or 0
    ref = max(
        (a for w in items for a in w.attachments if (a.size or 0) <= limit),
        key=lambda a: a.size or 0,
    )
    issue = jira.create_issue(payload(sb.project_key, std_type(jira, sb.project_key), "att"))
    with ado.open_attachment(ref.url) as stream:
        [meta] = jira.add_attachment(issue.key, ref.name, stream, "application/octet-stream")
    assert meta["filename"] == ref.name and meta["size"] == ref.size
    with ado.open_attachment(ref.url) as stream:
        original = stream.read()
    content = requests.get(meta["content"], auth=(sb.email, sb.api_token), timeout=10)
    assert content.content == original
    assert [a["id"] for a in jira.attachments(issue.key)] == [meta["id"]]


def test_attachment_over_the_limit_is_permanent(sb: Any) -> None:
    jira = jira_client(sb)
    issue = jira.create_issue(payload(sb.project_key, std_type(jira, sb.project_key), "big"))
    limit = jira.attachment_upload_limit() or 0
    with pytest.raises(PermanentError) as info:
        jira.add_attachment(issue.key, "big.bin", io.BytesIO(b"\0" * (limit + 1)), "x/y")
    assert info.value.status == 413


def test_a_create_that_times_out_is_outcome_unknown_and_may_exist(
    make_sb: Callable[..., Any],
) -> None:
    sb = make_sb(items=20)
    jira = jira_client(sb)
    tid = std_type(jira, sb.project_key)
    slow = jira_client(sb, timeout=0.2)
    sb.jira.knobs.latency_ms = 600
    try:
        with pytest.raises(OutcomeUnknown):
            slow.create_issue(payload(sb.project_key, tid, "maybe", 99))
    finally:
        time.sleep(0.8)  # let the server finish the request it is still serving
        sb.jira.knobs.latency_ms = 0
    hits = list(jira.search(f"project = {sb.project_key}", ["key"], ["ado.migration"]))
    assert [h["properties"]["ado.migration"]["adoId"] for h in hits] == [99]


def test_the_limiter_backs_off_when_jira_throttles(make_sb: Callable[..., Any]) -> None:
    sb = make_sb(items=20, rate_limit=15)
    limiter = AdaptiveRateLimiter(initial_rate=60, max_rate=60, max_in_flight=4)
    jira = jira_client(sb, limiter=limiter, max_in_flight=4)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(8):
                jira.myself()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors
    assert limiter.throttles >= 1
    assert limiter.rate < 60
    assert limiter.peak_in_flight <= 4
