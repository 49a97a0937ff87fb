"""HTML → Atlassian Document Format, and small ADF builders.

The converter parses with the stdlib ``html.parser`` into a small tolerant tree
(implicit closes, void elements, stray end tags ignored, bounded depth) and then
walks it. It emits only the nodes Jira Cloud accepts from the API (paragraph,
heading, bullet/ordered lists, codeBlock, blockquote, table, rule, panel,
mediaSingle with external media, text with marks, hardBreak, mention), and every
container's content is fitted to what the ADF schema allows inside it, so the
output always validates against ``adf-v1-full.schema.json``.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from engine.refs import (
    attachment_file_name,
    safe_href,
    split_refs,
    work_item_id_from_url,
)

Node = dict[str, Any]
Mark = dict[str, Any]
Marks = tuple[Mark, ...]

JIRA_ADF_LIMIT = 32_767
MAX_DEPTH = 64  # deeper HTML is flattened: keeps recursion and ADF nesting bounded


def _words(names: str) -> frozenset[str]:
    return frozenset(names.split(" "))


_VOID = _words("area base br col embed hr img input link meta param source track wbr")
_SKIP = _words("script style head title template iframe object svg math noscript")
# Block starts that close an open <p>, and the elements that stop that search.
_P_CLOSERS = _words(
    "p div ul ol dl table h1 h2 h3 h4 h5 h6 pre blockquote hr section article "
    "header footer nav aside main figure address details form fieldset"
)
_P_SCOPE = _words("table td th caption button html")
_BLOCK = _words(
    "p div section article header footer main nav aside address figure figcaption "
    "details summary dl dt dd center form fieldset legend body html li tr td th "
    "caption thead tbody tfoot"
)
_MARK_TAGS: dict[str, Mark] = {
    "b": {"type": "strong"},
    "strong": {"type": "strong"},
    "i": {"type": "em"},
    "em": {"type": "em"},
    "cite": {"type": "em"},
    "u": {"type": "underline"},
    "ins": {"type": "underline"},
    "s": {"type": "strike"},
    "strike": {"type": "strike"},
    "del": {"type": "strike"},
    "code": {"type": "code"},
    "kbd": {"type": "code"},
    "tt": {"type": "code"},
    "samp": {"type": "code"},
    "sub": {"type": "subsup", "attrs": {"type": "sub"}},
    "sup": {"type": "subsup", "attrs": {"type": "sup"}},
}
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_HTML_SPACE = " \t\n\r\f"

# What the ADF schema lets each container hold, among the nodes we emit.
_LIST_ITEM = frozenset({"paragraph", "bulletList", "orderedList", "codeBlock", "mediaSingle"})
_BLOCKQUOTE = _LIST_ITEM
_PANEL = _LIST_ITEM | {"heading", "rule"}
_TABLE_CELL = _PANEL | {"panel", "blockquote"}
_DOC = _TABLE_CELL | {"table"}


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
    content = fit_blocks(blocks, _LIST_ITEM)
    if not content or content[0]["type"] != "paragraph":
        # Jira wants a listItem to open with a paragraph.
        content.insert(0, paragraph())
    return {"type": "listItem", "content": content}


def bullet_list(items: Sequence[Sequence[Node]]) -> Node:
    """A bullet list; each item is a list of blocks."""
    return {"type": "bulletList", "content": [list_item(blocks) for blocks in items]}


def panel(blocks: Sequence[Node], panel_type: str = "info") -> Node:
    content = fit_blocks(blocks, _PANEL) or [paragraph()]
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


# --------------------------------------------------------------------------- tree
@dataclass
class _El:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_El | str] = field(default_factory=list)

    def attr(self, name: str) -> str:
        return self.attrs.get(name) or ""


class _TreeBuilder(HTMLParser):
    """A forgiving DOM builder: roughly what a browser does with tag soup."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _El("#root")
        self.stack: list[_El] = [self.root]

    def _close(self, tags: frozenset[str], scope: frozenset[str]) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            tag = self.stack[i].tag
            if tag in tags:
                del self.stack[i:]
                return
            if tag in scope:
                return

    def _implicit_closes(self, tag: str) -> None:
        if tag in _P_CLOSERS:
            self._close(frozenset({"p"}), _P_SCOPE)
        if tag == "li":
            self._close(frozenset({"li"}), frozenset({"ul", "ol", "table"}))
        elif tag in ("dt", "dd"):
            self._close(frozenset({"dt", "dd"}), frozenset({"dl", "table"}))
        elif tag in ("td", "th"):
            self._close(frozenset({"td", "th"}), frozenset({"tr", "table"}))
        elif tag == "tr":
            self._close(frozenset({"tr"}), frozenset({"table"}))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._implicit_closes(tag)
        element = _El(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in _VOID and len(self.stack) < MAX_DEPTH:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # Browsers ignore the self-closing slash on HTML elements.
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("br", "p") and not any(el.tag == tag for el in self.stack[1:]):
            # Browsers turn a stray </br> into <br> and a stray </p> into an empty paragraph.
            self.stack[-1].children.append(_El(tag))
            return
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def parse_marked_section(self, i: int, report: bool = True) -> int:
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            # html.parser asserts on "<![junk"; browsers read it as a bogus comment.
            return self.parse_bogus_comment(i)

    def handle_data(self, data: str) -> None:
        children = self.stack[-1].children
        if children and isinstance(children[-1], str):
            children[-1] += data
        else:
            children.append(data)


def _build(html: str) -> _El:
    builder = _TreeBuilder()
    try:
        builder.feed(html)
        builder.close()
    except AssertionError:
        # Last resort against html.parser's internal asserts on malformed markup:
        # keep what was parsed rather than fail the whole item.
        pass
    return builder.root


class _ParseCache:
    """Recently parsed fragments, bounded by their total length in characters.

    One work item's fields are parsed several times while it is migrated (its
    create payload, its inline images, its description rewrite); parsing was the
    converter's largest cost. The trees are never changed after they are built,
    so threads share them.
    """

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self._trees: OrderedDict[str, _El] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def parse(self, html: str) -> _El:
        with self._lock:
            tree = self._trees.get(html)
            if tree is not None:
                self._trees.move_to_end(html)
                return tree
        tree = _build(html)
        if len(html) <= self.max_chars // 4:
            with self._lock:
                if html not in self._trees:
                    self._trees[html] = tree
                    self._chars += len(html)
                while self._chars > self.max_chars:
                    old, _ = self._trees.popitem(last=False)
                    self._chars -= len(old)
        return tree


_PARSED = _ParseCache(max_chars=4_000_000)


def _parse(html: str) -> _El:
    return _PARSED.parse(html)


# --------------------------------------------------------------------------- text helpers
# Control characters, lone surrogates and non-characters cannot be stored by Jira (or
# encoded as UTF-8); nbsp reads as an ordinary space.
_CLEAN_TABLE: dict[int, str | None] = {
    **{code: None for code in range(0x20) if chr(code) not in "\t\n\r\f"},
    **{code: None for code in range(0x7F, 0xA0)},
    **{code: None for code in range(0xD800, 0xE000)},
    0xFFFE: None,
    0xFFFF: None,
    0xA0: " ",
}
_SPACE_TABLE = {ord(ch): " " for ch in _HTML_SPACE}


def clean_text(s: str) -> str:
    """Text with characters Jira refuses removed and nbsp made a plain space."""
    return s.translate(_CLEAN_TABLE)


_clean = clean_text


def _collapse(s: str) -> str:
    """Collapse HTML whitespace runs to one space, as a browser does outside <pre>."""
    out = _clean(s).translate(_SPACE_TABLE)
    while "  " in out:
        out = out.replace("    ", " ").replace("  ", " ")
    return out


def _text_node(s: str, marks: Marks) -> Node:
    if any(m["type"] == "code" for m in marks):
        # ADF: the code mark combines only with link.
        marks = tuple(m for m in marks if m["type"] in ("code", "link"))
    return text(s, marks)


def _add_mark(marks: Marks, mark: Mark) -> Marks:
    kept = tuple(m for m in marks if m["type"] != mark["type"])
    if mark["type"] == "link" or len(kept) == len(marks):
        return (*kept, mark)
    return marks


def _merge_texts(nodes: list[Node]) -> list[Node]:
    out: list[Node] = []
    for node in nodes:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev["type"] == node["type"] == "text"
            and prev.get("marks") == node.get("marks")
        ):
            out[-1] = {**prev, "text": prev["text"] + node["text"]}
        else:
            out.append(node)
    return out


