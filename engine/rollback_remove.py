"""Removing a rollback's targets from Jira, each exactly once: phases 2 and 3 of
``engine.rollback``.

Before a group of removals leaves, its targets are saved as ``sending`` (the
intent). A target this process marked so is deleted at once; any other
``sending`` target (an earlier attempt whose answer was lost, a worker that died,
a stop) may already be removed, or be on its way: it is first held until its
settle deadline (``engine.settle``; a take-over marks every such target from the
moment it takes over), then looked up (``GET``: 404 = done), and only deleted if
still there. Deletes are sent with ``once``: a lost answer is never re-sent
blindly, it makes the target settle. So no DELETE is sent twice for one thing.

Issues go through bulk delete when the account may (``plan.bulk``), up to 1,000
a task: the batch is saved with the task id as soon as Jira answers, so a
resumed or taken-over rollback follows the same task rather than submitting
again; a submit whose answer was lost settles, then the batch's issues still in
Jira (a label search) are submitted again. Issues a task did not report are
looked up and removed one by one if still there. Without the permission, or
when Jira refuses the bulk request, issues are deleted one by one.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol

from engine.errors import AuthError, EngineError, PermanentError, StopRequested, TransientError
from engine.http import OutcomeUnknown
from engine.model import BulkProgress
from engine.pipeline.cadence import StopState
from engine.ports import JiraTarget
from engine.rollback_plan import (
    SEARCH_CHUNK,
    BulkIntent,
    RollbackPlan,
    Target,
    TargetState,
    label_jql,
)
from engine.settle import Deferred, SettleBook

WORKERS = 8  # deletes in flight; the Jira limiter bounds the rate
GROUP = 50  # targets whose intent is saved together
POLL_SECONDS = 0.25
BULK_POLL_SECONDS = 0.5
BULK_MAX = 1000
# A delete whose outcome stays unknown this many settle rounds fails: a Jira that answers
# every attempt with a gateway error is not settling.
AMBIGUOUS_ROUNDS = 6


class Interrupted(Exception):
    """Raised inside a worker before a delete once the rollback is stopping."""


class Host(Protocol):
    """What the remover needs from the rollback run (``engine.rollback.Rollback``)."""

    target: JiraTarget
    settle: SettleBook
    plan: RollbackPlan
    stop: StopState
    project_key: str

    def checkpoint(self, *, force: bool = False) -> None: ...

    def raise_if_stopped(self) -> None: ...

    def save_intents(self, targets: Sequence[Target], bulk: BulkIntent | None = None) -> None:
        """Targets ``todo`` → ``sending`` (and the bulk intent), saved before they leave."""

    def save_now(self) -> None: ...

    def finish(self, target: Target, state: TargetState, reason: str = "") -> None: ...

    def log(self, message: str) -> None: ...


class Remover:
    def __init__(self, host: Host, fresh: set[str]) -> None:
        self.host = host
        self.fresh = fresh  # settle keys this process marked sending, not ambiguous since
        self.denied: dict[str, str] = {}  # kind -> why the account may not remove it
        self.rounds: Counter[str] = Counter()
        self.singly: set[str] = set()  # issues a bulk task left alone: one by one
        self.bulk_losses = 0

    # ================================================================== one by one
    def one_by_one(self, targets: Sequence[Target]) -> None:
        """Remove ``targets`` with a few workers; settling ones come back at their deadline."""
        host = self.host
        queue = deque(t for t in targets if t.open)
        later: list[tuple[float, int, Target]] = []
        seq = 0
        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="rollback") as pool:
            while (queue or later) and not host.stop.is_set():
                now = host.settle.clock()
                while later and later[0][0] <= now:
                    queue.appendleft(heapq.heappop(later)[2])
                if not queue:
                    host.stop.wait(max(0.0, min(POLL_SECONDS, later[0][0] - now)))
                    host.checkpoint()
                    continue
                group = [queue.popleft() for _ in range(min(GROUP, len(queue)))]
                host.save_intents(group)
                running: dict[Future[float | None], Target] = {
                    pool.submit(self._guard, t): t for t in group
                }
                while running:
                    done, _ = wait(list(running), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                    for future in done:
                        target = running.pop(future)
                        until = future.result()
                        if until is not None:
                            seq += 1
                            heapq.heappush(later, (until, seq, target))
                    host.checkpoint()
        host.checkpoint(force=True)
        host.raise_if_stopped()

    def _guard(self, target: Target) -> float | None:
        """Remove one target; the deadline to try again at, or None when it is settled."""
        host = self.host
        try:
            self._remove(target)
        except Deferred as deferred:
            return deferred.until
        except (Interrupted, StopRequested):
            return None  # not sent: a later process looks before sending
        except AuthError as exc:
            self.denied.setdefault(target.kind, str(exc)[:300])
            host.finish(target, "failed", f"not allowed: {str(exc)[:300]}")
        except PermanentError as exc:
            # an issue with sub-tasks that stay answers 400: it stays too
            left = target.kind == "issue" and exc.status == 400
            host.finish(target, "left" if left else "failed", str(exc)[:300])
        except TransientError as exc:
            host.finish(target, "failed", f"transient errors exhausted: {str(exc)[:300]}")
        except Exception as exc:  # a bug on one target must not end the rollback
            host.finish(target, "failed", f"internal error: {exc!r}"[:300])
        return None

    def _remove(self, target: Target) -> None:
        host, key = self.host, target.settle_key
        if target.kind in self.denied:
            host.finish(target, "failed", f"not allowed: {self.denied[target.kind]}")
            return
        if key not in self.fresh:
            # an earlier request for it may have landed, or may still: wait, then look
            host.settle.hold(key)
            landed = not self.exists(target)
            host.settle.settle(key, adopted=landed)
            if landed:
                host.finish(target, "done", "removed (an earlier request landed)")
                return
            self.fresh.add(key)
        if host.stop.is_set():
            raise Interrupted()
        try:
            removed = self._delete(target)
        except OutcomeUnknown as exc:
            self.fresh.discard(key)
            self.rounds[key] += 1
            if self.rounds[key] > AMBIGUOUS_ROUNDS:
                host.finish(
                    target,
                    "failed",
                    f"outcome still unknown after {AMBIGUOUS_ROUNDS} "
                    f"settle rounds: {str(exc)[:200]}",
                )
                return
            until = host.settle.mark(key, target.ado_id)
            host.log(
                f"… {target.kind} {target.jira_id or target.issue_key}: answer lost; "
                "settling before a look"
            )
            raise Deferred(until, str(exc)) from exc
        host.finish(target, "done" if removed else "gone", "" if removed else "already gone")

    def _delete(self, t: Target) -> bool:
        jira = self.host.target
        if t.kind == "issue":
            return jira.delete_issue(t.issue_key, once=True)
        if t.kind == "comment":
            return jira.delete_comment(t.issue_key, t.jira_id, once=True)
        if t.kind == "attachment":
            return jira.delete_attachment(t.jira_id, once=True)
        if t.kind == "link":
            return jira.delete_issue_link(t.jira_id, once=True)
        return jira.delete_remote_link(t.issue_key, t.jira_id, once=True)

    def exists(self, t: Target) -> bool:
        jira = self.host.target
        if t.kind == "issue":
            return jira.issue_exists(t.issue_key)
        if t.kind == "comment":
            return jira.comment_exists(t.issue_key, t.jira_id)
        if t.kind == "attachment":
            return jira.attachment_exists(t.jira_id)
        if t.kind == "link":
            return jira.issue_link_exists(t.jira_id)
        global_id = t.ledger_key.removeprefix("remote:")
        return jira.remote_link_by_global_id(t.issue_key, global_id) is not None

    # ================================================================== bulk
    def bulk(self, targets: Sequence[Target]) -> list[Target]:
        """Remove issues (one hierarchy level) by bulk delete; those left to do one by one."""
        host = self.host
        todo = [t for t in targets if t.open]
        if host.plan.bulk_task is not None:
            self._follow_saved(host.plan.bulk_task, todo)
        rest: list[Target] = []
        while host.plan.bulk and not host.stop.is_set():
            self._settle_carried([t for t in todo if t.open])
            todo = [t for t in todo if t.open]
            candidates = [t for t in todo if t.issue_key not in self.singly]
            if not candidates:
                break
            chunk = candidates[:BULK_MAX]
            intent = BulkIntent([t.issue_key for t in chunk], since=time.time())
            host.save_intents(chunk, bulk=intent)
            try:
                intent.task_id = host.target.bulk_delete([t.jira_id for t in chunk])
            except OutcomeUnknown as exc:
                self.bulk_losses += 1
                for t in chunk:
                    self.fresh.discard(t.settle_key)
                    host.settle.mark(t.settle_key, t.ado_id)
                if self.bulk_losses > AMBIGUOUS_ROUNDS:
                    self._no_bulk([], f"{self.bulk_losses} bulk answers lost")
                host.log(
                    f"… bulk delete of {len(chunk)} issues: answer lost; settling before "
                    f"a look ({str(exc)[:120]})"
                )
                continue
            except (AuthError, PermanentError) as exc:
                self._no_bulk(chunk, f"Jira refused the bulk delete: {str(exc)[:200]}")
                break
            host.save_now()
            host.log(f"Bulk delete of {len(chunk)} issues submitted (task {intent.task_id})")
            self._apply(self._follow(intent.task_id), chunk)
        if host.stop.is_set():
            host.raise_if_stopped()
        rest += [t for t in todo if t.open]
        return rest

    def _no_bulk(self, chunk: Sequence[Target], why: str) -> None:
        host = self.host
        host.plan.bulk, host.plan.bulk_reason, host.plan.bulk_task = False, why, None
        for t in chunk:
            if t.state == "sending" and t.settle_key in self.fresh:
                t.state = "todo"  # refused: nothing was removed
        host.log(f"Bulk delete not used: {why}; deleting one by one")
        host.save_now()

    def _settle_carried(self, todo: Sequence[Target]) -> None:
        """``sending`` targets of an earlier attempt: wait out their marks, then look."""
        host = self.host
        carried = [t for t in todo if t.state == "sending" and t.settle_key not in self.fresh]
        if not carried:
            return
        while True:
            marks = [m for t in carried if (m := host.settle.get(t.settle_key)) is not None]
            ahead = max((m.deadline for m in marks), default=0.0) - host.settle.clock()
            if ahead <= 0:
                break
            host.stop.wait(min(POLL_SECONDS, ahead))
            host.checkpoint()
            host.raise_if_stopped()
        present = self.present(carried)
        for t in carried:
            landed = t.issue_key not in present
            host.settle.settle(t.settle_key, adopted=landed)
            if landed:
                host.finish(t, "done", "removed (an earlier request landed)")
            else:
                self.fresh.add(t.settle_key)
        host.checkpoint(force=True)

    def _follow_saved(self, intent: BulkIntent, todo: Sequence[Target]) -> None:
        """A bulk delete an earlier process submitted: follow its task, or look."""
        keys = set(intent.keys)
        batch = [t for t in todo if t.issue_key in keys]
        if intent.task_id:
            self.host.log(f"Following bulk delete task {intent.task_id} of an earlier attempt")
            self._apply(self._follow(intent.task_id), batch)
        else:
            self._settle_carried(batch)
            self.host.plan.bulk_task = None
            self.host.save_now()

    def _follow(self, task_id: str) -> BulkProgress | None:
        """Poll the task until it ends (None: Jira does not know it); stops on a stop."""
        host = self.host
        while True:
            try:
                progress = host.target.bulk_progress(task_id)
            except PermanentError as exc:
                if isinstance(exc, AuthError):
                    raise
                host.log(f"Bulk task {task_id} unknown to Jira ({str(exc)[:120]}); looking")
                return None
            except TransientError:
                progress = None
            if progress is not None and progress.finished:
                return progress
            host.stop.wait(BULK_POLL_SECONDS)
            host.checkpoint()
            host.raise_if_stopped()

    def _apply(self, progress: BulkProgress | None, batch: Sequence[Target]) -> None:
        host = self.host
        processed = set(progress.processed) if progress else set()
        failed = progress.failed if progress else {}
        unknown = []
        for t in batch:
            if not t.open:
                continue
            if t.jira_id in processed:
                host.finish(t, "done")
            elif t.jira_id in failed:
                host.finish(t, "failed", "; ".join(failed[t.jira_id])[:300] or "not deleted")
            else:
                unknown.append(t)
        present = self.present(unknown) if unknown else set()
        for t in unknown:
            if t.issue_key not in present:
                host.finish(t, "gone", "not in Jira any more")
            else:
                self.singly.add(t.issue_key)  # the task did not touch it: one by one
        host.plan.bulk_task = None
        host.save_now()

    def present(self, targets: Sequence[Target], *, confirm: bool = True) -> set[str]:
        """Keys of these issues still in Jira: a label search (a removed key is no error
        there, as it is in ``key in (...)``), then, with ``confirm``, a look at each one
        it did not find (someone may have taken the label off)."""
        found: set[str] = set()
        ids = sorted({t.ado_id for t in targets})
        wanted = {t.issue_key for t in targets}
        try:
            for i in range(0, len(ids), SEARCH_CHUNK):
                jql = label_jql(self.host.project_key, ids[i : i + SEARCH_CHUNK])
                hits = self.host.target.search(jql, fields=("labels",))
                found |= {str(h.get("key")) for h in hits} & wanted
            if confirm:
                found |= {k for k in sorted(wanted - found) if self.host.target.issue_exists(k)}
        except EngineError:
            return wanted  # cannot tell: treat them as there (nothing sent twice)
        return found
