"""Iteration paths to sprints: planning (phase 1) and closing past sprints (phase 2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.content import (
    below_root,
)
from engine.errors import (
    AuthError,
    EngineError,
    PermanentError,
    TransientError,
)
from engine.http import OutcomeUnknown
from engine.model import (
    WorkItem,
)
from engine.pipeline.util import (
    jira_date,
    node_paths,
    when,
)

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class SprintPlanner:
    """Maps iteration paths to sprints; closes past sprints it created."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def plan_sprints(self, items: Sequence[WorkItem]) -> None:
        """Iteration paths → sprints of the project's scrum board (module docstring)."""
        info: dict[str, Any] = {
            "mode": "label",
            "boardId": None,
            "byPath": {},
            "wouldCreate": [],
            "reason": "",
        }
        self.ctx.plan["sprints"], self.ctx.plan["sprint_of"] = info, {}
        paths = sorted({wi.iteration_path for wi in items if below_root(wi.iteration_path)})
        if not paths:
            info["reason"] = "no item is scheduled in an iteration"
            return
        boards = [
            b
            for b in self.ctx.target.boards(self.ctx.spec.project_key)
            if str(b.get("type", "")).lower() == "scrum"
        ]
        if not boards:
            info["reason"] = "the project has no scrum board: iterations are labels"
            return
        board = int(boards[0]["id"])
        info.update(mode="sprint", boardId=board)
        nodes = node_paths(self.ctx.source.classification_nodes("iterations"))
        existing = {str(s.get("name", "")).lower(): s for s in self.ctx.target.sprints(board)}
        leaves: dict[str, int] = {}
        for path in paths:
            leaf = path.rsplit("\\", 1)[-1].strip()
            leaves[leaf.lower()] = leaves.get(leaf.lower(), 0) + 1
        refused = ""
        for path in paths:
            leaf = path.rsplit("\\", 1)[-1].strip()
            name = (
                leaf
                if leaves[leaf.lower()] == 1
                else " / ".join(p.strip() for p in below_root(path).split("\\"))
            )[:255]
            node = nodes.get(path.lower())
            start = node.start_date if node else None
            finish = node.finish_date if node else None
            row = existing.get(name.lower())
            entry: dict[str, Any] = {"name": name, "start": start, "finish": finish}
            if row is not None:
                entry.update(
                    id=int(row["id"]), state=str(row.get("state") or "future"), created=False
                )
            elif self.ctx.spec.dry_run:
                info["wouldCreate"].append(name)
                continue
            elif refused:
                continue
            else:
                sprint, refused = self._create_sprint(board, name, start, finish, existing)
                if sprint is None:
                    continue
                entry.update(
                    id=int(sprint["id"]), state=str(sprint.get("state") or "future"), created=True
                )
            info["byPath"][path] = entry
        if refused:
            info["reason"] = refused
            self.ctx.plan["problems"].append(f"sprints: {refused}; iterations carried as labels")
        usable = {p: e["id"] for p, e in info["byPath"].items() if e["state"] != "closed"}
        for wi in items:
            if wi.iteration_path in usable:
                self.ctx.plan["sprint_of"][str(wi.id)] = usable[wi.iteration_path]

    def _create_sprint(
        self, board: int, name: str, start: str | None, finish: str | None, existing: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, str]:
        mark = f"sprint:{board}:{name.lower()}"
        if self.ctx.settle.get(mark) is not None:
            self.ctx.markers.wait_settled(mark)
            existing.update(
                {str(s.get("name", "")).lower(): s for s in self.ctx.target.sprints(board)}
            )
            if name.lower() in existing:
                self.ctx.settle.count("adopted", "sprint")
                return existing[name.lower()], ""
        try:
            sprint = self.ctx.target.create_sprint(board, name, jira_date(start), jira_date(finish))
        except AuthError as exc:
            if exc.status == 403:
                return None, f"the Jira user may not create sprints (403: {exc})"
            raise
        except OutcomeUnknown as exc:
            self.ctx.settle.mark(mark, None)
            if self.ctx.markers.rounds_left(mark, exc):
                return self._create_sprint(board, name, start, finish, existing)
            return None, ""
        except (PermanentError, TransientError) as exc:
            existing.update(
                {str(s.get("name", "")).lower(): s for s in self.ctx.target.sprints(board)}
            )
            if name.lower() in existing:
                return existing[name.lower()], ""
            with self.ctx.lock:
                self.ctx.plan["problems"].append(f"sprints: '{name}' not created: {exc}")
            return None, ""
        existing[name.lower()] = sprint
        self.ctx.log(f"✓ sprint '{name}' created")
        return sprint, ""

    def complete_past_sprints(self) -> None:
        """Close the sprints this migration created whose iteration is over (oldest first):
        future → active → closed, one at a time. Recorded in the plan."""
        info = self.ctx.plan.get("sprints") or {}
        now = datetime.now(UTC)
        due = [
            e
            for e in (info.get("byPath") or {}).values()
            if e.get("created")
            and e.get("state") != "closed"
            and (when(e.get("finish")) or now) < now
            and when(e.get("start"))
        ]
        due.sort(key=lambda e: str(e.get("finish")))
        for entry in due:
            self.ctx.raise_if_stopped()
            for state in ("active", "closed"):
                if entry["state"] == state or (state == "active" and entry["state"] == "closed"):
                    continue
                try:
                    self.ctx.target.update_sprint(int(entry["id"]), state=state)
                    entry["state"] = state
                except AuthError as exc:
                    if exc.status != 403:
                        raise
                    self._sprint_problem(entry, state, exc)
                    break
                except (PermanentError, TransientError, OutcomeUnknown) as exc:
                    actual = self._sprint_state(info, int(entry["id"]))
                    if actual in (state, "closed"):
                        entry["state"] = actual
                        continue
                    self._sprint_problem(entry, state, exc)
                    break
            self.ctx.store.save_plan(self.ctx.plan)

    def _sprint_state(self, info: Mapping[str, Any], sprint_id: int) -> str:
        try:
            rows = self.ctx.target.sprints(int(info["boardId"]))
        except EngineError:
            return ""
        return next((str(r.get("state")) for r in rows if int(r.get("id", -1)) == sprint_id), "")

    def _sprint_problem(self, entry: dict[str, Any], state: str, exc: Exception) -> None:
        with self.ctx.lock:
            self.ctx.plan["problems"].append(
                f"sprints: '{entry['name']}' left {entry['state']} "
                f"(could not make it {state}: {str(exc)[:200]})"
            )
