"""GET /api/migrations/{runId}/stream, in-process (AsyncClient under pytest-asyncio).

Events are published through the worker's own path (the engine's event sink,
:class:`migrations_app.engine_bridge.DjangoEventSink`) or the services, and read
back with a timeout around every read. Runs in both modes: embedded (the storage
bridge) and, with REDIS_URL, Redis pub/sub.
"""

from __future__ import annotations

import json
import time
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from migrations_app import services
from migrations_app.engine_bridge import DjangoEventSink, Scrubber
from migrations_app.live import tokens
from tests.fixtures.platform import API_TOKEN, PAT
from tests.live.conftest import access_token, open_stream

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def sink_for(run: Any, **kwargs: Any) -> DjangoEventSink:
    return DjangoEventSink(run.pk, Scrubber([PAT, API_TOKEN]), **kwargs)


def bearer(user: Any, **more: str) -> dict[str, Any]:
    return {"headers": {"Authorization": f"Bearer {access_token(user)}", **more}}


def event_number(event_id: str | None, run: Any) -> int:
    assert event_id is not None
    channel, _, number = event_id.partition(":")
    assert channel == f"run-{run.pk}"
    return int(number)


@pytest.fixture
def run(make_run: Any) -> Any:
    return make_run("RUNNING", total_count=5000)


# --------------------------------------------------------------------------- payloads
async def test_it_streams_every_event_type_with_the_seed_payloads(
    owner: Any, run: Any, stream_url: Any
) -> None:
    sink = sink_for(run, min_interval=0)
    async with open_stream(stream_url(run), **bearer(owner)) as (response, sse):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/event-stream")
        await sync_to_async(sink.progress)(250, 5000, 45.23)
        await sync_to_async(sink.log)("✓ ADO #10432 [User Story] → PROJ-142")
        await sync_to_async(sink.log)("✗ ADO #10433 [Bug]: Jira refused the summary (too long)")
        await sync_to_async(sink.status)("COMPLETED")
        await sync_to_async(sink.done)({"created": 4997, "skipped": 0, "failed": 3})
        events = await sse.take(5)

    failure = "✗ ADO #10433 [Bug]: Jira refused the summary (too long)"
    assert [(e.event, e.json) for e in events] == [
        (
            "progress",
            {"type": "progress", "current": 250, "total": 5000, "percent": 5, "speed": 45.2},
        ),
        ("log", {"type": "log", "message": "✓ ADO #10432 [User Story] → PROJ-142"}),
        ("log", {"type": "log", "message": failure}),
        ("status", {"type": "status", "status": "completed"}),
        ("done", {"type": "done", "stats": {"created": 4997, "skipped": 0, "failed": 3}}),
    ]  # fmt: skip
    numbers = [event_number(e.id, run) for e in events]
    assert numbers == list(range(numbers[0], numbers[0] + 5))  # each once, in order


async def test_it_streams_status_transitions_made_by_the_services(
    owner: Any, run: Any, stream_url: Any
) -> None:
    async with open_stream(stream_url(run), **bearer(owner)) as (_, sse):
        await sync_to_async(services.run_request_pause)(run=run)
        await sync_to_async(services.run_resume)(run=run)
        await sync_to_async(services.run_cancel)(run=run)
        events = await sse.take(3)
    assert [e.json for e in events] == [
        {"type": "status", "status": "paused"},
        {"type": "status", "status": "running"},
        {"type": "status", "status": "cancelled"},
    ]


async def test_a_status_announced_by_the_api_and_the_engine_arrives_once(
    owner: Any, run: Any, stream_url: Any
) -> None:
    sink = DjangoEventSink(run.pk, Scrubber([]))
    async with open_stream(stream_url(run), **bearer(owner)) as (_, sse):
        await sync_to_async(services.run_request_pause)(run=run)
        await sync_to_async(sink.status)("paused")  # the engine's acknowledgement
        await sync_to_async(services.run_resume)(run=run)
        events = await sse.take(2)
    assert [e.json for e in events] == [
        {"type": "status", "status": "paused"},
        {"type": "status", "status": "running"},
    ]


