"""HTML → Atlassian Document Format: the converter.

It walks the tolerant tree of ``engine.html_tree`` and emits only the nodes Jira
Cloud accepts from the API (paragraph, heading, bullet/ordered lists, codeBlock,
blockquote, table, rule, panel, mediaSingle with external media, text with marks,
hardBreak, mention), built and fitted to their containers by ``engine.adf_nodes``,
so the output always validates against ``adf-v1-full.schema.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.adf_nodes import (
    BLOCKQUOTE_CONTENT,
    DOC_CONTENT,
    TABLE_CELL_CONTENT,
    Mark,
    Marks,
    Node,
    code_block,
    doc,
    fit_blocks,
    hard_break,
    heading,
    link_mark,
    list_item,
    media_single,
    mention,
    paragraph,
    rule,
    text,
)
from engine.html_tree import Element, parse_html
from engine.refs import (
    attachment_file_name,
    safe_href,
    split_refs,
    work_item_id_from_url,
)


def _words(names: str) -> frozenset[str]:
    return frozenset(names.split(" "))


_SKIP = _words("script style head title template iframe object svg math noscript")
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


def _element_text(el: Element) -> str:
    return "".join(c if isinstance(c, str) else _element_text(c) for c in el.children)


def _int_attr(value: str, lowest: int, highest: int) -> int | None:
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if lowest <= number <= highest else None


def _language(el: Element) -> str | None:
    for node in [el, *(c for c in el.children if isinstance(c, Element))]:
        for cls in node.attr("class").split():
            for prefix in ("language-", "lang-"):
                if cls.lower().startswith(prefix) and len(cls) > len(prefix):
                    return cls[len(prefix) :]
    return None


def _pre_text(el: Element) -> str:
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
        self.handlers: dict[str, Callable[[Element, _Flow, Marks], None]] = {
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
    def blocks(self, el: Element, marks: Marks = ()) -> list[Node]:
        flow = _Flow()
        self.children(el, flow, marks)
        return flow.finish()

    def children(self, el: Element, flow: _Flow, marks: Marks) -> None:
        for child in el.children:
            self.walk(child, flow, marks)

    def walk(self, node: Element | str, flow: _Flow, marks: Marks) -> None:
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

    def anchor(self, el: Element, flow: _Flow, marks: Marks) -> None:
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

    def person_mention(self, el: Element, flow: _Flow) -> bool:
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

    def image(self, el: Element, flow: _Flow, marks: Marks) -> None:
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
    def heading(self, el: Element, flow: _Flow, marks: Marks) -> None:
        flow.flush()
        level = _HEADINGS[el.tag]
        for block in self.blocks(el, marks):
            if block["type"] == "paragraph":
                flow.block(heading(block.get("content", []), level))
            else:
                flow.block(block)

    def pre(self, el: Element, flow: _Flow, marks: Marks) -> None:
        code = _clean(_pre_text(el)).replace("\r\n", "\n").replace("\r", "\n")
        code = code.removeprefix("\n").rstrip("\n")
        flow.flush()
        if code.strip():
            flow.block(code_block(code, _language(el)))

    def blockquote(self, el: Element, flow: _Flow, marks: Marks) -> None:
        content = fit_blocks(self.blocks(el, marks), BLOCKQUOTE_CONTENT)
        flow.flush()
        if content:
            flow.block({"type": "blockquote", "content": content})

    def listing(self, el: Element, flow: _Flow, marks: Marks) -> None:
        items: list[Node] = []
        loose = _Flow()
        for child in el.children:
            if isinstance(child, Element) and child.tag == "li":
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
    def _list_node(el: Element, items: list[Node]) -> Node:
        if el.tag == "ul":
            return {"type": "bulletList", "content": items}
        node: Node = {"type": "orderedList", "content": items}
        start = _int_attr(el.attr("start"), 0, 1_000_000)
        if start is not None:
            node["attrs"] = {"order": start}
        return node

    def table(self, el: Element, flow: _Flow, marks: Marks) -> None:
        rows: list[Node] = []
        for child in el.children:
            if isinstance(child, Element) and child.tag in ("thead", "tbody", "tfoot"):
                for grandchild in child.children:
                    self._table_part(grandchild, rows, flow, marks)
            else:
                self._table_part(child, rows, flow, marks)
        if rows:
            flow.block({"type": "table", "content": _pad_rows(rows)})

    def _table_part(self, node: Element | str, rows: list[Node], flow: _Flow, marks: Marks) -> None:
        if isinstance(node, Element) and node.tag == "tr":
            row = self._row(node, flow, marks)
            if row["content"]:
                rows.append(row)
        elif not (isinstance(node, str) and not node.strip(_HTML_SPACE)):
            # Stray content in a table: browsers show it before the table.
            self.walk(node, flow, marks)

    def _row(self, tr: Element, flow: _Flow, marks: Marks) -> Node:
        cells: list[Node] = []
        for child in tr.children:
            if isinstance(child, Element) and child.tag in ("td", "th"):
                cells.append(self._cell(child, marks))
            elif not (isinstance(child, str) and not child.strip(_HTML_SPACE)):
                self.walk(child, flow, marks)
        return {"type": "tableRow", "content": cells}

    def _cell(self, el: Element, marks: Marks) -> Node:
        content = fit_blocks(self.blocks(el, marks), TABLE_CELL_CONTENT) or [paragraph()]
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
    return fit_blocks(converter.blocks(parse_html(html)), DOC_CONTENT)


def html_to_adf(html: str, *, ctx: ConvertContext | None = None) -> Node:
    """A full ADF document for an HTML fragment; always valid against the ADF schema."""
    return doc(*html_to_blocks(html, ctx=ctx))
