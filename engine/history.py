"""An item's ADO history (``Updates_List``) as a typed history, rendered for Jira.

:func:`build_history` turns the raw updates (``id, rev, revisedBy, revisedDate,
fields{ref: {oldValue, newValue}}, relations{added, removed, updated}``) into
:class:`Revision` rows: who changed which field from what to what, and when,
with state changes and comments (``System.History``) picked out. Bookkeeping
fields that change on every save (``System.Rev``, dates, watermark, level and id
fields) are left out: they say nothing a reader wants. ``since_rev`` keeps only
revisions after the one already carried (INCREMENTAL).

:func:`render_history` gives a collapsed ``expand`` section when the history is
short (values shortened to ``VALUE_LIMIT``), or, past ``ADF_THRESHOLD``
characters, a short summary plus a complete Markdown file body (no value
shortened) for the pipeline to attach. ``expand`` is only valid at a document's
top level in the ADF schema, so the section is a top-level block of its own
document (a history comment), never nested in a panel or table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.adf import clean_text, html_to_blocks
from engine.adf_nodes import (
    Node,
    adf_char_length,
    adf_to_text,
    bullet_list,
    doc,
    heading,
    paragraph,
    strong,
    text,
)
from engine.artifacts import ArtifactContext, artifact_title, parse_artifact_uri
from engine.itemvalues import format_date, identity_of, one_line, person_label
from engine.relations import ADO_LINK_NAMES

ADF_THRESHOLD = 24_000  # over this, the history goes to a file (Jira's limit is 32,767)
VALUE_LIMIT = 200  # characters of one value shown in the collapsed section
UPDATES_PAGE = 200  # $top for Updates_List paging
F_STATE = "System.State"
F_HISTORY = "System.History"
F_REASON = "System.Reason"
_NOISE = frozenset(
    {
        "System.Rev",
        "System.Id",
        "System.AuthorizedDate",
        "System.RevisedDate",
        "System.ChangedDate",
        "System.ChangedBy",
        "System.AuthorizedAs",
        "System.PersonId",
        "System.Watermark",
        "System.AreaId",
        "System.IterationId",
        "System.NodeName",
        "System.TeamProject",
        "System.CommentCount",
        "System.IsDeleted",
    }
)
_LEVEL = re.compile(r"^System\.(Area|Iteration)Level\d+$")
_HTMLISH = re.compile(r"<(?:/?[a-zA-Z][a-zA-Z0-9]*(?:\s[^>]*)?/?|!--.*?--)>", re.DOTALL)
_NO_NAMES = ArtifactContext("", "")  # titles with ids: history has no repository names
FAR_FUTURE = "9999-01-01"  # ADO's revisedDate of the current revision in some answers


@dataclass(frozen=True)
class FieldChange:
    field: str  # reference name
    name: str  # display name when known
    old: str  # rendered readably: identities as "Name (e-mail)", HTML as text
    new: str


@dataclass(frozen=True)
class Revision:
    update_id: int
    rev: int
    by: str
    date: str  # ISO, as ADO sent it
    changes: tuple[FieldChange, ...] = ()
    state: tuple[str, str] | None = None  # (from, to)
    comment: str = ""  # System.History added in this revision, as text
    links_added: tuple[str, ...] = ()
    links_removed: tuple[str, ...] = ()
    links_updated: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (
            self.changes
            or self.state
            or self.comment
            or self.links_added
            or self.links_removed
            or self.links_updated
        )


@dataclass
class History:
    item_id: int
    since_rev: int = 0  # revisions up to this one were carried before (INCREMENTAL)
    revisions: list[Revision] = field(default_factory=list)
    skipped: int = 0  # updates with nothing to show
    problems: list[str] = field(default_factory=list)

    @property
    def last_rev(self) -> int:
        return max((r.rev for r in self.revisions), default=0)


@dataclass(frozen=True)
class HistoryRendering:
    body: Node  # an ADF document: the expand section, or the summary
    file_name: str | None  # set when the full history goes to an attached file
    file_text: str | None
    revisions: int


def next_page(fetched_on_page: int, skip: int, top: int = UPDATES_PAGE) -> int | None:
    """The ``$skip`` of the next ``Updates_List`` page, or None after the last one."""
    return skip + fetched_on_page if fetched_on_page >= top else None


def _html_text(value: str) -> str:
    if not _HTMLISH.search(value):
        return value.strip()
    return adf_to_text(doc(*html_to_blocks(value))).strip()


def render_value(value: Any) -> str:
    """A field value as a person reads it, without characters Jira refuses (never raises)."""
    return clean_text(_rendered(value))


def _rendered(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dict):
        identity = identity_of(value)
        return person_label(identity) if identity else one_line(str(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        if re.match(r"^\d{4}-\d{2}-\d{2}T", value):
            return format_date(value)
        return _html_text(value)
    return one_line(str(value))


def _relation_line(raw: Any) -> str:
    """ "Related #7", "Fixed in Commit: Commit 3f2a1c9 in repo …", "Attached File: shot.png"."""
    if not isinstance(raw, Mapping):
        return ""
    rel = str(raw.get("rel") or "link")
    url = str(raw.get("url") or "")
    attrs = raw.get("attributes") if isinstance(raw.get("attributes"), Mapping) else {}
    name = str((attrs or {}).get("name") or "")
    kind = ADO_LINK_NAMES.get(rel) or rel.rsplit(".", 1)[-1]
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    if "/workitems/" in url.lower() and tail.isdigit():
        return one_line(f"{kind} #{tail}")
    art = parse_artifact_uri(url) if rel == "ArtifactLink" else None
    if art is not None:
        return one_line(f"{name or 'Artifact'}: {artifact_title(art, _NO_NAMES)}")
    if rel == "AttachedFile":
        return one_line(f"Attached file: {name or tail}")
    return one_line(f"{kind}: {name or url}")


def _relations(raw: Any, key: str) -> tuple[str, ...]:
    items = raw.get(key) if isinstance(raw, Mapping) else None
    if not isinstance(items, list):
        return ()
    return tuple(line for line in (_relation_line(i) for i in items) if line)


def _changes(fields: Mapping[str, Any], names: Mapping[str, str]) -> list[FieldChange]:
    out = []
    for ref, delta in fields.items():
        if ref in _NOISE or _LEVEL.match(ref) or ref in (F_HISTORY, F_STATE):
            continue
        if not isinstance(delta, Mapping):
            continue
        old, new = render_value(delta.get("oldValue")), render_value(delta.get("newValue"))
        if old != new:
            out.append(FieldChange(ref, names.get(ref) or ref.rsplit(".", 1)[-1], old, new))
    return out


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _revision(raw: Mapping[str, Any], names: Mapping[str, str]) -> Revision:
    fields = raw.get("fields") if isinstance(raw.get("fields"), Mapping) else {}
    fields = fields or {}
    who = identity_of(raw.get("revisedBy"))
    state = fields.get(F_STATE)
    moved = None
    if isinstance(state, Mapping) and state.get("newValue") != state.get("oldValue"):
        moved = (render_value(state.get("oldValue")), render_value(state.get("newValue")))
    comment = fields.get(F_HISTORY)
    said = render_value(comment.get("newValue")) if isinstance(comment, Mapping) else ""
    # revisedDate is when the revision was superseded (ADO documents the current one's
    # as 9999-01-01); the revision's own moment is its System.ChangedDate.
    date = str(raw.get("revisedDate") or "")
    changed = fields.get("System.ChangedDate")
    if isinstance(changed, Mapping) and changed.get("newValue"):
        date = str(changed["newValue"])
    relations = raw.get("relations")
    return Revision(
        update_id=_int(raw.get("id")),
        rev=_int(raw.get("rev")),
        by=person_label(who) if who else "unknown",
        date=date,
        changes=tuple(_changes(fields, names)),
        state=moved,
        comment=said,
        links_added=_relations(relations, "added"),
        links_removed=_relations(relations, "removed"),
        links_updated=_relations(relations, "updated"),
    )


def build_history(
    item_id: int,
    updates: Iterable[Any],
    *,
    since_rev: int = 0,
    field_names: Mapping[str, str] | None = None,
) -> History:
    """The item's revisions after ``since_rev``, oldest first (by update id)."""
    out = History(item_id, since_rev=max(since_rev, 0))
    rows = []
    for raw in updates:
        if not isinstance(raw, Mapping):
            out.problems.append("an update that is not an object was skipped")
            continue
        if _int(raw.get("rev")) <= since_rev:
            continue
        revision = _revision(raw, field_names or {})
        if revision.empty:
            out.skipped += 1
        else:
            rows.append(revision)
    out.revisions = sorted(rows, key=lambda r: (r.update_id, r.rev))
    return out