def _trim_spaces(nodes: list[Node]) -> list[Node]:
    """Drop spaces a browser would not show: at line starts/ends and doubled across runs."""
    out: list[Node] = []
    at_start = True
    for node in nodes:
        if node["type"] == "text":
            s = node["text"]
            if at_start or (out and out[-1]["type"] == "text" and out[-1]["text"].endswith(" ")):
                s = s.lstrip(" ")
            if s:
                out.append({**node, "text": s})
                at_start = False
            continue
        if node["type"] == "hardBreak":
            _rstrip_last(out)
            at_start = True
        else:
            at_start = False
        out.append(node)
    _rstrip_last(out)
    return out


def _rstrip_last(out: list[Node]) -> None:
    if out and out[-1]["type"] == "text":
        stripped = out[-1]["text"].rstrip(" ")
        if stripped:
            out[-1] = {**out[-1], "text": stripped}
        else:
            out.pop()
            _rstrip_last(out)


def tidy_inlines(nodes: list[Node]) -> list[Node]:
    """Merged, trimmed inline content without empty text or dangling hardBreaks."""
    out = _trim_spaces(_merge_texts(nodes))
    while out and out[0]["type"] == "hardBreak":
        out.pop(0)
    while out and out[-1]["type"] == "hardBreak":
        out.pop()
    return out


