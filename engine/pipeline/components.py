"""Area paths to Jira components (planning, phase 1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from engine.errors import AuthError, PermanentError, TransientError
from engine.http import OutcomeUnknown
from engine.itemvalues import component_name
from engine.model import PlanningItem
from engine.pipeline.runplan import ComponentPlan

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class ComponentPlanner:
    """Maps area paths to components, creating the missing ones once."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def plan_components(self, items: Sequence[PlanningItem]) -> None:
        """Area paths → components (see the package guide, Components)."""
        info = self.ctx.plan.components = ComponentPlan()
        types = {self.ctx.items[wi.id].jira_type_id for wi in items}
        if not any(self.ctx.plan.on_screen(t, "components") for t in types):
            info.reason = "'components' is not on the create screens used: areas are labels"
            return
        names = {wi.area_path: n for wi in items if (n := component_name(wi.area_path))}
        info.mode = "component"
        if not names:
            info.reason = "no item below the project root area"
            return
        key = self.ctx.spec.project_key
        known = self._known(key)
        refused = ""
        for path, name in sorted(names.items()):
            cid, refused = self._component_for(info, key, name, known, refused)
            if cid is not None:
                info.by_path[path] = cid
        if refused:
            info.reason = refused
            self.ctx.plan.problems.append(
                f"components: {refused}; {len(info.not_created)} area(s) carried as labels"
            )
        if info.would_create:
            info.reason = "dry run: nothing created"

    def _known(self, key: str) -> dict[str, str]:
        """The project's components: lower-cased name → id."""
        return {
            str(c.get("name", "")).lower(): str(c.get("id"))
            for c in self.ctx.target.components(key)
        }

    def _component_for(
        self, info: ComponentPlan, key: str, name: str, known: dict[str, str], refused: str
    ) -> tuple[str | None, str]:
        """(the id of the component named ``name`` or None, the refusal so far)."""
        cid = known.get(name.lower())
        if cid is not None:
            if name not in info.created:
                info.note(info.existing, name)
        elif self.ctx.spec.dry_run:
            info.note(info.would_create, name)
        elif refused:
            info.note(info.not_created, name)
        else:
            cid, refused = self._create_component(key, name, known)
            info.note(info.created if cid is not None else info.not_created, name)
        return cid, refused

    def _create_component(
        self, key: str, name: str, known: dict[str, str]
    ) -> tuple[str | None, str]:
        """(component id, refusal reason): looks again by name after an unclear answer."""
        mark = f"component:{name.lower()}"
        if self.ctx.settle.get(mark) is not None:
            self.ctx.markers.wait_settled(mark)
            known.update(self._known(key))
            if name.lower() in known:
                self.ctx.settle.count("adopted", "component")
                return known[name.lower()], ""
        try:
            row = self.ctx.target.create_component(key, name)
        except AuthError as exc:
            if exc.status == 403:
                return None, f"the Jira user may not create components (403: {exc})"
            raise
        except OutcomeUnknown as exc:
            self.ctx.settle.mark(mark, None)
            return (
                self._create_component(key, name, known)
                if self.ctx.markers.rounds_left(mark, exc)
                else (None, "")
            )
        except (PermanentError, TransientError) as exc:
            # "already exists" (a race, an earlier attempt) or no answer: read the list
            known.update(self._known(key))
            if name.lower() in known:
                return known[name.lower()], ""
            with self.ctx.lock:
                self.ctx.plan.problems.append(f"components: '{name}' not created: {exc}")
            return None, ""
        known[name.lower()] = str(row.get("id"))
        self.ctx.log(f"✓ component '{name}' created")
        return str(row.get("id")), ""
