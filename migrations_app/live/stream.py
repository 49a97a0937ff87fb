"""The SSE loop of one client, built from django-eventstream's parts.

It follows the library's ``views.stream`` (storage read, then wait for queued
events, keep-alives, stream-open padding, stream-reset, in-stream errors) with one
difference: it keeps the client's position per channel and uses it. An event at
or below that position is a duplicate and is dropped (in the embedded mode the
publishing web process queues its own events and the storage bridge delivers them
again); an event past the next id means one was missed (two processes published
at once, or a fan-in hiccup), so the loop reads storage from the position instead.
Every client therefore gets each stored event once, in id order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from asgiref.sync import sync_to_async
from django_eventstream.eventrequest import EventRequest
from django_eventstream.eventstream import EventPermissionError, get_events
from django_eventstream.utils import make_id, sse_encode_error, sse_encode_event
from django_eventstream.views import Listener, get_listener_manager

PADDING = ":" + " " * 2048 + "\n\n"  # lets old proxies and browsers start rendering
OPEN = "event: stream-open\ndata:\n\n"
KEEP_ALIVE = "event: keep-alive\ndata:\n\n"


class _Position:
    """The last event id sent to this client, per channel."""

    def __init__(self, last_ids: dict[str, str]) -> None:
        self.ids: dict[str, int] = {ch: int(v) for ch, v in last_ids.items()}

    def as_request_ids(self) -> dict[str, str]:
        return {ch: str(v) for ch, v in self.ids.items()}

    def event_id(self) -> str | None:
        return make_id(self.ids) if self.ids else None


def _encode_read(response: Any, position: _Position) -> str:
    for channel, last_id in response.channel_last_ids.items():
        position.ids[channel] = int(last_id)
    body = ""
    if response.channel_reset:
        body += sse_encode_event(
            "stream-reset",
            {"channels": sorted(response.channel_reset)},
            event_id=position.event_id(),
            json_encode=True,
        )
    for channel, items in response.channel_items.items():
        for item in items:
            position.ids[channel] = int(item.id)
            body += sse_encode_event(item.type, item.data, event_id=position.event_id())
    return body


def _encode_queued(channel_items: dict[str, list[Any]], position: _Position) -> tuple[str, bool]:
    """Encode queued events in order; returns the body and whether a gap was seen."""
    body = ""
    for channel, items in channel_items.items():
        for item in sorted(items, key=lambda e: -1 if e.id is None else int(e.id)):
            if item.id is None:  # an unstored event: nothing to order it by
                body += sse_encode_event(item.type, item.data, event_id=position.event_id())
                continue
            event_id, current = int(item.id), position.ids.get(channel)
            if current is not None and event_id <= current:
                continue  # already sent
            if current is not None and event_id > current + 1:
                return body, True  # missed one: read storage from the position
            position.ids[channel] = event_id
            body += sse_encode_event(item.type, item.data, event_id=position.event_id())
    return body, False


async def run_stream(
    event_request: EventRequest,
    listener: Listener,
    *,
    keepalive_seconds: float = 15.0,
    reread_every: int = 4,
) -> AsyncGenerator[str, None]:
    """Yield SSE text for one client until it disconnects or loses access."""
    read = sync_to_async(get_events)
    manager = get_listener_manager()
    position = _Position(event_request.channel_last_ids)
    listener.assign_loop()
    manager.add_listener(listener)
    try:
        opened = False
        must_read = True
        quiet = 0
        while True:
            if must_read:
                event_request.channel_last_ids = position.as_request_ids()
                try:
                    response = await read(event_request)
                except EventPermissionError as exc:
                    yield sse_encode_error("forbidden", str(exc), extra={"channels": exc.channels})
                    return
                body = _encode_read(response, position)
                if not opened:
                    body, opened = PADDING + OPEN + body, True
                if body:
                    yield body
                if response.channel_more:
                    continue
                must_read = False

            with manager.lock:
                queued, overflow, error = listener.channel_items, listener.overflow, listener.error
                listener.channel_items, listener.overflow, listener.error = {}, False, ""
                listener.aevent.clear()
            if not (queued or overflow or error):
                try:
                    await asyncio.wait_for(listener.aevent.wait(), keepalive_seconds)
                except TimeoutError:
                    yield KEEP_ALIVE
                    quiet += 1
                    # A safety net: a quiet stream re-checks storage now and then.
                    must_read = quiet % reread_every == 0
                continue
            quiet = 0
            body, gap = _encode_queued(queued, position)
            if error:
                extra = error.get("extra") if isinstance(error, dict) else None
                condition = error.get("condition", "error") if isinstance(error, dict) else "error"
                text = error.get("text", "") if isinstance(error, dict) else str(error)
                yield body + sse_encode_error(condition, text, extra=extra)
                return
            if body:
                yield body
            must_read = gap or overflow
    finally:
        listener.aevent.set()
        manager.remove_listener(listener)
