"""Phase 2: create issues in bulk, edit changed ones, move them into sprints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine import provenance
from engine.content import IssueContent, issue_content
from engine.errors import AuthError, PermanentError, StopRequested, TransientError
from engine.http import OutcomeUnknown
from engine.itembook import ItemBook
from engine.model import CreatedIssue, WorkItem
from engine.pipeline.limits import (
    BULK_SIZE,
    CREATE_WINDOW,
    ESSENTIAL_FIELDS,
    PROPERTY_KEY,
    SEARCH_CHUNK,
    SPRINT_MOVE,
    WRITE_TRIES,
)
from engine.pipeline.markers import Later
from engine.pipeline.phase import PhaseResult
from engine.pipeline.sprints import SprintPlanner
from engine.pipeline.util import key_number, label_jql
from engine.planning import chunks, waves
from engine.ports import LedgerEntry
from engine.settle import Deferred, create_key

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


PROBE_MIN = 3  # items of a type in a wave for a probe create to pay off


class CreatePhase:
    """Phase 2: issues created (parents first) or edited, then moved into sprints."""

    number = 2
    name = "create"
    chunk_size: int | None = None  # hierarchy levels and sprint closing span all items
    stream_batch: int | None = None

    def items(self, ctx: RunContext, among: Sequence[int] | None = None) -> list[int]:
        return [i for i in (ctx.order if among is None else among) if ctx.active(i)]

    def run_chunk(self, ctx: RunContext, ids: Sequence[int]) -> PhaseResult:
        Creator(ctx).run(ids)
        return PhaseResult.of(ctx, self.number, ids)


class Creator:
    """Creates, adopts or edits the issues of a chunk, then moves them into sprints."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.first_steps: dict[int, str] = {}  # ado id -> status its create body moves it to

    def run(self, ids: Sequence[int]) -> None:
        to_create = [
            i
            for i in ids
            if self.ctx.active(i)
            and self.ctx.items[i].action == "create"
            and i not in self.ctx.ledger
        ]
        self._adopt_existing(to_create)
        for wave in waves(self.ctx.items, [i for i in to_create if i not in self.ctx.ledger]):
            probe = self._probe(wave)
            for part in ([probe] if probe else []) + [[i for i in wave if i not in probe]]:
                self.ctx.pool.run_pool(
                    chunks(part, BULK_SIZE),
                    self._create_chunk,
                    ids_of=lambda g: g,
                    workers=CREATE_WINDOW,
                    prepare=self.ctx.markers.mark_create_intent,
                    group=CREATE_WINDOW,
                )
        updates = [i for i in ids if self.ctx.active(i) and not self.ctx.step_done(i, 2)]
        self.ctx.pool.run_pool(
            updates, self._write_existing, ids_of=lambda i: [i], prepare=self.ctx.prefetch
        )
        self._sprint_moves(ids)
        SprintPlanner(self.ctx).complete_past_sprints()

    def _probe(self, wave: Sequence[int]) -> list[int]:
        """One item of each type the run knows no workflow of yet (with more items to
        come in this wave): created first, so the others' first step rides on create."""
        counts: dict[str, list[int]] = {}
        for ado_id in wave:
            counts.setdefault(str(self.ctx.items[ado_id].jira_type_id), []).append(ado_id)
        return [
            ids[0]
            for type_id, ids in counts.items()
            if len(ids) >= PROBE_MIN and not self.ctx.workflows.initial_known(type_id)
        ]

    def _sprint_moves(self, ids: Sequence[int]) -> None:
        """Issues into their sprints, 50 a request; the item's book records each."""
        targets = self.ctx.plan.sprint_of
        if not targets:
            return
        groups: dict[int, list[int]] = {}
        for ado_id in self.ctx.order:
            sprint = targets.get(ado_id)
            if sprint is None or not self.ctx.active(ado_id) or ado_id not in self.ctx.ledger:
                continue
            if self.ctx.book(self.ctx.ledger[ado_id]).sprint != sprint:
                groups.setdefault(int(sprint), []).append(ado_id)
        batches = [
            (sprint, part) for sprint, ids in groups.items() for part in chunks(ids, SPRINT_MOVE)
        ]
        self.ctx.pool.run_pool(
            batches,
            self._move_batch,
            ids_of=lambda b: b[1],
            workers=CREATE_WINDOW,
            group=CREATE_WINDOW,
        )

    def _move_batch(self, batch: tuple[int, list[int]]) -> None:
        sprint, ids = batch
        mark = f"sprint-move:{sprint}:{ids[0]}"
        if self.ctx.settle.get(mark) is not None:
            self.ctx.settle.hold(mark)  # a move is harmless to repeat once the first has settled
            self.ctx.settle.settle(mark, adopted=False)
        self.ctx.check_stop()
        try:
            self.ctx.target.move_to_sprint(sprint, [self.ctx.ledger[i].jira_key for i in ids])
        except AuthError:
            raise
        except OutcomeUnknown as exc:
            if self.ctx.markers.rounds_left(mark, exc):
                raise Deferred(self.ctx.settle.mark(mark, ids[0]), str(exc)) from exc
            return
        except (PermanentError, TransientError) as exc:
            # the item is in Jira all the same: say what is missing, do not fail it
            for ado_id in ids:
                self.ctx.write_rule(
                    self.ctx.ledger[ado_id],
                    "sprint-membership",
                    f"sprint-membership: not moved into sprint {sprint}: {str(exc)[:200]}",
                )
            return
        with self.ctx.lock:
            for ado_id in ids:
                book = self.ctx.book(self.ctx.ledger[ado_id])
                book.sprint = sprint
                provenance.note(book, self.ctx.spec.run_id, sprint=True)
                book.add_rules("sprint-membership")
                self.ctx.dirty_ledger.add(ado_id)
            self.ctx.checkpointer.cadence.count(len(ids))

    def _adopt_existing(self, ids: Sequence[int]) -> None:
        """Find issues already in Jira for items the ledger does not know, and adopt them."""
        for part in chunks(list(ids), SEARCH_CHUNK):
            self._adopt_by_label(part)
        self.ctx.checkpointer.checkpoint(force=True)
        self.ctx.raise_if_stopped()

    def _adopt_by_label(self, ids: Sequence[int]) -> set[int]:
        wanted = set(ids)
        found: dict[int, list[dict[str, Any]]] = {}
        issues = self.ctx.target.search(
            label_jql(self.ctx.spec.project_key, sorted(wanted)),
            fields=("labels", "issuetype", "status"),
            properties=(PROPERTY_KEY,),
        )
        for issue in issues:
            for ado_id in self.ctx.markers.ado_ids_of(issue, wanted):
                found.setdefault(ado_id, []).append(issue)
        for ado_id, hits in found.items():
            hits.sort(key=lambda h: key_number(str(h.get("key"))))
            self._adopt(ado_id, hits[0])
            if len(hits) > 1:
                keys = ", ".join(str(h.get("key")) for h in hits)
                with self.ctx.lock:
                    self.ctx.plan.problems.append(f"duplicate issues for ADO #{ado_id}: {keys}")
        return set(found)

    def _adopt(self, ado_id: int, issue: Mapping[str, Any]) -> None:
        fields = issue.get("fields") or {}
        type_id = str(
            (fields.get("issuetype") or {}).get("id") or self.ctx.items[ado_id].jira_type_id
        )
        status = str((fields.get("status") or {}).get("name") or "")
        created = CreatedIssue(str(issue.get("id", "")), str(issue.get("key", "")))
        self._record_created(ado_id, created, type_id, status=status, book=ItemBook(adopted=True))
        self.ctx.settle.settle(create_key(ado_id), adopted=True)

    def _record_created(
        self,
        ado_id: int,
        created: CreatedIssue,
        type_id: str,
        *,
        status: str,
        book: ItemBook,
    ) -> None:
        item = self.ctx.items[ado_id]
        book.level, book.jira_type_id = self.ctx.type_level(type_id), type_id
        with self.ctx.lock:
            if ado_id in self.ctx.suspects_pending:
                self.ctx.suspects_pending.discard(ado_id)
                book.suspect = True
        entry = LedgerEntry(ado_id, created.key, created.id, item.rev, state=status)
        provenance.note(book, self.ctx.spec.run_id, created=True)
        with self.ctx.lock:
            self.ctx.books[ado_id] = book
            self.ctx.ledger[ado_id] = entry
            self.ctx.crosswalk[ado_id] = created.key
            record = self.ctx.records[ado_id]
            record.jira_key, record.jira_id, record.status = created.key, created.id, "CREATED"
            self.ctx.dirty_records.add(ado_id)
            self.ctx.dirty_ledger.add(ado_id)
        self.ctx.mark_step(ado_id, 2)
        self.ctx.log(f"✓ {self.ctx.label(ado_id)} → {created.key}")

    def _create_chunk(self, ids: list[int]) -> None:
        """One bulk create; members whose earlier create may still land wait for it."""
        ids = [
            i for i in ids if i not in self.ctx.ledger and self.ctx.records[i].status != "FAILED"
        ]
        held, due = self.ctx.markers.settling(ids, create_key)
        if due:
            for ado_id in self._adopt_by_label(due):
                self.ctx.settle.settle(create_key(ado_id), adopted=True)
            for ado_id in due:
                if ado_id not in self.ctx.ledger:
                    self.ctx.settle.settle(create_key(ado_id), adopted=False)
        todo = [i for i in ids if i not in self.ctx.ledger and i not in held]
        later = Later()
        if todo:
            with later.collect():
                self._send_bulk(todo)
        for ado_id in held:
            later.add([ado_id], self.ctx.markers.deadline(create_key(ado_id)))
        later.raise_if_any("create settling")

    def _send_bulk(self, ids: list[int]) -> None:
        work_items = self.ctx.fetch(ids)
        payloads: dict[int, tuple[dict[str, Any], IssueContent]] = {}
        for ado_id in ids:
            wi = work_items.get(ado_id)
            if wi is None:
                self.ctx.fail_item(ado_id, "no longer readable in Azure DevOps (deleted?)")
                continue
            payloads[ado_id] = self._with_first_step(
                self.ctx.payloads.create_payload(wi, self.ctx.items[ado_id]), ado_id
            )
        pending = list(payloads)
        last_error: Exception | None = None
        for _ in range(WRITE_TRIES):
            if not pending:
                return
            self.ctx.check_stop()
            try:
                result = self.ctx.target.create_issues([payloads[i][0] for i in pending])
            except OutcomeUnknown as exc:
                # Never re-sent now: the request may still be running in Jira.
                deferred = self.ctx.markers.ambiguous(
                    [create_key(i) for i in pending], pending, exc, task=pending
                )
                if deferred is not None:
                    raise deferred from exc
                return
            except AuthError:
                raise
            except TransientError as exc:  # refused before it was applied (429/503)
                last_error = exc
                continue
            except PermanentError as exc:
                later = Later()
                for ado_id in pending:
                    with later.collect():
                        self._create_one(ado_id, payloads[ado_id], str(exc), work_items[ado_id])
                later.raise_if_any("create settling")
                return
            for index, created in result.created.items():
                self._created_from(
                    pending[index], created, payloads[pending[index]], work_items[pending[index]]
                )
            later = Later()
            for index, error in result.errors.items():
                ado_id = pending[index]
                with later.collect():
                    self._create_one(ado_id, payloads[ado_id], error, work_items[ado_id])
            later.raise_if_any("create settling")
            return
        self.ctx.fail_all(pending, f"create failed after {WRITE_TRIES} tries: {last_error}")

    def _with_first_step(
        self, payload: tuple[dict[str, Any], IssueContent], ado_id: int
    ) -> tuple[dict[str, Any], IssueContent]:
        """The first transition of the item's path rides in its create body, when known."""
        body, content = payload
        type_id = str(body["fields"]["issuetype"]["id"])
        goal = self.ctx.target_status(self.ctx.items[ado_id], type_id)
        step = self.ctx.workflows.create_step(type_id, goal)
        if step is None:
            return payload
        with self.ctx.lock:
            self.first_steps[ado_id] = step.to.name
        return {**body, "transition": {"id": step.id}}, content

    def _status_after_create(self, ado_id: int, body: dict[str, Any], created: CreatedIssue) -> str:
        """The status the new issue is in: after its create-time transition when Jira says
        that was done; empty (phase 3 reads it) when the answer does not say."""
        type_id = str(body["fields"]["issuetype"]["id"])
        if "transition" not in body:
            status = self._initial_status(type_id, created.key)
            self.ctx.workflows.learn_initial(type_id, status, created.key)
            return status
        if created.transitioned:
            return self.first_steps.get(ado_id, "")
        if created.transition_status is not None:  # created, but not moved
            self.ctx.workflows.refuse_ride(type_id)
            return self.ctx.initial_status.get(type_id, "")
        return ""

    def _created_from(
        self,
        ado_id: int,
        created: CreatedIssue,
        payload: tuple[dict[str, Any], IssueContent],
        wi: WorkItem,
    ) -> None:
        body, content = payload
        type_id = str(body["fields"]["issuetype"]["id"])
        status = self._status_after_create(ado_id, body, created)
        book = ItemBook()
        if status and "transition" in body and created.transitioned:
            provenance.note(book, self.ctx.spec.run_id, transitioned=True)
        book.take_facts(self.ctx.payloads.facts(wi, content))
        if "parent" in body["fields"]:
            book.parent_set = self.ctx.items[ado_id].jira_parent
            book.write_rules = ["jira-parent"]
        self._record_created(ado_id, created, type_id, status=status, book=book)

    def _initial_status(self, type_id: str, key: str) -> str:
        with self.ctx.lock:
            known = self.ctx.initial_status.get(type_id)
        if known is not None:
            return known
        try:
            issue = self.ctx.target.get_issue(key, ("status",))
        except (StopRequested, TransientError):
            # the issue exists whatever happens here: record it now, and let phase 3
            # read its status (an empty state) rather than lose the record
            return ""
        name = str(((issue.get("fields") or {}).get("status") or {}).get("name") or "")
        with self.ctx.lock:
            self.ctx.initial_status[type_id] = name
        return name

    def _create_one(
        self,
        ado_id: int,
        payload: tuple[dict[str, Any], IssueContent],
        bulk_error: str,
        wi: WorkItem,
    ) -> None:
        """One element of a bulk failed: retry alone without the optional fields it names."""
        body, content = payload
        body = {**body, "fields": dict(body["fields"])}
        dropped = [f for f in list(body["fields"]) if f not in ESSENTIAL_FIELDS and f in bulk_error]
        for name in dropped:
            body["fields"].pop(name)
            content.notes.append(
                f"create: field '{name}' refused by Jira and left unset ({bulk_error[:200]})"
            )
        if "transition" in body and "transition" in bulk_error.lower():
            # the run's idea of the workflow was wrong: create it where Jira starts it
            body.pop("transition")
            self.ctx.workflows.refuse_ride(str(body["fields"]["issuetype"]["id"]))
            dropped.append("transition")
        if not dropped and "parent" not in bulk_error:
            self.ctx.fail_item(ado_id, f"create refused: {bulk_error}")
            return
        if "parent" in bulk_error and "parent" in body["fields"]:
            body["fields"].pop("parent")
        for _ in range(WRITE_TRIES):
            self.ctx.check_stop()
            try:
                created = self.ctx.target.create_issue(body)
            except OutcomeUnknown as exc:
                deferred = self.ctx.markers.ambiguous(
                    [create_key(ado_id)], [ado_id], exc, task=[ado_id]
                )
                if deferred is not None:
                    raise deferred from exc
                return
            except PermanentError as exc:
                if isinstance(exc, AuthError):
                    raise
                self.ctx.fail_item(ado_id, f"create refused: {bulk_error}; alone: {exc}")
                return
            self._created_from(ado_id, created, (body, content), wi)
            return
        self.ctx.fail_item(ado_id, f"create outcome unknown after {WRITE_TRIES} tries")

    def _write_existing(self, ado_id: int) -> None:
        """Phase 2 for items already in Jira: edit changed ones in place."""
        self.ctx.markers.settled_before(
            2, ado_id
        )  # an edit is a PUT of the same fields: re-sendable
        item = self.ctx.items[ado_id]
        entry = self.ctx.ledger.get(ado_id)
        if entry is None:
            self.ctx.take(ado_id)
            self.ctx.fail_item(ado_id, "no Jira issue to work on")
            return
        wi = self.ctx.take(ado_id)
        if wi is None:
            self.ctx.fail_item(ado_id, "no longer readable in Azure DevOps (deleted?)")
            return
        if item.action == "update" and entry.ado_rev < item.rev:
            self._edit_fields(wi, entry)
            with self.ctx.lock:
                self.ctx.records[ado_id].status = "UPDATED"
                self.ctx.dirty_records.add(ado_id)
            self.ctx.log(f"✓ {self.ctx.label(ado_id)} → {entry.jira_key} (updated)")
        elif item.action != "create":
            with self.ctx.lock:
                # an earlier run finished it: new content only; else it finishes a create
                # (a rollback of a later run took content off it: "resync")
                finished_before = (
                    item.action == "refresh"
                    or self.ctx.book(entry).resync
                    or (item.action == "update" and self.ctx.book(entry).synced_rev is not None)
                )
                self.ctx.records[ado_id].status = "UPDATED" if finished_before else "CREATED"
                self.ctx.dirty_records.add(ado_id)
        self.ctx.mark_step(ado_id, 2)

    def _edit_fields(self, wi: WorkItem, entry: LedgerEntry) -> None:
        type_id = str(self.ctx.book(entry).jira_type_id or self.ctx.items[wi.id].jira_type_id)
        content = issue_content(wi, self.ctx.content_context(type_id, wi.id))
        fields = {k: v for k, v in content.fields.items() if k != "reporter"}
        fields["labels"] = list(dict.fromkeys([*fields.get("labels", []), f"ado-{wi.id}"]))
        self.ctx.check_stop()
        try:
            self.ctx.target.edit_issue(entry.jira_key, fields)
        except OutcomeUnknown as exc:
            exc.write_kind = "edit"  # type: ignore[attr-defined]
            raise
        with self.ctx.lock:
            entry.ado_rev = wi.rev
            book = self.ctx.book(entry)
            book.take_facts(self.ctx.payloads.facts(wi, content))
            provenance.note(book, self.ctx.spec.run_id, edited=True)
            self.ctx.dirty_ledger.add(wi.id)
