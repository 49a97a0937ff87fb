"""The run loop: phase to phase, chunk by chunk; stop, pause, cancel, finish, fail."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from engine.errors import AuthError, BlockedAddress, RunAborted, StopRequested
from engine.pipeline.content import ContentPhase
from engine.pipeline.context import Ports, RunContext
from engine.pipeline.create import CreatePhase
from engine.pipeline.dryrun import DryRun
from engine.pipeline.limits import POLL_SECONDS
from engine.pipeline.links import LinksPhase
from engine.pipeline.phase import Phase
from engine.pipeline.plan import Planner
from engine.pipeline.slices import SHARED, SharedPhases, SliceEvents
from engine.pipeline.states import StatesPhase
from engine.pipeline.stops import StopRun, run_guarded
from engine.pipeline.verify import VerifyPhase
from engine.planning import chunks
from engine.ports import (
    AdoSource,
    ControlSignal,
    EventSink,
    FinalStatus,
    JiraTarget,
    RunOutcome,
    RunSpec,
    SliceClaim,
    SliceResult,
)

PHASES: tuple[Phase, ...] = (
    CreatePhase(),
    StatesPhase(),
    ContentPhase(),
    LinksPhase(),
    VerifyPhase(),
)
# These phases write to different endpoints (creates and sprint moves; transitions;
# uploads, edits and comments; links and remote links) and run at once, each through
# its own chunks, so that every endpoint's budget is in use. Beside phase 2, phases 3
# to 5 take the issues as they are made (``CreateFeed``; a link whose other end is not
# made yet waits), and each does a last pass once phase 2 has ended.
CONCURRENT = frozenset({2, 3, 4, 5})


class RunLoop:
    """Phase 1 (or the saved plan), then each write phase not yet done, chunk by chunk."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def execute(self) -> RunOutcome:
        # Requests waiting to be sent or retried give up as soon as the run stops.
        for client in (self.ctx.source, self.ctx.target):
            client.set_stop_check(self.ctx.stops.is_set)
        return run_guarded(
            self._run,
            reason_of=lambda: self.ctx.stops.reason,
            stopped=self._stopped,
            fail=self._fail,
            fatal=(AuthError, BlockedAddress, RunAborted),
        )

    def _run(self) -> RunOutcome:
        Planner(self.ctx).load_or_plan()
        if self.ctx.spec.dry_run:
            return DryRun(self.ctx).finish()
        self._run_phases()
        return self._finish()

    def _run_phases(self) -> None:
        done = set(self.ctx.plan.phases_done)
        together = [p for p in PHASES if p.number in CONCURRENT and p.number not in done]
        shared = self._shared(together)
        for phase in PHASES:
            if phase.number in done:
                continue
            if phase.number in SHARED and shared:
                SharedPhases(self.ctx, shared, self._work_slice).run()
                shared = []
                continue
            if phase.number in CONCURRENT:
                if together:
                    self.run_together([p for p in together if p not in shared])
                    together = []
                continue
            self.ctx.enter_phase(phase.number)
            self._run_phase(phase)
            self._phase_done(phase)

    def _shared(self, phases: list[Phase]) -> list[Phase]:
        """The phases of ``phases`` that the workers share in slices (``slices``):
        phases 3 to 5 when a board is given and slices have a size; phase 2 then runs
        first, on its own."""
        if self.ctx.ports.board is None or self.ctx.spec.slice_items <= 0:
            return []
        return [p for p in phases if p.number in SHARED]

    def _work_slice(self, claim: SliceClaim) -> SliceResult:
        ports = self.ctx.ports
        return run_slice(
            self.ctx.spec,
            source=ports.source,
            target=ports.target,
            events=ports.events,
            control=ports.control,
            claim=claim,
        )

    def _phase_done(self, phase: Phase) -> None:
        self.ctx.checkpointer.checkpoint(force=True)
        self.ctx.raise_if_stopped()
        self.ctx.plan.phases_done.append(phase.number)
        self.ctx.save_plan()
        if self.ctx.slice is None:
            self.ctx.checkpointer.save_report("RUNNING")

    def run_together(self, phases: list[Phase]) -> None:
        """Run ``phases`` at once, one thread each; the run's phase is the lowest still
        running. A phase that ends early is recorded done at once (beside phase 2, once
        2 is); the first failure or stop stops the others (at their next write) and is
        raised here."""
        self.ctx.enter_phase(min(p.number for p in phases))
        if len(phases) == 1:
            self._run_phase(phases[0])
            self._phase_done(phases[0])
            return
        if any(p.number == 2 for p in phases):
            self.ctx.creates.start()
        errors: list[BaseException] = []
        ended: list[Phase] = []  # finished, not yet recorded done
        with ThreadPoolExecutor(len(phases), thread_name_prefix="phase") as threads:
            running: dict[Future[None], Phase] = {
                threads.submit(self._run_phase_thread, p): p for p in phases
            }
            while running:
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    phase = running.pop(future)
                    error = future.exception()
                    if error is not None:
                        errors.append(error)
                        if not isinstance(error, StopRun) and not self.ctx.stops.is_set():
                            reason = f"phase {phase.number}: {error}"
                            self.ctx.request_stop(StopRun("FAILED", reason))
                    else:
                        ended.append(phase)
                if not errors and not self.ctx.stops.is_set():
                    ended = self._record_done(ended)
                lowest = min((p.number for p in running.values()), default=self.ctx.phase)
                if running and not errors and lowest != self.ctx.phase:
                    self.ctx.enter_phase(lowest)
        # a crash beats the stop it caused; a stop is raised as the stop state says
        crash = next((e for e in errors if not isinstance(e, StopRun)), None)
        if crash is not None:
            raise crash
        self.ctx.checkpointer.checkpoint(force=True)
        self.ctx.raise_if_stopped()
        if self.ctx.slice is None:  # a slice's report is the coordinator's
            self.ctx.checkpointer.save_report("RUNNING")

    def _record_done(self, ended: list[Phase]) -> list[Phase]:
        """Record done the phases that ended, but a phase beside 2 only once 2 is (its
        last pass ran on every issue); returns those still waiting."""
        waiting: list[Phase] = []
        for phase in sorted(ended, key=lambda p: p.number):
            if phase.number == 2 or 2 in self.ctx.plan.phases_done:
                self.ctx.plan.phases_done.append(phase.number)
                self.ctx.save_plan()
            else:
                waiting.append(phase)
        return waiting

    def _run_phase_thread(self, phase: Phase) -> None:
        self.ctx.own_phase(phase.number)
        try:
            if phase.number != 2:
                self._run_beside_creates(phase)
                self.ctx.raise_if_stopped()  # phase 2 stopped or failed: no last pass
            self._run_phase(phase)
            self.ctx.checkpointer.checkpoint(force=True)
            self.ctx.raise_if_stopped()
        except StopRequested:
            # the transport saw a stop (perhaps another phase's crash): it ends this
            # thread as that stop, so the crash is what the run raises; without a stop
            # it is a bug and goes up as it is
            self.ctx.raise_if_stopped()
            raise
        except BaseException as exc:
            # stop the others (before phase 2 says it ended); a stop already asked for
            # keeps its reason (a StopRequested here is that stop, seen by the transport)
            if not isinstance(exc, StopRun) and not self.ctx.stops.is_set():
                self.ctx.request_stop(StopRun("FAILED", f"phase {phase.number}: {exc}"))
            raise
        finally:
            if phase.number == 2:
                self.ctx.creates.end()
            self.ctx.store.release()  # this thread's database connection, say

    def _run_beside_creates(self, phase: Phase) -> None:
        """While phase 2 runs: chunks of the issues it has made (at least
        ``phase.stream_batch`` of them), or wait for it to end (no batch). What is left
        when phase 2 ends (items set aside included) is the last pass's."""
        feed, batch, cursor = self.ctx.creates, phase.stream_batch, 0
        # issues made before (a resumed run, items already in Jira) come first; an
        # item made while this list is read is in the feed too: each is taken once
        ready = [i for i in phase.items(self.ctx) if self.ctx.step_done(i, 2)]
        taken = set(ready)
        while True:
            made, ended = feed.since(cursor)
            cursor += len(made)
            if ended:
                return
            if batch is not None:
                fresh = [i for i in phase.items(self.ctx, made) if i not in taken]
                taken.update(fresh)
                ready += fresh
                if len(ready) >= batch:
                    size = phase.chunk_size or len(ready)
                    part, ready = ready[:size], ready[size:]
                    phase.run_chunk(self.ctx, part)
                    self.ctx.raise_if_stopped()
                    continue
            wanted = len(self.ctx.order) if batch is None else batch - len(ready)
            feed.wait(cursor, wanted, POLL_SECONDS, self.ctx.stops.is_set)
            self.ctx.raise_if_stopped()

    def _run_phase(self, phase: Phase) -> None:
        ids = phase.items(self.ctx)
        size = phase.chunk_size or max(len(ids), 1)
        for part in chunks(ids, size) if ids else [[]]:
            phase.run_chunk(self.ctx, part)
            self.ctx.raise_if_stopped()

    def _finish(self) -> RunOutcome:
        self._settle_bookkeeping()
        self.ctx.markers.end_live()
        stats = self.ctx.checkpointer.stats()
        status: FinalStatus = "PARTIAL" if stats.get("failed") else "COMPLETED"
        self.ctx.checkpointer.save_report(status)
        self.ctx.checkpointer.flush_logs()
        self.ctx.checkpointer.announce(status, stats)
        return RunOutcome(status, stats)

    def _stopped(self, stop: StopRun) -> RunOutcome:
        if stop.lease_lost:
            return RunOutcome("PAUSED", self.ctx.checkpointer.stats(), stop.reason)
        if stop.status == "FAILED":
            return self._fail(stop.reason)
        self.ctx.checkpointer.flush_state()
        self.ctx.markers.end_live()
        self.ctx.checkpointer.save_report(stop.status)
        self.ctx.checkpointer.flush_logs()
        stats = self.ctx.checkpointer.stats()
        if stop.status == "CANCELLED":
            self.ctx.checkpointer.announce("cancelled", stats)
        else:
            self.ctx.ports.events.log(
                f"⏸ paused in phase {self.ctx.phase}; resume continues from here"
            )
            self.ctx.ports.events.status("paused")
        return RunOutcome(stop.status, stats, stop.reason)

    def _fail(self, reason: str) -> RunOutcome:
        self.ctx.checkpointer.flush_state()
        if self.ctx.planned:
            self.ctx.markers.end_live()
        stats = self.ctx.checkpointer.stats()
        if self.ctx.planned:
            self.ctx.checkpointer.save_report("FAILED", reason=reason)
        else:
            self.ctx.store.save_report(
                {"status": "FAILED", "reason": reason, "problems": {"validation": [reason]}}
            )
        self.ctx.checkpointer.flush_logs()
        self.ctx.ports.events.log(f"✗ run failed: {reason}")
        self.ctx.checkpointer.announce("failed", stats)
        return RunOutcome("FAILED", stats, reason)

    def _settle_bookkeeping(self) -> None:
        """Every item of a finished run ends with a final status, whoever did its work."""
        with self.ctx.lock:
            for ado_id, record in self.ctx.records.items():
                if record.status != "PENDING":
                    continue
                entry = self.ctx.ledger.get(ado_id)
                item = self.ctx.items.get(ado_id)
                if item is not None and item.action == "skip":
                    record.status = "SKIPPED"
                elif entry is not None and entry.jira_key:
                    record.jira_key, record.jira_id = entry.jira_key, entry.jira_id
                    record.status = (
                        "UPDATED"
                        if item is not None and item.action in ("update", "refresh")
                        else "CREATED"
                    )
                else:
                    record.status = "FAILED"
                    record.error = record.error or "no Jira issue after every phase"
                self.ctx.dirty_records.add(ado_id)
        self.ctx.checkpointer.flush_state()


