"""A dry run: the report with the exact payloads for a sample of items."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.comments import comment_content, comment_is_migratable
from engine.content import issue_content
from engine.itembook import ItemBook, SkippedFile
from engine.model import WorkItem
from engine.pipeline.limits import ADO_BATCH, DRY_RUN_SAMPLES
from engine.pipeline.util import web_url
from engine.planning import chunks
from engine.ports import RunOutcome
from engine.report import FactTally

TOO_LARGE = "larger than Jira's upload limit"

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class DryRun:
    """Ends a dry run: facts and sample payloads, nothing written to Jira."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def finish(self) -> RunOutcome:
        facts = FactTally()
        limit = self.ctx.plan.upload_limit
        wanted = [i for i in self.ctx.order if self.ctx.items[i].action != "skip"]
        sample_ids = self._sample_ids()
        kept: dict[int, WorkItem] = {}
        # a batch of items at a time, read again from ADO: their facts are folded into
        # the report's tally and only the sampled items' are kept for their payloads
        for part in chunks(wanted, ADO_BATCH):
            for ado_id, wi in self.ctx.fetch(part).items():
                item = self.ctx.items[ado_id]
                content = issue_content(wi, self.ctx.content_context(item.jira_type_id, ado_id))
                book = ItemBook()
                book.take_facts(self.ctx.payloads.facts(wi, content))
                book.skipped_attachments = self._oversized(wi, limit)
                facts.add(ado_id, book)
                if ado_id in sample_ids:
                    kept[ado_id] = wi
            self.ctx.checkpointer.keep_alive()
            self.ctx.raise_if_stopped()
        samples = [self._sample_payload(i, kept[i]) for i in sample_ids if i in kept]
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

    def _sample_payload(self, ado_id: int, wi: WorkItem) -> dict[str, Any]:
        item = self.ctx.items[ado_id]
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
