"""How a run leaves its phases: :class:`StopRun` for the loop, :class:`Interrupted` in
workers, :func:`run_guarded` around a whole run (migration or rollback)."""

from __future__ import annotations

from collections.abc import Callable

from engine.errors import StopRequested
from engine.ports import FinalStatus, RunOutcome


class StopRun(Exception):
    """Leave the phases now: paused, cancelled, lease lost or failed."""

    def __init__(self, status: FinalStatus, reason: str = "", *, lease_lost: bool = False) -> None:
        super().__init__(reason or status)
        self.status: FinalStatus = status
        self.reason = reason
        self.lease_lost = lease_lost


class Interrupted(Exception):
    """Raised inside a worker before a write once the run is stopping."""


class AwaitCreates(Interrupted):
    """The item's content names items whose issues phase 2 has not made yet: it is left
    (its step not done) for the pass after phase 2 ends, so each reference gets its key."""


def run_guarded(
    body: Callable[[], RunOutcome],
    *,
    reason_of: Callable[[], StopRun | None],
    stopped: Callable[[StopRun], RunOutcome],
    fail: Callable[[str], RunOutcome],
    fatal: tuple[type[Exception], ...],
    describe: Callable[[Exception], str] = str,
) -> RunOutcome:
    """Run ``body``; a stop becomes ``stopped``, a ``fatal`` error ``fail``.

    A transport that saw the stop flag raises :class:`StopRequested`: the run's own
    stop reason (``reason_of``) says why; without one it is a bug and goes up."""
    try:
        return body()
    except StopRun as stop:
        return stopped(stop)
    except StopRequested:
        reason = reason_of()
        if reason is None:
            raise
        return stopped(reason)
    except fatal as exc:
        return fail(describe(exc))
