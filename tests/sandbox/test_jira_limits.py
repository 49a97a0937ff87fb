"""Jira's rate-limit model in the sandbox: per endpoint and method, per issue on write,
hourly quota; each 429 naming its scope, and only its scope slowed."""

from __future__ import annotations

import pytest

from sandbox.httpbase import Knobs
from sandbox.jira_limits import BURST, PER_ISSUE, QUOTA, JiraLimits, LimitSettings
from tests.sandbox.jira_support import doc, para, running_site


class Clock:
    def __init__(self) -> None:
        self.now = 7200.0  # the start of an hour

    def __call__(self) -> float:
        return self.now


def model(**settings: object) -> tuple[JiraLimits, Clock]:
    clock = Clock()
    return JiraLimits(LimitSettings(enabled=True, **settings), clock), clock  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the model
def test_each_endpoint_and_method_has_its_own_bucket() -> None:
    limits, clock = model(rates={"GET": 5.0, "POST": 5.0, "PUT": 2.0, "DELETE": 2.0})
    assert all(limits.check("GET", "/a").reason is None for _ in range(5))
    refused = limits.check("GET", "/a")
    assert refused.reason == BURST and refused.limit == 5 and refused.retry_after > 0
    assert limits.check("GET", "/b").reason is None  # another endpoint: its own budget
    assert limits.check("POST", "/a").reason is None  # another method: its own budget
    assert [limits.check("PUT", "/c").reason for _ in range(3)] == [None, None, BURST]
    clock.now += 1.0
    assert limits.check("GET", "/a").reason is None  # refilled


def test_a_route_rate_overrides_its_methods_default() -> None:
    limits, _ = model(route_rates={"POST /bulk": 2.0})
    assert [limits.check("POST", "/bulk").reason for _ in range(3)] == [None, None, BURST]
    assert limits.check("POST", "/other").reason is None


def test_writes_to_one_issue_are_limited_and_other_issues_go_on() -> None:
    limits, clock = model(issue_windows=[(3, 2.0), (5, 30.0)])
    assert [limits.check("POST", "/c", ["1"]).reason for _ in range(3)] == [None] * 3
    refused = limits.check("PUT", "/i", ["1"])
    assert refused.reason == PER_ISSUE and 0 < refused.retry_after <= 2.0
    assert limits.check("POST", "/c", ["2"]).reason is None  # another issue
    assert limits.check("GET", "/i", ["1"]).reason is None  # reads are not writes
    clock.now += 2.0
    assert [limits.check("POST", "/c", ["1"]).reason for _ in range(3)] == [None, None, PER_ISSUE]
    clock.now += 2.0  # the short window allows again, the 30 s one (5) does not
    refused = limits.check("POST", "/c", ["1"])
    assert refused.reason == PER_ISSUE and refused.retry_after > 20


def test_a_refused_request_counts_in_no_window() -> None:
    limits, _ = model(rates={"GET": 100.0, "POST": 100.0}, issue_windows=[(2, 2.0)])
    assert limits.check("POST", "/c", ["1"]).reason is None
    assert limits.check("POST", "/c", ["1"]).reason is None
    for _ in range(10):
        assert limits.check("POST", "/c", ["1"]).reason == PER_ISSUE
    # the refusals gave their endpoint tokens back: the endpoint is not slowed for others
    assert all(limits.check("POST", "/c", [str(n)]).reason is None for n in range(2, 80))


def test_an_hourly_quota_stops_everything_until_the_hour_ends() -> None:
    limits, clock = model(hourly_quota=3)
    assert [limits.check("GET", f"/{n}").reason for n in range(3)] == [None] * 3
    refused = limits.check("GET", "/other")
    assert refused.reason == QUOTA and refused.retry_after == pytest.approx(3600)
    clock.now += 3600
    assert limits.check("GET", "/other").reason is None


def test_near_limit_is_flagged_below_a_fifth_of_the_bucket() -> None:
    limits, _ = model(rates={"GET": 10.0})
    near = [limits.check("GET", "/a").near for _ in range(10)]
    assert near == [False] * 8 + [True] * 2


def test_off_lets_everything_through() -> None:
    limits = JiraLimits(LimitSettings(rates={"GET": 1.0}))
    assert all(limits.check("GET", "/a").reason is None for _ in range(50))


@pytest.mark.parametrize(
    "change",
    [
        {"enabled": "yes"},
        {"rates": {"GET": 0}},
        {"route_rates": {"GET /x": "fast"}},
        {"issue_windows": [[0, 2]]},
        {"hourly_quota": -1},
        {"near_fraction": 1.5},
    ],
)
def test_bad_settings_are_refused_and_nothing_changes(change: dict[str, object]) -> None:
    settings = LimitSettings()
    with pytest.raises(ValueError):
        settings.update(change)
    assert settings == LimitSettings()


