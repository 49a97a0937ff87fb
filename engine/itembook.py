"""The pipeline's bookkeeping for one item, as typed, versioned state: :class:`ItemBook`.

It travels in :attr:`engine.ports.LedgerEntry.extra`, which the store saves and
loads verbatim: :meth:`ItemBook.to_dict` writes the keys the engine has always
written there (so a report, a rollback or an older reader finds them where they
were), plus ``v`` (:data:`BOOK_VERSION`). An ``extra`` without ``v`` is version
1, the untyped form: :meth:`ItemBook.from_dict` reads it, converting the one
obsolete key (``pending4``, the phase-4 intent of an early engine). Keys it does
not know are kept as they are (``other``) so nothing saved is ever dropped. A
version it cannot read is refused with :class:`BookVersionError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.errors import RunAborted
from engine.provenance import RunWrites

BOOK_VERSION = 2
NOTES_KEPT = 20
IMAGES_KEPT = 50


class BookVersionError(RunAborted):
    """A ledger entry's bookkeeping is of a version this engine cannot read."""


@dataclass
class PendingIntent:
    """Writes of ``phase`` may be in flight from the process holding ``token``."""

    token: str
    phase: int


@dataclass
class AmbiguousWrite:
    """A write whose answer was lost: after the settle, adopted or sent again."""

    kind: str  # comment | attachment | transition
    id: str  # ADO comment id, attachment key, status name
    name: str | None = None  # attachments: file name and size, to recognise it
    size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"kind": self.kind, "id": self.id}
        if self.name is not None:
            row.update(name=self.name, size=self.size)
        return row


@dataclass
class SkippedFile:
    """An attachment not uploaded (too large, attachments off); listed on the issue."""

    id: str
    name: str
    size: int | None
    limit: int | None
    reason: str
    ado_url: str
    item_url: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "limit": self.limit,
            "reason": self.reason,
            "adoUrl": self.ado_url,
            "itemUrl": self.item_url,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SkippedFile:
        return cls(
            id=str(raw.get("id") or ""),
            name=str(raw.get("name") or ""),
            size=raw.get("size"),
            limit=raw.get("limit"),
            reason=str(raw.get("reason") or ""),
            ado_url=str(raw.get("adoUrl") or ""),
            item_url=str(raw.get("itemUrl") or ""),
        )


@dataclass
class NotFetched:
    """A content URL never fetched (another origin): kept as a link."""

    url: str
    reason: str


@dataclass
class Unreachable:
    """The mapped status cannot be reached: where the issue was left instead."""

    jira_type: str
    status: str
    left_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"jiraType": self.jira_type, "status": self.status, "leftAt": self.left_at}


@dataclass
class ContentFacts:
    """What the content rules made of an item's fields, for the fidelity report."""

    rules: list[str]
    notes: list[str]
    unmapped_users: list[str]
    desc_hash: str


