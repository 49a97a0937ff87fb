"""Fault and realism knobs, counters, inspection, thread safety, import boundaries."""

from __future__ import annotations

import ast
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from sandbox.httpbase import Knobs
from tests.sandbox.jira_support import EMAIL, TOKEN, doc, issue_body, para, running_site

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox"
ISO_MINUTE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z$")


def test_latency_knob_delays_api_calls_but_not_control_routes() -> None:
    with running_site(knobs=Knobs(latency_ms=150)) as s:
        started = time.perf_counter()
        assert s.http.get(s.api + "/myself").status_code == 200
        assert time.perf_counter() - started >= 0.15
        started = time.perf_counter()
        s.http.get(s.url + "/_sandbox/jira/writes")
        assert time.perf_counter() - started < 0.15


def test_burst_limit_answers_429_with_jira_rate_limit_headers() -> None:
    with running_site(knobs=Knobs(rate_limit_per_sec=3, retry_after_sec=2)) as s:
        statuses = [s.http.get(s.api + "/myself") for _ in range(10)]
        limited = [r for r in statuses if r.status_code == 429]
        assert limited and statuses[0].status_code == 200
        h = limited[0].headers
        assert h["Retry-After"] == "2" and h["RateLimit-Reason"] == "jira-burst-based"
        assert h["X-RateLimit-Limit"] == "3" and h["X-RateLimit-Remaining"] == "0"
        assert h["X-RateLimit-NearLimit"] == "true" and ISO_MINUTE.match(h["X-RateLimit-Reset"])
        assert limited[0].json()["errorMessages"]
        time.sleep(1.0)  # the bucket refills
        assert s.http.get(s.api + "/myself").status_code == 200


def test_random_429_on_an_issue_write_names_the_per_issue_limit() -> None:
    with running_site() as s:
        key = s.create()["key"]
        s.app.knobs.p429 = 1.0
        write = s.http.post(f"{s.api}/issue/{key}/comment", json={"body": doc(para("x"))})
        assert write.status_code == 429
        assert write.headers["RateLimit-Reason"] == "jira-per-issue-on-write"
        read = s.http.get(s.api + "/myself")
        assert read.status_code == 429 and read.headers["RateLimit-Reason"] == "jira-burst-based"
        s.app.knobs.p429 = 0.0
        assert s.app.dump_issue(key)["comments"] == []  # refused before any write


def test_random_5xx_gives_500_and_503_with_retry_after() -> None:
    with running_site() as s:
        s.http.patch(s.url + "/_sandbox/knobs", json={"p5xx": 1.0, "seed": 7})
        seen = {}
        for _ in range(40):
            resp = s.http.get(s.api + "/myself")
            seen[resp.status_code] = resp
        assert set(seen) == {500, 503}
        assert "Retry-After" in seen[503].headers and "Retry-After" not in seen[500].headers
        assert seen[500].json()["errorMessages"]


def test_per_route_counters_and_write_counters() -> None:
    with running_site() as s:
        s.http.post(s.api + "/issue/bulk", json={"issueUpdates": [issue_body()] * 3})
        key = "MIG-1"
        s.http.post(f"{s.api}/issue/{key}/transitions", json={"transition": {"id": "21"}})
        s.http.post(f"{s.api}/issue/{key}/comment", json={"body": doc(para("x"))})
        s.http.post(
            f"{s.api}/issue/{key}/attachments",
            files=[("file", ("a", b"abc"))],
            headers={"X-Atlassian-Token": "no-check"},
        )
        s.http.post(
            s.api + "/issueLink",
            json={
                "type": {"name": "Relates"},
                "inwardIssue": {"key": "MIG-1"},
                "outwardIssue": {"key": "MIG-2"},
            },
        )
        counters = s.http.get(s.url + "/_sandbox/counters").json()["routes"]
        assert counters["POST /rest/api/3/issue/bulk"] == 1
        assert counters["POST /rest/api/3/issue/{issueIdOrKey}/transitions"] == 1
        writes = s.http.get(s.url + "/_sandbox/jira/writes").json()
        assert writes == {
            "issues_created": 3,
            "transitions": 1,
            "comments": 1,
            "attachments": 1,
            "attachment_bytes": 3,
            "links": 1,
        }
        assert s.http.post(s.url + "/_sandbox/jira/writes/reset").status_code == 204
        assert s.app.writes == {}


