"""A generated item's revision history, as ``Updates_List`` answers it.

The history is consistent with the item: it has exactly ``System.Rev`` updates,
revision 1 sets the initial fields, and replaying every update's ``newValue``
gives the item's current fields. It is built backwards from the current values
with the item's own seeded generator (state steps back along the type's states,
title, assignee and priority take earlier values, other fields were set in the
revision that changed them, some revisions only add a comment through
``System.History``), so a seed always gives the same history.

``revisedDate`` is, as in ADO, the moment a revision was superseded (the next
revision's ``System.ChangedDate``); the current revision's is ``9999-01-01``.

Items with ``long_history`` carry :data:`LONG_EXTRA` more revisions than their
age alone gives, enough for a history too long to show inline.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sandbox.dataset_people import identity_ref
from sandbox.dataset_process import REASONS, TYPE_INDEX, TYPES
from sandbox.dataset_records import iso

if TYPE_CHECKING:
    from sandbox.dataset import Dataset
    from sandbox.dataset_records import ItemRecord

FAR_FUTURE = "9999-01-01T00:00:00Z"
LONG_EXTRA = 180
LONG_EVERY = 33  # items 1, 34, 67, … (at least 6 in 200) have a long history
_SALT = 77
_BOOKKEEPING = ("System.Rev", "System.ChangedDate", "System.AuthorizedDate", "System.ChangedBy")
_REPEATABLE = ("System.Title", "System.AssignedTo", "Microsoft.VSTS.Common.Priority")
_NOTES = (
    "Discussed in the stand-up; scope unchanged.",
    "Waiting on the API team for the contract.",
    "Reviewed with design: the flow needs one more screen.",
    "Moved after the planning meeting.",
    "Customer confirmed the expected behaviour.",
)


def parse_dt(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def long_history(count: int, ident: int) -> bool:
    return ident % LONG_EVERY == 1 and ident <= count


def extra_revisions(count: int, ident: int) -> int:
    """Revisions a long-history item has beyond what its age gives."""
    return LONG_EXTRA if long_history(count, ident) else 0


def _state_path(type_name: str, current: str, room: int) -> list[str]:
    """The states the item went through, first to current (at most ``room`` steps)."""
    names = [s.name for s in TYPES[TYPE_INDEX[type_name]].states if s.name != "Removed"]
    first = names[0]
    if current == first or room <= 0:
        return [current]
    path = names[: names.index(current) + 1] if current in names else [first, current]
    if current == "Removed":
        path = [first, "Active", "Removed"] if "Active" in names and first != "Active" else path
    return path if len(path) - 1 <= room else [first, current]


def _earlier(ref: str, value: Any, d: Dataset, rng: random.Random, base: str) -> Any:
    if ref == "System.Title":
        return f"{value} (draft)" if not str(value).endswith("(draft)") else value[:-8]
    if ref == "System.AssignedTo":
        person = rng.choice(d.people)
        return identity_ref(person, base, d.org) if rng.random() < 0.8 else None
    if ref == "Microsoft.VSTS.Common.Priority":
        return 1 + (int(value or 2) % 4)
    return None


def _plan_changes(
    d: Dataset, rec: ItemRecord, rng: random.Random, base: str
) -> tuple[dict[str, Any], list[dict[str, tuple[Any, Any]]]]:
    """(fields at revision 1, changes of revisions 2..R oldest first)."""
    fields = dict(rec.fields)
    rev = int(fields.get("System.Rev", 1))
    path = _state_path(rec.type, str(fields.get("System.State")), rev - 1)
    state_revs = set(range(rev - len(path) + 2, rev + 1))
    settable = [
        k for k in fields if k.startswith("Custom.") or k.startswith("Microsoft.VSTS.Scheduling.")
    ]
    now = dict(fields)
    backwards: list[dict[str, tuple[Any, Any]]] = []
    steps = list(reversed(path))
    for k in range(rev, 1, -1):
        change: dict[str, tuple[Any, Any]] = {}
        if k in state_revs:
            new, old = steps.pop(0), steps[0]
            change["System.State"] = (old, new)
            change["System.Reason"] = (REASONS.get(old, old), now.get("System.Reason"))
            now["System.State"], now["System.Reason"] = old, REASONS.get(old, old)
        elif settable and rng.random() < 0.3:
            ref = settable.pop(rng.randrange(len(settable)))
            change[ref] = (None, now.get(ref))
            now[ref] = None
        elif rng.random() < 0.6:
            ref = rng.choice(_REPEATABLE)
            old = _earlier(ref, now.get(ref), d, rng, base)
            if old != now.get(ref):
                change[ref] = (old, now.get(ref))
                now[ref] = old
        backwards.append(change)
    initial = {k: v for k, v in now.items() if v is not None}
    return initial, list(reversed(backwards))


def _dates(created: str, changed: str, rev: int) -> list[str]:
    start, end = parse_dt(created), parse_dt(changed)
    if rev == 1:
        return [created]
    step = (end - start) / (rev - 1)
    out = [iso(start + step * i) for i in range(rev - 1)]
    return [*out, changed]


def dataset_updates(d: Dataset, rec: ItemRecord, base: str) -> list[dict[str, Any]]:
    """Every update of a generated item (before any edit made through the sandbox)."""
    rng = d.item_rng(rec.id, _SALT)
    rev = int(rec.fields.get("System.Rev", 1))
    initial, changes = _plan_changes(d, rec, rng, base)
    created, changed = rec.fields["System.CreatedDate"], rec.fields["System.ChangedDate"]
    dates = _dates(str(created), str(changed), rev)
    creator = rec.fields.get("System.CreatedBy")
    out = [_update(rec.id, 1, creator, {k: {"newValue": v} for k, v in initial.items()})]
    out[0]["fields"].update(
        {
            "System.Rev": {"newValue": 1},
            "System.ChangedDate": {"newValue": dates[0]},
            "System.AuthorizedDate": {"newValue": dates[0]},
            "System.ChangedBy": {"newValue": creator},
            "System.RevisedDate": {"newValue": dates[1] if rev > 1 else FAR_FUTURE},
        }
    )
    previous_by = creator
    for n, change in enumerate(changes, start=2):
        last = n == rev
        by = (
            rec.fields.get("System.ChangedBy")
            if last
            else identity_ref(rng.choice(d.people), base, d.org)
        )
        fields: dict[str, Any] = {
            ref: _delta(old, new) for ref, (old, new) in change.items() if old != new
        }
        if not fields or rng.random() < 0.3:
            fields["System.History"] = {"newValue": f"<div>{rng.choice(_NOTES)}</div>"}
        fields.update(_bookkeeping(n, dates[n - 2], dates[n - 1], previous_by, by))
        fields["System.RevisedDate"] = {
            "oldValue": dates[n - 1],
            "newValue": FAR_FUTURE if last else dates[n],
        }
        out.append(_update(rec.id, n, by, fields))
        previous_by = by
    for i, update in enumerate(out):
        update["revisedDate"] = dates[i + 1] if i + 1 < len(dates) else FAR_FUTURE
    return out


def _delta(old: Any, new: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if old is not None:
        out["oldValue"] = old
    if new is not None:
        out["newValue"] = new
    return out


def _bookkeeping(rev: int, before: str, at: str, old_by: Any, by: Any) -> dict[str, Any]:
    return {
        "System.Rev": {"oldValue": rev - 1, "newValue": rev},
        "System.ChangedDate": {"oldValue": before, "newValue": at},
        "System.AuthorizedDate": {"oldValue": before, "newValue": at},
        "System.ChangedBy": _delta(old_by, by) if old_by != by else {"newValue": by},
    }


def _update(ident: int, rev: int, by: Any, fields: dict[str, Any]) -> dict[str, Any]:
    return {"id": rev, "workItemId": ident, "rev": rev, "revisedBy": by, "fields": fields}


def edit_updates(
    ident: int,
    before: dict[str, Any],
    edits: list[tuple[int, str, dict[str, Any]]],
    comments: list[tuple[str, str]],
) -> list[dict[str, Any]]:
    """Updates for the edits made through the sandbox after ``before`` (the base fields).

    ``edits`` are ``(rev, changed, cumulative overrides)``; ``comments`` are
    ``(created, text)`` of comments added through the sandbox, each shown as the
    ``System.History`` of the first revision at or after its moment.
    """
    out: list[dict[str, Any]] = []
    now = dict(before)
    pending = sorted(comments)
    for rev, changed, overrides in edits:
        fields: dict[str, Any] = {}
        for ref, value in overrides.items():
            if now.get(ref) != value:
                fields[ref] = _delta(now.get(ref), value)
                now[ref] = value
        said = [text for created, text in pending if parse_dt(created) <= parse_dt(changed)]
        pending = [(c, t) for c, t in pending if parse_dt(c) > parse_dt(changed)]
        if said:
            fields["System.History"] = {"newValue": said[-1]}
        by = overrides.get("System.ChangedBy")
        out.append(_update(ident, rev, by, fields))
    for i, update in enumerate(out):
        update["revisedDate"] = edits[i + 1][1] if i + 1 < len(edits) else FAR_FUTURE
    return out
