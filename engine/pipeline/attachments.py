"""Phase 4 files: inline images and attachments, uploaded once."""

from __future__ import annotations

import mimetypes
import tempfile
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, cast

from engine import provenance
from engine.content import issue_content, overflow_file_name
from engine.errors import ForeignOrigin
from engine.html_tree import image_sources
from engine.http import OutcomeUnknown
from engine.itembook import SkippedFile
from engine.model import AttachmentRef, Comment, WorkItem
from engine.pipeline.limits import OVERFLOW_KEY
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
            with spooled:
                size = spooled.seek(0, 2)
                spooled.seek(0)
                if size > limit:
                    self._skip_file(entry, wi, ref, limit, "larger than Jira's upload limit")
                    continue
                self._upload(entry, key, ref.name, size, spooled, existing)
            inline = key not in {a.id.lower() for a in wi.attachments}
            self.ctx.write_rule(entry, "inline-image-upload" if inline else "attachment")
        overflow = issue_content(wi, self.ctx.entry_context(entry))
        if overflow.overflow_text and OVERFLOW_KEY not in entry.attachments:
            data = overflow.overflow_text.encode()
            with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spooled:
                spooled.write(data)
                spooled.seek(0)
                self._upload(
                    entry, OVERFLOW_KEY, overflow_file_name(wi.id), len(data), spooled, existing
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

    def _upload(
        self,
        entry: LedgerEntry,
        key: str,
        name: str,
        size: int,
        data: IO[bytes],
        existing: dict[str, Any] | None,
    ) -> None:
        if existing is not None and self._adopt_file(entry, key, name, size, existing):
            return
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        self.ctx.check_stop()
        data.seek(0)
        # An OutcomeUnknown goes up: the item waits out the upload, then looks (by
        # name and size) before anything is sent again.
        try:
            answer = self.ctx.target.add_attachment(entry.jira_key, name, data, content_type)
        except OutcomeUnknown as exc:
            self.ctx.markers.note_ambiguous(entry, exc, "attachment", key, name=name, size=size)
            raise
        self._record_file(entry, key, answer[0] if answer else {})

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
