"""Exactly-once glue: write intents, ambiguous outcomes, settle and adopt, labels and properties."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from engine.http import OutcomeUnknown
from engine.itembook import AmbiguousWrite
from engine.model import Comment
from engine.pipeline.limits import AMBIGUOUS_ROUNDS, COMMENT_PROPERTY, POLL_SECONDS, PROPERTY_KEY
from engine.pipeline.util import properties_of
from engine.ports import LedgerEntry
from engine.settle import Deferred, create_key, phase_key

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class Later:
    """Collects the :class:`Deferred` of several writes into one deferral of their ids."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.until = 0.0

    def add(self, ids: Sequence[int], until: float) -> None:
        self.ids.extend(ids)
        self.until = max(self.until, until)

    @contextmanager
    def collect(self) -> Iterator[None]:
        try:
            yield
        except Deferred as deferred:
            self.add(list(deferred.task or []), deferred.until)

    def raise_if_any(self, why: str) -> None:
        if self.ids:
            raise Deferred(self.until, why, task=list(dict.fromkeys(self.ids)))


class ExactlyOnce:
    """Intents, settle marks and adoption around every write whose outcome may be unknown."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def ambiguous(
        self,
        keys: Sequence[str],
        ids: Sequence[int],
        exc: Exception,
        task: Any = None,
        kind: str | None = None,
    ) -> Deferred | None:
        """A write of ``keys`` may still land: hold them, defer the work (or give up)."""
        until = 0.0
        for key, ado_id in zip(keys, ids, strict=True):
            self.ctx.rounds[key] = self.ctx.rounds.get(key, 0) + 1
            if self.ctx.rounds[key] > AMBIGUOUS_ROUNDS:
                self.ctx.fail_item(
                    ado_id, f"outcome still unknown after {AMBIGUOUS_ROUNDS} settle rounds: {exc}"
                )
                continue
            until = max(until, self.ctx.settle.mark(key, ado_id, kind=kind))
            self.suspect(ado_id)
        if not until:
            return None
        self.ctx.log(
            f"… {len(ids)} item(s) settling until Jira shows whether a write landed "
            f"({str(exc)[:120]})"
        )
        return Deferred(until, str(exc), task=task)

    def note_ambiguous(
        self,
        entry: LedgerEntry,
        exc: OutcomeUnknown,
        kind: str,
        ident: str,
        *,
        name: str | None = None,
        size: int | None = None,
    ) -> None:
        """Remember which write was ambiguous, to tell after the settle whether it landed."""
        exc.write_kind = kind  # type: ignore[attr-defined]
        with self.ctx.lock:
            self.ctx.book(entry).ambiguous.append(AmbiguousWrite(kind, ident, name, size))
            self.ctx.dirty_ledger.add(entry.ado_id)

    def resolve_ambiguous(
        self,
        entry: LedgerEntry,
        landed: Callable[[AmbiguousWrite], bool],
        kinds: frozenset[str],
    ) -> None:
        """After the look-up: each ambiguous write of ``kinds`` was adopted, or is to be
        sent again. Writes of other kinds are another phase's (phases run at once)."""
        with self.ctx.lock:
            book = self.ctx.book(entry)
            noted = [row for row in book.ambiguous if row.kind in kinds]
            book.ambiguous = [row for row in book.ambiguous if row.kind not in kinds]
            self.ctx.dirty_ledger.add(entry.ado_id)
        for row in noted:
            self.ctx.settle.count("adopted" if landed(row) else "resent", row.kind)

    def suspect(self, ado_id: int) -> None:
        """An ambiguous write touched this item: verify looks for duplicates on it."""
        with self.ctx.lock:
            entry = self.ctx.ledger.get(ado_id)
            if entry is not None and not self.ctx.book(entry).suspect:
                self.ctx.book(entry).suspect = True
                self.ctx.dirty_ledger.add(ado_id)
            elif entry is None:
                self.ctx.suspects_pending.add(ado_id)

    def go_live(self) -> None:
        """Say in the plan that this process may have writes in flight until it stops."""
        self.ctx.plan.live = self.ctx.token
        self.ctx.save_plan()

    def end_live(self) -> None:
        """A clean stop: nothing of this process is in flight any more."""
        if self.ctx.plan.live == self.ctx.token:
            self.ctx.plan.live = None
            self.ctx.save_plan()

    def mark_open_intents(self, among: frozenset[int] | None = None) -> None:
        """The process before us died: any write it had open may still land.

        Its requests were sent before now, and none can land later than
        ``settle_seconds`` after it was sent, so holding every write it may have had
        open (create intents, the per-phase intents saved before each group) until
        ``now + settle_seconds`` is safe.
        """
        marked = 0
        for ado_id, record in self.ctx.records.items():
            if among is not None and ado_id not in among:
                continue
            if ado_id not in self.ctx.ledger and record.attempts > 0 and self.ctx.active(ado_id):
                self.ctx.settle.mark(create_key(ado_id), ado_id)
                self.ctx.suspects_pending.add(ado_id)
                marked += 1
        for ado_id, entry in self.ctx.ledger.items():
            if among is not None and ado_id not in among:
                continue
            book = self.ctx.book(entry)
            foreign = book.foreign_intents(self.ctx.token)
            if foreign and ado_id in self.ctx.items:
                for pending in foreign:
                    self.ctx.settle.mark(phase_key(pending.phase, ado_id), ado_id)
                    marked += 1
                book.suspect = True
                self.ctx.dirty_ledger.add(ado_id)
        if marked:
            self.ctx.log(
                f"Taking over: {marked} write(s) of the previous worker may still be "
                f"in flight; held for {self.ctx.spec.settle_seconds:g} s before any re-send"
            )

    def rounds_left(self, key: str, exc: Exception) -> bool:
        """Count one settle round of ``key``; False (and a problem) past the limit."""
        self.ctx.rounds[key] = self.ctx.rounds.get(key, 0) + 1
        if self.ctx.rounds[key] <= AMBIGUOUS_ROUNDS:
            return True
        with self.ctx.lock:
            self.ctx.plan.problems.append(
                f"{key}: outcome still unknown after {AMBIGUOUS_ROUNDS} settle rounds: {exc}"
            )
        self.ctx.settle.settle(key)
        return False

    def wait_settled(self, key: str) -> None:
        """Wait (stop-aware, renewing the lease) until ``key``'s deadline, then release it."""
        while True:
            remaining = self.deadline(key) - self.ctx.settle.clock()
            if remaining <= 0:
                break
            self.ctx.stops.wait(min(POLL_SECONDS, remaining))
            self.ctx.checkpointer.checkpoint()
            self.ctx.raise_if_stopped()
        self.ctx.settle.settle(key)

    def mark_create_intent(self, groups: list[list[int]]) -> None:
        """Saved before the bulk requests leave: a restart knows they may be in Jira."""
        with self.ctx.lock:
            for group in groups:
                for ado_id in group:
                    self.ctx.records[ado_id].attempts += 1
                    self.ctx.dirty_records.add(ado_id)
        self.ctx.checkpointer.flush_state()

    @staticmethod
    def ado_ids_of(issue: Mapping[str, Any], wanted: set[int]) -> list[int]:
        prop = properties_of(issue.get("properties")).get(PROPERTY_KEY)
        if isinstance(prop, dict) and isinstance(prop.get("adoId"), int):
            return [prop["adoId"]] if prop["adoId"] in wanted else []
        labels = (issue.get("fields") or {}).get("labels") or []
        out = []
        for label in labels:
            tail = str(label).removeprefix("ado-")
            if str(label).startswith("ado-") and tail.isdigit() and int(tail) in wanted:
                out.append(int(tail))
        return out

    def deadline(self, key: str) -> float:
        mark = self.ctx.settle.get(key)
        return mark.deadline if mark is not None else self.ctx.settle.clock()

    def settling(
        self, ids: Sequence[int], key_of: Callable[[int], str]
    ) -> tuple[list[int], list[int]]:
        """(ids whose write is still settling, ids whose settle deadline has passed)."""
        now = self.ctx.settle.clock()
        held: list[int] = []
        due: list[int] = []
        for ado_id in ids:
            mark = self.ctx.settle.get(key_of(ado_id))
            if mark is None:
                continue
            (held if mark.deadline > now else due).append(ado_id)
        return held, due

    def save_intents(self, ids: Sequence[int], phase: int) -> None:
        """Saved before a group's writes leave: a process taking over after a crash
        knows which items may have writes of this phase still in flight."""
        with self.ctx.lock:
            for ado_id in ids:
                entry = self.ctx.ledger.get(ado_id)
                if entry is not None:
                    self.ctx.book(entry).intend(self.ctx.token, phase)
                    self.ctx.dirty_ledger.add(ado_id)
        self.ctx.checkpointer.flush_state()

    def settled_before(self, phase: int, ado_id: int) -> bool:
        """Before writing ``phase`` for an item: wait out an unknown outcome (Deferred).

        True when a mark had expired: the caller must look in Jira before writing.
        """
        key = phase_key(phase, ado_id)
        mark = self.ctx.settle.get(key)
        if mark is None:
            return False
        self.ctx.settle.hold(key)
        self.ctx.settle.settle(key)  # the caller's look-up counts what it finds
        return True

    @staticmethod
    def comment_property(ado_id: int, comment: Comment) -> dict[str, Any]:
        return {"key": COMMENT_PROPERTY, "value": {"adoId": ado_id, "commentId": comment.id}}
