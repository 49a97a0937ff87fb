"""Writes whose outcome is unknown, held until Jira can show whether they landed.

A write that timed out, lost its connection after sending, or got a gateway
error may still be applied by Jira seconds later: the request can sit in a queue
or a slow bulk job on the server long after the client gave up. A search right
after the failure proves nothing. So such a write is *unsettled* until a settle
deadline (``failure time + settle_seconds``, where ``settle_seconds`` is not
shorter than the client's timeout plus a margin; see ``RunSpec.settle_seconds``).

Until the deadline nothing that could repeat the write is sent: the work that
needs it is deferred to a later pass of the phase while other work goes on.
After the deadline the work looks in Jira (labels, comment markers, attachment
names and sizes, the issue's status and links) and adopts what landed, and only
then sends what is still missing. The marks are saved in the project's store, so
a paused, cancelled, taken-over or next run honours them too.

A worker that dies leaves no mark for the requests it had in flight; a run that
takes over from such a worker marks every write it may have had open (the
intents saved before sending) as unsettled from the take-over on.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from engine.ports import Unsettled

DEFAULT_SETTLE_SECONDS = 90.0


class Deferred(Exception):
    """Raised by a unit of work that must wait until ``until`` (epoch seconds).

    ``task`` is what to run again then (default: the same unit of work), so a bulk
    whose other members went through comes back with only the settling ones.
    """

    def __init__(self, until: float, why: str = "", *, task: Any = None) -> None:
        super().__init__(why or f"deferred until {until:.1f}")
        self.until = until
        self.why = why
        self.task = task


TALLIES = ("ambiguous", "deferred", "adopted", "resent", "repaired")
_KINDS = {"create": "issue", "p2": "edit", "p3": "transition", "p4": "content", "p5": "link"}


def kind_of(key: str) -> str:
    """The kind of write a settle key stands for (``create:12`` → ``issue``)."""
    prefix = key.split(":", 1)[0]
    return _KINDS.get(prefix, prefix)


def create_key(ado_id: int) -> str:
    return f"create:{ado_id}"


def phase_key(phase: int, ado_id: int) -> str:
    """Any write of ``phase`` for one item (transitions, content, links, edits)."""
    return f"p{phase}:{ado_id}"


class SettleBook:
    """The unsettled writes of a project, thread-safe; ``flush`` hands changes to the store."""

    def __init__(
        self,
        settle_seconds: float,
        loaded: Iterable[Unsettled] = (),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settle_seconds = float(settle_seconds)
        self.clock = clock
        self._lock = threading.Lock()
        self._marks: dict[str, Unsettled] = {u.key: u for u in loaded}
        self._added: dict[str, Unsettled] = {}
        self._cleared: set[str] = set()
        # what happened, for the report and the closing numbers
        # what happened, by kind of write (issue, comment, attachment, transition...)
        self.tally: dict[str, Counter[str]] = {what: Counter() for what in TALLIES}

    # ------------------------------------------------------------------ marks
    def mark(
        self, key: str, ado_id: int | None, *, since: float | None = None, kind: str | None = None
    ) -> float:
        """The write behind ``key`` may still land: hold it for ``settle_seconds``."""
        now = self.clock() if since is None else since
        with self._lock:
            old = self._marks.get(key)
            deadline = now + self.settle_seconds
            if old is not None:
                deadline = max(deadline, old.deadline)
            mark = Unsettled(key=key, ado_id=ado_id, since=now, deadline=deadline)
            self._marks[key] = mark
            self._added[key] = mark
            self._cleared.discard(key)
            self.tally["ambiguous"][kind or kind_of(key)] += 1
        return deadline

    def get(self, key: str) -> Unsettled | None:
        with self._lock:
            return self._marks.get(key)

    def hold(self, key: str) -> None:
        """Raise :class:`Deferred` while ``key`` is unsettled and its deadline is ahead."""
        mark = self.get(key)
        if mark is not None and mark.deadline > self.clock():
            raise Deferred(mark.deadline, f"{key}: outcome unknown, settling")

    def settle(self, key: str, *, adopted: bool | None = None) -> None:
        """The deadline of ``key`` has passed and Jira is being asked what happened:
        ``adopted`` says whether the write was found (counted), None when the caller
        counts what it finds itself."""
        with self._lock:
            if self._marks.pop(key, None) is None:
                return
            self._added.pop(key, None)
            self._cleared.add(key)
            if adopted is not None:
                self.tally["adopted" if adopted else "resent"][kind_of(key)] += 1

    def count(self, what: str, kind: str, n: int = 1) -> None:
        """Count ``n`` of ``what`` (one of TALLIES) for writes of ``kind``."""
        with self._lock:
            self.tally[what][kind] += n

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {what: dict(counter) for what, counter in self.tally.items()}

    def keys(self, prefix: str = "") -> list[str]:
        with self._lock:
            return [k for k in self._marks if k.startswith(prefix)]

    def flush(self) -> tuple[list[Unsettled], list[str]]:
        """What changed since the last flush: marks to save, keys to drop."""
        with self._lock:
            added, cleared = list(self._added.values()), sorted(self._cleared)
            self._added.clear()
            self._cleared.clear()
        return added, cleared