# --------------------------------------------------------------------------- converter
def _no_image(src: str) -> str | None:
    return None


def _no_mention(guid: str, name: str) -> dict[str, str] | None:
    return None


def _no_ref(item_id: int) -> str | None:
    return None


@dataclass
class ConvertContext:
    """How the converter resolves things outside the HTML.

    image_url: <img src> → URL to show inline (None: keep as link text).
    mention: (ADO identity guid, display name) → {"id": accountId, "text": "@Name"} or None.
    work_item_ref: ADO id → Jira key or None (the reference stays as written).
    jira_base_url: where keys link to ({jira_base_url}/browse/KEY); empty = key as plain text.
    """

    image_url: Callable[[str], str | None] = _no_image
    mention: Callable[[str, str], dict[str, str] | None] = _no_mention
    work_item_ref: Callable[[int], str | None] = _no_ref
    jira_base_url: str = ""


class _Flow:
    """Collects inline content into paragraphs between blocks."""

    def __init__(self) -> None:
        self.blocks: list[Node] = []
        self.inlines: list[Node] = []

    def inline(self, node: Node) -> None:
        self.inlines.append(node)

    def flush(self) -> None:
        content = tidy_inlines(self.inlines)
        self.inlines = []
        if content:
            self.blocks.append(paragraph(content))

    def block(self, node: Node) -> None:
        self.flush()
        self.blocks.append(node)

    def finish(self) -> list[Node]:
        self.flush()
        return self.blocks


def _element_text(el: _El) -> str:
    return "".join(c if isinstance(c, str) else _element_text(c) for c in el.children)


def _int_attr(value: str, lowest: int, highest: int) -> int | None:
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if lowest <= number <= highest else None


def _language(el: _El) -> str | None:
    for node in [el, *(c for c in el.children if isinstance(c, _El))]:
        for cls in node.attr("class").split():
            for prefix in ("language-", "lang-"):
                if cls.lower().startswith(prefix) and len(cls) > len(prefix):
                    return cls[len(prefix) :]
    return None


def _pre_text(el: _El) -> str:
    parts: list[str] = []
    for child in el.children:
        if isinstance(child, str):
            parts.append(child)
        elif child.tag == "br":
            parts.append("\n")
        elif child.tag not in _SKIP:
            if child.tag in _BLOCK and parts and not parts[-1].endswith("\n"):
                parts.append("\n")
            parts.append(_pre_text(child))
    return "".join(parts)


