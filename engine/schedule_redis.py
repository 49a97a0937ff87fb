"""The Jira scheduler shared through Redis by every worker writing to one site.

:class:`RedisScheduler` has :class:`engine.schedule.MemoryScheduler`'s behaviour
with the endpoint buckets, the issue windows and the pauses in Redis, keyed by the
Jira site (all of a site's keys share one hash tag, so a Redis Cluster keeps them in
one slot). Each step is one Lua script run atomically, on the Redis server's clock
(workers with skewed clocks agree). The in-flight bound stays per process: a
crashed worker must not leak shared slots.

Keys under ``{prefix}:{<site digest>}``: ``:all`` (the site-wide pause), ``:ep:<h>``
(one endpoint: rate, tokens, stamp, pause, last decrease), ``:iw:<h>`` (one issue's
last writes, newest first) and ``:ip:<h>`` (one issue's pause). Every key expires:
an endpoint an hour after its last use, an issue once its windows and pause are over.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from engine.jira_routes import JiraRoute
from engine.ratelimit import site_key
from engine.schedule import MemoryScheduler, Scheduler, SchedulerSettings

# KEYS[1] = endpoint hash, KEYS[2] = site-wide hash.
# ARGV: op, ceiling, initial, min_rate, increase, decrease, near_decrease, cooldown,
#       burst_seconds, pause, ttl, near_cooldown.
# Returns {wait, reserved, rate}.
_ENDPOINT_LUA = """
local ep, all = KEYS[1], KEYS[2]
local op = ARGV[1]
local ceiling = tonumber(ARGV[2])
local initial = tonumber(ARGV[3])
local min_rate = tonumber(ARGV[4])
local increase = tonumber(ARGV[5])
local decrease = tonumber(ARGV[6])
local near_decrease = tonumber(ARGV[7])
local cooldown = tonumber(ARGV[8])
local burst_seconds = tonumber(ARGV[9])
local pause = tonumber(ARGV[10])
local ttl = tonumber(ARGV[11])
local near_cooldown = tonumber(ARGV[12])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if op == 'pause_all' then
  local held = tonumber(redis.call('HGET', all, 'paused')) or 0
  redis.call('HSET', all, 'paused', tostring(math.max(held, now + pause)))
  redis.call('EXPIRE', all, ttl)
  return {'0', '0', '0'}
end
local s = redis.call('HMGET', ep, 'rate', 'tokens', 'stamp', 'paused', 'lastdec', 'lastnear')
local rate = math.min(ceiling, tonumber(s[1]) or initial)
local burst = math.max(1, rate * burst_seconds)
local tokens = tonumber(s[2]) or burst
local stamp = tonumber(s[3]) or now
local paused = tonumber(s[4]) or 0
local lastdec = tonumber(s[5]) or -1e18
local lastnear = tonumber(s[6]) or -1e18
local wait = 0
if op == 'take' then
  local held = math.max(paused, tonumber(redis.call('HGET', all, 'paused')) or 0)
  if now < held then
    return {tostring(held - now), '0', tostring(rate)}
  end
end
tokens = math.min(burst, tokens + (now - stamp) * rate)
stamp = now
if op == 'take' then
  tokens = tokens - 1
  if tokens < 0 then
    wait = -tokens / rate
  end
elseif op == 'refund' then
  tokens = math.min(burst, tokens + 1)
elseif op == 'success' then
  rate = math.min(ceiling, rate + increase)
elseif op == 'near' then
  tokens = math.min(tokens, 0)
  if now - lastnear >= near_cooldown then
    rate = math.max(min_rate, rate * near_decrease)
    lastnear = now
  end
elseif op == 'throttle' then
  if now - lastdec >= cooldown then
    rate = math.max(min_rate, rate * decrease)
    lastdec = now
  end
  tokens = math.min(tokens, 0)
end
if (op == 'throttle' or op == 'pause') and pause > 0 then
  paused = math.max(paused, now + pause)
end
redis.call('HSET', ep, 'rate', tostring(rate), 'tokens', tostring(tokens),
           'stamp', tostring(stamp), 'paused', tostring(paused), 'lastdec', tostring(lastdec),
           'lastnear', tostring(lastnear))
redis.call('EXPIRE', ep, ttl)
return {tostring(wait), '1', tostring(rate)}
"""

# KEYS = (writes list, pause key) per issue.
# ARGV: op (peek | claim | pause), pause, ttl, window count, then count and seconds
#       of each window. Returns the seconds until every issue may take a write; for a
#       claim, "0" means the write was counted.
_ISSUES_LUA = """
local op = ARGV[1]
local pause = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local windows = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if op == 'pause' then
  for i = 2, #KEYS, 2 do
    local held = tonumber(redis.call('GET', KEYS[i])) or 0
    redis.call('SET', KEYS[i], tostring(math.max(held, now + pause)), 'EX', ttl)
  end
  return '0'
end
local free = now
local keep = 1
for i = 1, #KEYS, 2 do
  local held = tonumber(redis.call('GET', KEYS[i + 1])) or 0
  if held > free then
    free = held
  end
  for w = 0, windows - 1 do
    local count = tonumber(ARGV[5 + 2 * w])
    local seconds = tonumber(ARGV[6 + 2 * w])
    if count > keep then
      keep = count
    end
    local stamp = redis.call('LINDEX', KEYS[i], count - 1)
    if stamp then
      free = math.max(free, tonumber(stamp) + seconds)
    end
  end