async def test_it_throttles_progress_but_delivers_every_log_line(
    owner: Any, run: Any, stream_url: Any
) -> None:
    sink = sink_for(run, min_interval=0.25)

    def fast_run() -> None:
        for n in range(1, 41):
            sink.log(f"✓ ADO #{n} [Task] → PROJ-{n}")
            sink.progress(n, 40, 400.0)

    async with open_stream(stream_url(run), **bearer(owner)) as (_, sse):
        started = time.monotonic()
        await sync_to_async(fast_run)()
        elapsed = time.monotonic() - started
        events: list[Any] = []
        while not (events and events[-1].event == "progress" and events[-1].json["current"] == 40):
            events.append(await sse.next(5))

    logs = [e for e in events if e.event == "log"]
    progress = [e for e in events if e.event == "progress"]
    assert [e.json["message"] for e in logs] == [
        f"✓ ADO #{n} [Task] → PROJ-{n}" for n in range(1, 41)
    ]
    assert len(progress) <= 2 + elapsed / 0.25  # the first, one per interval, the last
    assert progress[-1].json == {
        "type": "progress",
        "current": 40,
        "total": 40,
        "percent": 100,
        "speed": 400.0,
    }


async def test_no_secret_reaches_any_event(owner: Any, run: Any, stream_url: Any) -> None:
    sink = sink_for(run, min_interval=0)
    async with open_stream(stream_url(run), **bearer(owner)) as (_, sse):
        await sync_to_async(sink.log)(f"✗ ADO #7 [Bug]: 401 for token {API_TOKEN} and pat {PAT}")
        await sync_to_async(sink.status)("FAILED")
        await sync_to_async(sink.done)({"created": 0, "skipped": 0, "failed": 1})
        events = await sse.take(3)
    raw = "".join(e.data for e in events)
    assert PAT not in raw and API_TOKEN not in raw
    assert (
        events[0].json["message"] == "✗ ADO #7 [Bug]: 401 for token [redacted] and pat [redacted]"
    )


# --------------------------------------------------------------------------- auth
async def test_it_accepts_the_access_token_as_query_parameter(
    owner: Any, run: Any, stream_url: Any
) -> None:
    async with open_stream(stream_url(run, token=access_token(owner))) as (response, sse):
        assert response.status_code == 200
        await sync_to_async(sink_for(run).log)("hello")
        assert (await sse.next()).json == {"type": "log", "message": "hello"}


async def test_it_accepts_a_stream_token_minted_by_the_api(
    owner: Any, run: Any, stream_url: Any
) -> None:
    minted = await AsyncClient().post(f"/api/migrations/{run.pk}/stream-token", **bearer(owner))
    assert minted.status_code == 200
    body = minted.json()
    assert body["expiresIn"] == 300
    async with open_stream(stream_url(run, token=body["token"])) as (response, sse):
        assert response.status_code == 200
        await sync_to_async(sink_for(run).log)("via stream token")
        assert (await sse.next()).json["message"] == "via stream token"


async def test_it_refuses_to_mint_a_stream_token_for_another_tenants_run(
    outsider: Any, run: Any
) -> None:
    response = await AsyncClient().post(
        f"/api/migrations/{run.pk}/stream-token", **bearer(outsider)
    )
    assert response.status_code == 404
    assert response.json()["code"] == "MIGRATION_NOT_FOUND"


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status
    assert not response.streaming
    body = json.loads(response.content)
    assert body["code"] == code
    assert set(body) == {"code", "message", "details"}


async def test_it_answers_401_without_credentials(run: Any, stream_url: Any) -> None:
    assert_error(await AsyncClient().get(stream_url(run)), 401, "NOT_AUTHENTICATED")


async def test_it_answers_401_for_a_bad_token(run: Any, stream_url: Any) -> None:
    client = AsyncClient()
    assert_error(await client.get(stream_url(run, token="not-a-jwt")), 401, "NOT_AUTHENTICATED")
    assert_error(
        await client.get(stream_url(run), headers={"Authorization": "Bearer x.y.z"}),
        401,
        "NOT_AUTHENTICATED",
    )
    forged = tokens.PREFIX + "eyJ1IjoxLCJyIjoieCJ9:1tAAAA:forged"
    assert_error(await client.get(stream_url(run, token=forged)), 401, "NOT_AUTHENTICATED")


