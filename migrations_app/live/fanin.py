"""Bringing events published by other processes (the worker, other web processes)
to the stream listeners of this web process.

- With ``EVENTSTREAM_REDIS`` (REDIS_URL set): django-eventstream publishes every
  event on one Redis pub/sub channel. :class:`RedisFanIn` subscribes once per
  event loop and, before the first stream reads storage, waits until the
  subscription is confirmed, so nothing published after that read is missed.
  (The library's own listener starts on the first request's loop and is never
  restarted; a loop per test, or a reconnect after Redis restarts, would lose it.)
- Without Redis (the embedded mode): :class:`StorageBridge`, a daemon thread
  started with the first stream, polls the event table for channels that have
  local listeners and hands new rows to the listener manager.

Either way a listener may get an event twice (a web process's own ``send_event``
queues it locally too) or notice a gap; the stream loop drops duplicates and
re-reads storage on a gap (see :mod:`migrations_app.live.stream`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections
from django_eventstream.event import Event
from django_eventstream.views import get_listener_manager

logger = logging.getLogger(__name__)

REDIS_PUBSUB_CHANNEL = "events_channel"  # fixed by django-eventstream


def redis_mode() -> bool:
    return bool(getattr(settings, "EVENTSTREAM_REDIS", None))


def poke_all_listeners() -> None:
    """Make every local listener re-read storage (after events may have been missed)."""
    manager = get_listener_manager()
    with manager.lock:
        listeners = {lst for group in manager.listeners_by_channel.values() for lst in group}
        for listener in listeners:
            listener.overflow = True
    for listener in listeners:
        listener.wake_threadsafe()


# --------------------------------------------------------------------------- Redis
class RedisFanIn:
    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[asyncio.Task[None], asyncio.Event]
        ] = weakref.WeakKeyDictionary()

    async def ensure_subscribed(self, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        entry = self._by_loop.get(loop)
        if entry is None or entry[0].done():
            ready = asyncio.Event()
            task = loop.create_task(self._run(ready), name="eventstream-redis-fanin")
            entry = (task, ready)
            self._by_loop[loop] = entry
        try:
            await asyncio.wait_for(entry[1].wait(), timeout)
        except TimeoutError:
            # Streams still work from storage; they catch up at the next event.
            logger.warning("Redis subscription not confirmed within %.1f s", timeout)

    async def _run(self, ready: asyncio.Event) -> None:
        from redis.asyncio import Redis

        first = True
        while True:
            options: dict[str, Any] = dict(settings.EVENTSTREAM_REDIS)
            client = Redis(**options)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(REDIS_PUBSUB_CHANNEL)
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "subscribe":
                        ready.set()
                        if not first:
                            poke_all_listeners()  # catch up on what the outage hid
                        first = False
                    elif kind == "message":
                        self._deliver(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Redis event fan-in lost its connection; retrying", exc_info=True)
                await asyncio.sleep(1.0)
            finally:
                try:
                    await pubsub.aclose()
                    await client.aclose()
                except Exception:  # closing a broken connection may fail too
                    logger.debug("closing the Redis fan-in failed", exc_info=True)

    @staticmethod
    def _deliver(raw: bytes | str) -> None:
        try:
            message = json.loads(raw)
            pub_id = message.get("pub_id")
            event = Event(
                message["channel"],
                message["event_type"],
                message["data"],
                id=int(pub_id) if pub_id is not None else None,
            )
        except (ValueError, KeyError, TypeError):
            logger.warning("ignored a malformed event message on Redis")
            return
        get_listener_manager().add_to_queues(event.channel, event)


redis_fanin = RedisFanIn()


# --------------------------------------------------------------------------- embedded
class StorageBridge:
    """Polls the event table for channels watched by local listeners (embedded mode).

    One query per tick reads the channels' counters; only channels that moved are
    read. The thread stops by itself after ``idle_exit`` seconds without watchers
    (closing its database connection) and starts again with the next stream.
    """

    def __init__(self, interval: float | None = None, idle_exit: float = 30.0) -> None:
        self._interval = interval
        self.idle_exit = idle_exit
        self._lock = threading.Lock()
        self._cursors: dict[str, int] = {}
        self._watched_at: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.grace = 10.0  # keep a watch this long before its stream registers

    @property
    def interval(self) -> float:
        if self._interval is not None:
            return self._interval
        return float(getattr(settings, "MIGRATOR_STREAM_BRIDGE_INTERVAL", 0.2))

    def watch(self, channel: str, since: int) -> None:
        """Deliver events of ``channel`` after ``since`` (an id the stream will read past)."""
        with self._lock:
            current = self._cursors.get(channel)
            self._cursors[channel] = since if current is None else min(current, since)
            self._watched_at[channel] = time.monotonic()
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._loop, name="eventstream-storage-bridge", daemon=True
                )
                self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout)
        with self._lock:
            self._cursors.clear()
            self._watched_at.clear()
            self._thread = None

    def _loop(self) -> None:
        idle_since: float | None = None
        try:
            while not self._stop.wait(self.interval):
                if self.poll_once():
                    idle_since = None
                    continue
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > self.idle_exit:
                    with self._lock:
                        if not self._cursors:
                            self._thread = None
                            return
        finally:
            connections.close_all()

    def _channels(self) -> dict[str, int]:
        manager = get_listener_manager()
        with manager.lock:
            live = set(manager.listeners_by_channel)
        now = time.monotonic()
        with self._lock:
            for channel in list(self._cursors):
                if channel not in live and now - self._watched_at.get(channel, 0) > self.grace:
                    del self._cursors[channel]
                    self._watched_at.pop(channel, None)
            return dict(self._cursors)

    def poll_once(self) -> bool:
        """One tick; True while some channel is watched."""
        channels = self._channels()
        if not channels:
            return False
        try:
            close_old_connections()
            self._deliver_new(channels)
        except Exception:
            logger.warning("event bridge poll failed; retrying", exc_info=True)
            connections.close_all()
        return True

    def _deliver_new(self, channels: dict[str, int]) -> None:
        from django_eventstream.models import Event as StoredEvent
        from django_eventstream.models import EventCounter

        heads = dict(
            EventCounter.objects.filter(name__in=list(channels)).values_list("name", "value")
        )
        manager = get_listener_manager()
        for channel, cursor in channels.items():
            head = heads.get(channel, 0)
            if head <= cursor:
                continue
            rows = (
                StoredEvent.objects.filter(channel=channel, eid__gt=cursor, eid__lte=head)
                .order_by("eid")
                .values_list("eid", "type", "data")[:500]
            )
            last = cursor
            for eid, kind, data in rows:
                manager.add_to_queues(channel, Event(channel, kind, json.loads(data), id=eid))
                last = eid
            if last == cursor:
                last = head  # the rows were trimmed meanwhile; streams re-read on the gap
            with self._lock:
                if channel in self._cursors:
                    self._cursors[channel] = max(self._cursors[channel], last)


storage_bridge = StorageBridge()


async def prepare(channel: str, since: int) -> None:
    """Make sure events of ``channel`` published elsewhere reach this process."""
    if redis_mode():
        manager = get_listener_manager()
        manager.redis_listener_started = True  # ours replaces the library's one-shot listener
        await redis_fanin.ensure_subscribed()
    else:
        storage_bridge.watch(channel, since)