# --------------------------------------------------------------------------- rendering
def _short(value: str, limit: int) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _change_lines(rev: Revision, limit: int | None) -> list[str]:
    def show(value: str) -> str:
        if not value:
            return "(empty)"
        return _short(value, limit) if limit else value

    lines = []
    if rev.state:
        lines.append(f"State: {show(rev.state[0])} → {show(rev.state[1])}")
    lines += [f"{c.name}: {show(c.old)} → {show(c.new)}" for c in rev.changes]
    lines += [f"Link added: {line}" for line in rev.links_added]
    lines += [f"Link removed: {line}" for line in rev.links_removed]
    lines += [f"Link changed: {line}" for line in rev.links_updated]
    if rev.comment:
        lines.append(f"Comment: {show(rev.comment)}")
    return lines


def _heading_line(rev: Revision) -> str:
    return f"Revision {rev.rev} · {format_date(rev.date) or 'date unknown'} · {rev.by}"


def _revision_blocks(rev: Revision) -> list[Node]:
    lines = _change_lines(rev, VALUE_LIMIT)
    blocks: list[Node] = [paragraph([strong(_heading_line(rev))])]
    if lines:
        blocks.append(bullet_list([[paragraph(line)] for line in lines]))
    return blocks


def _title(history: History) -> str:
    count = len(history.revisions)
    since = f", after revision {history.since_rev}" if history.since_rev else ""
    return f"Azure DevOps history ({count} revision{'s' if count != 1 else ''}{since})"


