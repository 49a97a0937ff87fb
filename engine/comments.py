"""Comments: how an ADO comment becomes a Jira comment, and how a run recognises its own.

Each comment opens with a header line naming its original author and date (Jira's
author is the migration account) and ending in the marker ``· ADO comment {id}``:
the body comes back with every comment, as the API documents, so the marker finds a
comment the run already wrote without undocumented expansions. Deleted comments are
skipped by the pipeline (``comment_is_migratable``); ``comment_body`` does not look
at ``is_deleted``. Markdown comments are kept as written (no rendering).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from engine.adf import ConvertContext, clean_text, html_to_blocks, tidy_inlines
from engine.adf_nodes import (
    Node,
    adf_to_text,
    doc,
    hard_break,
    link_mark,
    mention,
    panel,
    paragraph,
    text,
)
from engine.content import ContentContext, fit_to_limit, inline_attachment_ids, tracker_for
from engine.itemvalues import format_date, one_line
from engine.model import Comment
from engine.refs import split_refs

_MD_MENTION = re.compile(r"@<\{?([0-9a-fA-F-]{36})\}?>")  # markdown comments: @<guid>


@dataclass
class CommentContent:
    body: Node
    notes: list[str] = field(default_factory=list)
    rules: set[str] = field(default_factory=set)
    inline_images: list[str] = field(default_factory=list)
    overflow_text: str | None = None
    awaited_refs: set[int] = field(default_factory=set)  # see ContentContext.awaited


def comment_is_migratable(comment: Comment) -> bool:
    """Deleted comments are not carried (the pipeline filters with this)."""
    return not comment.is_deleted


def _was_edited(comment: Comment) -> bool:
    if not comment.modified_date:
        return False
    return comment.version > 1 or format_date(comment.modified_date) != format_date(
        comment.created_date
    )


def comment_header(comment: Comment) -> Node:
    """ "Originally by {name} on {date}" (+ " (edited {date})"): Jira's author is the API user."""
    name = one_line(comment.created_by.display_name) or "unknown"
    line = f"Originally by {name} on {format_date(comment.created_date) or 'an unknown date'}"
    if _was_edited(comment):
        line += f" (edited {format_date(comment.modified_date)})"
    # The marker lets a run recognise its own comment by documented means: the body
    # comes back with every comment, comment properties only by an extra call.
    line += f"{COMMENT_MARKER_SEP}{comment_marker(comment.id)}"
    return paragraph([text(line, [{"type": "em"}])])


COMMENT_MARKER_SEP = " · "
_MARKER_RE = re.compile(r" · ADO comment (\d+)$")


def comment_marker(comment_id: int | str) -> str:
    return f"ADO comment {comment_id}"


def comment_marker_of(body: Any) -> str | None:
    """The ADO comment id in the header line of a migrated comment's ADF body, else None."""
    if not isinstance(body, dict):
        return None
    blocks = body.get("content")
    first = blocks[0] if isinstance(blocks, list) and blocks else None
    if not isinstance(first, dict) or first.get("type") != "paragraph":
        return None
    runs = first.get("content")
    line = (
        "".join(str(n.get("text", "")) for n in runs if isinstance(n, dict))
        if isinstance(runs, list)
        else ""
    )
    match = _MARKER_RE.search(line)
    return match.group(1) if match else None


def _markdown_line(line: str, conv: ConvertContext) -> list[Node]:
    nodes: list[Node] = []
    pos = 0
    for match in _MD_MENTION.finditer(line):
        nodes += _linkified(line[pos : match.start()], conv)
        attrs = conv.mention(match.group(1).lower(), "")
        nodes.append(mention(attrs["id"], attrs.get("text", "")) if attrs else text(match.group(0)))
        pos = match.end()
    return nodes + _linkified(line[pos:], conv)


def _linkified(s: str, conv: ConvertContext) -> list[Node]:
    nodes: list[Node] = []
    for seg in split_refs(clean_text(s), conv.work_item_ref, linkify=True):
        href = seg.href or (
            f"{conv.jira_base_url.rstrip('/')}/browse/{seg.key}"
            if seg.key and conv.jira_base_url
            else None
        )
        nodes.append(text(seg.text, [link_mark(href)] if href else []))
    return nodes


def markdown_blocks(source: str, conv: ConvertContext) -> list[Node]:
    """Markdown kept as written: blank lines split paragraphs, line breaks kept,
    bare URLs and #ids linked. No markdown rendering."""
    blocks: list[Node] = []
    for chunk in source.replace("\r\n", "\n").split("\n\n"):
        inlines: list[Node] = []
        for line in chunk.split("\n"):
            inlines += [hard_break(), *_markdown_line(line, conv)]
        content = tidy_inlines(inlines)
        if content:
            blocks.append(paragraph(content))
    return blocks


def _comment_cut_note() -> Node:
    return panel([paragraph("This comment was too long for Jira and was cut here.")], "warning")


def comment_content(comment: Comment, ctx: ContentContext) -> CommentContent:
    """The comment body with its header, plus what the fidelity report needs."""
    tracker = tracker_for(ctx, [comment.created_by])
    conv = tracker.convert_context()
    if comment.format.lower() == "markdown":
        body = markdown_blocks(comment.text or "", conv)
        images: list[str] = []
    else:
        body = html_to_blocks(comment.text or "", ctx=conv)
        images = inline_attachment_ids(comment.text or "")
    document, cut = fit_to_limit([comment_header(comment), *body], [], _comment_cut_note())
    result = CommentContent(
        document, tracker.notes, tracker.rules, images, awaited_refs=tracker.awaited
    )
    if cut:
        result.rules.add("comment-cut")
        result.overflow_text = adf_to_text(doc(*body))
    return result


def comment_body(comment: Comment, ctx: ContentContext) -> Node:
    """ADF for a comment: a header line with the original author and date, then the body."""
    return comment_content(comment, ctx).body
