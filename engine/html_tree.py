"""A small, tolerant HTML tree from the standard library's ``html.parser``.

Roughly what a browser does with tag soup: implicit closes, void elements, stray end
tags ignored, depth bounded. Parsed fragments are cached (they are parsed several
times per work item) and shared between threads, never changed after they are built.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from html.parser import HTMLParser

MAX_DEPTH = 64  # deeper HTML is flattened: keeps recursion and ADF nesting bounded


def _words(names: str) -> frozenset[str]:
    return frozenset(names.split(" "))


_VOID = _words("area base br col embed hr img input link meta param source track wbr")
# Block starts that close an open <p>, and the elements that stop that search.
_P_CLOSERS = _words(
    "p div ul ol dl table h1 h2 h3 h4 h5 h6 pre blockquote hr section article "
    "header footer nav aside main figure address details form fieldset"
)
_P_SCOPE = _words("table td th caption button html")


# --------------------------------------------------------------------------- tree
@dataclass(slots=True)
class Element:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Element | str] = field(default_factory=list)

    def attr(self, name: str) -> str:
        return self.attrs.get(name) or ""


class _TreeBuilder(HTMLParser):
    """A forgiving DOM builder: roughly what a browser does with tag soup."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root")
        self.stack: list[Element] = [self.root]

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
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in _VOID and len(self.stack) < MAX_DEPTH:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # Browsers ignore the self-closing slash on HTML elements.
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("br", "p") and not any(el.tag == tag for el in self.stack[1:]):
            # Browsers turn a stray </br> into <br> and a stray </p> into an empty paragraph.
            self.stack[-1].children.append(Element(tag))
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


def _build(html: str) -> Element:
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
        self._trees: OrderedDict[str, Element] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def parse(self, html: str) -> Element:
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


def parse_html(html: str) -> Element:
    return _PARSED.parse(html)


def _img_sources(el: Element) -> list[str]:
    found: list[str] = []
    for child in el.children:
        if isinstance(child, Element):
            if child.tag == "img" and child.attr("src").strip():
                found.append(child.attr("src").strip())
            found.extend(_img_sources(child))
    return found


def image_sources(html: str) -> list[str]:
    """The src of every <img> in an HTML fragment, in document order."""
    # No "<img" (in any case) means no img element: skip the parse.
    if not html or "<img" not in html.lower():
        return []
    return _img_sources(parse_html(html))
