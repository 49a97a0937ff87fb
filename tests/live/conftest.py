"""Fixtures for the live stream tests: an AsyncClient stream opener and cleanup."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from django.test import AsyncClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.live.sse import SSEReader


def access_token(user: Any) -> str:
    return str(RefreshToken.for_user(user).access_token)


@pytest.fixture(autouse=True)
def _release_connections() -> Iterator[None]:
    """Stop the bridge thread and give back the connection of asgiref's sync thread
    (views and storage reads run there), so the test database can be dropped."""
    from asgiref.sync import SyncToAsync
    from django.db import connections

    from migrations_app.live.fanin import storage_bridge

    yield
    storage_bridge.stop()
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


@asynccontextmanager
async def open_stream(
    path: str, headers: dict[str, str] | None = None
) -> AsyncIterator[tuple[Any, SSEReader]]:
    response: Any = await AsyncClient().get(path, headers=headers)
    try:
        yield response, SSEReader(response.streaming_content)
    finally:
        if response.streaming:
            await response.streaming_content.aclose()


@pytest.fixture
def stream_url() -> Callable[..., str]:
    def url(run: Any, **query: str) -> str:
        from urllib.parse import urlencode

        suffix = f"?{urlencode(query)}" if query else ""
        return f"/api/migrations/{run.pk}/stream{suffix}"

    return url
