"""Phase 1's field work: the field map resolved or suggested, and the user map's accounts.

Runs after the items are planned and the users looked up, and before anything is
written (components and sprints come after it). A field map with problems stops a
real run here with the problems in its report; a dry run reports them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine.acceptance import criteria_field
from engine.errors import AuthError, PermanentError, RunAborted, TransientError
from engine.fieldmap import FieldProblem
from engine.fieldplan import field_uses, plan_fields
from engine.fieldtypes import AdoField, jira_fields
from engine.itemvalues import email_of, identity_of
from engine.model import FieldMeta, Identity, PlanningItem
from engine.pipeline.discovery import PEOPLE
from engine.usermap import UserResolver, parse_user_map

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class FieldPlanner:
    """Fills ``RunPlan.fields`` (see :mod:`engine.fieldplan`)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._defs: tuple[dict[str, AdoField], str] | None = None

    def definitions(self) -> tuple[dict[str, AdoField], str]:
        """The organisation's ADO fields by reference name (read once), and why they
        could not be read ("" when they were)."""
        if self._defs is None:
            self._defs = self._ado_definitions()
        return self._defs

    def plan(
        self,
        work_items: Sequence[PlanningItem],
        screens: Mapping[str, Sequence[FieldMeta]],
        jira_raw: Sequence[Mapping[str, Any]],
    ) -> None:
        items = self.ctx.items
        written = [wi for wi in work_items if wi.id in items and items[wi.id].action != "skip"]
        ado_defs, unreadable = self.definitions()
        uses = field_uses(((items[wi.id].jira_type_id, wi.fields) for wi in written), ado_defs)
        used_types = {items[wi.id].jira_type_id for wi in written}
        fields = plan_fields(
            field_map=self.ctx.spec.field_map,
            ado_defs=ado_defs,
            jira_fields=jira_fields(jira_raw),
            screens={t: list(m) for t, m in screens.items() if t in used_types or not written},
            uses=uses,
            type_names={t.id: t.name for t in self.ctx.plan.jira_types},
        )
        if unreadable and self.ctx.spec.field_map:
            fields.problems.append(FieldProblem("ado-fields-unreadable", "", unreadable))
        fields.mapped_users = self._user_map(written, ado_defs)
        self.ctx.plan.fields = fields
        self.ctx.plan.problems += [
            f"field_map[{p.ado_field}]: {p.message} ({p.code})" for p in fields.problems
        ]
        if fields.problems and not self.ctx.spec.dry_run:
            shown = "; ".join(f"{p.ado_field or 'field_map'}: {p.message}" for p in fields.problems)
            raise RunAborted(f"field map cannot be filled, nothing was written: {shown}")

    def refill_legacy(self) -> None:
        """A plan saved before the field map: read the screens' Acceptance Criteria fields again.

        Its run had no field map; the acceptance-criteria rule still needs the
        screens' metadata so a resumed run writes what an uninterrupted one does.
        """
        fields = self.ctx.plan.fields
        if not fields.legacy:
            return
        for type_id in sorted(self.ctx.plan.screens):
            metas = self.ctx.target.create_fields(self.ctx.spec.project_key, type_id)
            criteria = criteria_field(metas)
            if criteria is not None:
                fields.metas[type_id] = [criteria]
        fields.legacy = False

    def _ado_definitions(self) -> tuple[dict[str, AdoField], str]:
        try:
            defs = self.ctx.source.field_definitions()
        except AuthError:
            raise
        except (PermanentError, TransientError) as exc:
            self.ctx.log(f"ADO field definitions unreadable: {exc}; no field suggestions")
            return {}, f"Azure DevOps field definitions could not be read: {exc}"
        return {d.reference_name: d for d in defs}, ""

    def _user_map(
        self, written: Sequence[PlanningItem], ado_defs: Mapping[str, AdoField]
    ) -> dict[str, str]:
        """ADO e-mail → accountId for every identity the user map places."""
        user_map = parse_user_map(self.ctx.spec.user_map)
        self.ctx.plan.problems += [f"user_map[{p.key}]: {p.message}" for p in user_map.problems]
        resolver = UserResolver(user_map, lambda e: self.ctx.users.accounts().get(e.lower()))
        people = list(_identities(written, ado_defs))
        people += [Identity(e.source, e.source) for e in user_map.entries.values() if "@" in e.key]
        names = {e: p.display_name for p in people if (e := email_of(p))}
        self.ctx.users.resolve(resolver.lookup_emails(people), names)
        self.ctx.plan.users = self.ctx.users.snapshot()
        out: dict[str, str] = {}
        for person in people:
            found = resolver.resolve(person, record=False)
            email = email_of(person)
            if found.via == "user_map" and found.account_id and email:
                out[email] = found.account_id
        missing = sorted(
            e.source
            for e in user_map.entries.values()
            if e.kind == "email" and not self.ctx.users.accounts().get(e.target)
        )
        self.ctx.plan.problems += [
            f"user_map[{key}]: Jira has no user with that e-mail" for key in missing
        ]
        return out


def _identities(
    items: Iterable[PlanningItem], ado_defs: Mapping[str, AdoField]
) -> Iterable[Identity]:
    refs = [*PEOPLE, *(r for r, d in ado_defs.items() if d.value_type == "identity")]
    seen: set[tuple[str, str | None]] = set()
    for wi in items:
        for ref in dict.fromkeys(refs):
            person = (
                identity_of(wi.fields.get(ref)) if isinstance(wi.fields.get(ref), dict) else None
            )
            if person is not None and (person.display_name, person.unique_name) not in seen:
                seen.add((person.display_name, person.unique_name))
                yield person