class _Converter:
    def __init__(self, ctx: ConvertContext) -> None:
        self.ctx = ctx
        self.handlers: dict[str, Callable[[_El, _Flow, Marks], None]] = {
            "br": lambda el, flow, marks: flow.inline(hard_break()),
            "hr": lambda el, flow, marks: flow.block(rule()),
            "img": self.image,
            "a": self.anchor,
            "ul": self.listing,
            "ol": self.listing,
            "table": self.table,
            "pre": self.pre,
            "blockquote": self.blockquote,
            **{tag: self.heading for tag in _HEADINGS},
        }

    # ---- walking
    def blocks(self, el: _El, marks: Marks = ()) -> list[Node]:
        flow = _Flow()
        self.children(el, flow, marks)
        return flow.finish()

    def children(self, el: _El, flow: _Flow, marks: Marks) -> None:
        for child in el.children:
            self.walk(child, flow, marks)

    def walk(self, node: _El | str, flow: _Flow, marks: Marks) -> None:
        if isinstance(node, str):
            self.add_text(_collapse(node), flow, marks)
        elif node.tag in _SKIP:
            return
        elif node.tag in self.handlers:
            self.handlers[node.tag](node, flow, marks)
        elif node.tag in _MARK_TAGS:
            self.children(node, flow, _add_mark(marks, _MARK_TAGS[node.tag]))
        elif node.tag in _BLOCK:
            flow.flush()
            self.children(node, flow, marks)
            flow.flush()
        else:
            self.children(node, flow, marks)

    # ---- inline
    def add_text(self, s: str, flow: _Flow, marks: Marks) -> None:
        if not s:
            return
        if any(m["type"] == "code" for m in marks):
            flow.inline(_text_node(s, marks))
            return
        linked = any(m["type"] == "link" for m in marks)
        for seg in split_refs(s, self.ctx.work_item_ref):
            seg_marks = marks
            if seg.key and not linked and self.ctx.jira_base_url:
                seg_marks = (*marks, link_mark(self.browse_url(seg.key)))
            flow.inline(_text_node(seg.text, seg_marks))

    def browse_url(self, key: str) -> str:
        return f"{self.ctx.jira_base_url.rstrip('/')}/browse/{key}"

    def anchor(self, el: _El, flow: _Flow, marks: Marks) -> None:
        if self.person_mention(el, flow):
            return
        href = el.attr("href").strip()
        key = self.href_key(href)
        if key and self.ctx.jira_base_url:
            href = self.browse_url(key)
            if _collapse(_element_text(el)).strip() in (el.attr("href").strip(), ""):
                flow.inline(_text_node(key, _add_mark(marks, link_mark(href))))
                return
        safe = safe_href(href)
        self.children(el, flow, _add_mark(marks, link_mark(safe)) if safe else marks)

    def href_key(self, href: str) -> str | None:
        item_id = work_item_id_from_url(href)
        return self.ctx.work_item_ref(item_id) if item_id is not None else None

    def person_mention(self, el: _El, flow: _Flow) -> bool:
        """ADO: <a href="#" data-vss-mention="version:2.0,{guid}">@Name</a>."""
        spec = el.attr("data-vss-mention")
        guid = spec.split(",", 1)[1].strip().strip("{}").lower() if "," in spec else ""
        if not guid:
            return False
        shown = _collapse(_element_text(el)).strip()
        name = shown.lstrip("@").strip()
        display = f"@{name}" if name else "@unknown"
        attrs = self.ctx.mention(guid, name)
        if attrs and attrs.get("id"):
            flow.inline(mention(str(attrs["id"]), str(attrs.get("text") or display)))
        else:
            flow.inline(text(display))
        return True

    def image(self, el: _El, flow: _Flow, marks: Marks) -> None:
        src = el.attr("src").strip()
        name = el.attr("alt").strip() or attachment_file_name(src) or _last_segment(src)
        shown = self.ctx.image_url(src) if src else None
        url = safe_href(shown) if shown else None
        if url:
            flow.block(media_single(url, _collapse(name).strip()))
            return
        label = f"[image: {_collapse(name).strip() or 'image'}]"
        target = safe_href(src) if not src.lower().startswith("data:") else None
        flow.inline(_text_node(label, (*marks, link_mark(target)) if target else marks))

    # ---- blocks
    def heading(self, el: _El, flow: _Flow, marks: Marks) -> None:
        flow.flush()
        level = _HEADINGS[el.tag]
        for block in self.blocks(el, marks):
            if block["type"] == "paragraph":
                flow.block(heading(block.get("content", []), level))
            else:
                flow.block(block)

    def pre(self, el: _El, flow: _Flow, marks: Marks) -> None:
        code = _clean(_pre_text(el)).replace("\r\n", "\n").replace("\r", "\n")
        code = code.removeprefix("\n").rstrip("\n")
        flow.flush()
        if code.strip():
            flow.block(code_block(code, _language(el)))

    def blockquote(self, el: _El, flow: _Flow, marks: Marks) -> None:
        content = fit_blocks(self.blocks(el, marks), _BLOCKQUOTE)
        flow.flush()
        if content:
            flow.block({"type": "blockquote", "content": content})

    def listing(self, el: _El, flow: _Flow, marks: Marks) -> None:
        items: list[Node] = []
        loose = _Flow()
        for child in el.children:
            if isinstance(child, _El) and child.tag == "li":
                self._add_loose(items, loose.finish())
                loose = _Flow()
                items.append(list_item(self.blocks(child, marks)))
            else:
                self.walk(child, loose, marks)
        self._add_loose(items, loose.finish())
        flow.flush()
        if items:
            flow.block(self._list_node(el, items))

    @staticmethod
    def _add_loose(items: list[Node], blocks: list[Node]) -> None:
        """Content between <li>s; a bare nested list joins the item before it (ADO indents so)."""
        if not blocks:
            return
        if items and all(b["type"] in ("bulletList", "orderedList") for b in blocks):
            items[-1]["content"].extend(blocks)
        else:
            items.append(list_item(blocks))

    @staticmethod
    def _list_node(el: _El, items: list[Node]) -> Node:
        if el.tag == "ul":
            return {"type": "bulletList", "content": items}
        node: Node = {"type": "orderedList", "content": items}
        start = _int_attr(el.attr("start"), 0, 1_000_000)
        if start is not None:
            node["attrs"] = {"order": start}
        return node

    def table(self, el: _El, flow: _Flow, marks: Marks) -> None:
        rows: list[Node] = []
        for child in el.children:
            if isinstance(child, _El) and child.tag in ("thead", "tbody", "tfoot"):
                for grandchild in child.children:
                    self._table_part(grandchild, rows, flow, marks)
            else:
                self._table_part(child, rows, flow, marks)
        if rows:
            flow.block({"type": "table", "content": _pad_rows(rows)})

    def _table_part(self, node: _El | str, rows: list[Node], flow: _Flow, marks: Marks) -> None:
        if isinstance(node, _El) and node.tag == "tr":
            row = self._row(node, flow, marks)
            if row["content"]:
                rows.append(row)
        elif not (isinstance(node, str) and not node.strip(_HTML_SPACE)):
            # Stray content in a table: browsers show it before the table.
            self.walk(node, flow, marks)

    def _row(self, tr: _El, flow: _Flow, marks: Marks) -> Node:
        cells: list[Node] = []
        for child in tr.children:
            if isinstance(child, _El) and child.tag in ("td", "th"):
                cells.append(self._cell(child, marks))
            elif not (isinstance(child, str) and not child.strip(_HTML_SPACE)):
                self.walk(child, flow, marks)
        return {"type": "tableRow", "content": cells}

    def _cell(self, el: _El, marks: Marks) -> Node:
        content = fit_blocks(self.blocks(el, marks), _TABLE_CELL) or [paragraph()]
        node: Node = {"type": "tableHeader" if el.tag == "th" else "tableCell", "content": content}
        attrs = {}
        for name in ("colspan", "rowspan"):
            span = _int_attr(el.attr(name), 2, 1000)
            if span:
                attrs[name] = span
        if attrs:
            node["attrs"] = attrs
        return node