def _section(title: str, content: list[Node], collapsed: bool) -> list[Node]:
    """An ``expand`` (only valid at a document's top level), or a heading and the blocks."""
    if collapsed:
        return [{"type": "expand", "attrs": {"title": title}, "content": content}]
    return [heading(title, 3), *content]


def expand_section(history: History) -> Node:
    """The collapsed section: an ``expand`` node, valid at a document's top level."""
    return _section(_title(history), _all_blocks(history), True)[0]


def _all_blocks(history: History) -> list[Node]:
    content = [block for rev in history.revisions for block in _revision_blocks(rev)]
    return content or [paragraph("No changes.")]


def history_markdown(history: History) -> str:
    """The complete history as Markdown: every value in full."""
    parts = [f"# {_title(history)} of work item {history.item_id}", ""]
    for rev in history.revisions:
        parts.append(f"## {_heading_line(rev)}")
        parts += [f"- {line}".replace("\n", "\n  ") for line in _change_lines(rev, None)]
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def history_file_name(item_id: int, since_rev: int = 0) -> str:
    """The attached file's name; an INCREMENTAL part names where it starts, so none is replaced."""
    part = f"-from-rev-{since_rev + 1}" if since_rev else ""
    return f"ado-{item_id}-history{part}.md"


def _people(revisions: Sequence[Revision]) -> int:
    return len({r.by for r in revisions})


def _summary(history: History) -> list[Node]:
    revs = history.revisions
    first, last = format_date(revs[0].date), format_date(revs[-1].date)
    people = _people(revs)
    line = (
        f"{_title(history)}: from {first or '?'} to {last or '?'}, by {people} "
        f"{'person' if people == 1 else 'people'}. The full history is attached as "
        f"{history_file_name(history.item_id, history.since_rev)}."
    )
    states = [f"{r.state[1]}" for r in revs if r.state]
    blocks = [paragraph([strong(line)])]
    if states:
        blocks.append(paragraph([text("States: " + _short(" → ".join(states), 1000))]))
    return blocks


def render_history(
    history: History, threshold: int = ADF_THRESHOLD, *, collapsed: bool = True
) -> HistoryRendering | None:
    """The history comment's body (and a file when long); None when there is nothing to show.

    ``collapsed=False`` gives a heading and plain blocks instead of an ``expand``,
    for a target that refuses ``expand`` nodes.
    """
    if not history.revisions:
        return None
    count = len(history.revisions)
    body = doc(*_section(_title(history), _all_blocks(history), collapsed))
    if adf_char_length(body) <= threshold:
        return HistoryRendering(body, None, None, count)
    name = history_file_name(history.item_id, history.since_rev)
    summary = doc(*_section(_title(history), _summary(history), collapsed))
    return HistoryRendering(summary, name, history_markdown(history), count)
