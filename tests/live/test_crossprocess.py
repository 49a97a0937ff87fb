"""Events published by another process reach clients of real uvicorn web processes.

A worker-like subprocess (tests.live.publisher) publishes through the worker's own
code path; clients are connected to separate uvicorn processes over loopback. Each
event must arrive within one second of being published:

- Redis mode (REDIS_URL set; CI sets it): two web processes, one client on each;
- embedded mode (no Redis; each web process's storage bridge polls the event table).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.fixtures.platform import _database_url
from tests.live.conftest import access_token
from tests.live.servers import ROOT, WebServer, process_env, start_web
from tests.live.sse import HttpSSE

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EVENTS = 8
LIMIT_SECONDS = 1.0


@pytest.fixture
def web_factory(tmp_path: Path) -> Iterator[Callable[..., WebServer]]:
    started: list[WebServer] = []

    def start(*, redis: bool) -> WebServer:
        env = process_env(_database_url(), settings.SECRET_KEY, str(settings.MIGRATOR_VAR_DIR))
        if not redis:
            env.pop("REDIS_URL", None)
        server = start_web(env, tmp_path / f"web-{len(started)}.log")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def publish_from_another_process(run_id: Any, go_file: Path, *, redis: bool) -> Any:
    env = process_env(_database_url(), settings.SECRET_KEY, str(settings.MIGRATOR_VAR_DIR))
    if not redis:
        env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.live.publisher", str(run_id), "--count", str(EVENTS),
         "--interval", "0.15", "--go-file", str(go_file)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert json.loads(line or "{}").get("ready"), proc.stderr.read() if proc.stderr else ""
    return proc


async def receive(client: HttpSSE, count: int) -> list[tuple[int, float, float]]:
    """(n, sent, arrived) per event."""
    out: list[tuple[int, float, float]] = []
    while len(out) < count:
        event = await client.next(timeout=10)
        arrived = time.time()
        if event.event != "log":
            continue
        message = event.json["message"]
        n = int(message.split("#")[1].split()[0])
        sent = float(message.rsplit("sent=", 1)[1])
        out.append((n, sent, arrived))
    return out


def scenario(servers: list[WebServer], run: Any, owner: Any, go_file: Path, redis: bool) -> None:
    token = access_token(owner)
    path = f"/api/migrations/{run.pk}/stream?token={token}&lastEventId=run-{run.pk}:0"

    async def main() -> list[list[tuple[int, float, float]]]:
        clients = [await HttpSSE.open(s.url, path) for s in servers]
        try:
            for client in clients:
                assert client.status == 200
                await client.opened(5)  # the opening comment: it listens
            go_file.touch()
            return await asyncio.gather(*(receive(c, EVENTS) for c in clients))
        finally:
            for client in clients:
                await client.close()

    publisher = publish_from_another_process(run.pk, go_file, redis=redis)
    try:
        per_client = asyncio.run(main())
    finally:
        publisher.wait(timeout=30)
    for received in per_client:
        assert [n for n, _, _ in received] == list(range(1, EVENTS + 1))  # each once, in order
        delays = [arrived - sent for _, sent, arrived in received]
        assert max(delays) < LIMIT_SECONDS, delays


def test_a_worker_event_reaches_clients_of_every_web_process_through_redis(
    web_factory: Any, make_run: Any, owner: Any, tmp_path: Path
) -> None:
    if not settings.REDIS_URL:
        pytest.skip("Redis mode needs REDIS_URL (CI sets it); the embedded bridge is tested below")
    run = make_run("RUNNING")
    servers = [web_factory(redis=True), web_factory(redis=True)]
    scenario(servers, run, owner, tmp_path / "go", redis=True)


def test_a_worker_event_reaches_a_web_process_through_the_embedded_bridge(
    web_factory: Any, make_run: Any, owner: Any, tmp_path: Path
) -> None:
    run = make_run("RUNNING")
    servers = [web_factory(redis=False)]
    scenario(servers, run, owner, tmp_path / "go", redis=False)


def test_a_real_web_process_answers_401_and_404_before_streaming(
    web_factory: Any, make_run: Any, outsider: Any
) -> None:
    run = make_run("RUNNING")
    server = web_factory(redis=bool(settings.REDIS_URL))

    async def main() -> None:
        anonymous = await HttpSSE.open(server.url, f"/api/migrations/{run.pk}/stream")
        assert anonymous.status == 401
        assert json.loads(await anonymous.body())["code"] == "NOT_AUTHENTICATED"
        await anonymous.close()
        stranger = await HttpSSE.open(
            server.url, f"/api/migrations/{run.pk}/stream?token={access_token(outsider)}"
        )
        assert stranger.status == 404
        assert json.loads(await stranger.body())["code"] == "MIGRATION_NOT_FOUND"
        await stranger.close()

    asyncio.run(main())