end
if op == 'claim' and free <= now then
  for i = 1, #KEYS, 2 do
    redis.call('LPUSH', KEYS[i], tostring(now))
    redis.call('LTRIM', KEYS[i], 0, keep - 1)
    redis.call('EXPIRE', KEYS[i], ttl)
  end
  return '0'
end
return tostring(free - now)
"""

ENDPOINT_TTL = 3600


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class RedisScheduler(Scheduler):
    """The scheduler of one Jira site, shared through Redis (``redis_client``: ``redis.Redis``)."""

    def __init__(
        self,
        redis_client: Any,
        site: str,
        settings: SchedulerSettings | None = None,
        *,
        key_prefix: str = "migrator:sched",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(settings or SchedulerSettings(), sleep=sleep)
        self.redis = redis_client
        # The hash tag keeps every key of the site in one Redis Cluster slot.
        self.key = site_key(site, key_prefix).replace(key_prefix + ":", key_prefix + ":{", 1) + "}"
        self._endpoint_script = redis_client.register_script(_ENDPOINT_LUA)
        self._issues_script = redis_client.register_script(_ISSUES_LUA)
        self._windows = self.settings.windows
        self._issue_ttl = math.ceil(max((s for _, s in self._windows), default=1.0)) + 1
        self._used: dict[str, str] = {}  # endpoint -> its key, for rates()
        self._used_lock = threading.Lock()

    # ------------------------------------------------------------------ endpoints
    def _endpoint_key(self, scope: JiraRoute) -> str:
        key = self._used.get(scope.endpoint)
        if key is None:
            key = f"{self.key}:ep:{_digest(scope.endpoint)}"
            with self._used_lock:
                self._used[scope.endpoint] = key
        return key

    def _endpoint(self, scope: JiraRoute, op: str, pause: float = 0.0) -> tuple[float, bool]:
        s = self.settings
        ceiling = s.ceiling(scope)
        wait, reserved, _rate = self._endpoint_script(
            keys=[self._endpoint_key(scope), f"{self.key}:all"],
            args=[
                op,
                repr(ceiling),
                repr(max(s.min_rate, ceiling * s.initial_fraction)),
                repr(s.min_rate),
                repr(ceiling * s.increase_fraction),
                repr(s.decrease),
                repr(s.near_decrease),
                repr(s.decrease_cooldown),
                repr(s.burst_seconds),
                repr(pause),
                str(max(ENDPOINT_TTL, math.ceil(pause) + 1)),
                repr(s.near_cooldown),
            ],
        )
        return float(wait), reserved in (b"1", "1")

    def _take(self, scope: JiraRoute) -> tuple[float, bool]:
        return self._endpoint(scope, "take")

    def _refund(self, scope: JiraRoute) -> None:
        self._endpoint(scope, "refund")

    def _adapt(self, scope: JiraRoute, op: str, pause: float) -> None:
        self._endpoint(scope, op, pause)

    def _pause_all(self, pause: float) -> None:
        if pause > 0:
            self._endpoint(JiraRoute("*", "*"), "pause_all", pause)

    def rates(self) -> dict[str, float]:
        with self._used_lock:
            used = dict(self._used)
        rates: dict[str, float] = {}
        for endpoint, key in used.items():
            raw = self.redis.hget(key, "rate")
            if raw is not None:
                rates[endpoint] = float(raw)
        return rates

    # ------------------------------------------------------------------ issues
    def _issues(self, op: str, issues: tuple[str, ...], pause: float = 0.0) -> float:
        keys: list[str] = []
        for ref in issues:
            digest = _digest(ref)
            keys += [f"{self.key}:iw:{digest}", f"{self.key}:ip:{digest}"]
        args: list[str] = [op, repr(pause), str(max(self._issue_ttl, math.ceil(pause) + 1))]
        args.append(str(len(self._windows)))
        for count, seconds in self._windows:
            args += [str(count), repr(seconds)]
        return float(self._issues_script(keys=keys, args=args))

    def _issue_wait(self, issues: tuple[str, ...]) -> float:
        return self._issues("peek", issues)

    def _claim(self, issues: tuple[str, ...]) -> bool:
        return self._issues("claim", issues) <= 0

    def _pause_issues(self, issues: tuple[str, ...], pause: float) -> None:
        if pause > 0:
            self._issues("pause", issues, pause)

    def reset(self) -> None:
        """Forget the site's shared state (tests, or after changing the site's limits)."""
        pattern = self.key.replace("{", "\\{").replace("}", "\\}") + ":*"
        keys = list(self.redis.scan_iter(match=pattern))
        if keys:
            self.redis.delete(*keys)


def scheduler_for(
    site: str, redis_client: Any | None = None, settings: SchedulerSettings | None = None
) -> Scheduler:
    """The scheduler of one Jira site: shared through Redis when a Redis client is given."""
    if redis_client is not None:
        return RedisScheduler(redis_client, site, settings)
    return MemoryScheduler(settings)
