"""The stream's wire protocol: exactly the seed's four named event types (and SSE
comments), and an exact replay boundary after a reconnect.

Every read has a timeout (tests.live.sse); where a test must show that nothing
else arrives, it publishes a sentinel and reads up to it: the stream sends in id
order, so anything resent would come before it. No fixed sleeps.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from migrations_app.engine_bridge import DjangoEventSink, Scrubber
from tests.live.conftest import access_token, open_stream
from tests.live.sse import COMMENT, EVENT_TYPES, SSE, SSEReader, is_comment, parse_block

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

ID = re.compile(r"^run-[0-9a-f-]{36}:[0-9]+$")


@pytest.fixture
def run(make_run: Any) -> Any:
    return make_run("RUNNING", total_count=40)


def bearer(user: Any, **more: str) -> dict[str, Any]:
    return {"headers": {"Authorization": f"Bearer {access_token(user)}", **more}}


def number(event: SSE) -> int:
    assert event.id is not None and ID.match(event.id), event.id
    return int(event.id.rsplit(":", 1)[1])


class Publisher:
    """The worker's path (the engine's event sink), one event type after another."""

    def __init__(self, run: Any) -> None:
        self.sink = DjangoEventSink(run.pk, Scrubber([]), min_interval=0)
        self.count = 0

    def one(self) -> None:
        """One event; the four types in turn (statuses differ: a repeat is not sent)."""
        self.count += 1
        kind = ("progress", "log", "status", "done")[(self.count - 1) % 4]
        if kind == "progress":
            self.sink.progress(self.count, 1000, 12.5)
        elif kind == "log":
            self.sink.log(f"line {self.count}")
        elif kind == "status":
            self.sink.status("PAUSED" if self.count % 8 == 3 else "RUNNING")
        else:
            self.sink.done({"created": self.count, "skipped": 0, "failed": 0})

    async def publish(self, count: int) -> None:
        for _ in range(count):
            await sync_to_async(self.one)()

    async def sentinel(self) -> None:
        await sync_to_async(self.sink.log)("sentinel")


async def read_to_sentinel(sse: SSEReader, timeout: float = 5.0) -> list[SSE]:
    events = await sse.until({"log"}, timeout)
    while events[-1].json["message"] != "sentinel":
        events += await sse.until({"log"}, timeout)
    return events[:-1]


def assert_only_seed_events(blocks: list[str]) -> None:
    """Each block is comment lines only, or one of the four named events with its id
    and its seed payload: no unnamed data event, no library event."""
    assert blocks and is_comment(blocks[0]), "the stream opens with a comment"
    for block in blocks:
        if is_comment(block):
            continue
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        assert lines[0].startswith("event: "), block  # named before anything else
        event = parse_block(block)
        assert event is not None and event.event in EVENT_TYPES, block
        assert ID.match(event.id or ""), block
        assert event.json["type"] == event.event, block


# --------------------------------------------------------------------------- event types
async def test_a_client_sees_only_the_four_event_types_from_the_first_byte(
    owner: Any, run: Any, stream_url: Any, settings: Any
) -> None:
    from django_eventstream import send_event

    settings.MIGRATOR_STREAM_KEEPALIVE_SECONDS = 0.2
    publisher = Publisher(run)
    await publisher.publish(6)  # stored before the client connects: replayed
    channel = f"run-{run.pk}"
    url = stream_url(run, lastEventId=f"{channel}:0")
    async with open_stream(url, **bearer(owner)) as (response, sse):
        assert response.status_code == 200
        first: Any = await anext(aiter(response.streaming_content))
        assert first.startswith(b":")  # the first byte opens a comment
        sse._buffer = first.decode()  # hand the chunk back to the reader
        # Names of the library's protocol, stored on the channel, are not the stream's.
        for foreign in ("stream-open", "stream-reset", "stream-error", "keep-alive", "message"):
            await sync_to_async(send_event)(channel, foreign, {"type": foreign})
        await publisher.publish(6)  # live
        comments: list[SSE] = []
        events: list[SSE] = []
        while len(events) < 12 or not any("keep-alive" in c.data for c in comments):
            item = await sse.next(5, skip_control=False)
            (comments if item.event == COMMENT else events).append(item)
        await publisher.sentinel()
        events += await read_to_sentinel(sse)

    assert {e.event for e in events} == EVENT_TYPES
    assert len(events) == 12
    numbers = [number(e) for e in events]
    assert numbers == sorted(set(numbers))  # each once, in order
    assert_only_seed_events(sse.blocks)


async def test_keep_alives_are_comments(
    owner: Any, run: Any, stream_url: Any, settings: Any
) -> None:
    settings.MIGRATOR_STREAM_KEEPALIVE_SECONDS = 0.1
    async with open_stream(stream_url(run), **bearer(owner)) as (_, sse):
        await sse.opened()
        keep_alive = await sse.next(5, skip_control=False)
    assert keep_alive.event == COMMENT and keep_alive.data == "keep-alive"
    assert sse.blocks[-1] == ": keep-alive"


async def test_a_user_who_loses_access_sees_the_stream_end_without_an_event(
    owner: Any, run: Any, stream_url: Any, other_tenant: Any
) -> None:
    from django_eventstream import channel_permission_changed

    async with open_stream(stream_url(run), **bearer(owner)) as (_, sse):
        await sse.opened()
        owner.tenant = other_tenant
        await sync_to_async(owner.save)()
        await sync_to_async(channel_permission_changed)(owner, f"run-{run.pk}")
        closing = await sse.next(5, skip_control=False)
        assert closing.event == COMMENT and closing.data.startswith("closed")
        with pytest.raises(StopAsyncIteration):
            await sse.next(5, skip_control=False)
    assert_only_seed_events(sse.blocks)


# --------------------------------------------------------------------------- replay
async def history(run: Any, owner: Any, stream_url: Any, count: int) -> list[SSE]:
    """Publish ``count`` events of the four types and read them all back once."""
    publisher = Publisher(run)
    await publisher.publish(count)
    url = stream_url(run, lastEventId=f"run-{run.pk}:0")
    async with open_stream(url, **bearer(owner)) as (_, sse):
        events = await sse.take(count)
    assert [number(e) for e in events] == list(range(1, count + 1))
    return events


async def reconnect(run: Any, owner: Any, stream_url: Any, how: str, last_id: str) -> list[SSE]:
    """Reconnect with ``last_id`` as the header or the query; the events it gets up to
    a live sentinel published once it listens."""
    if how == "header":
        url, kwargs = stream_url(run), bearer(owner, **{"Last-Event-ID": last_id})
    else:
        url, kwargs = stream_url(run, lastEventId=last_id), bearer(owner)
    async with open_stream(url, **kwargs) as (_, sse):
        await sse.opened()
        await Publisher(run).sentinel()
        return await read_to_sentinel(sse)


@pytest.mark.parametrize("how", ["header", "query"])
@pytest.mark.parametrize("k", [1, 5, 11, 12])
async def test_a_reconnect_gets_every_later_event_once_and_none_up_to_its_id(
    owner: Any, run: Any, stream_url: Any, how: str, k: int
) -> None:
    seen = await history(run, owner, stream_url, 12)
    replayed = await reconnect(run, owner, stream_url, how, str(seen[k - 1].id))
    assert [number(e) for e in replayed] == list(range(k + 1, 13))
    assert [(e.event, e.data) for e in replayed] == [(e.event, e.data) for e in seen[k:]]


@pytest.mark.parametrize("how", ["header", "query"])
async def test_a_reconnect_replays_past_one_storage_read(
    owner: Any, run: Any, stream_url: Any, how: str
) -> None:
    from migrations_app.live.stream import READ_LIMIT

    total = READ_LIMIT + 30
    await Publisher(run).publish(total)
    replayed = await reconnect(run, owner, stream_url, how, f"run-{run.pk}:7")
    assert [number(e) for e in replayed] == list(range(8, total + 1))


async def test_event_numbers_compare_as_numbers(owner: Any, run: Any, stream_url: Any) -> None:
    seen = await history(run, owner, stream_url, 12)
    # "0009" is 9 (a string comparison would put it before "10" and "2").
    replayed = await reconnect(run, owner, stream_url, "header", f"run-{run.pk}:0009")
    assert [number(e) for e in replayed] == [10, 11, 12]
    assert replayed[0].data == seen[9].data


async def test_the_header_wins_over_a_stale_query(owner: Any, run: Any, stream_url: Any) -> None:
    """EventSource reconnects to its first URL (?lastEventId= of then) and sends the
    newest id in the header."""
    await history(run, owner, stream_url, 8)
    url = stream_url(run, lastEventId=f"run-{run.pk}:2")
    headers = bearer(owner, **{"Last-Event-ID": f"run-{run.pk}:6"})
    async with open_stream(url, **headers) as (_, sse):
        await sse.opened()
        await Publisher(run).sentinel()
        replayed = await read_to_sentinel(sse)
    assert [number(e) for e in replayed] == [7, 8]


async def test_a_caught_up_client_gets_only_what_comes_next(
    owner: Any, run: Any, stream_url: Any
) -> None:
    seen = await history(run, owner, stream_url, 8)
    assert await reconnect(run, owner, stream_url, "query", str(seen[-1].id)) == []


async def test_an_id_this_database_never_issued_starts_at_the_newest(
    owner: Any, run: Any, stream_url: Any
) -> None:
    """After a database reset a client may hold a number above the newest: what
    comes next is new to it, so it is sent (not held back until the number passes)."""
    await history(run, owner, stream_url, 4)
    url = stream_url(run, lastEventId=f"run-{run.pk}:999")
    async with open_stream(url, **bearer(owner)) as (_, sse):
        await sse.opened()
        await Publisher(run).publish(1)
        event = await sse.next()
    assert number(event) == 5


async def test_the_id_of_another_channel_is_a_fresh_start(
    owner: Any, run: Any, stream_url: Any
) -> None:
    await history(run, owner, stream_url, 4)
    other = "run-6f1c1f7e-4f2a-4c59-9a55-2f1b8f0c0d11:1"
    assert await reconnect(run, owner, stream_url, "header", other) == []


@pytest.mark.parametrize("raw", ["garbage", "run-x:-1", "run-x:1e3", "run-x:", "run-x:٣"])
async def test_a_malformed_last_event_id_is_400(
    owner: Any, run: Any, stream_url: Any, raw: str
) -> None:
    from django.test import AsyncClient

    value = raw.replace("run-x", f"run-{run.pk}")
    attempts = [AsyncClient().get(stream_url(run, lastEventId=value), **bearer(owner))]
    if value.isascii():  # a header carries latin-1 only
        attempts.append(
            AsyncClient().get(stream_url(run), **bearer(owner, **{"Last-Event-ID": value}))
        )
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 400
        body = json.loads(response.content)
        assert body["code"] == "VALIDATION_ERROR" and "lastEventId" in body["details"]
