"""Area paths to Jira components (planning, phase 1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.content import (
    component_name,
)
from engine.errors import (
    AuthError,
    PermanentError,
    TransientError,
)
from engine.http import OutcomeUnknown
from engine.model import (
    WorkItem,
)

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class ComponentPlanner:
    """Maps area paths to components, creating the missing ones once."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def plan_components(self, items: Sequence[WorkItem]) -> None:
        """Area paths → components (see the module docstring)."""
        info: dict[str, Any] = {
            "mode": "label",
            "byPath": {},
            "created": [],
            "existing": [],
            "wouldCreate": [],
            "notCreated": [],
            "reason": "",
        }
        self.ctx.plan["components"] = info
        types = {self.ctx.items[wi.id].jira_type_id for wi in items}
        screens = self.ctx.plan.get("screens", {})
        if not any("components" in screens.get(t, []) for t in types):
            info["reason"] = "'components' is not on the create screens used: areas are labels"
            return
        names: dict[str, str] = {}
        for wi in items:
            name = component_name(wi.area_path)
            if name:
                names[wi.area_path] = name
        if not names:
            info["mode"], info["reason"] = "component", "no item below the project root area"
            return
        key = self.ctx.spec.project_key
        known = {
            str(c.get("name", "")).lower(): str(c.get("id"))
            for c in self.ctx.target.components(key)
        }
        info["mode"] = "component"
        refused = ""
        for path, name in sorted(names.items()):
            cid = known.get(name.lower())
            if cid is not None:
                if name not in info["existing"] and name not in info["created"]:
                    info["existing"].append(name)
            elif self.ctx.spec.dry_run:
                if name not in info["wouldCreate"]:
                    info["wouldCreate"].append(name)
            elif refused:
                if name not in info["notCreated"]:
                    info["notCreated"].append(name)
            else:
                cid, refused = self._create_component(key, name, known)
                if cid is not None:
                    info["created"].append(name)
                elif name not in info["notCreated"]:
                    info["notCreated"].append(name)
            if cid is not None:
                info["byPath"][path] = cid
        if refused:
            info["reason"] = refused
            self.ctx.plan["problems"].append(
                f"components: {refused}; {len(info['notCreated'])} area(s) carried as labels"
            )
        if info["wouldCreate"]:
            info["reason"] = "dry run: nothing created"

    def _create_component(
        self, key: str, name: str, known: dict[str, str]
    ) -> tuple[str | None, str]:
        """(component id, refusal reason): looks again by name after an unclear answer."""
        mark = f"component:{name.lower()}"
        if self.ctx.settle.get(mark) is not None:
            self.ctx.markers.wait_settled(mark)
            known.update(
                {
                    str(c.get("name", "")).lower(): str(c.get("id"))
                    for c in self.ctx.target.components(key)
                }
            )
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
            known.update(
                {
                    str(c.get("name", "")).lower(): str(c.get("id"))
                    for c in self.ctx.target.components(key)
                }
            )
            if name.lower() in known:
                return known[name.lower()], ""
            with self.ctx.lock:
                self.ctx.plan["problems"].append(f"components: '{name}' not created: {exc}")
            return None, ""
        known[name.lower()] = str(row.get("id"))
        self.ctx.log(f"✓ component '{name}' created")
        return str(row.get("id")), ""
