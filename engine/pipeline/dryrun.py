"""A dry run: the report with the exact payloads for a sample of items."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.comments import comment_content, comment_is_migratable
from engine.content import issue_content
from engine.itembook import ItemBook, SkippedFile
from engine.model import WorkItem
from engine.pipeline.limits import DRY_RUN_SAMPLES
from engine.pipeline.util import web_url
from engine.ports import RunOutcome

TOO_LARGE = "larger than Jira's upload limit"

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class DryRun:
    """Ends a dry run: facts and sample payloads, nothing written to Jira."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def finish(self) -> RunOutcome:
        facts: dict[int, ItemBook] = {}
        limit = self.ctx.plan.upload_limit
        if not self.ctx.wi_cache:  # a resumed dry run: read the items again
            self.ctx.wi_cache = self.ctx.fetch([i for i in self.ctx.order if self.ctx.active(i)])
        for ado_id, item in self.ctx.items.items():
            wi = self.ctx.wi_cache.get(ado_id)
            if wi is None or item.action == "skip":
                continue
            content = issue_content(wi, self.ctx.content_context(item.jira_type_id, ado_id))
            book = facts[ado_id] = ItemBook()
            book.take_facts(self.ctx.payloads.facts(wi, content))
            book.skipped_attachments = self._oversized(wi, limit)
        samples = [self._sample_payload(i) for i in self._sample_ids()]
        with self.ctx.lock:
            for record in self.ctx.records.values():
                if record.status == "PENDING":
                    record.status, record.error = "SKIPPED", "dry run: nothing written to Jira"
                    self.ctx.dirty_records.add(record.ado_id)
        self.ctx.checkpointer.flush_state()
        self.ctx.checkpointer.save_report("COMPLETED", samples=samples, facts=facts)
        self.ctx.checkpointer.flush_logs()
        stats = self.ctx.checkpointer.stats()
        self.ctx.checkpointer.announce("completed", stats)
        return RunOutcome("COMPLETED", stats)

    def _sample_ids(self) -> list[int]:
        by_type: dict[str, list[int]] = {}
        for ado_id in self.ctx.order:
            if self.ctx.items[ado_id].action != "skip":
                by_type.setdefault(self.ctx.items[ado_id].ado_type, []).append(ado_id)
        picked: list[int] = []
        while len(picked) < DRY_RUN_SAMPLES and any(by_type.values()):
            for ids in by_type.values():
                if ids and len(picked) < DRY_RUN_SAMPLES:
                    picked.append(ids.pop(0))
        return picked

    def _sample_payload(self, ado_id: int) -> dict[str, Any]:
        item, wi = self.ctx.items[ado_id], self.ctx.wi_cache[ado_id]
        payload, _ = self.ctx.payloads.create_payload(wi, item, placeholder_parents=True)
        comments = []
        if self.ctx.spec.migrate_comments:
            ctx = self.ctx.content_context(item.jira_type_id, ado_id)
            for c in list(self.ctx.source.iter_comments(ado_id))[:3]:
                if comment_is_migratable(c):
                    comments.append(
                        {
                            "body": comment_content(c, ctx).body,
                            "properties": [self.ctx.markers.comment_property(ado_id, c)],
                        }
                    )
        return {
            "adoId": ado_id,
            "adoType": item.ado_type,
            "action": item.action,
            "create": payload,
            "comments": comments,
            "targetStatus": item.target_status,
            "attachments": [{"name": a.name, "size": a.size} for a in wi.attachments],
        }

    def _oversized(self, wi: WorkItem, limit: int | None) -> list[SkippedFile]:
        """The files a real run would list instead of uploading them."""
        if limit is None:
            return []
        item_url = web_url(self.ctx.ado_web, wi.id)
        return [
            SkippedFile(
                a.id.lower(),
                a.name,
                a.size,
                limit,
                "larger than Jira's upload limit",
                a.url,
                item_url,
            )
            for a in wi.attachments
            if a.size is not None and a.size > limit
        ]