async def test_it_answers_401_for_an_expired_stream_token(
    owner: Any, run: Any, stream_url: Any
) -> None:
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 301):
        old = tokens.mint(user_id=owner.pk, run_id=run.pk)
    response = await AsyncClient().get(stream_url(run, token=old))
    assert_error(response, 401, "NOT_AUTHENTICATED")
    assert "expired" in response.json()["message"]


async def test_it_answers_401_for_a_stream_token_of_another_run(
    owner: Any, run: Any, make_run: Any, stream_url: Any
) -> None:
    other = await sync_to_async(make_run)("COMPLETED")
    token = tokens.mint(user_id=owner.pk, run_id=other.pk)
    assert_error(await AsyncClient().get(stream_url(run, token=token)), 401, "NOT_AUTHENTICATED")


async def test_it_answers_404_for_a_missing_run(owner: Any) -> None:
    client = AsyncClient()
    for run_id in ("6f1c1f7e-4f2a-4c59-9a55-2f1b8f0c0d11", "not-a-uuid"):
        response = await client.get(f"/api/migrations/{run_id}/stream", **bearer(owner))
        assert_error(response, 404, "MIGRATION_NOT_FOUND")


async def test_it_answers_404_for_another_tenants_run(
    outsider: Any, run: Any, stream_url: Any
) -> None:
    assert_error(
        await AsyncClient().get(stream_url(run), **bearer(outsider)), 404, "MIGRATION_NOT_FOUND"
    )
    # The outsider's stream token for this run cannot exist; a forged binding fails signature.
    token = tokens.mint(user_id=outsider.pk, run_id=run.pk)  # as if minted: still tenant-checked
    assert_error(await AsyncClient().get(stream_url(run, token=token)), 404, "MIGRATION_NOT_FOUND")


async def test_it_answers_405_to_other_methods(owner: Any, run: Any, stream_url: Any) -> None:
    assert_error(
        await AsyncClient().post(stream_url(run), **bearer(owner)), 405, "METHOD_NOT_ALLOWED"
    )


# --------------------------------------------------------------------------- replay
async def test_it_replays_what_a_reconnecting_client_missed(
    owner: Any, run: Any, stream_url: Any
) -> None:
    sink = sink_for(run, min_interval=0)
    url = stream_url(run, lastEventId=f"run-{run.pk}:0")
    async with open_stream(url, **bearer(owner)) as (_, sse):
        for n in range(1, 4):
            await sync_to_async(sink.log)(f"line {n}")
        first = await sse.take(3)
    last_seen = str(first[1].id)  # the client saw line 1 and line 2, then dropped
    await sync_to_async(sink.log)("line 4 (while disconnected)")

    headers = bearer(owner, **{"Last-Event-ID": last_seen})
    async with open_stream(stream_url(run), **headers) as (_, sse):
        replayed = await sse.take(2)
        await sync_to_async(sink.log)("line 5 (live)")
        live = await sse.next()
    assert [e.json["message"] for e in replayed] == ["line 3", "line 4 (while disconnected)"]
    assert live.json["message"] == "line 5 (live)"

    query = stream_url(run, lastEventId=first[0].id, token=access_token(owner))
    async with open_stream(query) as (_, sse):
        again = await sse.take(4)
    assert [e.json["message"] for e in again] == [
        "line 2", "line 3", "line 4 (while disconnected)", "line 5 (live)"
    ]  # fmt: skip


async def test_a_first_connection_with_id_zero_gets_everything_so_far(
    owner: Any, run: Any, stream_url: Any
) -> None:
    sink = sink_for(run, min_interval=0)
    await sync_to_async(sink.status)("RUNNING")
    await sync_to_async(sink.log)("early line")
    url = stream_url(run, lastEventId=f"run-{run.pk}:0")
    async with open_stream(url, **bearer(owner)) as (_, sse):
        events = await sse.take(2)
    assert [e.event for e in events] == ["status", "log"]


async def test_it_answers_400_for_a_malformed_last_event_id(
    owner: Any, run: Any, stream_url: Any
) -> None:
    response = await AsyncClient().get(stream_url(run, lastEventId="garbage"), **bearer(owner))
    assert_error(response, 400, "VALIDATION_ERROR")
