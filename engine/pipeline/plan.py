"""Phase 1: preflight, discover and plan (or load the saved plan)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from engine.content import user_emails
from engine.errors import AuthError, PermanentError, RunAborted
from engine.itembook import ItemBook
from engine.mapping import (
    TypeMapping,
    check_state_overrides,
    state_category,
    suggest_state_mappings,
    suggest_type_mappings,
)
from engine.model import FieldMeta, IssueType, PlanningItem, Status, WorkItemType
from engine.pipeline.components import ComponentPlanner
from engine.pipeline.discovery import PlanningViews, PlanView
from engine.pipeline.fields import FieldPlanner
from engine.pipeline.limits import ADO_BATCH, FILLABLE
from engine.pipeline.relation_setup import link_map_problems
from engine.pipeline.runplan import ITEMS_INLINE, ProjectInfo, RunPlan
from engine.pipeline.sprints import SprintPlanner
from engine.pipeline.util import web_url
from engine.planning import (
    PlannedItem,
    assign_parents,
    chunks,
    creation_order,
    decide_action,
    hierarchy_pairs,
    matches_filters,
    normalize_type_filter,
    select_sample,
)
from engine.ports import ItemRecord
from engine.settle import SettleBook
from engine.users import UserDirectory

T = TypeVar("T")

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class Planner:
    """Makes the plan (preflight, discovery, decisions) or loads the saved one."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._metas: dict[str, list[FieldMeta]] = {}  # type id → its create screen
        self._jira_fields: list[dict[str, Any]] = []
        self.fields = FieldPlanner(ctx)

    def load_or_plan(self) -> None:
        plan = self.ctx.store.load_plan()
        self.ctx.ledger = self.ctx.store.load_ledger()
        # BookVersionError (an entry this engine cannot read): the run fails, nothing written
        self.ctx.books = {i: ItemBook.from_dict(e.extra) for i, e in self.ctx.ledger.items()}
        self.ctx.settle = SettleBook(self.ctx.spec.settle_seconds, self.ctx.store.load_unsettled())
        self.ctx.crosswalk = {i: e.jira_key for i, e in self.ctx.ledger.items() if e.jira_key}
        if plan:
            self.ctx.resumed = True
            # PlanVersionError: the run fails; a plan of an older version holds its items
            # and is saved again as rows at the next save
            saved = RunPlan.from_dict(plan, self.ctx.store.load_plan_items())
            self.ctx.plan_rows_saved = plan.get("version") not in ITEMS_INLINE
            self._adopt_plan(saved)
            self.ctx.records = self.ctx.store.load_items()
            self._ensure_records()
            self.ctx.count_units()
            if self._previous_may_have_writes_open():
                self.ctx.markers.mark_open_intents()
            self.ctx.markers.go_live()
            return
        self.ctx.enter_phase(1)
        self._preflight_and_plan()
        if not self.ctx.spec.dry_run:
            self.ctx.markers.go_live()

    def _previous_may_have_writes_open(self) -> bool:
        """Another process had the run and did not stop cleanly. Once the run's slices
        are open (``slices``), each slice's writes are its claimer's: a slice taken
        over holds what its last claimer had open, so the coordinator holds none."""
        plan, board = self.ctx.plan, self.ctx.ports.board
        if not plan.live or plan.live == self.ctx.token:
            return False
        return board is None or self.ctx.spec.slice_items <= 0 or not board.progress().total

    def load_slice(self, ids: Sequence[int], *, taken_over: bool) -> None:
        """A slice context: the saved plan, ledger and records, working ``ids`` only
        (in creation order); a slice taken over holds what its last claimer had open."""
        plan = self.ctx.store.load_plan()
        if not plan:
            raise RunAborted("a slice of the run was claimed before the run had a plan")
        self.ctx.ledger = self.ctx.store.load_ledger()
        self.ctx.books = {i: ItemBook.from_dict(e.extra) for i, e in self.ctx.ledger.items()}
        self.ctx.settle = SettleBook(self.ctx.spec.settle_seconds, self.ctx.store.load_unsettled())
        self.ctx.crosswalk = {i: e.jira_key for i, e in self.ctx.ledger.items() if e.jira_key}
        self.ctx.resumed = True
        own = frozenset(ids)
        self.ctx.slice = own  # before anything could save: a slice saves no plan
        self._adopt_plan(RunPlan.from_dict(plan, self.ctx.store.load_plan_items()))
        self.ctx.plan_rows_saved = True
        self.ctx.exactly_once_base = {}  # the coordinator adds this slice's counts to its own
        self.ctx.repairs_base = []
        self.ctx.order = [i for i in self.ctx.order if i in own]
        self.ctx.records = self.ctx.store.load_items()
        self._ensure_records()
        self.ctx.count_units()
        if taken_over:
            self.ctx.markers.mark_open_intents(among=own)

    def _adopt_plan(self, plan: RunPlan) -> None:
        self.ctx.plan, self.ctx.planned = plan, True
        self.ctx.exactly_once_base = {k: dict(v) for k, v in plan.exactly_once.items()}
        self.ctx.repairs_base = list(plan.repairs)
        self.ctx.items = {item.ado_id: item for item in plan.items}
        self.ctx.order = [item.ado_id for item in plan.items]
        self.ctx.users = UserDirectory(self.ctx.target, plan.users)
        self.ctx.graph.restore(plan.workflows)  # learned before: not asked of Jira again
        with self.ctx.lock:
            self.ctx.initial_status.update(plan.initial_status)
        FieldPlanner(self.ctx).refill_legacy()

    def _ensure_records(self) -> None:
        for ado_id, item in self.ctx.items.items():
            if ado_id not in self.ctx.records:
                self.ctx.records[ado_id] = self._new_record(item)
                self.ctx.dirty_records.add(ado_id)

    def _new_record(self, item: PlannedItem) -> ItemRecord:
        entry = self.ctx.ledger.get(item.ado_id)
        record = ItemRecord(item.ado_id, item.ado_type, web_url(self.ctx.ado_web, item.ado_id))
        if entry is not None:
            record.jira_key, record.jira_id = entry.jira_key, entry.jira_id
        if item.action == "skip":
            record.status, record.error = "SKIPPED", item.reason
        return record

    def _preflight_and_plan(self) -> None:
        plan, ado_list = self._preflight()
        work_items = self._discover()
        self.ctx.checkpointer.poll(force=True)
        self.ctx.raise_if_stopped()
        ado_types = {t.name: t for t in ado_list}
        type_map = self._type_mappings(work_items, plan.jira_types, plan.statuses)
        screens = self._screens(type_map, plan.jira_types)
        plan.screens = {k: sorted(v) for k, v in screens.items()}
        plan.story_points_field = self._story_points_field(self._jira_fields, plan.screens)
        plan.type_mappings = dict(type_map)
        self.ctx.plan, self.ctx.planned = plan, True
        self._plan_items(work_items, ado_types, type_map, plan.jira_types)
        self._state_mappings(ado_types, type_map, plan.statuses)
        self._resolve_users(work_items)
        self.fields.plan(work_items, self._metas, self._jira_fields)
        planned = [
            wi
            for wi in work_items
            if wi.id in self.ctx.items and self.ctx.items[wi.id].action != "skip"
        ]
        ComponentPlanner(self.ctx).plan_components(planned)
        SprintPlanner(self.ctx).plan_sprints(planned)
        del work_items, planned  # planning has read them; the saved plan is made next
        self.ctx.save_plan()
        self.ctx.store.set_total(len(self.ctx.items))
        self.ctx.records = {i: self._new_record(p) for i, p in self.ctx.items.items()}
        self.ctx.dirty_records = set(self.ctx.records)
        self.ctx.count_units()
        self.ctx.checkpointer.checkpoint(force=True)
        self.ctx.raise_if_stopped()
        self.ctx.checkpointer.save_report("RUNNING")
        self.ctx.log(
            f"Plan: {len(self.ctx.items)} work items "
            f"({sum(1 for p in self.ctx.items.values() if p.action != 'skip')} to write)"
        )

    def _preflight(self) -> tuple[RunPlan, list[WorkItemType]]:
        """A plan holding what Jira offers, and the ADO work item types."""
        key = self.ctx.spec.project_key
        self._guarded_preflight(self.ctx.source.check_access, "Azure DevOps")
        me = self._guarded_preflight(self.ctx.target.myself, "Jira")
        project = self._guarded_preflight(lambda: self.ctx.target.get_project(key), "Jira project")
        jira_types = self.ctx.target.issue_types(key)
        if not jira_types:
            raise RunAborted(
                f"the Jira user may not create issues in project {key} "
                "(no issue types on its create screens)"
            )
        fields = self.ctx.target.fields()
        self._jira_fields = list(fields)
        plan = RunPlan(
            run_type=self.ctx.spec.run_type,
            dry_run=self.ctx.spec.dry_run,
            project=ProjectInfo(project.id, project.key, project.name, project.style),
            jira_types=list(jira_types),
            statuses={k: list(v) for k, v in self.ctx.target.project_statuses(key).items()},
            story_points_field=self._story_points_field(fields),
            priorities=[str(p.get("name")) for p in self.ctx.target.priorities()],
            link_types=[str(t.get("name")) for t in self.ctx.target.link_types()],
            upload_limit=self.ctx.target.attachment_upload_limit(),
            account_id=str(me.get("accountId") or ""),
        )
        return plan, self.ctx.source.work_item_types()

    @staticmethod
    def _guarded_preflight(call: Callable[[], T], what: str) -> T:
        try:
            return call()
        except AuthError as exc:
            raise RunAborted(f"{what}: credentials refused: {exc}") from exc
        except PermanentError as exc:
            if exc.status == 404 or "not found" in str(exc).lower():
                raise RunAborted(f"{what} not found: {exc}") from exc
            raise RunAborted(f"{what}: {exc}") from exc

    @staticmethod
    def _story_points_field(
        fields: Sequence[Mapping[str, Any]], screens: Mapping[str, Sequence[str]] | None = None
    ) -> str | None:
        """The story points field, by name: "Story Points" (company-managed) or "Story
        point estimate" (team-managed). A site holds both kinds of project, so with the
        create ``screens`` known, the first one found on them wins."""
        names = ("story points", "story point estimate")
        found = [
            str(f.get("id"))
            for wanted in names
            for f in fields
            if str(f.get("name", "")).lower() == wanted
        ]
        on_screens = {fid for ids in (screens or {}).values() for fid in ids}
        return next((f for f in found if f in on_screens), found[0] if found else None)

    def _discover(self) -> list[PlanView]:
        spec = self.ctx.spec
        types = normalize_type_filter(spec.type_filter)
        since = spec.changed_since if spec.run_type == "INCREMENTAL" else None
        ids = self.ctx.source.query_ids(
            area_path=spec.area_filter or None, types=types or None, changed_since=since
        )
        # read a batch at a time, each item cut to its planning view at once: the whole
        # project is never in memory with its descriptions, relations and history (the
        # view keeps what planning reads: engine.pipeline.discovery)
        views = PlanningViews(self.fields.definitions()[0])
        items: list[PlanView] = []
        for part in chunks(list(ids), ADO_BATCH):
            got = self.ctx.source.get_work_items(part)
            items += (views.view(wi) for wi in got if matches_filters(wi, spec.area_filter, types))
            self.ctx.checkpointer.keep_alive()
            self.ctx.raise_if_stopped()
        return sorted(items, key=lambda wi: wi.id)

    def _type_mappings(
        self,
        items: Sequence[PlanningItem],
        jira_types: Sequence[IssueType],
        statuses: Mapping[str, Sequence[Status]],
    ) -> dict[str, TypeMapping]:
        names = sorted({wi.type for wi in items})
        type_map, errors = suggest_type_mappings(
            names, jira_types, self.ctx.spec.type_overrides, hierarchy_pairs(items)
        )
        errors += check_state_overrides(self.ctx.spec.state_overrides, statuses)
        errors += [p.message for p in link_map_problems(self.ctx)]
        if errors:
            raise RunAborted("preflight: " + "; ".join(errors))
        return type_map

    def _screens(
        self, type_map: Mapping[str, TypeMapping], jira_types: Sequence[IssueType]
    ) -> dict[str, set[str]]:
        wanted = {m.jira_type_id for m in type_map.values()}
        wanted |= {m.standalone_type_id for m in type_map.values() if m.standalone_type_id}
        names = {t.id: t.name for t in jira_types}
        screens: dict[str, set[str]] = {}
        errors: list[str] = []
        for type_id in sorted(wanted):
            metas = self.ctx.target.create_fields(self.ctx.spec.project_key, type_id)
            screens[type_id] = {m.field_id for m in metas}
            self._metas[type_id] = list(metas)
            errors += self._unfillable(metas, names.get(type_id, type_id))
        if errors:
            raise RunAborted("preflight: " + "; ".join(errors))
        return screens

    def _unfillable(self, metas: Sequence[FieldMeta], type_name: str) -> list[str]:
        fillable = set(FILLABLE)
        return [
            f"Jira type '{type_name}' requires field '{m.name}' ({m.field_id}) on its create "
            "screen with no default value, and nothing in Azure DevOps fills it: make it "
            "optional or give it a default"
            for m in metas
            if m.required
            and not m.has_default
            and m.field_id not in fillable
            and not m.field_id.startswith("customfield_10016")
        ]

    def _plan_items(
        self,
        items: Sequence[PlanningItem],
        ado_types: Mapping[str, WorkItemType],
        type_map: Mapping[str, TypeMapping],
        jira_types: Sequence[IssueType],
    ) -> None:
        removed = {
            wi.id for wi in items if state_category(ado_types.get(wi.type), wi.state) == "Removed"
        }
        if self.ctx.spec.run_type == "SAMPLE":
            level = {n: m.ado_level for n, m in type_map.items()}
            keep = set(
                select_sample(
                    items,
                    self.ctx.spec.sample_size,
                    lambda t: level.get(t, 0),
                    lambda wi: wi.id in removed,
                )
            )
            items = [wi for wi in items if wi.id in keep]
        planned: dict[int, PlannedItem] = {}
        for wi in items:
            tm = type_map[wi.type]
            action, reason = decide_action(
                wi.rev, wi.id in removed, self.ctx.ledger.get(wi.id), self.ctx.spec.run_type
            )
            planned[wi.id] = PlannedItem(
                wi.id,
                wi.type,
                wi.rev,
                wi.title,
                wi.state,
                state_category(ado_types.get(wi.type), wi.state),
                wi.url,
                wi.parent_id,
                tm.jira_type_id,
                tm.jira_type,
                tm.jira_level,
                action,
                reason,
            )
        self._assign_parents(planned, type_map, jira_types)
        self.ctx.order = creation_order(planned)
        self.ctx.items = {i: planned[i] for i in self.ctx.order}
        self.ctx.plan.items = [self.ctx.items[i] for i in self.ctx.order]
        self.ctx.plan.identity_emails = self._identity_emails(items)

    def _assign_parents(
        self,
        planned: dict[int, PlannedItem],
        type_map: Mapping[str, TypeMapping],
        jira_types: Sequence[IssueType],
    ) -> None:
        levels = {t.id: t.hierarchy_level for t in jira_types}
        ledger_levels: dict[int, int | None] = {
            i: b.level if b.level is not None else levels.get(str(b.jira_type_id))
            for i, b in self.ctx.books.items()
        }
        plan = self.ctx.plan

        def standalone(item: PlannedItem) -> tuple[str, str] | None:
            tm = type_map.get(item.ado_type)
            if tm is None or not tm.standalone_type_id:
                return None
            return tm.standalone_type_id, tm.standalone_type

        assign_parents(
            planned,
            ledger_levels=ledger_levels,
            parent_on_screen=lambda tid: plan.on_screen(tid, "parent"),
            standalone=standalone,
        )

    @staticmethod
    def _identity_emails(items: Sequence[PlanningItem]) -> dict[str, str]:
        out: dict[str, str] = {}
        for wi in items:
            for name in ("System.AssignedTo", "System.CreatedBy", "System.ChangedBy"):
                ref = wi.fields.get(name)
                if isinstance(ref, dict) and ref.get("id") and "@" in str(ref.get("uniqueName")):
                    out[str(ref["id"]).lower()] = str(ref["uniqueName"]).lower()
        return out

    @staticmethod
    def _display_names(items: Sequence[PlanningItem]) -> dict[str, str]:
        out: dict[str, str] = {}
        for wi in items:
            for name in ("System.AssignedTo", "System.CreatedBy", "System.ChangedBy"):
                ref = wi.fields.get(name)
                if isinstance(ref, dict) and "@" in str(ref.get("uniqueName")):
                    out[str(ref["uniqueName"]).lower()] = str(ref.get("displayName") or "")
        return out

    def _state_mappings(
        self,
        ado_types: Mapping[str, WorkItemType],
        type_map: Mapping[str, TypeMapping],
        statuses: Mapping[str, Sequence[Status]],
    ) -> None:
        used = [
            ado_types[n]
            for n in sorted({p.ado_type for p in self.ctx.items.values()})
            if n in ado_types
        ]
        mappings, problems = suggest_state_mappings(
            used, type_map, statuses, self.ctx.spec.state_overrides
        )
        self.ctx.plan.state_mappings = list(mappings)
        self.ctx.plan.problems.extend(problems)
        for item in self.ctx.items.values():
            status = self.ctx.target_status(item, item.jira_type_id)
            item.target_status = status.name if status else ""

    def _resolve_users(self, items: Sequence[PlanningItem]) -> None:
        emails: set[str] = set()
        for wi in items:
            if wi.id in self.ctx.items and self.ctx.items[wi.id].action != "skip":
                emails |= user_emails(wi)
        emails |= set(self.ctx.plan.identity_emails.values())
        self.ctx.users.resolve(emails, self._display_names(items))
        self.ctx.plan.users = self.ctx.users.snapshot()
