"""The phased migration pipeline: ``run_migration``.

Layout (one module per job; each phase behind :class:`~engine.pipeline.phase.Phase`):

- ``loop``        the run loop: phase 1 or the saved plan, then phases 2-6 chunk by
                  chunk (2 to 5 at once, ``feed`` their hand-over); pause, cancel,
                  lease loss, finish, fail.
- ``context``     :class:`~engine.pipeline.context.RunContext`: what the phases share
                  (spec, ports, typed plan, ledger and item books, settle book,
                  counters) and the per-item bookkeeping helpers.
- ``checkpoint``  heartbeat, flush of items/ledger/unsettled marks, progress and log
                  events, control polling, the report.
- ``pool``        the worker pool: threads, deferral queue for settling work.
- ``slices``      one run over several workers: phases 3 to 5 in slices claimed under a
                  lease by any worker (``run_slice``); the coordinator merges them.
- ``markers``     exactly-once glue: intents, ambiguous outcomes, settle and adopt,
                  the ``ado-{id}`` label and ``ado.migration`` property.
- ``runplan``     the typed, versioned plan (:class:`~engine.pipeline.runplan.RunPlan`);
                  the per-item bookkeeping is :class:`engine.itembook.ItemBook`.
- ``plan``, ``discovery``, ``components``, ``sprints``  phase 1 (``discovery`` the
  planning view of each item; sprints also closes past sprints).
- ``create``, ``payloads``  phase 2; ``states`` phase 3 (``states_bulk`` its bulk
  rounds, ``workflows`` the transitions known per type and status); ``content``, ``attachments``
  phase 4 (``history`` its last step); ``links``, ``relation_setup`` phase 5;
  ``verify`` phase 6 (repairs); ``dryrun`` a dry run.
- ``limits``, ``util``, ``stops``  tunables and fixed keys, pure helpers, stop signals.

Phases (``store.set_phase``; the report names them, see :data:`engine.report.PHASES`):

1. discover and plan: preflight (ADO access, Jira user, project, issue types,
   create screens, statuses), filters, SAMPLE selection, INCREMENTAL changed-since,
   type/state mappings, users, per-item decisions, components and sprints (see
   below); ``save_plan``. The work items are read 200 at a time and each is cut at
   once to what planning reads of it (``discovery``), so planning never holds the
   project's descriptions, relations or histories. A dry run stops here with a
   report holding the exact payloads for a sample of items; it reads the items
   again 200 at a time for the report's facts, folded as they come
   (``engine.report.FactTally``).
   Phase 1 also resolves ``options.field_map`` against the Jira fields on the
   create screens, or suggests one for every custom field the items use
   (``fields``, ``engine.fieldplan``), and applies ``options.user_map``; a map that
   cannot be filled fails a real run here, before any write (a dry run reports it).
   The story points field is found by name ("Story Points", or "Story point
   estimate" in a team-managed project).
2. create issues, parents first (Epic level, then standard, then sub-tasks), in
   bulk requests of 50 with several in flight; edit changed issues in place; then
   move the issues into their sprints (50 a request) and complete past sprints.
   The first transition of an item's path rides in its create body
   (``transition``) once the run knows it (``workflows``: one item of each new type
   is created ahead of the others to learn its initial status and transitions); the
   ledger records the status after it, or none when Jira's answer does not say.
   Each issue's content (``engine.content``) carries the mapped fields
   (``engine.fieldapply``), acceptance criteria in their Jira field or the
   description's uncut tail, and a test case's steps and parameters as tables
   (``engine.testcase_content``, shared steps expanded).
3. reach target states by walking the workflow's transitions, whose ids are learned
   once per (issue type, status) and reused (a refused one makes the walker read the
   status and learn again). With the global Bulk change permission
   (``GET /mypermissions``), a chunk's items move together, a step a round, grouped by
   (type, status, transition) into ``POST /bulk/issues/transition`` requests of up to
   1,000 issues without notifications, followed on ``GET /bulk/queue/{taskId}``;
   issues a task failed, and every item without the permission, walk one by one.
4. attachments (inline images included, then the description is edited to show
   them from Jira), then comments in order, then the item's ADO history
   (``history``: a history comment, or an attached Markdown file and a comment
   naming it when long; later runs append only the revisions after the last one
   carried).
5. links (after both ends exist), each relation decided by
   ``engine.relations.decide_relation`` (``relation_setup`` reads the site's link
   types and the ADO repository and link type names once per run): work-item
   links by ``link_type_map``, the defaults, then the site's link types by name;
   out-of-scope ends, unmatched link types, links into another organisation and
   development (artifact) links become remote links to ADO; every issue gets a
   remote link back to its ADO work item.
6. verify: count what Jira holds (search on the ``ado-*`` labels) against the plan.

Phases 2 to 5 run at once (``loop``): they write to different endpoints (creates and
sprint moves; transitions; uploads, edits and comments; links and remote links), so
each runs in its own thread through its own chunks and pool, and every endpoint's
budget is in use instead of one phase's at a time. Beside phase 2, phases 3 and 4
take the issues as phase 2 makes them (``feed.CreateFeed``; at least
``stream_batch`` at a time: states by the thousand, for its bulk requests), and so
do links: an item whose link's other end (in the run) is not made yet writes its
other links and remote links and leaves that one, and the item, for the last pass.
Each does a last pass over what is left once phase 2 has ended. An item whose
description or comment names an item of the run not made yet is set aside for that
last pass (``ContentContext.awaited``, :class:`~engine.pipeline.stops.AwaitCreates`), so every
reference still gets its Jira key. The run shows the lowest phase still running; a
phase is recorded done as it ends (beside phase 2, once 2 is). A stop or a failure
in one stops the others at their next write. What they share per item is kept
apart by phase: settle keys, intents (``ItemBook.pending``, one per phase), the
ambiguous writes each resolves (by kind), the work items read ahead
(``RunContext.prefetch``, per phase).

Exactly once
    Every write is recorded in the project's ledger (``LedgerEntry``) as soon as
    it succeeds and is never repeated once recorded. Where an outcome can be
    unknown, nothing is sent again before Jira can have shown whether it landed:

    - Issues carry the label ``ado-{id}`` and the issue property ``ado.migration``
      (``{"adoId", "rev"}``), both set atomically in the create body. The intent
      to create is saved (``ItemRecord.attempts`` incremented) before a bulk
      request is sent. Before creating anything, phase 2 searches Jira for the
      labels of every item it is about to create that the ledger does not know
      (``project = KEY AND labels in (...)``, 100 labels a query) and adopts what
      it finds.
    - Comments carry a marker in their visible header ("· ADO comment {id}"): the
      body comes back with every comment, as the specification documents, so a
      comment is recognised without undocumented expansions. Older comments are
      recognised by their ``ado.comment`` property, read through the documented
      ``GET /comment/{id}/properties/{key}``. Attachments are recognised by file
      name and size. Transitions move to a named status: the status is read again
      before any other step. A bulk transition whose answer was lost, or whose task
      could not be followed to its end, leaves each of its items settling; they are
      read (``POST /issue/bulkfetch`` or the issue) after the deadline, never sent again
      blindly. Issue links and remote links are documented not to
      double when sent again (a duplicate link "is created" without a second one;
      remote links upsert by ``globalId``).
    - A write whose answer was lost (a timeout, a dropped connection, a
      500/502/504: ``OutcomeUnknown``) may still be running in Jira, so a look
      right after it proves nothing. Its item is *settling* (``engine.settle``):
      the mark is saved in the project's store with a deadline ``settle_seconds``
      ahead (at least the client's timeout plus a margin; ``RunSpec``), the item's
      work goes back into the phase's queue for that deadline while other items
      go on, and only then does the work look in Jira (labels, comment markers,
      files, status), adopt what landed and send what is still missing. The marks
      are project-wide: a paused, cancelled, taken-over or next run honours them.
    - Before each group of phase 3 and 4 work, the item's pending intent for that
      phase (``ItemBook.pending``) is saved with a token of this process; the plan names
      the process that may have writes in flight (``RunPlan.live``). A process
      that takes over from one that died holds every write the dead one may have
      had open (its create intents and pending groups) for ``settle_seconds`` from
      the take-over, then looks.
    - Should a copy land anyway (Jira later than any settle time), verify (phase
      6) finds it (several issues with one label; on the items an ambiguous write
      touched, comments with one marker, the same file twice, the same link
      twice), keeps what the ledger knows and removes the others when the
      migration account made them and nobody changed them since
      (``engine.repair``); every repair, or reason to leave one, is in the report.
    - Per item and phase, ``ItemBook.steps[phase] = rev`` marks completion, set
      only after all of the item's writes in that phase succeeded;
      ``ItemBook.synced_rev`` marks an item whose every phase is done.
    - ``report["exactlyOnce"]`` counts, by kind of write, what was ambiguous,
      deferred, adopted, sent again and repaired.

Provenance
    Every write is also recorded under the run's id (``RunSpec.run_id``) in the
    item's ``ItemBook.runs`` (``engine.provenance``): created, comments,
    attachments, links added, fields edited, status moved, and the issue's
    ``updated`` as verify sees it after the last write. A rollback of the run
    (``engine.rollback``) removes exactly that share.

Stops
    Pause and cancel set a flag that the HTTP clients read before every attempt
    and while waiting out a backoff or a ``Retry-After`` (``StopRequested``): a
    request not yet sent is never sent after a stop; one already sent still
    reports its outcome, so nothing is left unrecorded.

Resume
    A resumed, taken-over or redelivered run finds its plan (``load_plan``) and
    skips phase 1; phases already finished are skipped (``RunPlan.phases_done``)
    and, within a phase, items whose step is recorded. Checkpoints run at least
    every second and every 50 items: ``heartbeat`` (False: another worker owns the
    run, stop at once and touch nothing more), ``save_items``/``save_ledger``,
    progress and log events, then ``control.poll`` (pause/cancel). Workers check
    a stop flag before every write, so a pause returns within about a second with
    no item half-written.

    The plan is saved in two parts (schema version 3): its per-item decisions as
    rows, once, as phase 1 ends (``store.save_plan_items``), and the rest as
    ``RunPlan.to_dict()`` at each phase's end, which names how many rows there are
    and so stays the same size for any project. A plan of version 2 (items inside it)
    or saved by the engine before the typed plan (version 1) is converted on load, the
    run resumes from it and its next save writes version 3 and the rows; a plan of any
    other version, or of version 3 with rows missing, fails the run with the reason
    (``PlanVersionError``) and nothing is written. The per-item bookkeeping is
    saved in ``LedgerEntry.extra`` as ``ItemBook.to_dict()`` under the keys it
    always had; an entry written before the typed book loads as version 1.

Components (area paths)
    Only when "components" is on a create screen the run uses. Each area path of
    a planned item below the project root becomes the component named after that
    path below the root, "/"-joined (``Web/Checkout``; not the leaf alone, which two
    teams may share). Existing components are matched by name (case-insensitive)
    before anything is created, so a resumed or repeated run creates none twice;
    the ones created are recorded in the plan. A 403 on create (the user is not a
    project admin) stops creating: the remaining areas become ``area-…`` labels and
    the report says so. A dry run creates nothing and reports what it would create.

Sprints (iteration paths)
    Only when the project has a scrum board. Each iteration path of a planned item
    below the root maps to the board's sprint of the same name (the iteration's
    leaf name; the path below the root when two used iterations share a leaf), or
    a new one created with the iteration's start and finish dates. Jira creates
    sprints *future* and only moves issues into future or active sprints, so the
    order is: create (phase 1) → create the issues (phase 2) → move them, 50 per
    ``POST /sprint/{id}/issue`` (recorded per item in ``ItemBook.sprint``, and a
    move is harmless to repeat) → complete the sprints this migration created whose
    finish date is past (future → active → closed, one at a time, oldest first, as
    a board without parallel sprints requires; recorded in the plan). The Sprint
    field is not set at create time: it is not on every create screen, and a past
    sprint must stay open until its issues are in. Iterations whose sprint is
    already closed (a later incremental run), or all of them without a board,
    become ``iteration-…`` labels.

Reruns
    A FULL rerun skips items already fully migrated at the same ADO ``rev`` and
    UPDATES changed ones in place (fields edited, new comments and attachments
    appended, state re-reached); it never creates a second issue. INCREMENTAL
    does the same for the items created or changed since ``changed_since``.
    Edited or deleted ADO comments are not re-synced (only new ones are added).
"""

from __future__ import annotations

from engine.pipeline.context import Ports, RunContext
from engine.pipeline.loop import RunLoop, run_slice
from engine.ports import (
    AdoSource,
    CheckpointStore,
    ControlSignal,
    EventSink,
    JiraTarget,
    RunOutcome,
    RunSpec,
    SliceBoard,
)

__all__ = ["run_migration", "run_slice"]


def run_migration(
    spec: RunSpec,
    *,
    source: AdoSource,
    target: JiraTarget,
    store: CheckpointStore,
    events: EventSink,
    control: ControlSignal,
    board: SliceBoard | None = None,
) -> RunOutcome:
    """Run (or resume) one migration run; see the package docstring. With ``board``
    (and ``spec.slice_items``), phases 3 to 5 are shared with other workers
    (``slices``); they run :func:`run_slice` for the slices they claim."""
    ctx = RunContext(spec, Ports(source, target, store, events, control, board))
    return RunLoop(ctx).execute()
