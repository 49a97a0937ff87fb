"""Phase 4 files: inline images and attachments, uploaded once."""

from __future__ import annotations

import mimetypes
import tempfile
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, cast

from engine import provenance
from engine.content import issue_content, overflow_file_name
from engine.errors import AuthError, ForeignOrigin, PermanentError
from engine.html_tree import image_sources
from engine.http import OutcomeUnknown
from engine.itembook import SkippedFile
from engine.model import AttachmentRef, Comment, WorkItem
from engine.multipart import FilePart
from engine.pipeline.limits import OVERFLOW_KEY, UPLOAD_GROUP_BYTES, UPLOAD_GROUP_FILES
from engine.pipeline.util import web_url
from engine.ports import LedgerEntry
from engine.refs import attachment_file_name, attachment_guid

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class Attachments:
    """Uploads the files of one item: each once, oversized or foreign ones listed."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def _wanted_files(self, wi: WorkItem, comments: Sequence[Comment]) -> list[AttachmentRef]:
        files = {a.id.lower(): a for a in wi.attachments}
        html = [v for v in wi.fields.values() if isinstance(v, str) and "<img" in v]
        html += [c.text for c in comments if "<img" in (c.text or "")]
        for fragment in html:
            for src in image_sources(fragment):
                guid = attachment_guid(src)
                if guid and guid not in files and self._own_origin(src):
                    name = attachment_file_name(src) or f"image-{guid[:8]}.png"
                    files[guid] = AttachmentRef(guid, name, src)
        return list(files.values())

    def _own_origin(self, url: str) -> bool:
        """The ADO client decides: its credential goes to its own origin only."""
        return self.ctx.source.is_own_origin(url)

    def _note_foreign_images(
        self, wi: WorkItem, entry: LedgerEntry, comments: Sequence[Comment]
    ) -> None:
        """Images on another origin are never fetched (no credential, no request from
        the worker): they stay links to where they are, and the report lists them."""
        html = [v for v in wi.fields.values() if isinstance(v, str) and "<img" in v]
        html += [c.text for c in comments if "<img" in (c.text or "")]
        foreign = [
            src
            for fragment in html
            for src in image_sources(fragment)
            if src.lower().startswith(("http://", "https://")) and not self._own_origin(src)
        ]
        for src in dict.fromkeys(foreign):
            self._not_fetched(
                entry, src, "on another origin than Azure DevOps: not fetched, kept as a link"
            )

    def _not_fetched(self, entry: LedgerEntry, url: str, reason: str) -> None:
        with self.ctx.lock:
            self.ctx.book(entry).add_not_fetched(url, reason)
            self.ctx.dirty_ledger.add(entry.ado_id)
        self.ctx.write_rule(
            entry, "inline-image-not-fetched", f"inline-image-not-fetched: {url[:120]} ({reason})"
        )

    def upload_all(
        self,
        wi: WorkItem,
        entry: LedgerEntry,
        comments: Sequence[Comment],
        existing: dict[str, Any] | None,
    ) -> None:
        with _Group(entry, existing) as group:
            self._queue_all(wi, entry, comments, group)
            group.flush(self._flush)

    def _queue_all(
        self, wi: WorkItem, entry: LedgerEntry, comments: Sequence[Comment], group: _Group
    ) -> None:
        """Download each file still to upload and queue it (a full group goes up)."""
        limit = self.ctx.plan.upload_limit
        self._note_foreign_images(wi, entry, comments)
        for ref in self._wanted_files(wi, comments):
            key = ref.id.lower()
            if key in entry.attachments or key in self._skipped_ids(entry):
                continue
            if limit is None:
                self._skip_file(entry, wi, ref, None, "attachments are disabled in Jira")
                continue
            if ref.size is not None and ref.size > limit:
                self._skip_file(entry, wi, ref, limit, "larger than Jira's upload limit")
                continue
            if not self._own_origin(ref.url):
                self._not_fetched(
                    entry,
                    ref.url,
                    f"attachment {ref.name!r} on another origin than Azure DevOps: not fetched",
                )
                continue
            try:
                spooled = self._download(ref)
            except ForeignOrigin as exc:  # the client's own reading of the URL disagreed
                self._not_fetched(entry, ref.url, f"not fetched: {exc.reason}")
                continue
            size = spooled.seek(0, 2)
            spooled.seek(0)
            if size > limit:
                spooled.close()
                self._skip_file(entry, wi, ref, limit, "larger than Jira's upload limit")
                continue
            inline = key not in {a.id.lower() for a in wi.attachments}
            group.add(_Queued(key, ref.name, size, spooled, inline), self._flush)
        overflow = issue_content(wi, self.ctx.entry_context(entry))
        if overflow.overflow_text and OVERFLOW_KEY not in entry.attachments:
            data = overflow.overflow_text.encode()
            spooled = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - queued
            spooled.write(data)
            spooled.seek(0)
            group.add(
                _Queued(OVERFLOW_KEY, overflow_file_name(wi.id), len(data), spooled, None),
                self._flush,
            )

    def _skipped_ids(self, entry: LedgerEntry) -> set[str]:
        return self.ctx.book(entry).skipped_ids()

    def _skip_file(
        self, entry: LedgerEntry, wi: WorkItem, ref: AttachmentRef, limit: int | None, why: str
    ) -> None:
        size = f"{ref.size} bytes" if ref.size is not None else "size unknown"
        self.ctx.write_rule(
            entry,
            "attachment-not-uploaded",
            f"attachment-not-uploaded: {ref.name} ({size}) {why}; listed on the "
            "issue with its Azure DevOps link",
        )
        with self.ctx.lock:
            self.ctx.book(entry).skipped_attachments.append(
                SkippedFile(
                    ref.id.lower(),
                    ref.name,
                    ref.size,
                    limit,
                    why,
                    ref.url,
                    web_url(self.ctx.ado_web, wi.id),
                )
            )
            self.ctx.dirty_ledger.add(entry.ado_id)

    def _download(self, ref: AttachmentRef) -> IO[bytes]:
        """The file spooled locally (memory, then disk): seekable for retries, size known.

        The caller closes it."""
        stream = self.ctx.source.open_attachment(ref.url)
        spooled = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - returned
        try:
            while chunk := stream.read(1 << 16):
                spooled.write(chunk)
        except BaseException:
            spooled.close()
            raise
        finally:
            stream.close()
        spooled.seek(0)
        return cast(IO[bytes], spooled)

    def _flush(self, group: _Group, files: list[_Queued]) -> None:
        """Upload ``files`` (one item's) in one request: those an earlier attempt left in
        Jira are adopted first; a refused request goes again one file a request."""
        entry, existing = group.entry, group.existing
        todo = [
            f
            for f in files
            if not (
                existing is not None and self._adopt_file(entry, f.key, f.name, f.size, existing)
            )
        ]
        if len(todo) > 1:
            try:
                self._send(entry, todo)
            except PermanentError as exc:
                if isinstance(exc, AuthError):
                    raise
                for queued in todo:  # e.g. too large together: each alone
                    self._send(entry, [queued])
        elif todo:
            self._send(entry, todo)
        for queued in files:
            if queued.inline is not None:
                rule = "inline-image-upload" if queued.inline else "attachment"
                self.ctx.write_rule(entry, rule)

    def _send(self, entry: LedgerEntry, files: list[_Queued]) -> None:
        self.ctx.check_stop()
        parts = []
        for queued in files:
            queued.data.seek(0)
            content_type = mimetypes.guess_type(queued.name)[0] or "application/octet-stream"
            parts.append(FilePart(queued.data, queued.name, content_type))
        # An OutcomeUnknown goes up: the item waits out the upload, then looks (by
        # name and size, each file) before anything is sent again.
        try:
            answer = self.ctx.target.add_attachments(entry.jira_key, parts)
        except OutcomeUnknown as exc:
            for queued in files:
                self.ctx.markers.note_ambiguous(
                    entry, exc, "attachment", queued.key, name=queued.name, size=queued.size
                )
            raise
        made = list(answer)
        for queued in files:
            found = next(
                (
                    a
                    for a in made
                    if a.get("filename") == queued.name and int(a.get("size") or -1) == queued.size
                ),
                made[0] if len(files) == 1 and made else None,
            )
            if found is not None:
                made.remove(found)
            self._record_file(entry, queued.key, found or {})

    def _adopt_file(
        self, entry: LedgerEntry, key: str, name: str, size: int, existing: dict[str, Any]
    ) -> bool:
        with self.ctx.lock:
            used = set(entry.attachments.values())
            for att in existing.get("attachments", []):
                att_id = str(att.get("id"))
                if (
                    att.get("filename") == name
                    and int(att.get("size") or -1) == size
                    and att_id not in used
                ):
                    self._record_file(entry, key, att)
                    return True
        return False

    def _record_file(self, entry: LedgerEntry, key: str, att: Mapping[str, Any]) -> None:
        with self.ctx.lock:
            entry.attachments[key] = str(att.get("id", ""))
            book = self.ctx.book(entry)
            provenance.note(book, self.ctx.spec.run_id, attachment=key)
            if att.get("content"):
                book.attachment_urls[key] = str(att["content"])
            self.ctx.dirty_ledger.add(entry.ado_id)


@dataclass
class _Queued:
    """A downloaded file waiting for its upload request (``inline``: None for the
    description's overflow file, which is no ADO attachment)."""

    key: str
    name: str
    size: int
    data: IO[bytes]
    inline: bool | None


class _Group:
    """An item's small files gathered for one upload request; a large file goes alone.
    Closes every spooled file it was given."""

    def __init__(self, entry: LedgerEntry, existing: dict[str, Any] | None) -> None:
        self.entry, self.existing = entry, existing
        self.files: list[_Queued] = []
        self._stack = ExitStack()

    def __enter__(self) -> _Group:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def add(self, queued: _Queued, flush: Callable[[_Group, list[_Queued]], None]) -> None:
        self._stack.callback(queued.data.close)
        if queued.size > UPLOAD_GROUP_BYTES:
            flush(self, [queued])
            return
        size = sum(f.size for f in self.files)
        if self.files and (
            len(self.files) >= UPLOAD_GROUP_FILES or size + queued.size > UPLOAD_GROUP_BYTES
        ):
            self.flush(flush)
        self.files.append(queued)

    def flush(self, flush: Callable[[_Group, list[_Queued]], None]) -> None:
        files, self.files = self.files, []
        if files:
            flush(self, files)
