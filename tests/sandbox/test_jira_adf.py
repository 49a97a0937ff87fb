"""The ADF checks: what the simulated Jira accepts validates against the official
schema, and documents either layer refuses are refused by both."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sandbox import jira_adf
from tests.sandbox.jira_support import doc, para, stock_adf_validator

TEXT = {"type": "text", "text": "x"}


def _item(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "listItem", "content": list(blocks)}


VALID: dict[str, dict[str, Any]] = {
    "empty doc": doc(),
    "empty paragraph": doc({"type": "paragraph"}),
    "marks": doc(
        para(
            "bold",
            {"type": "strong"},
            {"type": "em"},
            {"type": "underline"},
            {"type": "strike"},
            {"type": "textColor", "attrs": {"color": "#ff0000"}},
            {"type": "link", "attrs": {"href": "https://example.com"}},
        )
    ),
    "code mark with link": doc(
        para("x()", {"type": "code"}, {"type": "link", "attrs": {"href": "https://x.y"}})
    ),
    "subsup": doc(para("2", {"type": "subsup", "attrs": {"type": "sup"}})),
    "heading": doc({"type": "heading", "attrs": {"level": 3}, "content": [TEXT]}),
    "aligned paragraph": doc(
        {
            "type": "paragraph",
            "marks": [{"type": "alignment", "attrs": {"align": "center"}}],
            "content": [TEXT],
        }
    ),
    "lists": doc(
        {
            "type": "bulletList",
            "content": [
                _item(
                    para("a"),
                    {"type": "orderedList", "attrs": {"order": 3}, "content": [_item(para("b"))]},
                )
            ],
        }
    ),
    "code block": doc(
        {
            "type": "codeBlock",
            "attrs": {"language": "python"},
            "content": [{"type": "text", "text": "print(1)\n"}],
        }
    ),
    "blockquote and rule": doc({"type": "blockquote", "content": [para("q")]}, {"type": "rule"}),
    "panel": doc(
        {"type": "panel", "attrs": {"panelType": "warning"}, "content": [para("careful")]}
    ),
    "table": doc(
        {
            "type": "table",
            "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
            "content": [
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableHeader", "attrs": {}, "content": [para("h")]},
                        {"type": "tableHeader", "content": [para("h2")]},
                    ],
                },
                {
                    "type": "tableRow",
                    "content": [
                        {
                            "type": "tableCell",
                            "attrs": {"colspan": 2, "colwidth": [100, 50]},
                            "content": [para("c")],
                        }
                    ],
                },
            ],
        }
    ),
    "media single": doc(
        {
            "type": "mediaSingle",
            "attrs": {"layout": "center"},
            "content": [
                {
                    "type": "media",
                    "attrs": {
                        "type": "file",
                        "id": "abc-123",
                        "collection": "",
                        "width": 100,
                        "height": 50,
                    },
                }
            ],
        }
    ),
    "media external": doc(
        {
            "type": "mediaSingle",
            "content": [
                {"type": "media", "attrs": {"type": "external", "url": "https://x/img.png"}}
            ],
        }
    ),
    "media group": doc(
        {
            "type": "mediaGroup",
            "content": [
                {"type": "media", "attrs": {"type": "file", "id": "f1", "collection": "c"}}
            ],
        }
    ),
    "inline nodes": doc(
        {
            "type": "paragraph",
            "content": [
                TEXT,
                {"type": "hardBreak"},
                {"type": "mention", "attrs": {"id": "712020:abc", "text": "@Ann"}},
                {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}},
                {"type": "inlineCard", "attrs": {"url": "https://dev.azure.com/x"}},
            ],
        }
    ),
}

# Each is refused by the structural checker AND by the official schema.
INVALID: dict[str, Any] = {
    "not an object": ["doc"],
    "missing version": {"type": "doc", "content": []},
    "version 2": {"type": "doc", "version": 2, "content": []},
    "extra top-level key": {**doc(), "extra": 1},
    "empty text node": doc({"type": "paragraph", "content": [{"type": "text", "text": ""}]}),
    "text without text": doc({"type": "paragraph", "content": [{"type": "text"}]}),
    "unknown node": doc({"type": "marquee", "content": []}),
    "text at top level": doc(TEXT),
    "unknown mark": doc(para("x", {"type": "blink"})),
    "link without href": doc(para("x", {"type": "link", "attrs": {}})),
    "code with strong": doc(para("x", {"type": "code"}, {"type": "strong"})),
    "bad color": doc(para("x", {"type": "textColor", "attrs": {"color": "red"}})),
    "heading without level": doc({"type": "heading", "content": [TEXT]}),
    "paragraph directly in list": doc({"type": "bulletList", "content": [para("x")]}),
    "empty list": doc({"type": "bulletList", "content": []}),
    "list item without content": doc({"type": "bulletList", "content": [_item()]}),
    "marks in code block": doc(
        {
            "type": "codeBlock",
            "content": [{"type": "text", "text": "x", "marks": [{"type": "strong"}]}],
        }
    ),
    "table without rows": doc({"type": "table", "content": []}),
    "cell without content": doc(
        {
            "type": "table",
            "content": [{"type": "tableRow", "content": [{"type": "tableCell", "content": []}]}],
        }
    ),
    "mention without id": doc(
        {"type": "paragraph", "content": [{"type": "mention", "attrs": {"text": "@x"}}]}
    ),
    "emoji without shortName": doc(
        {"type": "paragraph", "content": [{"type": "emoji", "attrs": {}}]}
    ),
    "bad panel type": doc(
        {"type": "panel", "attrs": {"panelType": "shout"}, "content": [para("x")]}
    ),
    "media without collection": doc(
        {"type": "mediaGroup", "content": [{"type": "media", "attrs": {"type": "file", "id": "x"}}]}
    ),
    "hard break with text": doc(
        {"type": "paragraph", "content": [{"type": "hardBreak", "attrs": {"text": "x"}}]}
    ),
    "paragraph with unknown attr": doc({"type": "paragraph", "attrs": {"color": "red"}}),
    "content not a list": doc({"type": "paragraph", "content": TEXT}),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_it_accepts_valid_documents_that_the_official_schema_accepts(name: str) -> None:
    document = VALID[name]
    jira_adf.check_structure(document)
    assert jira_adf.schema_validator() is not None or pytest.skip("ADF schema file absent")
    jira_adf.check_schema(document)
    assert stock_adf_validator().is_valid(document)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_it_refuses_invalid_documents_with_both_validators(name: str) -> None:
    document = INVALID[name]
    with pytest.raises(jira_adf.AdfError):
        jira_adf.check_structure(document)
    assert not stock_adf_validator().is_valid(document)
    with pytest.raises(jira_adf.AdfError):
        jira_adf.check_schema(document)


def test_it_accepts_an_expand_at_the_top_level_only() -> None:
    # The schema allows expand among a document's top-level blocks, not inside a panel.
    expand = {"type": "expand", "attrs": {"title": "t"}, "content": [para("x")]}
    assert stock_adf_validator().is_valid(doc(expand))
    jira_adf.validate(doc(expand))
    nested = doc({"type": "panel", "attrs": {"panelType": "info"}, "content": [expand]})
    assert not stock_adf_validator().is_valid(nested)
    with pytest.raises(jira_adf.AdfError, match="not allowed"):
        jira_adf.validate(nested)


def test_it_refuses_an_expand_without_content() -> None:
    with pytest.raises(jira_adf.AdfError):
        jira_adf.validate(doc({"type": "expand", "attrs": {"title": "t"}, "content": []}))


def test_the_fast_schema_validator_agrees_with_stock_jsonschema() -> None:
    fast = jira_adf.schema_validator()
    stock = stock_adf_validator()
    assert fast is not None
    for document in [*VALID.values(), *INVALID.values()]:
        assert fast.is_valid(document) == stock.is_valid(document)


def test_the_schema_validator_is_built_once() -> None:
    assert jira_adf.schema_validator() is jira_adf.schema_validator()


def test_it_validates_fifty_rich_descriptions_quickly() -> None:
    rich = doc(
        *VALID["lists"]["content"],
        *VALID["table"]["content"],
        *VALID["marks"]["content"] * 10,
        *VALID["inline nodes"]["content"],
    )
    jira_adf.validate(rich)
    started = time.perf_counter()
    for _ in range(50):
        jira_adf.validate(rich)
    assert time.perf_counter() - started < 1.0


def test_it_flattens_text_for_rendering() -> None:
    assert jira_adf.to_plain_text(doc(para("a"), para("b"))) == "a\nb"
