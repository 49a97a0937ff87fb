"""The worker pool: tasks on threads, deferral queues for settling work."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, TypeVar, cast

from engine.errors import AuthError, BlockedAddress, EngineError, StopRequested, TransientError
from engine.http import OutcomeUnknown
from engine.pipeline.limits import CHECKPOINT_ITEMS, ITEM_WORKERS, POLL_SECONDS
from engine.pipeline.stops import Interrupted, StopRun
from engine.settle import Deferred, phase_key

T = TypeVar("T")

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class WorkerPool:
    """Runs tasks on threads; settling tasks wait in a deadline queue."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def run_pool(
        self,
        tasks: Sequence[T],
        work: Callable[[T], None],
        *,
        ids_of: Callable[[T], Sequence[int]],
        workers: int = ITEM_WORKERS,
        prepare: Callable[[list[T]], None] | None = None,
        group: int = CHECKPOINT_ITEMS,
    ) -> None:
        """Run ``work`` over ``tasks`` with ``workers`` threads, checkpointing as it goes.

        ``prepare`` sees each group of tasks before any of them starts (to read
        ADO in bulk and to save write intents). A task that raises
        :class:`~engine.settle.Deferred` (a write of it is settling) goes back in
        the queue for its deadline while the other tasks go on; the pool ends when
        every task, deferred ones included, is done, or when the run stops.
        """
        phase = self.ctx.phase  # the caller's: pools of several phases may run at once
        pos, ready = 0, deque[T]()
        later: list[tuple[float, int, T]] = []  # (deadline, order, task): deferred work
        seq = 0
        running: dict[Future[Deferred | None], T] = {}
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="migrate") as pool:
            while True:
                stopping = self.ctx.stops.is_set()
                if not stopping:
                    now = self.ctx.settle.clock()
                    while later and later[0][0] <= now:
                        ready.appendleft(heapq.heappop(later)[2])
                    if not ready and pos < len(tasks):
                        batch = list(tasks[pos : pos + group])
                        pos += group
                        if prepare is not None:
                            prepare(batch)
                        ready.extend(batch)
                    while ready and len(running) < workers and not self.ctx.stops.is_set():
                        task = ready.popleft()
                        running[pool.submit(self.guard, work, task, ids_of, phase)] = task
                idle = not running and not ready and pos >= len(tasks)
                if not running and (stopping or (idle and not later)):
                    break
                if running:
                    done, _ = wait(list(running), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                    for future in done:
                        task = running.pop(future)
                        deferred = future.result()  # _guard lets through only crashes
                        if deferred is not None:
                            self.ctx.settle.count("deferred", "work")
                            seq += 1
                            again = cast(T, deferred.task) if deferred.task is not None else task
                            heapq.heappush(later, (deferred.until, seq, again))
                elif idle and later:
                    # only settling work is left: wait for the first deadline, stop-aware
                    self.ctx.stops.wait(
                        max(0.0, min(POLL_SECONDS, later[0][0] - self.ctx.settle.clock()))
                    )
                self.ctx.checkpointer.checkpoint()
        self.ctx.checkpointer.checkpoint(force=True)
        self.ctx.raise_if_stopped()

    def guard(
        self,
        work: Callable[[T], None],
        task: T,
        ids_of: Callable[[T], Sequence[int]],
        phase: int,
    ) -> Deferred | None:
        self.ctx.own_phase(phase)  # this thread works for the pool's phase
        try:
            work(task)
        except Interrupted:
            return None
        except Deferred as deferred:
            return deferred
        except StopRequested:
            return None  # the transport saw the stop before sending
        except (AuthError, BlockedAddress) as exc:
            # every later call would be refused the same way: the run cannot go on
            self.ctx.request_stop(StopRun("FAILED", str(exc)))
        except OutcomeUnknown as exc:
            return self.ctx.markers.ambiguous(
                [phase_key(phase, i) for i in ids_of(task)],
                ids_of(task),
                exc,
                kind=getattr(exc, "write_kind", None),
            )
        except TransientError as exc:
            self.ctx.fail_all(ids_of(task), f"transient errors exhausted: {exc}")
        except EngineError as exc:
            self.ctx.fail_all(ids_of(task), str(exc))
        except Exception as exc:  # a bug on one item must not end the run
            self.ctx.fail_all(ids_of(task), f"internal error: {exc!r}")
        return None
