"""Publishing live events on a run's channel (the stream endpoint serves them).

Payloads are the seed's to the letter::

    progress {"type":"progress","current":250,"total":5000,"percent":5,"speed":45.2}
    log      {"type":"log","message":"..."}
    status   {"type":"status","status":"completed"}
    done     {"type":"done","stats":{"created":4997,"skipped":0,"failed":3}}

Events go out after the surrounding transaction commits, and a failure to publish
(Redis down) never breaks a run or a request: it is logged and dropped.

``publish_status`` and ``publish_done`` are also where the project's webhooks hear
of a run (:mod:`migrations_app.webhooks.announce`): every status change once, and
the end of the run once.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from django.db import transaction

from migrations_app.webhooks import announce

logger = logging.getLogger(__name__)


def channel_for(run_id: uuid.UUID | str) -> str:
    return f"run-{run_id}"


def _last_status(channel: str) -> str | None:
    """The status of the channel's last stored status event (stored JSON-encoded twice)."""
    from django_eventstream.models import Event as StoredEvent

    data = (
        StoredEvent.objects.filter(channel=channel, type="status")
        .order_by("-eid")
        .values_list("data", flat=True)
        .first()
    )
    try:
        payload = json.loads(json.loads(data)) if data else None
    except (TypeError, ValueError):
        return None
    return payload.get("status") if isinstance(payload, dict) else None


def _send_now(channel: str, event_type: str, payload: dict[str, Any]) -> None:
    from django_eventstream import send_event

    try:
        # A transition is announced by whoever makes it (the API's service or the
        # engine) and sometimes by both: a client sees each status change once.
        if event_type == "status" and _last_status(channel) == payload["status"]:
            return
        send_event(channel, event_type, payload)
    except Exception:  # a lost event must not stop a run; the stream replays state
        logger.warning("could not publish %s event on %s", event_type, channel, exc_info=True)


def publish(run_id: uuid.UUID | str, event_type: str, payload: dict[str, Any]) -> None:
    channel = channel_for(run_id)
    transaction.on_commit(lambda: _send_now(channel, event_type, payload))


def publish_status(run_id: uuid.UUID | str, status: str) -> None:
    publish(run_id, "status", {"type": "status", "status": status.lower()})
    announce.status_changed(run_id, status)


def publish_log(run_id: uuid.UUID | str, message: str) -> None:
    publish(run_id, "log", {"type": "log", "message": message})


def publish_progress(run_id: uuid.UUID | str, current: int, total: int, speed: float) -> None:
    percent = int(current * 100 / total) if total > 0 else 0
    payload = {
        "type": "progress",
        "current": current,
        "total": total,
        "percent": max(0, min(100, percent)),
        "speed": round(float(speed), 1),
    }
    publish(run_id, "progress", payload)


def publish_done(run_id: uuid.UUID | str, stats: dict[str, int]) -> None:
    publish(run_id, "done", {"type": "done", "stats": dict(stats)})
    announce.run_finished(run_id, stats)
