"""Phase 4, after the comments: the item's ADO history on its issue (``migrate_history``).

The revisions after the last one carried (``ItemBook.history_rev``, see
:func:`carried_rev`; none on a first run) are read through ``Updates_List`` and
rendered by :mod:`engine.history`: a history comment holding a collapsed
``expand`` section when short; when long, the complete history as an attached
Markdown file (``ado-{id}-history-from-rev-{n}.md`` for a later part, so no file
is replaced) and a short comment naming it.

Exactly once, like the other comments and attachments: the comment's header ends
in the marker ``· ADO history {from}-{to}`` and is recorded in ``entry.comments``
under ``history:{from}-{to}``; the file is recorded in ``entry.attachments`` under
``history:{name}`` and recognised by name and size. A write whose answer was lost
raises after noting it; after the settle the item comes back here with
``reconcile`` set and adopts what landed before sending anything again.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

from engine import provenance
from engine.adf_nodes import Node, adf_to_text, doc, paragraph, strong
from engine.history import build_history, render_history
from engine.http import OutcomeUnknown
from engine.model import WorkItem
from engine.ports import LedgerEntry

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext

MARKER = "ADO history"
HISTORY_PROPERTY = "ado.history"
_MARKER_RE = re.compile(r"· ADO history (\d+)-(\d+)")


def history_key(first: int, last: int) -> str:
    return f"history:{first}-{last}"


def marker_of(body: Any) -> str | None:
    """The ``history:{from}-{to}`` key a history comment's body carries, if any."""
    if not isinstance(body, dict):
        return None
    found = _MARKER_RE.search(adf_to_text(body))
    return history_key(int(found.group(1)), int(found.group(2))) if found else None


def carried_rev(entry: LedgerEntry, recorded: int | None) -> int:
    """The last revision whose history is on the issue.

    The book's ``history_rev``, unless the history comments the ledger knows end
    earlier (a rollback took a part off): then from the last part still there, so
    nothing taken off is lost.
    """
    parts = [
        int(key.rsplit("-", 1)[1])
        for key in entry.comments
        if key.startswith("history:") and key.rsplit("-", 1)[-1].isdigit()
    ]
    return min(recorded or 0, max(parts, default=0))


def _with_header(body: Node, wi: WorkItem, first: int, last: int) -> Node:
    line = f"Azure DevOps history of #{wi.id}, revisions {first}–{last} · {MARKER} {first}-{last}"
    return doc(paragraph([strong(line)]), *body.get("content", []))


class HistoryWriter:
    """Carries one item's new revisions (see the module docstring)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def carry(self, wi: WorkItem, entry: LedgerEntry, reconcile: bool) -> None:
        if not self.ctx.spec.migrate_history:
            return
        since = carried_rev(entry, self.ctx.book(entry).history_rev)
        if since >= wi.rev:
            return
        history = build_history(wi.id, self.ctx.source.work_item_updates(wi.id), since_rev=since)
        rendering = render_history(history)
        if rendering is None:
            self._done(entry, max(history.last_rev, wi.rev))
            return
        first = min(r.rev for r in history.revisions)
        key = history_key(first, history.last_rev)
        if reconcile:
            self._adopt(entry, rendering.file_name, rendering.file_text)
        if rendering.file_name and rendering.file_text is not None:
            self._attach(entry, rendering.file_name, rendering.file_text)
        if key not in entry.comments:
            body = _with_header(rendering.body, wi, first, history.last_rev)
            prop = {
                "key": HISTORY_PROPERTY,
                "value": {"adoId": wi.id, "fromRev": first, "toRev": history.last_rev},
            }
            self._comment(entry, key, body, prop)
        self.ctx.write_rule(entry, "history-file" if rendering.file_name else "history-comment")
        self._done(entry, max(history.last_rev, wi.rev))

    def _done(self, entry: LedgerEntry, rev: int) -> None:
        with self.ctx.lock:
            self.ctx.book(entry).history_rev = rev
            self.ctx.dirty_ledger.add(entry.ado_id)

    def adopt_comments(self, entry: LedgerEntry) -> None:
        """Record the history comments an attempt whose answer was lost left in Jira (by
        their marker), so that the settle look-up counts them as landed."""
        found = {
            key: str(c.get("id"))
            for c in self.ctx.target.comments(entry.jira_key)
            if (key := marker_of(c.get("body"))) is not None
        }
        with self.ctx.lock:
            for key, jira_id in found.items():
                entry.comments.setdefault(key, jira_id)
            self.ctx.dirty_ledger.add(entry.ado_id)

    def _adopt(self, entry: LedgerEntry, file_name: str | None, file_text: str | None) -> None:
        """Record what an earlier attempt whose answer was lost left in Jira."""
        self.adopt_comments(entry)
        size = len(file_text.encode()) if file_text is not None else -1
        files = [
            a
            for a in (self.ctx.target.attachments(entry.jira_key) if file_name else [])
            if a.get("filename") == file_name and int(a.get("size") or -1) == size
        ]
        with self.ctx.lock:
            if files and file_name:
                entry.attachments.setdefault(f"history:{file_name}", str(files[0].get("id")))
            self.ctx.dirty_ledger.add(entry.ado_id)

    def _attach(self, entry: LedgerEntry, name: str, text: str) -> None:
        key = f"history:{name}"
        if key in entry.attachments:
            return
        data = text.encode()
        self.ctx.check_stop()
        try:
            answer = self.ctx.target.add_attachment(
                entry.jira_key, name, io.BytesIO(data), "text/markdown"
            )
        except OutcomeUnknown as exc:
            self.ctx.markers.note_ambiguous(
                entry, exc, "attachment", key, name=name, size=len(data)
            )
            raise
        with self.ctx.lock:
            entry.attachments[key] = str((answer[0] if answer else {}).get("id", ""))
            provenance.note(self.ctx.book(entry), self.ctx.spec.run_id, attachment=key)
            self.ctx.dirty_ledger.add(entry.ado_id)

    def _comment(self, entry: LedgerEntry, key: str, body: Node, prop: dict[str, Any]) -> None:
        self.ctx.check_stop()
        try:
            jira_id = self.ctx.target.add_comment(entry.jira_key, body, [prop])
        except OutcomeUnknown as exc:
            self.ctx.markers.note_ambiguous(entry, exc, "comment", key)
            raise
        with self.ctx.lock:
            entry.comments[key] = jira_id
            provenance.note(self.ctx.book(entry), self.ctx.spec.run_id, comment=key)
            self.ctx.dirty_ledger.add(entry.ado_id)
