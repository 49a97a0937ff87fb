"""Atlassian Document Format nodes: builders, size, fitting content to its container,
and a plain-text rendering.

Every builder returns a node the ADF schema (``adf-v1-full.schema.json``) accepts in
Jira Cloud; :func:`fit_blocks` adapts blocks to what a container may hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from engine.refs import safe_href

Node = dict[str, Any]
Mark = dict[str, Any]
Marks = tuple[Mark, ...]

JIRA_ADF_LIMIT = 32_767

# What the ADF schema lets each container hold, among the nodes we emit.
LIST_ITEM_CONTENT = frozenset(
    {"paragraph", "bulletList", "orderedList", "codeBlock", "mediaSingle"}
)
BLOCKQUOTE_CONTENT = LIST_ITEM_CONTENT
PANEL_CONTENT = LIST_ITEM_CONTENT | {"heading", "rule"}
TABLE_CELL_CONTENT = PANEL_CONTENT | {"panel", "blockquote"}
DOC_CONTENT = TABLE_CELL_CONTENT | {"table"}


# --------------------------------------------------------------------------- builders
def text(s: str, marks: Iterable[Mark] = ()) -> Node:
    """A text node; ADF refuses empty text, so an empty string is a programming error."""
    if not s:
        raise ValueError("ADF text nodes must not be empty")
    node: Node = {"type": "text", "text": s}
    mark_list = list(marks)
    if mark_list:
        node["marks"] = mark_list
    return node


def strong(s: str) -> Node:
    return text(s, [{"type": "strong"}])


def link(s: str, href: str) -> Node:
    """Text linked to href; an unsafe href leaves plain text."""
    safe = safe_href(href)
    return text(s, [link_mark(safe)] if safe else [])


def link_mark(href: str) -> Mark:
    return {"type": "link", "attrs": {"href": href}}


def hard_break() -> Node:
    return {"type": "hardBreak"}


def _inline_list(content: str | Sequence[Node]) -> list[Node]:
    if isinstance(content, str):
        return [text(content)] if content else []
    return [node for node in content if node]


def paragraph(content: str | Sequence[Node] = "") -> Node:
    """A paragraph from a string or inline nodes; empty gives the (valid) empty paragraph."""
    node: Node = {"type": "paragraph"}
    inlines = _inline_list(content)
    if inlines:
        node["content"] = inlines
    return node


def heading(content: str | Sequence[Node], level: int = 2) -> Node:
    node: Node = {"type": "heading", "attrs": {"level": min(max(int(level), 1), 6)}}
    inlines = _inline_list(content)
    if inlines:
        node["content"] = inlines
    return node


def rule() -> Node:
    return {"type": "rule"}


def code_block(code: str, language: str | None = None) -> Node:
    node: Node = {"type": "codeBlock"}
    if language:
        node["attrs"] = {"language": language}
    if code:
        node["content"] = [text(code)]
    return node


def list_item(blocks: Sequence[Node]) -> Node:
    content = fit_blocks(blocks, LIST_ITEM_CONTENT)
    if not content or content[0]["type"] != "paragraph":
        # Jira wants a listItem to open with a paragraph.
        content.insert(0, paragraph())
    return {"type": "listItem", "content": content}


def bullet_list(items: Sequence[Sequence[Node]]) -> Node:
    """A bullet list; each item is a list of blocks."""
    return {"type": "bulletList", "content": [list_item(blocks) for blocks in items]}


def panel(blocks: Sequence[Node], panel_type: str = "info") -> Node:
    content = fit_blocks(blocks, PANEL_CONTENT) or [paragraph()]
    return {"type": "panel", "attrs": {"panelType": panel_type}, "content": content}


def mention(account_id: str, display: str) -> Node:
    attrs = {"id": account_id}
    if display:
        attrs["text"] = display
    return {"type": "mention", "attrs": attrs}


def media_single(url: str, alt: str = "") -> Node:
    attrs: dict[str, Any] = {"type": "external", "url": url}
    if alt:
        attrs["alt"] = alt
    media = {"type": "media", "attrs": attrs}
    return {"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [media]}


def doc(*blocks: Node | None) -> Node:
    """A document; None blocks are skipped. An empty content list validates and Jira takes it."""
    return {"version": 1, "type": "doc", "content": [b for b in blocks if b]}


def adf_char_length(document: Node) -> int:
    """Length of the compact JSON as Jira counts it (Java chars: UTF-16 code units)."""
    serialised = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return len(serialised.encode("utf-16-le")) // 2


# --------------------------------------------------------------------------- fitting
def _strengthen(node: Node) -> Node:
    """Bold a text node, except code text (the code mark combines only with link)."""
    marks = node.get("marks", [])
    if node.get("type") != "text" or any(m["type"] in ("code", "strong") for m in marks):
        return node
    return {**node, "marks": [*marks, {"type": "strong"}]}


def _heading_as_paragraph(node: Node) -> Node:
    return paragraph([_strengthen(n) for n in node.get("content", [])])


def _table_blocks(table: Node) -> list[Node]:
    cells = [cell for row in table["content"] for cell in row["content"]]
    return [block for cell in cells for block in cell["content"]]


def fit_blocks(blocks: Iterable[Node], allowed: frozenset[str]) -> list[Node]:
    """Rewrite blocks a container may not hold: headings → bold paragraphs,
    blockquotes/panels unwrapped, tables flattened to their cells' blocks, rules dropped."""
    out: list[Node] = []
    for block in blocks:
        kind = block["type"]
        if kind in allowed:
            out.append(block)
        elif kind == "heading":
            out.append(_heading_as_paragraph(block))
        elif kind in ("blockquote", "panel"):
            out.extend(fit_blocks(block["content"], allowed))
        elif kind == "table":
            out.extend(fit_blocks(_table_blocks(block), allowed))
    return out


