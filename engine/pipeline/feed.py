"""Phase 2's progress as the phases running beside it see it.

While phase 2 creates issues, phases 3 to 5 run at once with it: states and content
take the items whose issue exists (phase 2 done for them) as they come, in the order
they were made, and so do links (a link whose other end is not made yet waits for
the last pass); each does a last pass over what is left once phase 2 has ended.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class CreateFeed:
    """The items phase 2 has finished, in order, and whether it is still running."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._made: list[int] = []
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        with self._cond:
            self._made.clear()
            self._running = True

    def made(self, ado_id: int) -> None:
        """Phase 2 is done with ``ado_id`` (its issue exists, created or edited)."""
        with self._cond:
            if self._running:
                self._made.append(ado_id)
                self._cond.notify_all()

    def end(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()

    def since(self, cursor: int) -> tuple[list[int], bool]:
        """The items made from position ``cursor`` on, and whether phase 2 has ended."""
        with self._cond:
            return self._made[cursor:], not self._running

    def wait(self, cursor: int, wanted: int, timeout: float, stopped: Callable[[], bool]) -> None:
        """Until ``wanted`` items past ``cursor`` are made, phase 2 ends, the run stops,
        or ``timeout`` seconds pass."""
        with self._cond:
            self._cond.wait_for(
                lambda: len(self._made) - cursor >= wanted or not self._running or stopped(),
                timeout,
            )
