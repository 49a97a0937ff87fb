"""Atlassian Document Format checks for the simulated Jira.

Two layers, both must pass:

* a strict structural checker of the nodes Jira's issue fields accept (a subset
  of the published schema: Confluence-only nodes such as layouts, extensions
  and sync blocks are refused, as Jira refuses many of them);
* when the official schema file can be found (``$SPECS_DIR`` or
  ``<repo>/../shared/specs/adf-v1-full.schema.json``), jsonschema against it.
  The compiled validator is cached; the file is a third-party data file and is
  never copied into the repository.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_FILE = "adf-v1-full.schema.json"
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")

_INLINE = frozenset({"text", "hardBreak", "mention", "emoji", "inlineCard"})
_LIST_ITEM_CHILDREN = frozenset(
    {"paragraph", "bulletList", "orderedList", "codeBlock", "mediaSingle"}
)
_BLOCKQUOTE_CHILDREN = frozenset(
    {"paragraph", "bulletList", "orderedList", "codeBlock", "mediaSingle", "mediaGroup"}
)
_PANEL_CHILDREN = frozenset(
    {
        "paragraph",
        "heading",
        "bulletList",
        "orderedList",
        "codeBlock",
        "mediaGroup",
        "mediaSingle",
        "rule",
    }
)
_CELL_CHILDREN = frozenset(
    {
        "paragraph",
        "panel",
        "blockquote",
        "orderedList",
        "bulletList",
        "rule",
        "heading",
        "codeBlock",
        "mediaSingle",
        "mediaGroup",
    }
)
_TOP_LEVEL = frozenset(
    {
        "paragraph",
        "heading",
        "bulletList",
        "orderedList",
        "codeBlock",
        "blockquote",
        "rule",
        "table",
        "mediaSingle",
        "mediaGroup",
        "panel",
        "expand",
    }
)
# What an ``expand`` holds (the schema's non_nestable_block_content Jira renders):
# every top-level block but another expand.
_EXPAND_CHILDREN = _TOP_LEVEL - {"expand"}
_FORMAT_MARKS = frozenset(
    {"strong", "em", "underline", "strike", "link", "subsup", "textColor", "backgroundColor"}
)
_PANEL_TYPES = frozenset({"info", "note", "tip", "warning", "error", "success"})
_MEDIA_LAYOUTS = frozenset(
    {"wide", "full-width", "center", "wrap-right", "wrap-left", "align-end", "align-start"}
)


class AdfError(ValueError):
    """The document is not ADF Jira accepts; ``str()`` says where and why."""


def _fail(path: str, message: str) -> AdfError:
    return AdfError(f"{path}: {message}")


def _keys(node: dict[str, Any], path: str, allowed: frozenset[str] | set[str]) -> None:
    extra = set(node) - set(allowed)
    if extra:
        raise _fail(path, f"unexpected properties {sorted(extra)}")


def _attrs(
    node: dict[str, Any], path: str, allowed: set[str], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    attrs = node.get("attrs", {})
    if not isinstance(attrs, dict):
        raise _fail(path, "attrs must be an object")
    _keys(attrs, path + ".attrs", allowed | {"localId"})
    for name in required:
        if name not in attrs:
            raise _fail(path, f"attrs.{name} is required")
    return attrs


def _content(
    node: dict[str, Any], path: str, *, required: bool = True, min_items: int = 1
) -> list[Any]:
    if "content" not in node:
        if required:
            raise _fail(path, "content is required")
        return []
    content = node["content"]
    if not isinstance(content, list):
        raise _fail(path, "content must be an array")
    if len(content) < min_items:
        raise _fail(path, f"content needs at least {min_items} item(s)")
    return content


def _children(node: dict[str, Any], path: str, allowed: frozenset[str], **kw: Any) -> None:
    for i, child in enumerate(_content(node, path, **kw)):
        _node(child, f"{path}.content[{i}]", allowed)


def _no_marks(node: dict[str, Any], path: str) -> None:
    if node.get("marks"):
        raise _fail(path, "marks are not allowed here")


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ------------------------------------------------------------------ marks
def _mark(mark: Any, path: str) -> str:
    if not isinstance(mark, dict) or not isinstance(mark.get("type"), str):
        raise _fail(path, "a mark must be an object with a type")
    kind = mark["type"]
    if kind in ("strong", "em", "underline", "strike", "code"):
        _keys(mark, path, {"type"})
    elif kind == "link":
        _keys(mark, path, {"type", "attrs"})
        attrs = _mark_attrs(mark, path, {"href", "title", "id", "collection", "occurrenceKey"})
        if not isinstance(attrs.get("href"), str) or not attrs["href"]:
            raise _fail(path, "link mark needs a non-empty attrs.href")
    elif kind == "subsup":
        _keys(mark, path, {"type", "attrs"})
        if _mark_attrs(mark, path, {"type"}).get("type") not in ("sub", "sup"):
            raise _fail(path, "subsup mark needs attrs.type sub or sup")
    elif kind in ("textColor", "backgroundColor"):
        _keys(mark, path, {"type", "attrs"})
        color = _mark_attrs(mark, path, {"color"}).get("color")
        if not isinstance(color, str) or not _COLOR.match(color):
            raise _fail(path, f"{kind} mark needs attrs.color like #rrggbb")
    else:
        raise _fail(path, f"unknown mark {kind!r}")
    return kind


def _mark_attrs(mark: dict[str, Any], path: str, allowed: set[str]) -> dict[str, Any]:
    attrs = mark.get("attrs")
    if not isinstance(attrs, dict):
        raise _fail(path, "attrs is required")
    _keys(attrs, path + ".attrs", allowed)
    return attrs


def _text_marks(node: dict[str, Any], path: str) -> None:
    marks = node.get("marks", [])
    if not isinstance(marks, list):
        raise _fail(path, "marks must be an array")
    kinds = [_mark(m, f"{path}.marks[{i}]") for i, m in enumerate(marks)]
    if len(set(kinds)) != len(kinds):
        raise _fail(path, "the same mark appears twice")
    # The schema splits text into "formatted" and "code" variants: code combines only with link.
    if "code" in kinds and set(kinds) - {"code", "link"}:
        raise _fail(path, "the code mark combines only with link")
    if set(kinds) - _FORMAT_MARKS - {"code"}:
        raise _fail(path, "unsupported mark")


def _block_marks(node: dict[str, Any], path: str, top_level: bool) -> None:
    marks = node.get("marks", [])
    if not marks:
        return
    if not top_level or not isinstance(marks, list) or len(marks) != 1:
        raise _fail(path, "only one alignment or indentation mark, and only at the top level")
    mark = marks[0]
    kind = mark.get("type") if isinstance(mark, dict) else None
    if kind == "alignment":
        _keys(mark, path, {"type", "attrs"})
        if _mark_attrs(mark, path, {"align"}).get("align") not in ("center", "end"):
            raise _fail(path, "alignment needs attrs.align center or end")
    elif kind == "indentation":
        _keys(mark, path, {"type", "attrs"})
        if not _is_int(_mark_attrs(mark, path, {"level"}).get("level"), 1, 6):
            raise _fail(path, "indentation needs attrs.level 1..6")
    else:
        raise _fail(path, "only alignment or indentation marks are allowed on blocks")


# ------------------------------------------------------------------ nodes
def _text(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "text", "marks"})
    text = node.get("text")
    if not isinstance(text, str) or not text:
        raise _fail(path, "text nodes need a non-empty text")
    _text_marks(node, path)


def _inline_container(node: dict[str, Any], path: str, top: bool = False) -> None:
    _block_marks(node, path, top)
    _children(node, path, _INLINE, required=False, min_items=0)


def _paragraph(node: dict[str, Any], path: str, top: bool = False) -> None:
    _keys(node, path, {"type", "content", "attrs", "marks"})
    _attrs(node, path, set())
    _inline_container(node, path, top)


def _heading(node: dict[str, Any], path: str, top: bool = False) -> None:
    _keys(node, path, {"type", "content", "attrs", "marks"})
    if not _is_int(_attrs(node, path, {"level"}, ("level",)).get("level"), 1, 6):
        raise _fail(path, "heading attrs.level must be an integer 1..6")
    _inline_container(node, path, top)


def _list(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "content", "attrs"})
    attrs = _attrs(node, path, {"order"} if node["type"] == "orderedList" else set())
    if "order" in attrs and not _is_int(attrs["order"], 0, 2**31):
        raise _fail(path, "orderedList attrs.order must be a non-negative integer")
    _children(node, path, frozenset({"listItem"}))


def _list_item(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "content", "attrs"})
    _attrs(node, path, set())
    _children(node, path, _LIST_ITEM_CHILDREN)


def _code_block(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "content", "attrs", "marks"})
    _no_marks(node, path)
    attrs = _attrs(node, path, {"language", "uniqueId", "wrap", "hideLineNumbers"})
    if "language" in attrs and not isinstance(attrs["language"], str):
        raise _fail(path, "codeBlock attrs.language must be a string")
    for i, child in enumerate(_content(node, path, required=False, min_items=0)):
        cpath = f"{path}.content[{i}]"
        if not isinstance(child, dict) or child.get("type") != "text":
            raise _fail(cpath, "a codeBlock holds only text nodes")
        _text(child, cpath)
        _no_marks(child, cpath)


def _blockquote(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "content", "attrs"})
    _attrs(node, path, set())
    _children(node, path, _BLOCKQUOTE_CHILDREN)


def _rule(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "attrs"})
    _attrs(node, path, set())


def _panel(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "content", "attrs"})
    attrs = _attrs(
        node,
        path,
        {"panelType", "panelIcon", "panelIconId", "panelIconText", "panelColor"},
        ("panelType",),
    )
    if attrs["panelType"] not in _PANEL_TYPES:
        raise _fail(path, f"unknown panelType {attrs['panelType']!r}")
    _children(node, path, _PANEL_CHILDREN)


def _table(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "content", "attrs"})
    attrs = _attrs(node, path, {"isNumberColumnEnabled", "layout", "width", "displayMode"})
    if "isNumberColumnEnabled" in attrs and not isinstance(attrs["isNumberColumnEnabled"], bool):
        raise _fail(path, "isNumberColumnEnabled must be a boolean")
    if attrs.get("layout", "default") not in (
        "wide",
        "full-width",
        "center",
        "align-end",
        "align-start",
        "default",
    ):
        raise _fail(path, "unknown table layout")
    _children(node, path, frozenset({"tableRow"}))


def _table_row(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "content", "attrs"})
    _attrs(node, path, set())
    _children(node, path, frozenset({"tableHeader", "tableCell"}))


def _table_cell(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "content", "attrs"})
    attrs = _attrs(node, path, {"colspan", "rowspan", "colwidth", "background", "valign"})
    for span in ("colspan", "rowspan"):
        if span in attrs and not _is_int(attrs[span], 1, 1000):
            raise _fail(path, f"{span} must be a positive integer")
    widths = attrs.get("colwidth", [])
    if not isinstance(widths, list) or not all(_is_number(w) for w in widths):
        raise _fail(path, "colwidth must be an array of numbers")
    _children(node, path, _CELL_CHILDREN)


def _media_single(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "content", "attrs"})
    if "attrs" in node:
        attrs = _attrs(node, path, {"layout", "width", "widthType"}, ("layout",))
        if attrs["layout"] not in _MEDIA_LAYOUTS:
            raise _fail(path, "unknown mediaSingle layout")
        if "width" in attrs and not (_is_number(attrs["width"]) and 0 <= attrs["width"] <= 100):
            raise _fail(path, "mediaSingle width is a percentage 0..100")
        if attrs.get("widthType", "percentage") != "percentage":
            raise _fail(path, "only percentage widths are accepted")
    content = _content(node, path)
    if len(content) != 1:
        raise _fail(path, "mediaSingle holds exactly one media node")
    _node(content[0], path + ".content[0]", frozenset({"media"}))


def _media_group(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "content"})
    _children(node, path, frozenset({"media"}))


def _media(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "attrs"})
    raw = node.get("attrs")
    if not isinstance(raw, dict):
        raise _fail(path, "media needs attrs")
    kind = raw.get("type")
    if kind in ("file", "link"):
        attrs = _attrs(
            node,
            path,
            {"type", "id", "collection", "alt", "width", "height", "occurrenceKey"},
            ("type", "id", "collection"),
        )
        if not isinstance(attrs["id"], str) or not attrs["id"]:
            raise _fail(path, "media attrs.id must be a non-empty string")
        if not isinstance(attrs["collection"], str):
            raise _fail(path, "media attrs.collection must be a string")
    elif kind == "external":
        attrs = _attrs(node, path, {"type", "url", "alt", "width", "height"}, ("type", "url"))
        if not isinstance(attrs["url"], str) or not attrs["url"]:
            raise _fail(path, "external media needs attrs.url")
    else:
        raise _fail(path, "media attrs.type must be file, link or external")
    for dim in ("width", "height"):
        if dim in attrs and not _is_number(attrs[dim]):
            raise _fail(path, f"media attrs.{dim} must be a number")


def _hard_break(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "attrs"})
    if _attrs(node, path, {"text"}).get("text", "\n") != "\n":
        raise _fail(path, "hardBreak attrs.text can only be a newline")


def _mention(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "attrs"})
    attrs = _attrs(node, path, {"id", "text", "accessLevel", "userType"}, ("id",))
    if not isinstance(attrs["id"], str) or not attrs["id"]:
        raise _fail(path, "mention attrs.id must be an account id")
    if attrs.get("userType", "DEFAULT") not in ("DEFAULT", "SPECIAL", "APP"):
        raise _fail(path, "unknown mention userType")


def _emoji(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "attrs"})
    attrs = _attrs(node, path, {"shortName", "id", "text"}, ("shortName",))
    if not isinstance(attrs["shortName"], str) or not attrs["shortName"]:
        raise _fail(path, "emoji attrs.shortName must be a non-empty string")


def _inline_card(node: dict[str, Any], path: str) -> None:
    _keys(node, path, {"type", "attrs"})
    attrs = _attrs(node, path, {"url", "data"})
    if ("url" in attrs) == ("data" in attrs):
        raise _fail(path, "inlineCard needs exactly one of attrs.url or attrs.data")
    if "url" in attrs and (not isinstance(attrs["url"], str) or not attrs["url"]):
        raise _fail(path, "inlineCard attrs.url must be a non-empty string")


def _expand(node: dict[str, Any], path: str) -> None:
    """A collapsed section: only at a document's top level (the schema's expand_node)."""
    _keys(node, path, {"type", "content", "attrs"})
    attrs = _attrs(node, path, {"title", "localId"})
    if "title" in attrs and not isinstance(attrs["title"], str):
        raise _fail(path, "expand attrs.title must be a string")
    _content(node, path, min_items=1)
    _children(node, path, _EXPAND_CHILDREN)


_CHECKS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "paragraph": _paragraph,
    "heading": _heading,
    "bulletList": _list,
    "orderedList": _list,
    "listItem": _list_item,
    "codeBlock": _code_block,
    "blockquote": _blockquote,
    "rule": _rule,
    "panel": _panel,
    "table": _table,
    "tableRow": _table_row,
    "tableHeader": _table_cell,
    "tableCell": _table_cell,
    "mediaSingle": _media_single,
    "mediaGroup": _media_group,
    "media": _media,
    "text": _text,
    "hardBreak": _hard_break,
    "mention": _mention,
    "emoji": _emoji,
    "inlineCard": _inline_card,
    "expand": _expand,
}


def _node(node: Any, path: str, allowed: frozenset[str], top: bool = False) -> None:
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        raise _fail(path, "a node must be an object with a string type")
    kind = node["type"]
    if kind not in allowed:
        raise _fail(path, f"node {kind!r} is not allowed here")
    if top and kind in ("paragraph", "heading"):
        (_paragraph if kind == "paragraph" else _heading)(node, path, True)
        return
    _CHECKS[kind](node, path)


def check_structure(doc: Any) -> None:
    """Raise :class:`AdfError` unless ``doc`` is an ADF document Jira accepts."""
    if not isinstance(doc, dict):
        raise AdfError("doc: an Atlassian Document must be a JSON object")
    _keys(doc, "doc", {"version", "type", "content"})
    if doc.get("type") != "doc" or doc.get("version") != 1 or isinstance(doc.get("version"), bool):
        raise AdfError("doc: type must be 'doc' and version 1")
    for i, child in enumerate(_content(doc, "doc", min_items=0)):
        _node(child, f"doc.content[{i}]", _TOP_LEVEL, top=True)


# ------------------------------------------------------------------ official schema
def specs_dir() -> Path:
    env = os.environ.get("SPECS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "specs"


_schema_lock = threading.Lock()


def _declared_types(definition: dict[str, Any], definitions: dict[str, Any]) -> set[str] | None:
    """The ``type`` values a node or mark definition accepts, or None when it does not say."""
    enum = definition.get("properties", {}).get("type", {}).get("enum")
    if isinstance(enum, list):
        return {str(v) for v in enum}
    for part in definition.get("allOf", []):
        ref = part.get("$ref", "")
        if ref.startswith("#/definitions/"):
            return _declared_types(definitions[ref.rsplit("/", 1)[1]], definitions)
    return None


def _discriminating_any_of(types: dict[str, set[str] | None]) -> Callable[..., Any]:
    """jsonschema's ``anyOf`` that skips branches whose ``type`` enum cannot match.

    Stock ``anyOf`` collects every error of every branch, recursing into all
    children each time: about 200 ms per ordinary description. A branch whose
    ``type`` enum excludes the node's type fails anyway, so skipping it changes
    no verdict and makes a check take well under a millisecond.
    """
    from jsonschema.exceptions import ValidationError

    def accepts(subschema: Any, kind: str) -> bool:
        ref = subschema.get("$ref", "") if isinstance(subschema, dict) else ""
        allowed = types.get(ref.rsplit("/", 1)[-1]) if ref.startswith("#/definitions/") else None
        return allowed is None or kind in allowed

    def any_of(validator: Any, branches: list[Any], instance: Any, schema: Any) -> Any:
        kind = instance.get("type") if isinstance(instance, dict) else None
        all_errors = []
        for index, subschema in enumerate(branches):
            if isinstance(kind, str) and not accepts(subschema, kind):
                continue
            errors = list(validator.descend(instance, subschema, schema_path=index))
            if not errors:
                return
            all_errors.extend(errors)
        yield ValidationError(
            f"{instance!r} is not valid under any of the given schemas", context=all_errors
        )

    return any_of


@lru_cache(maxsize=4)
def _schema_validator(path: str) -> Any:
    import jsonschema  # imported lazily: the structural check works without it

    schema = json.loads(Path(path).read_text(encoding="utf-8"))
    definitions = schema.get("definitions", {})
    types = {name: _declared_types(d, definitions) for name, d in definitions.items()}
    fast = jsonschema.validators.extend(
        jsonschema.Draft4Validator, {"anyOf": _discriminating_any_of(types)}
    )
    return fast(schema)


def schema_validator() -> Any | None:
    """The cached draft-04 validator for the official schema, or None when the file is absent."""
    path = specs_dir() / SCHEMA_FILE
    if not path.is_file():
        return None
    with _schema_lock:  # build it once even when many threads ask at start-up
        return _schema_validator(str(path))


def check_schema(doc: Any) -> None:
    validator = schema_validator()
    if validator is None:
        return
    error = next(iter(validator.iter_errors(doc)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "doc"
        raise AdfError(f"{where}: does not match the ADF schema ({error.message[:200]})")


def validate(doc: Any) -> None:
    """Both layers; the cheap structural check first so most refusals skip jsonschema."""
    check_structure(doc)
    check_schema(doc)


def to_plain_text(doc: Any) -> str:
    """Flatten a document's text (for renderedFields and ``~`` searches)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                out.append(str(node.get("text", "")))
            elif node.get("type") == "hardBreak":
                out.append("\n")
            for child in node.get("content", []) or []:
                walk(child)
            if node.get("type") in ("paragraph", "heading", "listItem", "codeBlock"):
                out.append("\n")

    walk(doc)
    return "".join(out).strip()
