"""Iteration paths to sprints: planning (phase 1) and closing past sprints (phase 2)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.errors import AuthError, EngineError, PermanentError, TransientError
from engine.http import OutcomeUnknown
from engine.itemvalues import below_root
from engine.model import PlanningItem
from engine.pipeline.runplan import SprintEntry, SprintPlan
from engine.pipeline.util import jira_date, node_paths, when

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class SprintPlanner:
    """Maps iteration paths to sprints; closes past sprints it created."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def plan_sprints(self, items: Sequence[PlanningItem]) -> None:
        """Iteration paths → sprints of the project's scrum board (package guide, Sprints)."""
        info = self.ctx.plan.sprints = SprintPlan()
        self.ctx.plan.sprint_of = {}
        paths = sorted({wi.iteration_path for wi in items if below_root(wi.iteration_path)})
        if not paths:
            info.reason = "no item is scheduled in an iteration"
            return
        boards = [
            b
            for b in self.ctx.target.boards(self.ctx.spec.project_key)
            if str(b.get("type", "")).lower() == "scrum"
        ]
        if not boards:
            info.reason = "the project has no scrum board: iterations are labels"
            return
        board = int(boards[0]["id"])
        info.mode, info.board_id = "sprint", board
        nodes = node_paths(self.ctx.source.classification_nodes("iterations"))
        existing = self._existing(board)
        names = _sprint_names(paths)
        refused = ""
        for path in paths:
            node = nodes.get(path.lower())
            entry = SprintEntry(
                names[path], node.start_date if node else None, node.finish_date if node else None
            )
            refused = self._place(info, entry, existing, refused)
            if entry.id:
                info.by_path[path] = entry
        if refused:
            info.reason = refused
            self.ctx.plan.problems.append(f"sprints: {refused}; iterations carried as labels")
        usable = info.usable()
        for wi in items:
            if wi.iteration_path in usable:
                self.ctx.plan.sprint_of[wi.id] = usable[wi.iteration_path]

    def _existing(self, board: int) -> dict[str, dict[str, Any]]:
        return {str(s.get("name", "")).lower(): s for s in self.ctx.target.sprints(board)}

    def _place(
        self,
        info: SprintPlan,
        entry: SprintEntry,
        existing: dict[str, dict[str, Any]],
        refused: str,
    ) -> str:
        """Give ``entry`` the board's sprint of its name, or a new one; the refusal so far.

        ``entry.id`` stays 0 when there is no sprint for it (dry run, refused)."""
        row = existing.get(entry.name.lower())
        created = False
        if row is None:
            if self.ctx.spec.dry_run:
                info.would_create.append(entry.name)
                return refused
            if refused:
                return refused
            assert info.board_id is not None
            row, refused = self._create_sprint(
                info.board_id, entry.name, entry.start, entry.finish, existing
            )
            if row is None:
                return refused
            created = True
        entry.id, entry.state = int(row["id"]), str(row.get("state") or "future")
        entry.created = created
        return refused

    def _create_sprint(
        self, board: int, name: str, start: str | None, finish: str | None, existing: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, str]:
        mark = f"sprint:{board}:{name.lower()}"
        if self.ctx.settle.get(mark) is not None:
            self.ctx.markers.wait_settled(mark)
            existing.update(self._existing(board))
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
            existing.update(self._existing(board))
            if name.lower() in existing:
                return existing[name.lower()], ""
            with self.ctx.lock:
                self.ctx.plan.problems.append(f"sprints: '{name}' not created: {exc}")
            return None, ""
        existing[name.lower()] = sprint
        self.ctx.log(f"✓ sprint '{name}' created")
        return sprint, ""

    def complete_past_sprints(self) -> None:
        """Close the sprints this migration created whose iteration is over (oldest first):
        future → active → closed, one at a time. Recorded in the plan."""
        info = self.ctx.plan.sprints
        now = datetime.now(UTC)
        due = [
            e
            for e in info.by_path.values()
            if e.created and e.state != "closed" and (when(e.finish) or now) < now and when(e.start)
        ]
        due.sort(key=lambda e: str(e.finish))
        for entry in due:
            self.ctx.raise_if_stopped()
            for state in ("active", "closed"):
                if entry.state == state or (state == "active" and entry.state == "closed"):
                    continue
                if not self._move_sprint(info, entry, state):
                    break
            self.ctx.save_plan()

    def _move_sprint(self, info: SprintPlan, entry: SprintEntry, state: str) -> bool:
        """Make the sprint ``state``; False (and a problem) when Jira would not."""
        try:
            self.ctx.target.update_sprint(entry.id, state=state)
            entry.state = state
            return True
        except AuthError as exc:
            if exc.status != 403:
                raise
            self._sprint_problem(entry, state, exc)
            return False
        except (PermanentError, TransientError, OutcomeUnknown) as exc:
            actual = self._sprint_state(info, entry.id)
            if actual in (state, "closed"):
                entry.state = actual
                return True
            self._sprint_problem(entry, state, exc)
            return False

    def _sprint_state(self, info: SprintPlan, sprint_id: int) -> str:
        try:
            rows = self.ctx.target.sprints(int(info.board_id or 0))
        except EngineError:
            return ""
        return next((str(r.get("state")) for r in rows if int(r.get("id", -1)) == sprint_id), "")

    def _sprint_problem(self, entry: SprintEntry, state: str, exc: Exception) -> None:
        with self.ctx.lock:
            self.ctx.plan.problems.append(
                f"sprints: '{entry.name}' left {entry.state} "
                f"(could not make it {state}: {str(exc)[:200]})"
            )


def _sprint_names(paths: Sequence[str]) -> dict[str, str]:
    """Iteration path → sprint name: the leaf, or the path below the root when two
    used iterations share a leaf."""
    leaves: dict[str, int] = {}
    for path in paths:
        leaf = path.rsplit("\\", 1)[-1].strip()
        leaves[leaf.lower()] = leaves.get(leaf.lower(), 0) + 1
    names: dict[str, str] = {}
    for path in paths:
        leaf = path.rsplit("\\", 1)[-1].strip()
        name = (
            leaf
            if leaves[leaf.lower()] == 1
            else " / ".join(p.strip() for p in below_root(path).split("\\"))
        )
        names[path] = name[:255]
    return names
