"""The worker's Jira limiter: one per site, shared through Redis when Redis is configured."""

import pytest
from django.conf import settings
from django.test import override_settings

from engine.ratelimit import AdaptiveRateLimiter, RedisRateLimiter
from migrations_app.runner import jira_limiter


@override_settings(REDIS_URL="")
def test_it_uses_a_process_limiter_in_the_embedded_mode() -> None:
    limiter = jira_limiter("https://example.atlassian.net")
    assert isinstance(limiter, AdaptiveRateLimiter)
    assert limiter.max_in_flight == settings.MIGRATOR_JIRA_MAX_IN_FLIGHT


def test_it_shares_the_limit_between_workers_through_redis() -> None:
    if not settings.REDIS_URL:
        pytest.skip("Redis mode needs REDIS_URL (CI sets it)")
    site = "https://shared-limit.example.atlassian.net"
    first, second = jira_limiter(site), jira_limiter(site)
    assert isinstance(first, RedisRateLimiter) and isinstance(second, RedisRateLimiter)
    assert first.key == second.key
    other = jira_limiter("https://other.example.atlassian.net")
    assert isinstance(other, RedisRateLimiter) and other.key != first.key
