"""What a rollback removes, what it leaves and why: phase 1 of ``engine.rollback``.

Read from the project's ledger (the rolled-back run's share of each entry, see
``engine.provenance``) and from Jira, once, before anything is removed (removing
one issue changes the ``updated`` of the issues linked to it, so nothing is
decided after the first removal). The result is a :class:`RollbackPlan`, saved
as the rollback run's plan, so a paused, resumed or taken-over rollback works
through exactly the same list.

Rules:

- An issue the run created is removed when the migration account created it
  and nobody changed it since: its ``updated`` is not later than the run's own
  last write to it (as Jira showed it after that write; else the worker's clock
  then, with ``provenance.SKEW_SECONDS`` of slack). An issue left that way keeps
  every issue above it (its parent, the parent's parent...) from removal too,
  and so does any issue under it that the run did not create (a sub-task someone
  added). An issue no longer in Jira is "gone": the ledger forgets it.
- On issues the run did not create (an incremental run's updates), the comments,
  attachments, issue links and remote links it added are removed: comments only
  if the migration account wrote them and nobody edited them, attachments only
  if the account uploaded them. Links between such an issue and an issue the run
  created go with that issue.
- Issues created by the run whose create answer was lost (no ledger entry, the
  label ``ado-{id}`` on an issue the account made) are removed when unchanged
  since they were made.
- Fields edited, statuses moved and sprint moves are listed, not reverted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from engine.errors import PermanentError
from engine.itembook import ItemBook
from engine.ports import JiraTarget, LedgerEntry, RollbackSpec
from engine.provenance import SKEW_SECONDS, RunWrites, writes_of
from engine.repair import jira_time, unchanged

PLAN_VERSION = 1
SEARCH_CHUNK = 100
KINDS = ("issue", "comment", "attachment", "link", "remote_link")
TargetKind = Literal["issue", "comment", "attachment", "link", "remote_link"]
TargetState = Literal["todo", "sending", "done", "gone", "left", "failed"]
FINAL_STATES = ("done", "gone", "left", "failed")
SEARCH_FIELDS = ("labels", "created", "updated", "creator", "parent", "issuetype")


@dataclass
class Target:
    """One thing to remove (or left, with the reason)."""

    kind: TargetKind
    ado_id: int
    issue_key: str  # the issue it is on (for an issue: the issue itself)
    jira_id: str  # issue, comment, attachment, issue link or remote link id
    ledger_key: str = ""  # ADO comment id, attachment key or link key in the ledger
    level: int = 0  # issues: the hierarchy level (sub-tasks -1 go first)
    state: TargetState = "todo"
    reason: str = ""

    @property
    def settle_key(self) -> str:
        return f"rm-{self.kind}:{self.issue_key}:{self.jira_id}"

    @property
    def open(self) -> bool:
        return self.state in ("todo", "sending")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Target:
        return cls(
            kind=raw["kind"],
            ado_id=int(raw["ado_id"]),
            issue_key=str(raw["issue_key"]),
            jira_id=str(raw["jira_id"]),
            ledger_key=str(raw.get("ledger_key") or ""),
            level=int(raw.get("level") or 0),
            state=raw.get("state") or "todo",
            reason=str(raw.get("reason") or ""),
        )


@dataclass
class Listed:
    """A change the run made that a rollback does not revert."""

    ado_id: int
    issue_key: str
    what: str


@dataclass
class BulkIntent:
    """A bulk delete that may have been submitted: its issues, and its task once known."""

    keys: list[str]
    task_id: str = ""
    since: float = 0.0


@dataclass
class RollbackPlan:
    of_run: str
    account_id: str
    targets: list[Target] = field(default_factory=list)
    # with a removed issue go its comments, files and links: counted per kind, per issue
    with_issue: dict[str, dict[str, int]] = field(default_factory=dict)
    listed: list[Listed] = field(default_factory=list)
    items: list[int] = field(default_factory=list)  # ADO ids the rollback reports on
    bulk: bool = False
    bulk_reason: str = ""
    bulk_task: BulkIntent | None = None
    phases_done: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    live: str = ""  # the process that may have removals in flight (see engine.rollback)
    # what ambiguous removals cost, by tally and kind, every process of the run together
    tallies: dict[str, dict[str, int]] = field(default_factory=dict)
    version: int = PLAN_VERSION

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rollback"] = True
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RollbackPlan:
        task = raw.get("bulk_task")
        return cls(
            of_run=str(raw["of_run"]),
            account_id=str(raw.get("account_id") or ""),
            targets=[Target.from_dict(t) for t in raw.get("targets") or []],
            with_issue={
                str(k): {str(a): int(b) for a, b in v.items()}
                for k, v in (raw.get("with_issue") or {}).items()
            },
            listed=[Listed(**x) for x in raw.get("listed") or []],
            items=[int(i) for i in raw.get("items") or []],
            bulk=bool(raw.get("bulk")),
            bulk_reason=str(raw.get("bulk_reason") or ""),
            bulk_task=BulkIntent(**task) if isinstance(task, dict) else None,
            phases_done=[int(p) for p in raw.get("phases_done") or []],
            problems=list(raw.get("problems") or []),
            live=str(raw.get("live") or ""),
            tallies={
                str(k): {str(a): int(b) for a, b in v.items()}
                for k, v in (raw.get("tallies") or {}).items()
            },
            version=int(raw.get("version") or 0),
        )

    def counts(self) -> dict[str, dict[str, int]]:
        """Per state (remove = still to do or done), per kind; content going with an issue
        counts under its own kind."""
        out = {s: dict.fromkeys(KINDS, 0) for s in ("remove", "removed", "left", "gone", "failed")}
        for t in self.targets:
            bucket = (
                "left"
                if t.state == "left"
                else "gone"
                if t.state == "gone"
                else "failed"
                if t.state == "failed"
                else "remove"
            )
            out[bucket][t.kind] += 1
            if t.state == "done":
                out["removed"][t.kind] += 1
            if t.kind == "issue" and bucket in ("remove", "left"):
                for kind, n in self.with_issue.get(t.issue_key, {}).items():
                    out[bucket][kind] += n
                    if t.state == "done":
                        out["removed"][kind] += n
        return out


def link_ends(link_key: str) -> tuple[str, int, int] | None:
    """``Relates:12:34`` / ``parent:12:34`` → (type name, first id, second id)."""
    parts = link_key.split(":")
    if len(parts) != 3 or link_key.startswith("remote:"):
        return None
    if not (parts[1].isdigit() and parts[2].isdigit()):
        return None
    return parts[0], int(parts[1]), int(parts[2])


def label_jql(project_key: str, ids: Iterable[int]) -> str:
    labels = ", ".join(f'"ado-{i}"' for i in ids)
    return f'project = "{project_key}" AND labels in ({labels}) ORDER BY key ASC'


def _chunks(values: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(values[i : i + size]) for i in range(0, len(values), size)]


def _moment(value: str) -> datetime | None:
    return jira_time(value)


def changed_since(updated: Any, writes: RunWrites) -> bool:
    """Jira's ``updated`` is later than the run's last write to the issue."""
    now = _moment(str(updated or ""))
    if now is None:
        return True  # cannot tell: leave it
    if writes.seen_updated:
        seen = _moment(writes.seen_updated)
        return seen is None or now > seen
    if writes.wrote_at:
        return now.timestamp() > writes.wrote_at + SKEW_SECONDS
    return True


def _account(person: Any) -> str:
    return str(person.get("accountId") or "") if isinstance(person, dict) else ""


class Planner:
    """Builds the plan; every Jira read of a rollback happens here."""

    def __init__(
        self,
        spec: RollbackSpec,
        target: JiraTarget,
        ledger: Mapping[int, LedgerEntry],
        me: str,
        checkpoint: Callable[[], None],
    ) -> None:
        self.spec, self.target, self.ledger, self.me = spec, target, ledger, me
        self.checkpoint = checkpoint  # heartbeat and stop checks between Jira reads
        self.plan = RollbackPlan(of_run=spec.of_run, account_id=me)
        self.writes = {
            i: w
            for i, e in ledger.items()
            if (w := writes_of(ItemBook.from_dict(e.extra), spec.of_run)) is not None
        }
        self.link_names: list[str] = []

    def build(self) -> RollbackPlan:
        self.link_names = [str(t.get("name")) for t in self.target.link_types()]
        created = {i for i, w in self.writes.items() if w.created}
        issues = self._created_issues(sorted(created))
        issues += self._orphans()
        self._keep_parents_of_left(issues)
        removed = {t.ado_id for t in issues if t.state == "todo"}
        self.plan.targets = issues
        for ado_id, writes in sorted(self.writes.items()):
            if not writes.created and writes.added_content:
                self.plan.targets += self._content(self.ledger[ado_id], writes, removed)
                self.checkpoint()
            self._list_unreverted(self.ledger[ado_id], writes)
        self._count_with_issues(removed)
        self.plan.items = sorted({t.ado_id for t in self.plan.targets} | set(self.writes))
        if not self.writes:
            self.plan.problems.append(
                "the ledger records no write of this run: it wrote nothing, its issues are "
                "gone already, or it ran before the ledger recorded which run wrote what"
            )
        return self.plan

    # ------------------------------------------------------------------ issues
    def _search(self, ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        found: dict[int, list[dict[str, Any]]] = {}
        for part in _chunks(sorted(ids), SEARCH_CHUNK):
            wanted = set(part)
            for hit in self.target.search(
                label_jql(self.spec.project_key, part), fields=SEARCH_FIELDS
            ):
                for label in (hit.get("fields") or {}).get("labels") or []:
                    tail = str(label).removeprefix("ado-")
                    if str(label).startswith("ado-") and tail.isdigit() and int(tail) in wanted:
                        found.setdefault(int(tail), []).append(hit)
            self.checkpoint()
        return found

    def _created_issues(self, ids: Sequence[int]) -> list[Target]:
        hits = self._search(ids)
        out = []
        for ado_id in ids:
            entry, writes = self.ledger[ado_id], self.writes[ado_id]
            level = ItemBook.from_dict(entry.extra).level or 0
            target = Target("issue", ado_id, entry.jira_key, entry.jira_id, level=level)
            hit = next((h for h in hits.get(ado_id, []) if h.get("key") == entry.jira_key), None)
            if hit is None and self.target.issue_exists(entry.jira_key):
                target.state = "left"
                target.reason = f"no longer labelled ado-{ado_id}: changed since, left alone"
            elif hit is None:
                target.state, target.reason = "gone", "not in Jira any more"
            else:
                target.reason = self._why_left(hit, writes)
                target.state = "left" if target.reason else "todo"
                target.jira_id = str(hit.get("id") or entry.jira_id)
            out.append(target)
        return out

    def _why_left(self, hit: Mapping[str, Any], writes: RunWrites | None) -> str:
        fields = hit.get("fields") or {}
        if not self.me:
            return "the migration account is not known: left for a person to check"
        if _account(fields.get("creator")) != self.me:
            return "created by someone else: left alone"
        updated = fields.get("updated")
        if writes is None:
            if not unchanged(fields.get("created"), updated):
                return f"changed since it was created (updated {updated}): left alone"
            return ""
        if changed_since(updated, writes):
            return (
                f"changed after this run's last write to it (updated {updated}), by a "
                "person or a later run: left alone"
            )
        return ""

    def _orphans(self) -> list[Target]:
        """Issues of the run's items that no ledger knows: creates whose answer was lost."""
        unknown = [i.ado_id for i in self.spec.items if i.ado_id not in self.ledger]
        out = []
        for ado_id, hits in self._search(unknown).items():
            for hit in hits:
                reason = self._why_left(hit, None)
                level = int(
                    ((hit.get("fields") or {}).get("issuetype") or {}).get("hierarchyLevel") or 0
                )
                out.append(
                    Target(
                        "issue",
                        ado_id,
                        str(hit.get("key")),
                        str(hit.get("id")),
                        level=level,
                        state="left" if reason else "todo",
                        reason=reason
                        or "created by this run, never recorded (its answer was lost)",
                    )
                )
        for t in out:
            if t.state == "todo":
                self.plan.problems.append(f"ADO #{t.ado_id}: {t.issue_key} {t.reason}")
                t.reason = ""
        return out

    def _keep_parents_of_left(self, issues: list[Target]) -> None:
        """An issue stays when an issue under it stays (removing it would change that one)."""
        todo = {t.issue_key: t for t in issues if t.state == "todo"}
        parent_of: dict[str, str] = {}
        for part in _chunks(sorted(todo), SEARCH_CHUNK):
            keys = ", ".join(f'"{k}"' for k in part)
            jql = f'project = "{self.spec.project_key}" AND parent in ({keys}) ORDER BY key ASC'
            for hit in self.target.search(jql, fields=("parent",)):
                parent = ((hit.get("fields") or {}).get("parent") or {}).get("key")
                if parent:
                    parent_of[str(hit.get("key"))] = str(parent)
            self.checkpoint()
        changed = True
        while changed:
            changed = False
            for child, parent in parent_of.items():
                if child not in todo and parent in todo and todo[parent].state == "todo":
                    todo[parent].state = "left"
                    todo[parent].reason = f"{child}, under it, stays: left alone"
                    todo.pop(parent)
                    changed = True

    # ------------------------------------------------------------------ content
    def _content(self, entry: LedgerEntry, writes: RunWrites, removed: set[int]) -> list[Target]:
        key = entry.jira_key
        try:
            issue = self.target.get_issue(key, ("attachment", "issuelinks"))
            comments = {str(c.get("id")): c for c in self.target.comments(key)}
        except PermanentError as exc:
            if exc.status != 404:
                raise
            return [self._gone(entry, kind, k) for kind, k in self._pieces(writes)]
        fields = issue.get("fields") or {}
        files = {str(a.get("id")): a for a in fields.get("attachment") or []}
        out = []
        for cid in writes.comments:
            jira_id = str(entry.comments.get(cid) or "")
            out.append(self._comment(entry, cid, jira_id, comments.get(jira_id)))
        for att_key in writes.attachments:
            jira_id = str(entry.attachments.get(att_key) or "")
            att = files.get(jira_id)
            t = Target("attachment", entry.ado_id, key, jira_id, att_key)
            if att is None:
                t.state, t.reason = "gone", "not on the issue any more"
            elif _account(att.get("author")) != self.me:
                t.state, t.reason = "left", "uploaded by someone else: left alone"
            out.append(t)
        for link_key in writes.links:
            link = self._link(entry, link_key, fields.get("issuelinks") or [], removed)
            if link is not None:
                out.append(link)
        return out

    @staticmethod
    def _pieces(writes: RunWrites) -> list[tuple[TargetKind, str]]:
        out: list[tuple[TargetKind, str]] = [("comment", c) for c in writes.comments]
        out += [("attachment", a) for a in writes.attachments]
        out += [("remote_link" if k.startswith("remote:") else "link", k) for k in writes.links]
        return out

    @staticmethod
    def _gone(entry: LedgerEntry, kind: TargetKind, ledger_key: str) -> Target:
        return Target(
            kind,
            entry.ado_id,
            entry.jira_key,
            "",
            ledger_key,
            state="gone",
            reason="the issue is not in Jira any more",
        )

    def _comment(
        self, entry: LedgerEntry, cid: str, jira_id: str, found: Mapping[str, Any] | None
    ) -> Target:
        t = Target("comment", entry.ado_id, entry.jira_key, jira_id, cid)
        if found is None:
            t.state, t.reason = "gone", "not on the issue any more"
        elif _account(found.get("author")) != self.me:
            t.state, t.reason = "left", "written by someone else: left alone"
        elif not unchanged(found.get("created"), found.get("updated")):
            t.state, t.reason = "left", "edited since it was written: left alone"
        return t

    def _link_type(self, wanted: str) -> str:
        """The link type the pipeline used for ``wanted`` (see Pipeline._link_type)."""
        names = self.link_names
        if wanted in names or not names:
            return wanted
        return "Relates" if "Relates" in names else names[0]

    def _link(
        self,
        entry: LedgerEntry,
        link_key: str,
        links: Sequence[Mapping[str, Any]],
        removed: set[int],
    ) -> Target | None:
        if link_key.startswith("remote:"):
            global_id = link_key.removeprefix("remote:")
            found = self.target.remote_link_by_global_id(entry.jira_key, global_id)
            t = Target(
                "remote_link",
                entry.ado_id,
                entry.jira_key,
                str((found or {}).get("id") or ""),
                link_key,
            )
            if found is None:
                t.state, t.reason = "gone", "not on the issue any more"
            return t
        ends = link_ends(link_key)
        if ends is None:
            return None
        name, a, b = ends
        other = b if a == entry.ado_id else a
        if other in removed:
            self.plan.with_issue.setdefault(self.ledger[other].jira_key, {}).setdefault("link", 0)
            self.plan.with_issue[self.ledger[other].jira_key]["link"] += 1
            return None  # goes with that issue
        other_key = self.ledger[other].jira_key if other in self.ledger else ""
        type_name = self._link_type("Relates" if name == "parent" else name)
        link_id = next(
            (
                str(ln.get("id"))
                for ln in links
                if (ln.get("type") or {}).get("name") == type_name
                and other_key
                in (
                    (ln.get("inwardIssue") or {}).get("key"),
                    (ln.get("outwardIssue") or {}).get("key"),
                )
            ),
            "",
        )
        t = Target("link", entry.ado_id, entry.jira_key, link_id, link_key)
        if not link_id:
            t.state, t.reason = "gone", "not on the issue any more"
        return t

    # ------------------------------------------------------------------ listing, counts
    def _list_unreverted(self, entry: LedgerEntry, writes: RunWrites) -> None:
        if writes.created:
            return  # the issue itself is removed or left as a whole
        for flag, what in (
            (writes.edited, "fields edited by the run are not reverted"),
            (
                writes.transitioned,
                f"status moved by the run is not reverted (now {entry.state or 'unknown'})",
            ),
            (writes.sprint, "sprint membership set by the run is not reverted"),
        ):
            if flag:
                self.plan.listed.append(Listed(entry.ado_id, entry.jira_key, what))

    def _count_with_issues(self, removed: set[int]) -> None:
        """The run's comments, files and links on the issues it created go with them."""
        for t in self.plan.targets:
            if t.kind != "issue" or t.ado_id not in self.writes:
                continue
            writes = self.writes[t.ado_id]
            counts = self.plan.with_issue.setdefault(t.issue_key, {})
            counts["comment"] = len(writes.comments)
            counts["attachment"] = len(writes.attachments)
            counts["remote_link"] = sum(1 for k in writes.links if k.startswith("remote:"))
            # a link is recorded on the one entry that wrote it: no link counts twice
            counts["link"] = counts.get("link", 0) + sum(
                1 for k in writes.links if link_ends(k) is not None
            )
