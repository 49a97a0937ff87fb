"""The field map and acceptance-criteria rules of one issue type, as ``issue_content`` runs them.

:class:`PlanFieldRules` is the :class:`engine.content.FieldRules` the pipeline hands
the content rules: it fills every mapped field the item holds (converted by
:mod:`engine.fieldconv`, identities through the run's user mapping) and places
the acceptance criteria (:mod:`engine.acceptance`). A value that cannot be
carried is a note under the field's rule (``field:{ADO reference}``), never a
failed item.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.acceptance import CriteriaPlacement, place_criteria
from engine.adf import ConvertContext
from engine.content import F_ACCEPTANCE, IssueContent
from engine.fieldconv import ConvertInput, convert_value
from engine.fieldplan import FieldPlan, MappedField
from engine.itemvalues import email_of, identity_of
from engine.model import FieldMeta, Identity, WorkItem

PEOPLE_FIELDS = ("System.AssignedTo", "System.CreatedBy")


def identity_emails(item: WorkItem, plan: FieldPlan) -> set[str]:
    """E-mails of the people in the item's mapped identity fields (for the unmapped list)."""
    out = set()
    for mapped in plan.mapped:
        if mapped.ado.value_type == "identity":
            email = email_of(identity_of(item.fields.get(mapped.ado.reference_name)))
            if email:
                out.add(email)
    return out


class PlanFieldRules:
    """Mapped fields and acceptance criteria for items created as one Jira issue type."""

    def __init__(self, plan: FieldPlan, type_id: str, users: Mapping[str, str]) -> None:
        self.plan = plan
        self.screen = {m.field_id: m for m in plan.screen(type_id)}
        self.users = users  # lower-cased ADO e-mail → accountId, the user map applied

    def resolve_user(self, identity: Identity) -> str | None:
        email = email_of(identity)
        return self.users.get(email) if email else None

    def criteria(self, item: WorkItem, conv: ConvertContext) -> CriteriaPlacement | None:
        html = item.fields.get(F_ACCEPTANCE)
        if not isinstance(html, str) or not html.strip():
            return None
        return place_criteria(html, list(self.screen.values()), conv)

    def apply(self, item: WorkItem, out: IssueContent) -> None:
        for mapped in self.plan.mapped:
            self._apply_one(item, mapped, out)
        for name in PEOPLE_FIELDS:
            person = identity_of(item.fields.get(name))
            if email_of(person) in self.plan.mapped_users:
                out.rules.add("user-map")

    def _apply_one(self, item: WorkItem, mapped: MappedField, out: IssueContent) -> None:
        ref = mapped.ado.reference_name
        value = item.fields.get(ref)
        if value is None or value == "":
            return
        rule = f"field:{ref}"
        meta: FieldMeta | None = self.screen.get(mapped.jira.id)
        if meta is None:
            out.notes.append(
                f"{rule}: {mapped.jira.name} is not on this issue type's create screen; not carried"
            )
            return
        done = convert_value(
            value, ConvertInput(mapped.ado, mapped.jira, mapped.values, meta, self.resolve_user)
        )
        out.notes += [f"{rule}: {note}" for note in done.notes]
        if done.problem is not None:
            out.notes.append(f"{rule}: {done.problem.message} ({done.problem.code}); not carried")
            return
        if done.value is not None:
            out.fields[mapped.jira.id] = done.value
            out.rules.add(rule)
            if mapped.ado.value_type == "identity" and email_of(identity_of(value)) in (
                self.plan.mapped_users
            ):
                out.rules.add("user-map")
