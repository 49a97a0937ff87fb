"""Reads of a run's stored events, for pages that render the current state and
then follow the stream from the id they rendered up to."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django_eventstream.models import Event as StoredEvent
from django_eventstream.models import EventCounter
from django_eventstream.utils import make_id

from migrations_app.events import channel_for
from migrations_app.models import MigrationRun


@dataclass(frozen=True)
class PastEvent:
    eid: int
    type: str
    payload: dict[str, Any]
    created: datetime


def current_eid(run: MigrationRun) -> int:
    channel = channel_for(run.pk)
    value = EventCounter.objects.filter(name=channel).values_list("value", flat=True).first()
    return int(value or 0)


def last_event_id(run: MigrationRun, eid: int) -> str:
    """``run-{id}:{n}``: the Last-Event-ID of a client that has seen events up to ``eid``."""
    return str(make_id({channel_for(run.pk): eid}))


def recent_events(run: MigrationRun, event_type: str, limit: int, upto: int) -> list[PastEvent]:
    """The last ``limit`` stored events of one type up to id ``upto``, oldest first."""
    rows = (
        StoredEvent.objects.filter(
            channel=channel_for(run.pk), type=event_type, eid__gt=0, eid__lte=upto
        )
        .order_by("-eid")
        .values_list("eid", "data", "created")[:limit]
    )
    out = []
    for eid, data, created in reversed(list(rows)):
        try:
            payload = json.loads(json.loads(data))
        except (TypeError, ValueError):
            continue
        if isinstance(payload, dict):
            out.append(PastEvent(eid, event_type, payload, created))
    return out
