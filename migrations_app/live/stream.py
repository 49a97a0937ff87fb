"""The SSE loop of one client: the seed's four event types, each event once, in order.

It uses django-eventstream's listener machinery (the listener manager the fan-in
feeds, see :mod:`migrations_app.live.fanin`) but reads storage itself and writes
every byte itself, so nothing of the library's own protocol reaches a client:

- named events are only ``progress``, ``log``, ``status`` and ``done``, each with
  its id ``run-{uuid}:{n}``; anything else found on the channel is skipped;
- the opening padding and the keep-alives are SSE comments (``:`` lines), which
  EventSource ignores;
- the library's ``stream-open``, ``keep-alive``, ``stream-reset`` and
  ``stream-error`` events are never sent. A client that loses access sees its
  stream end after a comment saying why; its reconnection then answers 401/404
  in the API's JSON shape, which makes EventSource give up.

The client's position (the number of the last event sent, or of the last one it
had when it reconnected) decides what is sent. Storage is read for numbers
strictly above it. A queued event at or below it is a duplicate and dropped (in
the embedded mode the publishing web process queues its own events and the
storage bridge delivers them again); one past the next number means one was
missed (two processes published at once, or a fan-in hiccup), so the loop reads
storage from the position instead.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, Iterable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django_eventstream.utils import get_channelmanager, make_id
from django_eventstream.views import Listener, get_listener_manager

EVENT_TYPES = frozenset({"progress", "log", "status", "done"})

# Lets old proxies and browsers start rendering; a comment, like the keep-alive.
OPENING = ":" + " " * 2048 + "\n\n"
KEEP_ALIVE = ": keep-alive\n\n"
CLOSED = ": closed: this user may no longer read the run\n\n"
READ_LIMIT = 100


class AccessLost(Exception):
    """The user may no longer read the channel (re-checked at every storage read)."""


def keepalive_seconds() -> float:
    return float(getattr(settings, "MIGRATOR_STREAM_KEEPALIVE_SECONDS", 15.0))


def encode_event(kind: str, data: str, event_id: str) -> str:
    lines = "".join(f"data: {line}\n" for line in re.split(r"\r\n|\r|\n", data))
    return f"event: {kind}\nid: {event_id}\n{lines}\n"


def read_after(channel: str, user: Any, after: int, limit: int = READ_LIMIT) -> list[Any]:
    """Stored events numbered above ``after``, oldest first, as ``(number, type, data)``.

    Read from the table directly: the library's storage read needs the row of
    ``after`` itself and, when that row is gone (trimmed, or a number from a
    different database), skips to the newest, losing what is still stored.
    Row 0 is the library's placeholder, never an event.
    """
    from django_eventstream.models import Event as StoredEvent

    if not get_channelmanager().can_read_channel(user, channel):
        raise AccessLost(channel)
    rows = (
        StoredEvent.objects.filter(channel=channel, eid__gt=max(after, 0))
        .order_by("eid")
        .values_list("eid", "type", "data")[:limit]
    )
    return list(rows)


class _Position:
    """The number of the last event this client has, on its one channel."""

    def __init__(self, channel: str, number: int) -> None:
        self.channel = channel
        self.number = number

    def advance(self, number: int) -> str:
        self.number = number
        return str(make_id({self.channel: number}))


def _encode_stored(rows: Iterable[tuple[int, str, str]], position: _Position) -> str:
    body = ""
    for number, kind, raw in rows:
        event_id = position.advance(int(number))
        try:
            data = json.loads(raw)  # stored JSON-encoded twice: the payload's JSON text
        except ValueError:
            continue
        if kind in EVENT_TYPES and isinstance(data, str):
            body += encode_event(kind, data, event_id)
    return body


def _encode_queued(items: list[Any], position: _Position) -> tuple[str, bool]:
    """Encode queued events in order; returns the body and whether a gap was seen."""
    body = ""
    numbered = [item for item in items if item.id is not None]  # all stored: all numbered
    for item in sorted(numbered, key=lambda e: int(e.id)):
        number = int(item.id)
        if number <= position.number:
            continue  # already sent, or the client had it
        if number > position.number + 1:
            return body, True  # missed one: read storage from the position
        event_id = position.advance(number)
        if item.type in EVENT_TYPES and isinstance(item.data, str):
            body += encode_event(item.type, item.data, event_id)
    return body, False


async def run_stream(
    *,
    channel: str,
    user: Any,
    after: int,
    listener: Listener,
    keepalive: float | None = None,
    reread_every: int = 4,
) -> AsyncGenerator[str, None]:
    """Yield SSE text for one client, from the event after ``after`` on, until it
    disconnects or loses access."""
    read = sync_to_async(read_after)
    wait = keepalive_seconds() if keepalive is None else keepalive
    manager = get_listener_manager()
    position = _Position(channel, after)
    listener.assign_loop()
    manager.add_listener(listener)  # before the first read: nothing falls in between
    try:
        body = OPENING
        must_read = True
        quiet = 0
        while True:
            if must_read:
                try:
                    rows = await read(channel, user, position.number)
                except AccessLost:
                    yield body + CLOSED
                    return
                body += _encode_stored(rows, position)
                if body:
                    yield body
                    body = ""
                if len(rows) >= READ_LIMIT:
                    continue  # more stored than one read takes
                must_read = False

            with manager.lock:
                queued, overflow, error = listener.channel_items, listener.overflow, listener.error
                listener.channel_items, listener.overflow, listener.error = {}, False, ""
                listener.aevent.clear()
            if not (queued or overflow or error):
                try:
                    await asyncio.wait_for(listener.aevent.wait(), wait)
                except TimeoutError:
                    yield KEEP_ALIVE
                    quiet += 1
                    # A safety net: a quiet stream re-checks storage now and then.
                    must_read = quiet % reread_every == 0
                continue
            quiet = 0
            chunk, gap = _encode_queued(queued.get(channel, []), position)
            if error:  # the library's kick: access to the channel was withdrawn
                yield chunk + CLOSED
                return
            if chunk:
                yield chunk
            must_read = gap or overflow
    finally:
        listener.aevent.set()
        manager.remove_listener(listener)