# --------------------------------------------------------------------------- over HTTP
def test_a_throttled_endpoint_answers_its_reason_and_headers_and_others_go_on() -> None:
    limits = LimitSettings(enabled=True, route_rates={"GET /rest/api/3/myself": 3.0})
    with running_site(limits=limits) as s:
        answers = [s.http.get(s.api + "/myself") for _ in range(6)]
        assert [a.status_code for a in answers[:3]] == [200, 200, 200]
        refused = next(a for a in answers if a.status_code == 429)
        h = refused.headers
        assert h["RateLimit-Reason"] == "jira-burst-based" and int(h["Retry-After"]) >= 1
        assert h["X-RateLimit-Limit"] == "3" and h["X-RateLimit-Remaining"] == "0"
        assert refused.json()["errorMessages"]
        assert answers[2].headers.get("X-RateLimit-NearLimit") == "true"  # last token
        assert "X-RateLimit-NearLimit" not in answers[0].headers
        assert s.http.get(s.api + "/serverInfo").status_code == 200  # another endpoint
        counters = s.http.get(s.url + "/_sandbox/counters").json()
        assert counters["routes"]["429 jira-burst-based"] == 3
        assert counters["total"] == 7  # every request served, refused or not


def test_writes_to_a_busy_issue_are_refused_unapplied_while_another_issue_is_written() -> None:
    limits = LimitSettings(enabled=True, issue_windows=[(3, 30.0)])
    with running_site(limits=limits) as s:
        busy, other = s.create()["key"], s.create()["key"]
        busy_id = s.app.dump_issue(busy)["id"]
        codes = []
        for n in range(3):
            # the key and the id name one issue
            ref = busy if n % 2 else busy_id
            codes.append(s.http.post(f"{s.api}/issue/{ref}/comment", json={"body": doc(para("x"))}))
        refused = s.http.post(f"{s.api}/issue/{busy}/comment", json={"body": doc(para("y"))})
        assert [c.status_code for c in codes] == [201, 201, 201]
        assert refused.status_code == 429
        assert refused.headers["RateLimit-Reason"] == "jira-per-issue-on-write"
        assert len(s.app.dump_issue(busy)["comments"]) == 3  # the refused one not applied
        ok = s.http.post(f"{s.api}/issue/{other}/comment", json={"body": doc(para("z"))})
        assert ok.status_code == 201


def test_an_issue_link_counts_on_both_issues() -> None:
    limits = LimitSettings(enabled=True, issue_windows=[(1, 30.0)])
    with running_site(limits=limits) as s:
        a, b, c = (s.create()["key"] for _ in range(3))
        s.app.limits.reset()  # the creates were not writes to these issues; start clean

        def link(inward: str, outward: str) -> int:
            body = {"type": {"name": "Relates"}, "inwardIssue": {"key": inward},
                    "outwardIssue": {"key": outward}}  # fmt: skip
            return s.http.post(s.api + "/issueLink", json=body).status_code

        assert link(a, b) == 201
        assert link(b, c) == 429  # b had its one write
        assert link(c, a) == 429  # so had a


def test_the_limits_route_changes_the_model_and_refuses_bad_settings() -> None:
    with running_site() as s:
        url = s.url + "/_sandbox/jira/limits"
        assert s.http.get(url).json()["enabled"] is False
        assert s.http.patch(url, json={"colour": 1}).status_code == 400
        assert s.http.patch(url, json={"rates": {"GET": -1}}).status_code == 400
        changed = s.http.patch(url, json={"enabled": True, "route_rates": {"GET /x": 2}})
        assert changed.status_code == 200 and changed.json()["route_rates"] == {"GET /x": 2}
        s.http.post(s.url + "/_sandbox/jira/reset")
        assert s.http.get(url).json() == LimitSettings().__dict__ | {
            "issue_windows": [list(w) for w in LimitSettings().issue_windows]
        }


def test_usage_tallies_answers_per_endpoint_and_429s_per_reason_and_endpoint() -> None:
    limits = LimitSettings(enabled=True, route_rates={"GET /rest/api/3/myself": 2.0})
    with running_site(limits=limits) as s:
        for _ in range(3):
            s.http.get(s.api + "/myself")
        s.http.get(s.api + "/serverInfo")
        usage = s.http.get(s.url + "/_sandbox/jira/limits/usage").json()
        assert usage["answers"] == {
            "GET /rest/api/3/myself": {"200": 2, "429": 1},
            "GET /rest/api/3/serverInfo": {"200": 1},
        }
        assert usage["refused"] == {"jira-burst-based": {"GET /rest/api/3/myself": 1}}
        reset = s.http.post(s.url + "/_sandbox/jira/limits/usage/reset")
        assert reset.status_code == 204
        assert s.http.get(s.url + "/_sandbox/jira/limits/usage").json() == {
            "answers": {},
            "refused": {},
        }


def test_usage_names_the_global_bucket_s_429s_too() -> None:
    with running_site(knobs=Knobs(rate_limit_per_sec=1.0)) as s:
        codes = [s.http.get(s.api + "/myself").status_code for _ in range(3)]
        assert 429 in codes
        usage = s.app.usage.snapshot()
        refused = usage["refused"]["jira-burst-based"]["GET /rest/api/3/myself"]
        assert refused == codes.count(429)
        s.app.reset()
        assert s.app.usage.snapshot() == {"answers": {}, "refused": {}}
