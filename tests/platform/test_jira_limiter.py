"""The worker's Jira scheduler: one per site, shared through Redis when Redis is configured;
the single adaptive limiter of old still there as an option."""

import pytest
from django.conf import settings
from django.test import override_settings

from engine.ratelimit import AdaptiveRateLimiter, RedisRateLimiter
from engine.schedule import MemoryScheduler
from engine.schedule_redis import RedisScheduler
from migrations_app.runner import jira_limiter


@override_settings(REDIS_URL="")
def test_it_uses_a_process_scheduler_in_the_embedded_mode() -> None:
    limiter = jira_limiter("https://example.atlassian.net")
    assert isinstance(limiter, MemoryScheduler)
    assert limiter.max_in_flight == settings.MIGRATOR_JIRA_MAX_IN_FLIGHT
    assert limiter.settings.rates == {"GET": 100.0, "POST": 100.0, "PUT": 50.0, "DELETE": 50.0}
    assert limiter.settings.issue_windows == ((20, 2.0), (100, 30.0))


@override_settings(
    REDIS_URL="",
    MIGRATOR_JIRA_METHOD_RATES={"get": 40.0, "POST": 30.0},
    MIGRATOR_JIRA_ROUTE_RATES={"POST /rest/api/3/issue/bulk": 5},
    MIGRATOR_JIRA_ISSUE_WINDOWS_PARSED=((10, 1.0),),
)
def test_its_rates_and_windows_come_from_the_settings() -> None:
    limiter = jira_limiter("https://example.atlassian.net")
    assert isinstance(limiter, MemoryScheduler)
    assert limiter.settings.rates == {"GET": 40.0, "POST": 30.0}
    assert limiter.settings.route_rates == {"POST /rest/api/3/issue/bulk": 5.0}
    assert limiter.settings.issue_windows == ((10, 1.0),)


@override_settings(REDIS_URL="", MIGRATOR_JIRA_SCHEDULER="single")
def test_the_single_limiter_mode_keeps_the_one_adaptive_limiter() -> None:
    limiter = jira_limiter("https://example.atlassian.net")
    assert isinstance(limiter, AdaptiveRateLimiter)
    assert limiter.max_in_flight == settings.MIGRATOR_JIRA_MAX_IN_FLIGHT


def test_it_shares_the_schedule_between_workers_through_redis() -> None:
    if not settings.REDIS_URL:
        pytest.skip("Redis mode needs REDIS_URL (CI sets it)")
    site = "https://shared-limit.example.atlassian.net"
    first, second = jira_limiter(site), jira_limiter(site)
    assert isinstance(first, RedisScheduler) and isinstance(second, RedisScheduler)
    assert first.key == second.key
    other = jira_limiter("https://other.example.atlassian.net")
    assert isinstance(other, RedisScheduler) and other.key != first.key


@override_settings(MIGRATOR_JIRA_SCHEDULER="single")
def test_the_single_limiter_is_shared_through_redis_too() -> None:
    if not settings.REDIS_URL:
        pytest.skip("Redis mode needs REDIS_URL (CI sets it)")
    site = "https://shared-limit.example.atlassian.net"
    first, second = jira_limiter(site), jira_limiter(site)
    assert isinstance(first, RedisRateLimiter) and isinstance(second, RedisRateLimiter)
    assert first.key == second.key
