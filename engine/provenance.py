"""Which run wrote what to one Jira issue, and when it last did: what a rollback reads.

The ledger (:class:`engine.ports.LedgerEntry`) holds what the *project* wrote for an
ADO item, across all its runs. Rolling back one run needs that run's share: did it
create the issue, which comments, attachments, links and remote links did it add,
did it edit fields or move the status (listed by a rollback, not reverted), and when
did it last write to the issue (an issue changed after that was changed by someone
else, or by a later run, and is left alone).

The pipeline records it as it records the writes themselves, in the item's
:class:`engine.itembook.ItemBook` (``runs[run_id]``, a :class:`RunWrites`; stored in
the entry's ``extra["runs"]`` as a versioned dict), so it
is saved with the ledger in the same breath and survives pause, take-over and resume.
Nothing is recorded for a run without an id (engine tests, older callers).

``seen_updated`` is the issue's ``updated`` as Jira shows it after the run's last
write (read by the verify phase, which searches every issue of the run after all
writes); ``wrote_at`` is the worker's clock after the last write, used only when the
run never reached verify (cancelled, failed), with :data:`SKEW_SECONDS` of slack for
the clocks of worker and Jira.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.itembook import ItemBook

VERSION = 1
# Worker and Jira clocks may disagree by this much; a change within it is not seen.
SKEW_SECONDS = 2.0


@dataclass
class RunWrites:
    """One run's writes to one issue (see the module docstring)."""

    created: bool = False
    comments: list[str] = field(default_factory=list)  # ADO comment ids (ledger keys)
    attachments: list[str] = field(default_factory=list)  # ledger attachment keys
    links: list[str] = field(default_factory=list)  # ledger link keys (remote:… included)
    edited: bool = False  # fields or description edited
    transitioned: bool = False  # the status moved
    sprint: bool = False  # moved into a sprint
    wrote_at: float = 0.0  # epoch seconds, the worker's clock
    seen_updated: str = ""  # the issue's ``updated`` as Jira showed it after the last write

    def to_dict(self) -> dict[str, Any]:
        return {"v": VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, raw: Any) -> RunWrites:
        if not isinstance(raw, dict):
            return cls()
        return cls(
            created=bool(raw.get("created")),
            comments=[str(c) for c in raw.get("comments") or []],
            attachments=[str(a) for a in raw.get("attachments") or []],
            links=[str(k) for k in raw.get("links") or []],
            edited=bool(raw.get("edited")),
            transitioned=bool(raw.get("transitioned")),
            sprint=bool(raw.get("sprint")),
            wrote_at=float(raw.get("wrote_at") or 0.0),
            seen_updated=str(raw.get("seen_updated") or ""),
        )

    @property
    def added_content(self) -> bool:
        return bool(self.comments or self.attachments or self.links)


def writes_of(book: ItemBook, run_id: str) -> RunWrites | None:
    if not run_id or run_id not in book.runs:
        return None
    return book.runs[run_id]


def put(book: ItemBook, run_id: str, writes: RunWrites | None) -> None:
    """Store ``writes`` for ``run_id`` (None: forget that run's share)."""
    if not run_id:
        return
    if writes is None:
        book.runs.pop(run_id, None)
    else:
        book.runs[run_id] = writes


def note(
    book: ItemBook,
    run_id: str,
    *,
    created: bool = False,
    comment: str | None = None,
    attachment: str | None = None,
    link: str | None = None,
    edited: bool = False,
    transitioned: bool = False,
    sprint: bool = False,
    at: float | None = None,
) -> None:
    """Record one write of ``run_id`` in ``book`` (the caller holds the pipeline's lock)."""
    if not run_id:
        return
    writes = book.runs.setdefault(run_id, RunWrites())
    writes.created = writes.created or created
    for value, bucket in (
        (comment, writes.comments),
        (attachment, writes.attachments),
        (link, writes.links),
    ):
        if value is not None and value not in bucket:
            bucket.append(value)
    writes.edited = writes.edited or edited
    writes.transitioned = writes.transitioned or transitioned
    writes.sprint = writes.sprint or sprint
    writes.wrote_at = max(writes.wrote_at, time.time() if at is None else at)
    writes.seen_updated = ""  # a later write: what verify saw before is out of date


def stamp(book: ItemBook, run_id: str, updated: str) -> None:
    """The issue's ``updated`` as Jira shows it after every write of the run."""
    writes = writes_of(book, run_id)
    if writes is not None and updated:
        writes.seen_updated = updated


def touch(book: ItemBook, run_id: str) -> None:
    """A write on another issue changed this one too (a link shows on both ends)."""
    if writes_of(book, run_id) is not None:
        note(book, run_id)
