"""How a run leaves its phases: :class:`StopRun` for the loop, :class:`Interrupted` in workers."""

from __future__ import annotations

from engine.ports import FinalStatus


class StopRun(Exception):
    """Leave the phases now: paused, cancelled, lease lost or failed."""

    def __init__(self, status: FinalStatus, reason: str = "", *, lease_lost: bool = False) -> None:
        super().__init__(reason or status)
        self.status: FinalStatus = status
        self.reason = reason
        self.lease_lost = lease_lost


class Interrupted(Exception):
    """Raised inside a worker before a write once the run is stopping."""