def run_slice(
    spec: RunSpec,
    *,
    source: AdoSource,
    target: JiraTarget,
    events: EventSink,
    control: ControlSignal,
    claim: SliceClaim,
) -> SliceResult:
    """Phases 3 to 5 for the items of one claimed slice (see ``slices``), in a context
    of its own that writes through ``claim.store``; how it ended, never raised."""
    ctx = RunContext(spec, Ports(source, target, claim.store, SliceEvents(events), control))
    for client in (source, target):
        client.set_stop_check(ctx.stops.is_set)
    try:
        Planner(ctx).load_slice(claim.ids, taken_over=claim.taken_over)
        RunLoop(ctx).run_together([p for p in PHASES if p.number in SHARED])
    except StopRun as stop:
        return _slice_stopped(ctx, stop)
    except StopRequested:
        asked = ctx.stops.reason
        if asked is None:
            return _slice_failed(ctx, "a request was stopped with no stop asked for")
        return _slice_stopped(ctx, asked)
    except Exception as exc:  # the slice's failure is the run's: the coordinator says so
        return _slice_failed(ctx, f"{type(exc).__name__}: {exc}")
    ctx.checkpointer.flush_logs()
    return SliceResult("DONE", touched=sorted(ctx.touched_elsewhere), tally=ctx.settle.snapshot())


def _slice_stopped(ctx: RunContext, stop: StopRun) -> SliceResult:
    if stop.lease_lost:
        return SliceResult("LOST", stop.reason)  # another worker has it: touch nothing
    if stop.status == "FAILED":
        return _slice_failed(ctx, stop.reason)
    ctx.checkpointer.flush_state()
    ctx.checkpointer.flush_logs()
    touched = sorted(ctx.touched_elsewhere)
    if stop.status == "CANCELLED":
        return SliceResult("CANCELLED", stop.reason, touched=touched)
    return SliceResult("PAUSED", stop.reason, touched=touched)


def _slice_failed(ctx: RunContext, reason: str) -> SliceResult:
    if not ctx.stops.lease_lost:
        ctx.checkpointer.flush_state()
    ctx.checkpointer.flush_logs()
    ctx.log(f"✗ slice failed: {reason}")
    ctx.checkpointer.flush_logs()
    return SliceResult("FAILED", reason, touched=sorted(ctx.touched_elsewhere))