@dataclass
class ItemBook:
    """Per-item bookkeeping of every run on the item (see the module docstring)."""

    steps: dict[int, int] = field(default_factory=dict)  # write phase → ADO rev it finished
    synced_rev: int | None = None  # every phase done at this rev
    resync: bool = False  # a rollback took content off: the next run writes it again
    # one per phase with writes that may be in flight (phases 2 to 5 run at once)
    pending: list[PendingIntent] = field(default_factory=list)
    suspect: bool = False  # an ambiguous write touched it: verify looks for copies
    ambiguous: list[AmbiguousWrite] = field(default_factory=list)
    adopted: bool = False  # found in Jira, not created here: phase 4 reads back first
    jira_type_id: str | None = None  # stored as "type"
    level: int | None = None  # the issue type's hierarchy level
    parent_set: int | None = None  # ADO id set as fields.parent at create
    sprint: int | None = None  # sprint the issue was moved into
    rules: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unmapped_users: list[str] = field(default_factory=list)
    desc_hash: str | None = None  # digest of the description as last written
    write_rules: list[str] = field(default_factory=list)
    write_notes: list[str] = field(default_factory=list)
    skipped_attachments: list[SkippedFile] = field(default_factory=list)
    images_not_fetched: list[NotFetched] = field(default_factory=list)
    attachment_urls: dict[str, str] = field(default_factory=dict)  # ledger key → content URL
    unreachable: Unreachable | None = None
    history_rev: int | None = None  # the last ADO revision carried in the history
    runs: dict[str, RunWrites] = field(default_factory=dict)  # engine.provenance
    other: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    # ------------------------------------------------------------------ changes
    def take_facts(self, facts: ContentFacts) -> None:
        self.rules = list(facts.rules)
        self.notes = list(facts.notes)
        self.unmapped_users = list(facts.unmapped_users)
        self.desc_hash = facts.desc_hash

    def intend(self, token: str, phase: int) -> None:
        """Writes of ``phase`` may leave from the process holding ``token``."""
        self.pending = [p for p in self.pending if p.phase != phase]
        self.pending.append(PendingIntent(token, phase))

    def clear_intent(self, phase: int) -> None:
        self.pending = [p for p in self.pending if p.phase != phase]

    def foreign_intents(self, token: str) -> list[PendingIntent]:
        """Intents saved by another process (one that may have died with writes open)."""
        return [p for p in self.pending if p.token != token]

    def add_rules(self, *rules: str) -> None:
        self.write_rules = sorted(set(self.write_rules) | set(rules))

    def add_write_note(self, note: str) -> None:
        if note not in self.write_notes and len(self.write_notes) < NOTES_KEPT:
            self.write_notes.append(note)

    def add_not_fetched(self, url: str, reason: str) -> None:
        url = url[:500]
        if len(self.images_not_fetched) < IMAGES_KEPT and all(
            r.url != url for r in self.images_not_fetched
        ):
            self.images_not_fetched.append(NotFetched(url, reason))

    def skipped_ids(self) -> set[str]:
        return {s.id for s in self.skipped_attachments}

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        """The ``extra`` dict: only what is set, under the keys it always had."""
        out: dict[str, Any] = dict(self.other)
        out["v"] = BOOK_VERSION
        values: dict[str, Any] = {
            "steps": {str(p): rev for p, rev in sorted(self.steps.items())},
            "synced_rev": self.synced_rev,
            "resync": self.resync or None,
            "pending": [asdict(p) for p in self.pending] or None,
            "suspect": self.suspect or None,
            "ambiguous": [a.to_dict() for a in self.ambiguous],
            "adopted": self.adopted or None,
            "type": self.jira_type_id,
            "level": self.level,
            "parent_set": self.parent_set,
            "sprint": self.sprint,
            "desc_hash": self.desc_hash,
            "unreachable": self.unreachable.to_dict() if self.unreachable else None,
            "history_rev": self.history_rev,
            "skipped_attachments": [s.to_dict() for s in self.skipped_attachments],
            "images_not_fetched": [asdict(r) for r in self.images_not_fetched],
            "attachment_urls": dict(self.attachment_urls),
            "runs": {run: w.to_dict() for run, w in self.runs.items()},
        }
        for key in ("rules", "notes", "unmapped_users", "write_rules", "write_notes"):
            values[key] = list(getattr(self, key))
        out.update({k: v for k, v in values.items() if v is not None and v != [] and v != {}})
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> ItemBook:
        raw = dict(raw or {})
        version = raw.pop("v", 1)
        if version not in (1, BOOK_VERSION):
            raise BookVersionError(
                f"a ledger entry's bookkeeping has version {version!r}; this engine reads "
                f"versions 1 and {BOOK_VERSION}"
            )
        book = cls(
            steps={int(p): int(rev) for p, rev in (raw.pop("steps", None) or {}).items()},
            synced_rev=_int(raw.pop("synced_rev", None)),
            resync=bool(raw.pop("resync", False)),
            pending=_pending(raw.pop("pending", None)),
            suspect=bool(raw.pop("suspect", False)),
            ambiguous=[_ambiguous(r) for r in raw.pop("ambiguous", None) or []],
            adopted=bool(raw.pop("adopted", False)),
            jira_type_id=_str(raw.pop("type", None)),
            level=_int(raw.pop("level", None)),
            parent_set=_int(raw.pop("parent_set", None)),
            sprint=_int(raw.pop("sprint", None)),
            desc_hash=_str(raw.pop("desc_hash", None)),
            unreachable=_unreachable(raw.pop("unreachable", None)),
            history_rev=_int(raw.pop("history_rev", None)),
            skipped_attachments=[
                SkippedFile.from_dict(s) for s in raw.pop("skipped_attachments", None) or []
            ],
            images_not_fetched=[
                NotFetched(str(r.get("url") or ""), str(r.get("reason") or ""))
                for r in raw.pop("images_not_fetched", None) or []
            ],
            attachment_urls={
                str(k): str(v) for k, v in (raw.pop("attachment_urls", None) or {}).items()
            },
            runs={
                str(run): RunWrites.from_dict(w) for run, w in (raw.pop("runs", None) or {}).items()
            },
        )
        for key in ("rules", "notes", "unmapped_users", "write_rules", "write_notes"):
            setattr(book, key, [str(x) for x in raw.pop(key, None) or []])
        if raw.pop("pending4", None):
            # an early engine's phase-4 intent: read back what is there, as after an adoption
            book.adopted = True
        book.other = raw
        return book


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float | str) and str(value).strip() else None


def _str(value: Any) -> str | None:
    return str(value) if value is not None else None


def _pending(raw: Any) -> list[PendingIntent]:
    """A list of intents; an engine before phases ran at once saved one, as a dict."""
    rows = [raw] if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    return [
        PendingIntent(str(r.get("token") or ""), int(r.get("phase") or 0))
        for r in rows
        if isinstance(r, dict)
    ]


def _ambiguous(raw: Mapping[str, Any]) -> AmbiguousWrite:
    size = raw.get("size")
    return AmbiguousWrite(
        kind=str(raw.get("kind") or ""),
        id=str(raw.get("id") or ""),
        name=str(raw["name"]) if raw.get("name") is not None else None,
        size=int(size) if size is not None else None,
    )


def _unreachable(raw: Any) -> Unreachable | None:
    if not isinstance(raw, dict):
        return None
    return Unreachable(
        str(raw.get("jiraType") or ""), str(raw.get("status") or ""), str(raw.get("leftAt") or "")
    )
