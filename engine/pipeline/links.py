"""Phase 5: issue links, remote links, the back link to ADO."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from engine import provenance
from engine.model import Relation, WorkItem
from engine.pipeline.limits import BACKLINK, CHECKPOINT_ITEMS, LINK_RULES, PHASE_CHUNK
from engine.pipeline.phase import PhaseResult, pending_items
from engine.pipeline.relation_setup import RelationSetup
from engine.pipeline.util import link_rule, web_url
from engine.ports import LedgerEntry
from engine.relations import LinkRule, RelationDecision, decide_relation

_Write = tuple[str, Callable[[], None]]

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class LinksPhase:
    """Phase 5: links and remote links of every item."""

    number = 5
    name = "links"
    chunk_size: int | None = PHASE_CHUNK
    # beside phase 2: an item whose link's other end is not made yet writes the rest
    # and waits for the last pass for that link (``Linker._link_item``)
    stream_batch: int | None = CHECKPOINT_ITEMS

    def __init__(self) -> None:
        self.setup = RelationSetup()  # read once per run: link types, repositories

    def items(self, ctx: RunContext, among: Sequence[int] | None = None) -> list[int]:
        return pending_items(ctx, 5, among)

    def run_chunk(self, ctx: RunContext, ids: Sequence[int]) -> PhaseResult:
        Linker(ctx, self.setup).run(ids)
        return PhaseResult.of(ctx, self.number, ids)


class Linker:
    """Writes the links of each item, each once (by its stable link key)."""

    def __init__(self, ctx: RunContext, setup: RelationSetup | None = None) -> None:
        self.ctx = ctx
        self.setup = setup or RelationSetup()
        self._own_rule: set[str] = set()  # link keys whose write records its own rule

    def run(self, ids: Sequence[int]) -> None:
        # the remote link back to ADO is a field rule: written with or without links
        self.ctx.pool.run_pool(
            pending_items(self.ctx, 5, ids),
            self._link_item,
            ids_of=lambda i: [i],
            prepare=self.ctx.prefetch,
        )

    def _link_item(self, ado_id: int) -> None:
        # Issue links and remote links are documented not to double when sent again
        # (a duplicate link "is created" without a second one; remote links upsert by
        # globalId), so after a settle deadline they are simply sent again.
        self.ctx.markers.settled_before(5, ado_id)
        wi = self.ctx.take(ado_id)
        if wi is None:
            self.ctx.fail_item(ado_id, "no longer readable in Azure DevOps (deleted?)")
            return
        entry = self.ctx.ledger[ado_id]
        links = [self._backlink(wi, entry)]
        waiting = False  # an end of one of its links is still to be made by phase 2
        if self.ctx.spec.migrate_links:
            more, waiting = self._links_of(wi, entry)
            links += more
        for link_key, write in links:
            if link_key in entry.links:
                continue
            self.ctx.check_stop()
            write()
            with self.ctx.lock:
                entry.links.append(link_key)
                provenance.note(self.ctx.book(entry), self.ctx.spec.run_id, link=link_key)
                self._touch_other_end(link_key, ado_id)
                self.ctx.dirty_ledger.add(ado_id)
            if link_key not in self._own_rule:
                self.ctx.write_rule(entry, link_rule(link_key))
        if not waiting:  # else the last pass writes the link once its other end exists
            self.ctx.mark_step(ado_id, 5)

    def _touch_other_end(self, link_key: str, ado_id: int) -> None:
        """An issue link changes both issues: the other end was written to by this run too."""
        parts = link_key.split(":")
        if len(parts) != 3 or link_key.startswith("remote:"):
            return
        for end in parts[1:]:
            if end.isdigit() and int(end) != ado_id and int(end) in self.ctx.ledger:
                provenance.touch(self.ctx.book(self.ctx.ledger[int(end)]), self.ctx.spec.run_id)
                self.ctx.dirty_ledger.add(int(end))

    def _backlink(self, wi: WorkItem, entry: LedgerEntry) -> _Write:
        """The issue's remote link to its own ADO work item (globalId ado-item-{id})."""
        url = web_url(self.ctx.ado_web, wi.id)
        title = f"Azure DevOps {wi.type} {wi.id}: {' '.join(wi.title.split())}"
        _, write = self._remote(entry, url, title, f"ado-item-{wi.id}")
        return BACKLINK, write

    def _links_of(self, wi: WorkItem, entry: LedgerEntry) -> tuple[list[_Write], bool]:
        """The item's link writes, and whether an in-scope end is still to be made
        (phase 2 is running beside this phase): that link is left for the last pass."""
        out: list[_Write] = []
        waiting = False
        rctx = self.setup.context(self.ctx)
        for rel in wi.relations:
            decision = decide_relation(rel, rctx)
            other = decision.target_id
            if decision.action == "attachment":
                continue
            awaited = other is not None and self.ctx.awaited(other)
            if awaited and decision.action in ("parent", "issue_link"):
                waiting = True
                continue
            if decision.action == "parent" and other is not None:
                out += self._parent_link(wi, entry, other)
            elif decision.action == "child" and other is not None:
                if other not in self.ctx.crosswalk and not self.ctx.in_run(other):
                    out.append(self._remote_item(entry, other, "child"))
            elif decision.action == "issue_link" and decision.link and other is not None:
                out += self._work_item_link(wi, entry, rel, decision.link, other)
            elif decision.action == "remote_link":
                out.append(self._decided_remote(entry, decision))
        return out, waiting

    def _decided_remote(self, entry: LedgerEntry, decision: RelationDecision) -> _Write:
        """A remote link decided by the relation rules, with the rule it counts under."""
        key, write = self._remote(entry, decision.url, decision.title, decision.global_id)
        if decision.artifact is not None:
            rule = f"artifact:{decision.artifact.kind}"
        elif decision.rel == "Hyperlink":
            rule = ""
        elif decision.target_id is not None:
            rule = f"remote-link:{self.setup.ado_name(decision.rel)}"
            self._own_rule.add(key)  # not an out-of-scope end: counted under its link type
        else:
            rule = "remote-link:unknown-relation"
        # A note's rule is the text before its colon (engine.report): the line that says
        # why the relation is not carried as itself goes under a colon-free rule.
        note = f"{_note_rule(decision)}: {decision.report}" if decision.report else None

        def run() -> None:
            write()
            if rule:
                self.ctx.write_rule(entry, rule, note)

        return key, run

    def _parent_link(self, wi: WorkItem, entry: LedgerEntry, parent: int) -> list[_Write]:
        if self.ctx.book(entry).parent_set == parent:
            return []
        parent_key = self.ctx.crosswalk.get(parent)
        if parent_key is None:
            if self.ctx.in_run(parent) or parent in self.ctx.items:
                return []  # its creation failed or it was skipped; nothing to point at
            return [self._remote_item(entry, parent, "parent")]
        link_type = self._link_type("Relates")
        return [
            (
                f"parent:{parent}:{wi.id}",
                lambda: self.ctx.target.link_issues(link_type, entry.jira_key, parent_key),
            )
        ]

    def _work_item_link(
        self, wi: WorkItem, entry: LedgerEntry, rel: Relation, rule: LinkRule, other: int
    ) -> list[_Write]:
        name, outward, symmetric = rule.jira_type, rule.outward, rule.symmetric
        other_key = self.ctx.crosswalk.get(other)
        if other_key is None:
            if other in self.ctx.items:
                return []  # in scope but not in Jira (failed or skipped)
            label = rel.attributes.get("name") or self.setup.ado_name(rel.rel)
            return [self._remote_item(entry, other, str(label))]
        both_here = self.ctx.in_run(other)
        if both_here and (wi.id > other if symmetric else rel.rel.endswith("-Reverse")):
            return []  # the other end writes it
        out_id, in_id = (wi.id, other) if outward else (other, wi.id)
        if symmetric:
            out_id, in_id = min(wi.id, other), max(wi.id, other)
        out_key, in_key = self.ctx.crosswalk[out_id], self.ctx.crosswalk[in_id]
        custom = rel.rel not in LINK_RULES or LINK_RULES[rel.rel][0] != name

        def run() -> None:
            self.ctx.target.link_issues(name, in_key, out_key)
            if custom:
                self.ctx.write_rule(entry, f"link:{self.setup.ado_name(rel.rel)}")

        return [(f"{name}:{out_id}:{in_id}", run)]

    def _link_type(self, wanted: str) -> str:
        names = self.ctx.plan.link_types
        if wanted in names or not names:
            return wanted
        return "Relates" if "Relates" in names else str(names[0])

    def _remote_item(self, entry: LedgerEntry, other: int, relation: str) -> _Write:
        url = web_url(self.ctx.ado_web, other)
        return self._remote(entry, url, f"ADO #{other} ({relation})", f"ado-workitem-{other}")

    def _remote(self, entry: LedgerEntry, url: str, title: str, global_id: str) -> _Write:
        return (
            f"remote:{global_id}",
            lambda: self.ctx.target.remote_link(entry.jira_key, url, str(title)[:255], global_id),
        )


def _note_rule(decision: RelationDecision) -> str:
    """The report row of a relation not carried as itself."""
    if decision.artifact is not None or decision.rel == "ArtifactLink":
        return "artifact-unknown"
    if "another organisation" in decision.reason:
        return "link-other-organisation"
    return "link-type-unmatched" if decision.target_id is not None else "relation-unknown"
