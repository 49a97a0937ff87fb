"""Phase 4: attachments, the refreshed description, comments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine import provenance
from engine.comments import comment_content, comment_is_migratable, comment_marker_of
from engine.content import ContentContext, issue_content
from engine.http import OutcomeUnknown
from engine.model import Comment, WorkItem
from engine.pipeline.attachments import Attachments
from engine.pipeline.history import HistoryWriter
from engine.pipeline.limits import CHECKPOINT_ITEMS, COMMENT_PROPERTY, PHASE_CHUNK
from engine.pipeline.phase import PhaseResult, pending_items
from engine.pipeline.stops import AwaitCreates
from engine.pipeline.util import digest, properties_of
from engine.ports import LedgerEntry
from engine.settle import Deferred

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class ContentPhase:
    """Phase 4: attachments, description, comments of every item."""

    number = 4
    name = "content"
    chunk_size: int | None = PHASE_CHUNK
    stream_batch: int | None = CHECKPOINT_ITEMS

    def items(self, ctx: RunContext, among: Sequence[int] | None = None) -> list[int]:
        return pending_items(ctx, 4, among)

    def run_chunk(self, ctx: RunContext, ids: Sequence[int]) -> PhaseResult:
        ContentWriter(ctx).run(ids)
        return PhaseResult.of(ctx, self.number, ids)


class ContentWriter:
    """Writes the content of each item: files, description, comments."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def run(self, ids: Sequence[int]) -> None:
        self.ctx.pool.run_pool(
            pending_items(self.ctx, 4, ids),
            self._content_item,
            ids_of=lambda i: [i],
            prepare=self._prepare_content,
        )

    def _prepare_content(self, ids: list[int]) -> None:
        """Read the work items, and save the intent to write before any write leaves."""
        self.ctx.prefetch(ids)
        with self.ctx.lock:
            for ado_id in ids:
                book = self.ctx.book(self.ctx.ledger[ado_id])
                foreign = bool(book.foreign_intents(self.ctx.token))
                adopted, book.adopted = book.adopted, False
                if foreign or adopted:
                    self.ctx.reconcile.add(ado_id)
        self.ctx.markers.save_intents(ids, 4)

    def _content_item(self, ado_id: int) -> None:
        wi = self.ctx.take(ado_id)
        if wi is None:
            self.ctx.fail_item(ado_id, "no longer readable in Azure DevOps (deleted?)")
            return
        entry = self.ctx.ledger[ado_id]
        try:
            looked = self.ctx.markers.settled_before(4, ado_id)
        except Deferred:
            self.ctx.keep(wi)  # read again after the deadline from here
            raise
        comments = self._ado_comments(ado_id)
        reconcile = looked or ado_id in self.ctx.reconcile
        existing = self._existing_in_jira(entry, reconcile)
        self.ctx.reconcile.discard(ado_id)
        if looked:
            if self.ctx.spec.migrate_history:
                HistoryWriter(self.ctx).adopt_comments(entry)
            files = {
                (str(a.get("filename")), int(a.get("size") or -1))
                for a in (existing or {}).get("attachments", [])
            }
            self.ctx.markers.resolve_ambiguous(
                entry,
                lambda row: (
                    row.id in entry.comments
                    if row.kind == "comment"
                    else (str(row.name), row.size if row.size is not None else -2) in files
                ),
                frozenset({"comment", "attachment"}),
            )
        if self.ctx.spec.migrate_attachments:
            Attachments(self.ctx).upload_all(wi, entry, comments, existing)
        self._refresh_description(wi, entry)
        context = self.ctx.entry_context(entry)  # after the uploads: images from Jira
        for comment in comments:
            self._post_comment(entry, comment, context)
        HistoryWriter(self.ctx).carry(wi, entry, reconcile)
        self.ctx.mark_step(ado_id, 4)

    def _ado_comments(self, ado_id: int) -> list[Comment]:
        if not self.ctx.spec.migrate_comments:
            return []
        every = list(self.ctx.source.iter_comments(ado_id))
        deleted = [c for c in every if not comment_is_migratable(c)]
        entry = self.ctx.ledger.get(ado_id)
        if deleted and entry is not None:
            self.ctx.write_rule(
                entry,
                "comment-deleted-skipped",
                f"comment-deleted-skipped: {len(deleted)} comment(s) deleted in "
                "Azure DevOps not carried",
            )
        return [c for c in every if comment_is_migratable(c)]

    def _existing_in_jira(self, entry: LedgerEntry, reconcile: bool) -> dict[str, Any] | None:
        """What an earlier, interrupted attempt may have written: read it back and adopt."""
        if not reconcile:
            return None
        found = self._comments_by_ado_id(entry)
        adopted = 0
        with self.ctx.lock:
            known = set(entry.comments.values())
            for cid, jira_ids in found.items():
                if cid not in entry.comments:
                    mine = next((j for j in jira_ids if j not in known), jira_ids[0])
                    entry.comments[cid] = mine
                    provenance.note(self.ctx.book(entry), self.ctx.spec.run_id, comment=cid)
                    adopted += 1
            self.ctx.dirty_ledger.add(entry.ado_id)
        return {"attachments": self.ctx.target.attachments(entry.jira_key)}

    def _comments_by_ado_id(self, entry: LedgerEntry) -> dict[str, list[str]]:
        """ADO comment id → the Jira comments that carry it, oldest first.

        By the marker in the visible header (the body is documented to come back);
        for a comment without one (written by an older engine), by its ``ado.comment``
        property through the documented property route, asked only for comments
        the migration account wrote.
        """
        out: dict[str, list[str]] = {}
        me = self.ctx.plan.account_id
        for c in self.ctx.target.comments(entry.jira_key):
            jira_id = str(c.get("id"))
            cid = comment_marker_of(c.get("body"))
            if cid is None:
                prop = properties_of(c.get("properties")).get(COMMENT_PROPERTY)
                if prop is None and me and (c.get("author") or {}).get("accountId") == me:
                    prop = self.ctx.target.comment_property(jira_id, COMMENT_PROPERTY)
                if isinstance(prop, dict) and prop.get("commentId") is not None:
                    cid = str(prop["commentId"])
            if cid is not None:
                out.setdefault(cid, []).append(jira_id)
        return out

    def _refresh_description(self, wi: WorkItem, entry: LedgerEntry) -> None:
        """Edit the description when it now renders differently (inline images now served
        by Jira, references to issues created after this one)."""
        content = issue_content(wi, self.ctx.entry_context(entry))
        description = content.fields.get("description")
        if description is None or digest(description) == self.ctx.book(entry).desc_hash:
            return
        if content.awaited_refs:
            self._await(entry, content.awaited_refs)
        self.ctx.check_stop()
        try:
            self.ctx.target.edit_issue(entry.jira_key, {"description": description})
        except OutcomeUnknown as exc:
            exc.write_kind = "edit"  # type: ignore[attr-defined]
            raise
        with self.ctx.lock:
            self.ctx.book(entry).take_facts(self.ctx.payloads.facts(wi, content))
            provenance.note(self.ctx.book(entry), self.ctx.spec.run_id, edited=True)
            self.ctx.dirty_ledger.add(entry.ado_id)

    def _await(self, entry: LedgerEntry, refs: set[int]) -> None:
        """Leave the item for the pass after phase 2: its text names issues not made yet."""
        names = ", ".join(f"#{i}" for i in sorted(refs)[:5])
        self.ctx.log(f"… {self.ctx.label(entry.ado_id)} waits for {names}, which it names")
        raise AwaitCreates(names)

    def _post_comment(self, entry: LedgerEntry, comment: Comment, context: ContentContext) -> None:
        cid = str(comment.id)
        if cid in entry.comments:
            return
        content = comment_content(comment, context)
        if content.awaited_refs:
            self._await(entry, content.awaited_refs)
        props = [self.ctx.markers.comment_property(entry.ado_id, comment)]
        self.ctx.check_stop()
        # An OutcomeUnknown goes up: the item waits out the comment, then finds it by
        # its marker before anything is sent again.
        try:
            jira_id = self.ctx.target.add_comment(entry.jira_key, content.body, props)
        except OutcomeUnknown as exc:
            self.ctx.markers.note_ambiguous(entry, exc, "comment", cid)
            raise
        edited = comment.version > 1 or bool(
            comment.modified_date and comment.modified_date != comment.created_date
        )
        with self.ctx.lock:
            entry.comments[cid] = jira_id
            provenance.note(self.ctx.book(entry), self.ctx.spec.run_id, comment=cid)
            rules = {"comment"}
            rules |= {f"comment:{r}" for r in content.rules}
            rules |= {"comment-edited-header"} if edited else set()
            self.ctx.book(entry).add_rules(*rules)
            self.ctx.dirty_ledger.add(entry.ado_id)