def test_settings_route_refuses_unknown_or_badly_typed_settings() -> None:
    with running_site() as s:
        url = s.url + "/_sandbox/jira/settings"
        assert s.http.patch(url, json={"nope": 1}).status_code == 400
        assert s.http.patch(url, json={"attachments_enabled": "yes"}).status_code == 400
        assert s.http.get(url).json()["upload_limit"] == 10 * 1024 * 1024


def test_inspection_shows_everything_about_an_issue() -> None:
    with running_site() as s:
        key = s.create("Story", "s", labels=["l"], properties=[{"key": "ado", "value": {"id": 3}}])[
            "key"
        ]
        other = s.create()["key"]
        s.http.post(
            f"{s.api}/issue/{key}/comment",
            json={"body": doc(para("hello")), "properties": [{"key": "ado", "value": 9}]},
        )
        s.http.post(
            f"{s.api}/issue/{key}/attachments",
            files=[("file", ("a.txt", b"abc"))],
            headers={"X-Atlassian-Token": "no-check"},
        )
        s.http.post(
            s.api + "/issueLink",
            json={
                "type": {"name": "Blocks"},
                "inwardIssue": {"key": key},
                "outwardIssue": {"key": other},
            },
        )
        s.http.post(
            f"{s.api}/issue/{key}/remotelink",
            json={"globalId": "g", "object": {"url": "https://x", "title": "x"}},
        )
        dump = s.http.get(f"{s.url}/_sandbox/jira/issues/{key}").json()
        assert dump["status"] == "To Do" and dump["fields"]["labels"] == ["l"]
        assert dump["properties"] == {"ado": {"id": 3}}
        assert dump["comments"][0]["body"] == doc(para("hello"))
        assert dump["comments"][0]["properties"] == {"ado": 9}
        assert dump["attachments"][0]["size"] == 3 and len(dump["attachments"][0]["sha256"]) == 64
        assert dump["links"] == [{"id": "10000", "type": "Blocks", "inward": key, "outward": other}]
        assert dump["remoteLinks"][0]["globalId"] == "g"
        everything = s.http.get(s.url + "/_sandbox/jira/issues").json()
        assert [i["key"] for i in everything["issues"]] == [key, other]
        assert everything["writes"]["issues_created"] == 2


def test_reset_empties_the_site_and_restores_defaults() -> None:
    with running_site(require_story_points=True) as s:
        s.create("Task", "t")
        s.http.patch(s.url + "/_sandbox/knobs", json={"latency_ms": 5})
        s.http.patch(s.url + "/_sandbox/jira/settings", json={"upload_limit": 1})
        assert s.http.post(s.url + "/_sandbox/jira/reset").status_code == 204
        assert s.app.issue_keys() == [] and s.app.knobs.latency_ms == 0
        assert s.app.settings.upload_limit == 10 * 1024 * 1024
        assert s.app.settings.require_story_points is True  # constructor choices survive
        assert s.create("Task", "again")["key"] == "MIG-1"


def test_concurrent_creates_get_unique_consecutive_keys() -> None:
    with running_site() as s:

        def create(n: int) -> str:
            with requests.Session() as http:
                http.auth = (EMAIL, TOKEN)
                resp = http.post(s.api + "/issue", json=issue_body(summary=f"i{n}"))
                assert resp.status_code == 201
                return str(resp.json()["key"])

        with ThreadPoolExecutor(8) as pool:
            keys = list(pool.map(create, range(120)))
        assert sorted(keys, key=lambda k: int(k.split("-")[1])) == [
            f"MIG-{n}" for n in range(1, 121)
        ]


def test_bulk_create_of_fifty_rich_issues_is_fast() -> None:
    description = doc(*[para(f"line {n} " * 10, {"type": "strong"}) for n in range(20)])
    body = {
        "issueUpdates": [issue_body(summary=f"i{n}", description=description) for n in range(50)]
    }
    with running_site() as s:
        started = time.perf_counter()
        resp = s.http.post(s.api + "/issue/bulk", json=body)
        assert resp.status_code == 201 and len(resp.json()["issues"]) == 50
        assert time.perf_counter() - started < 2.0


def test_jira_sandbox_imports_nothing_from_engine_or_django() -> None:
    files = sorted(SANDBOX.glob("jira*.py"))
    assert files
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                root = name.split(".")[0]
                assert root not in ("engine", "django", "migrations_app", "migrator_site"), (
                    f"{path.name} imports {name}"
                )