def _last_segment(src: str) -> str:
    tail = src.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return tail if tail and not src.lower().startswith("data:") and len(tail) < 120 else "image"


def _pad_rows(rows: list[Node]) -> list[Node]:
    """Give short rows empty cells so the grid is rectangular (skipped when rowspan is used)."""
    cells = [cell for row in rows for cell in row["content"]]
    if any("rowspan" in cell.get("attrs", {}) for cell in cells):
        return rows
    widths = [sum(c.get("attrs", {}).get("colspan", 1) for c in row["content"]) for row in rows]
    widest = max(widths)
    for row, width in zip(rows, widths, strict=True):
        row["content"].extend(
            {"type": "tableCell", "content": [paragraph()]} for _ in range(widest - width)
        )
    return rows


def html_to_blocks(html: str, *, ctx: ConvertContext | None = None) -> list[Node]:
    """Top-level ADF blocks for an HTML fragment (for composing larger documents)."""
    if not html or not html.strip():
        return []
    converter = _Converter(ctx or ConvertContext())
    return fit_blocks(converter.blocks(_parse(html)), _DOC)


def html_to_adf(html: str, *, ctx: ConvertContext | None = None) -> Node:
    """A full ADF document for an HTML fragment; always valid against the ADF schema."""
    return doc(*html_to_blocks(html, ctx=ctx))


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


def _img_sources(el: _El) -> list[str]:
    found: list[str] = []
    for child in el.children:
        if isinstance(child, _El):
            if child.tag == "img" and child.attr("src").strip():
                found.append(child.attr("src").strip())
            found.extend(_img_sources(child))
    return found


def image_sources(html: str) -> list[str]:
    """The src of every <img> in an HTML fragment, in document order."""
    # No "<img" (in any case) means no img element: skip the parse.
    if not html or "<img" not in html.lower():
        return []
    return _img_sources(_parse(html))
