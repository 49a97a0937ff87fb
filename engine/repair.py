"""Finding duplicates that slipped through, and deciding which copies may go.

Exactly once is kept by never re-sending a write before Jira has shown it did
not land (engine.settle). Should a copy land anyway (a request Jira applied later
than any settle deadline allowed for), the verify phase looks for it here:

- issues: several issues carrying the same ``ado-{id}`` label;
- comments: several comments on one issue with the same ADO comment marker;
- attachments: the same file name and size twice on one issue;
- links: the same link type to the same issue, in the same direction, twice.

The copy the ledger knows is kept. Another copy is removed only when the
migration account made it and nobody changed it since (an issue's ``updated``
equal to its ``created``, a comment never edited); anything else is listed
and left alone. These functions only decide; the pipeline removes and reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Kind = Literal["issue", "comment", "attachment", "link"]
# Jira stamps both with the same instant when it creates something; any later change
# moves ``updated`` (a millisecond of slack for the rendering of the stamps).
UNCHANGED_SLACK_SECONDS = 0.001


@dataclass(frozen=True)
class Copy:
    """One extra copy of something the run wrote once: removed, or left with ``why``."""

    kind: Kind
    ado_id: int
    jira_key: str  # the issue it is on (for an issue: the duplicate issue itself)
    copy_id: str  # the duplicate's own id (issue key, comment id, attachment id, link id)
    kept: str  # what the ledger knows and keeps
    why_left: str = ""  # empty: may be removed

    @property
    def removable(self) -> bool:
        return not self.why_left

    def to_dict(self, *, removed: bool, error: str = "") -> dict[str, Any]:
        out = {
            "kind": self.kind,
            "adoId": self.ado_id,
            "issue": self.jira_key,
            "duplicate": self.copy_id,
            "kept": self.kept,
            "removed": removed,
        }
        if self.why_left or error:
            out["reason"] = self.why_left or error
        return out


def jira_time(value: Any) -> datetime | None:
    """Jira's ``2024-01-31T09:30:00.000+0000`` (or ISO 8601), else None."""
    if not isinstance(value, str) or not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def unchanged(created: Any, updated: Any) -> bool:
    """True when nothing happened to the thing after it was made."""
    made, changed = jira_time(created), jira_time(updated)
    if made is None or changed is None:
        return False
    return (changed - made).total_seconds() <= UNCHANGED_SLACK_SECONDS


def _account(person: Any) -> str:
    return str((person or {}).get("accountId") or "") if isinstance(person, dict) else ""


def _why_not_ours(author: Any, me: str) -> str:
    if not me:
        return "the migration account is not known: left for a person to check"
    if _account(author) != me:
        return "made by someone else: left alone"
    return ""


def issue_copies(ado_id: int, kept: str, hits: Sequence[Mapping[str, Any]], me: str) -> list[Copy]:
    """Issues with the item's marker other than ``kept`` (the ledger's)."""
    out = []
    for hit in hits:
        key = str(hit.get("key"))
        if key == kept:
            continue
        fields = hit.get("fields") or {}
        why = _why_not_ours(fields.get("creator") or fields.get("reporter"), me)
        if not why and not unchanged(fields.get("created"), fields.get("updated")):
            why = "changed since it was created: left alone"
        out.append(Copy("issue", ado_id, key, key, kept, why))
    return out


def comment_copies(
    ado_id: int,
    key: str,
    by_marker: Mapping[str, Sequence[Mapping[str, Any]]],
    ledger: Mapping[str, str],
    me: str,
) -> list[Copy]:
    """Comments carrying the same ADO comment marker, beyond the ledger's one."""
    out = []
    for ado_comment, comments in by_marker.items():
        if len(comments) < 2:
            continue
        ids = [str(c.get("id")) for c in comments]
        kept = ledger.get(ado_comment) if ledger.get(ado_comment) in ids else ids[0]
        for c in comments:
            cid = str(c.get("id"))
            if cid == kept:
                continue
            why = _why_not_ours(c.get("author"), me)
            if not why and not unchanged(c.get("created"), c.get("updated")):
                why = "edited since it was written: left alone"
            out.append(Copy("comment", ado_id, key, cid, str(kept), why))
    return out


def attachment_copies(
    ado_id: int,
    key: str,
    attachments: Sequence[Mapping[str, Any]],
    ledger: Mapping[str, str],
    me: str,
) -> list[Copy]:
    """The same file (name and size) more than once, where the ledger knows one of them."""
    known = set(ledger.values())
    groups: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for att in attachments:
        groups.setdefault((str(att.get("filename")), int(att.get("size") or -1)), []).append(att)
    out = []
    for group in groups.values():
        ids = [str(a.get("id")) for a in group]
        ours = [i for i in ids if i in known]
        if len(group) < 2 or not ours or len(ours) > 1:
            # two distinct ADO files may share a name and a size: only a copy the
            # ledger does not know, beside one it knows, is a duplicate
            continue
        for att in group:
            att_id = str(att.get("id"))
            if att_id == ours[0]:
                continue
            out.append(
                Copy(
                    "attachment", ado_id, key, att_id, ours[0], _why_not_ours(att.get("author"), me)
                )
            )
    return out


def link_copies(ado_id: int, key: str, links: Sequence[Mapping[str, Any]]) -> list[Copy]:
    """The same link type to the same issue in the same direction, more than once."""
    seen: dict[tuple[str, str, str], str] = {}
    out = []
    for link in links:
        type_name = str((link.get("type") or {}).get("name") or "")
        if link.get("outwardIssue"):
            direction, other = "outward", str((link["outwardIssue"] or {}).get("key"))
        else:
            direction, other = "inward", str((link.get("inwardIssue") or {}).get("key"))
        slot = (type_name, direction, other)
        link_id = str(link.get("id"))
        if slot in seen:
            out.append(Copy("link", ado_id, key, link_id, seen[slot]))
        else:
            seen[slot] = link_id
    return out
