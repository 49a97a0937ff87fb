"""The in-worker sweeper: at start-up and every ``MIGRATOR_SWEEP_SECONDS``.

It re-enqueues stale runs and overdue webhook deliveries (and announces the end
of finished runs nobody announced; see migrations_app.webhooks.services).

Celery beat is not needed: each worker runs the sweep in a daemon thread (the
sweep is a compare-and-set, so several workers sweeping at once is harmless).
In the embedded mode this is what re-enqueues runs whose message was lost with
a killed worker; in Redis mode it takes over runs long before the broker's
visibility timeout would redeliver them.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import close_old_connections, connections

from migrations_app.services import sweep_stale_runs
from migrations_app.webhooks.services import sweep_deliveries

logger = logging.getLogger(__name__)

_started = threading.Event()
_stop = threading.Event()


def sweep_once() -> None:
    close_old_connections()
    try:
        swept = sweep_stale_runs()
        if swept:
            logger.info("sweep re-enqueued %d run(s): %s", len(swept), swept)
    except Exception:
        logger.exception("sweep failed; will try again")
    try:
        deliveries = sweep_deliveries()
        if deliveries:
            logger.info("sweep re-enqueued %d webhook deliveries", len(deliveries))
    except Exception:
        logger.exception("webhook sweep failed; will try again")
    finally:
        connections.close_all()


def _loop(interval: float) -> None:
    while True:
        sweep_once()
        if _stop.wait(interval):
            return


def start_sweeper() -> None:
    if _started.is_set():
        return
    _started.set()
    interval = float(settings.MIGRATOR_SWEEP_SECONDS)
    threading.Thread(target=_loop, args=(interval,), name="run-sweeper", daemon=True).start()
    logger.info("run sweeper started (every %g s)", interval)


def stop_sweeper() -> None:
    _stop.set()
