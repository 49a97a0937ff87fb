"""Create payloads and the fidelity facts of an issue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.content import IssueContent, issue_content, user_emails
from engine.fieldapply import identity_emails
from engine.itembook import NOTES_KEPT, ContentFacts
from engine.model import WorkItem
from engine.pipeline.limits import PROPERTY_KEY
from engine.pipeline.util import digest
from engine.planning import PlannedItem

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class IssuePayloads:
    """The create body of an item and the facts the report keeps of it."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def create_payload(
        self, wi: WorkItem, item: PlannedItem, *, placeholder_parents: bool = False
    ) -> tuple[dict[str, Any], IssueContent]:
        type_id, parent_key = item.jira_type_id, None
        if item.jira_parent is not None:
            parent_key = self.ctx.crosswalk.get(item.jira_parent)
            if parent_key is None and placeholder_parents:
                parent_key = f"<key of ADO #{item.jira_parent}>"
        if parent_key is None and self.ctx.type_level(type_id) < 0:
            type_id = self.standalone_type(item) or type_id
        content = issue_content(wi, self.ctx.content_context(type_id, wi.id))
        fields = dict(content.fields)
        label = f"ado-{wi.id}"
        fields["labels"] = list(dict.fromkeys([*fields.get("labels", []), label]))
        fields["project"] = {"key": self.ctx.spec.project_key}
        fields["issuetype"] = {"id": type_id}
        if parent_key is not None:
            fields["parent"] = {"key": parent_key}
        props = [{"key": PROPERTY_KEY, "value": {"adoId": wi.id, "rev": wi.rev}}]
        return {"fields": fields, "properties": props}, content

    def standalone_type(self, item: PlannedItem) -> str | None:
        tm = self.ctx.plan.type_mappings.get(item.ado_type)
        return (tm.standalone_type_id or None) if tm is not None else None

    def facts(self, wi: WorkItem, content: IssueContent) -> ContentFacts:
        return ContentFacts(
            rules=sorted(content.rules),
            notes=list(content.notes)[:NOTES_KEPT],
            unmapped_users=[
                e
                for e in self.ctx.users.unmapped(
                    user_emails(wi) | identity_emails(wi, self.ctx.plan.fields)
                )
                if e not in self.ctx.plan.fields.mapped_users  # placed by the user map
            ],
            desc_hash=digest(content.fields.get("description")),
        )
