"""The channel manager django-eventstream consults (EVENTSTREAM_CHANNELMANAGER_CLASS).

One channel per run, ``run-{uuid}``. The stream view has already answered 401/404
before the library sees the request; this is the second lock on the same door,
re-checked by the library on every read from storage.
"""

from __future__ import annotations

import uuid
from typing import Any

from django_eventstream.channelmanager import ChannelManagerBase

from migrations_app.events import channel_for
from migrations_app.models import MigrationRun

CHANNEL_PREFIX = "run-"


def run_id_of(channel: str) -> uuid.UUID | None:
    if not channel.startswith(CHANNEL_PREFIX):
        return None
    try:
        return uuid.UUID(channel[len(CHANNEL_PREFIX) :])
    except ValueError:
        return None


class RunChannelManager(ChannelManagerBase):
    def get_channels_for_request(self, request: Any, view_kwargs: dict[str, Any]) -> set[str]:
        run_id = view_kwargs.get("run_id")
        return {channel_for(run_id)} if run_id else set()

    def can_read_channel(self, user: Any, channel: str) -> bool:
        run_id = run_id_of(channel)
        tenant_id = getattr(user, "tenant_id", None)
        if run_id is None or tenant_id is None:
            return False
        return MigrationRun.objects.filter(pk=run_id, tenant_id=tenant_id).exists()

    def is_channel_reliable(self, channel: str) -> bool:
        return True  # every channel is stored, so a reconnecting client replays