# --------------------------------------------------------------------------- plain text
def _inline_text(nodes: Iterable[Node]) -> str:
    parts: list[str] = []
    for node in nodes:
        if node["type"] == "text":
            parts.append(node["text"])
        elif node["type"] == "hardBreak":
            parts.append("\n")
        elif node["type"] == "mention":
            parts.append(str(node["attrs"].get("text") or node["attrs"]["id"]))
    return "".join(parts)


def _block_lines(node: Node, prefix: str = "") -> list[str]:
    kind = node["type"]
    if kind in ("paragraph", "heading", "codeBlock"):
        marker = "#" * node["attrs"]["level"] + " " if kind == "heading" else ""
        body = _inline_text(node.get("content", []))
        return [prefix + marker + line for line in body.split("\n")]
    if kind == "rule":
        return [prefix + "----"]
    if kind == "mediaSingle":
        return [prefix + "[image: " + node["content"][0]["attrs"].get("url", "") + "]"]
    if kind in ("bulletList", "orderedList"):
        lines: list[str] = []
        for number, item in enumerate(node["content"], start=1):
            bullet = f"{number}. " if kind == "orderedList" else "- "
            lines.extend(_item_lines(item, prefix, bullet))
        return lines
    if kind == "table":
        return [
            prefix
            + " | ".join(
                adf_to_text({"content": c["content"]}).replace("\n", " ") for c in row["content"]
            )
            for row in node["content"]
        ]
    child_prefix = prefix + "> " if kind == "blockquote" else prefix
    return [line for child in node.get("content", []) for line in _block_lines(child, child_prefix)]


def _item_lines(item: Node, prefix: str, bullet: str) -> list[str]:
    lines = [line for block in item["content"] for line in _block_lines(block, prefix + "  ")]
    if lines:
        lines[0] = prefix + bullet + lines[0][len(prefix) + 2 :]
    return lines


def adf_to_text(document: Node) -> str:
    """A readable plain-text rendering (for overflow files and logs)."""
    chunks = ["\n".join(_block_lines(block)) for block in document.get("content", [])]
    return "\n\n".join(chunk for chunk in chunks if chunk)
