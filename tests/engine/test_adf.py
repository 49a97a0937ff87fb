"""HTML → ADF: each construct, ADO's own HTML, and garbled input; every output is schema-checked."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.adf import ConvertContext, html_to_adf
from engine.adf_nodes import (
    adf_char_length,
    adf_to_text,
    bullet_list,
    code_block,
    doc,
    heading,
    link,
    mention,
    panel,
    paragraph,
    rule,
    text,
)
from engine.html_tree import image_sources
from engine.refs import attachment_guid, safe_href, split_refs, work_item_id_from_url
from tests.engine.adf_schema import assert_valid_adf, specs_path

FIXTURES = Path(__file__).parent / "fixtures_html"
GUID = "4b1c8f2e-9a0d-4e3f-8b7a-6c5d4e3f2a1b"
ATTACHMENT_SRC = f"https://dev.azure.com/fab/_apis/wit/attachments/{GUID}?fileName=shot.png"
JIRA = "https://fab.atlassian.net"
PERSON = "6f7e2c1a-0d3b-4a59-9c1e-2b8f4d7a9e01"


def ctx() -> ConvertContext:
    return ConvertContext(
        image_url=lambda src: f"{JIRA}/att/1" if attachment_guid(src) == GUID else None,
        mention=lambda guid, name: {"id": "acc-1", "text": f"@{name}"} if guid == PERSON else None,
        work_item_ref={301: "FAB-1", 302: "FAB-2"}.get,
        jira_base_url=JIRA,
    )


def convert(html: str, context: ConvertContext | None = None) -> dict[str, Any]:
    """Convert and schema-check: no test looks at an unvalidated document."""
    result = html_to_adf(html, ctx=context)
    assert_valid_adf(result)
    return result


def blocks(html: str, context: ConvertContext | None = None) -> list[dict[str, Any]]:
    return convert(html, context)["content"]


def inlines(html: str, context: ConvertContext | None = None) -> list[dict[str, Any]]:
    (only,) = blocks(html, context)
    assert only["type"] == "paragraph"
    return only["content"]


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for child in node.get("content", []):
            yield from walk(child)


def types(document: dict[str, Any]) -> list[str]:
    return [node["type"] for node in walk(document)]


# --------------------------------------------------------------------------- builders
def test_builders_make_valid_documents() -> None:
    document = doc(
        heading("Title", 9),
        paragraph("plain"),
        paragraph([text("bold", [{"type": "strong"}]), link(" link", "https://x.example")]),
        paragraph(),
        bullet_list([[paragraph("a")], [heading("h", 2)]]),
        code_block("print(1)", "python"),
        code_block(""),
        panel([heading("in panel", 3), paragraph("p")], "info"),
        panel([]),
        paragraph([mention("acc-1", "@Jane")]),
        rule(),
        None,
    )
    assert_valid_adf(document)
    assert document["content"][0]["attrs"]["level"] == 6


def test_a_text_node_is_never_empty() -> None:
    with pytest.raises(ValueError):
        text("")
    assert paragraph("") == {"type": "paragraph"}


def test_an_unsafe_link_builder_gives_plain_text() -> None:
    assert link("x", "javascript:alert(1)") == {"type": "text", "text": "x"}


def test_adf_char_length_counts_compact_json_in_utf16_units() -> None:
    document = doc(paragraph("é😀"))
    compact = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    assert adf_char_length(document) == len(compact) + 1  # the emoji is two Java chars


# --------------------------------------------------------------------------- structure
def test_empty_html_gives_an_empty_valid_doc() -> None:
    for html in ("", "   ", "<div></div>", "<p>&nbsp;</p><div><br></div>"):
        assert convert(html) == {"version": 1, "type": "doc", "content": []}


def test_paragraphs_and_divs_become_paragraphs() -> None:
    result = blocks("<p>one</p><div>two</div>three")
    assert [adf_to_text(doc(b)) for b in result] == ["one", "two", "three"]


def test_headings_keep_their_level() -> None:
    result = blocks("<h1>a</h1><h4>b</h4><h6>c</h6>")
    assert [(b["type"], b["attrs"]["level"]) for b in result] == [
        ("heading", 1),
        ("heading", 4),
        ("heading", 6),
    ]


def test_inline_marks_map_to_adf_marks() -> None:
    html = "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><s>x</s><del>d</del><code>c</code>"
    marks = [node["marks"][0]["type"] for node in inlines(html)]
    assert marks == ["strong", "em", "underline", "strike", "code"]  # adjacent runs merge


def test_sub_and_sup_use_the_subsup_mark() -> None:
    nodes = inlines("H<sub>2</sub>O x<sup>2</sup>")
    assert nodes[1]["marks"] == [{"type": "subsup", "attrs": {"type": "sub"}}]
    assert nodes[3]["marks"] == [{"type": "subsup", "attrs": {"type": "sup"}}]


def test_code_text_keeps_only_code_and_link_marks() -> None:
    nodes = inlines('<a href="https://x.example"><b><i><code>c</code></i></b></a>')
    assert {m["type"] for m in nodes[0]["marks"]} == {"code", "link"}


def test_nested_same_marks_are_not_repeated() -> None:
    nodes = inlines("<b>a<strong>b</strong></b>")
    assert nodes == [{"type": "text", "text": "ab", "marks": [{"type": "strong"}]}]


def test_links_keep_safe_hrefs_and_drop_unsafe_ones() -> None:
    nodes = inlines(
        '<a href="https://x.example/a?b=1&amp;c=2">ok</a> <a href="javascript:alert(1)">js</a> '
        '<a href=" JaVa&#x0A;Script:alert(1)">sneaky</a> <a href="mailto:a@b.c">mail</a> '
        '<a href="#">hash</a> <a href="data:text/html,x">data</a>'
    )
    linked = {n["text"]: n["marks"][0]["attrs"]["href"] for n in nodes if n.get("marks")}
    assert linked == {"ok": "https://x.example/a?b=1&c=2", "mail": "mailto:a@b.c"}
    assert "js sneaky" in adf_to_text(doc(paragraph(nodes)))


def test_br_is_a_hard_break_and_hr_a_rule() -> None:
    result = blocks("a<br>b<br/><hr>c")
    assert [n["type"] for n in result[0]["content"]] == ["text", "hardBreak", "text"]
    assert result[1] == {"type": "rule"}


def test_whitespace_collapses_like_a_browser() -> None:
    nodes = inlines("<p>  a \n\t b   <b> c </b>  d&nbsp;&nbsp;e  </p>")
    assert adf_to_text(doc(paragraph(nodes))) == "a b c d e"


def test_entities_are_decoded() -> None:
    assert adf_to_text(convert("<p>&lt;x&gt; &amp; &copy; caf&eacute; &#33; &#x263A;</p>")) == (
        "<x> & © café ! ☺"
    )


def test_unknown_tags_reduce_to_their_text() -> None:
    html = '<span style="x"><font color="red">red</font> <custom-tag>x</custom-tag></span>'
    assert inlines(html) == [{"type": "text", "text": "red x"}]


def test_script_and_style_are_dropped() -> None:
    assert adf_to_text(convert("<script>alert(1)</script><style>p{}</style><p>ok</p>")) == "ok"


def test_control_characters_are_removed() -> None:
    assert adf_to_text(convert("<p>a\x00b\x08c\x1bd\ud800e</p>")) == "abcde"


# --------------------------------------------------------------------------- lists
def test_nested_lists_live_inside_list_items() -> None:
    result = blocks("<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>")
    (bullets,) = result
    first = bullets["content"][0]
    assert [b["type"] for b in first["content"]] == ["paragraph", "bulletList"]


def test_ordered_list_keeps_its_start() -> None:
    (ordered,) = blocks('<ol start="4"><li>four</li></ol>')
    assert ordered["type"] == "orderedList"
    assert ordered["attrs"] == {"order": 4}


def test_every_list_item_starts_with_a_paragraph() -> None:
    document = convert("<ul><li><ul><li>x</li></ul></li><li><pre>code</pre></li><li></li></ul>")
    for node in walk(document):
        if node["type"] == "listItem":
            assert node["content"][0]["type"] == "paragraph"


def test_a_bare_nested_list_joins_the_previous_item() -> None:
    (bullets,) = blocks("<ul><li>a</li><ul><li>b</li></ul></ul>")
    assert len(bullets["content"]) == 1
    assert bullets["content"][0]["content"][1]["type"] == "bulletList"


def test_headings_tables_and_quotes_in_list_items_are_flattened() -> None:
    html = (
        "<ul><li><h2>h</h2><table><tr><td>t</td></tr></table><blockquote>q</blockquote></li></ul>"
    )
    document = convert(html)
    item = document["content"][0]["content"][0]
    assert [b["type"] for b in item["content"]] == ["paragraph", "paragraph", "paragraph"]
    assert item["content"][0]["content"][0]["marks"] == [{"type": "strong"}]


# --------------------------------------------------------------------------- tables
def test_tables_have_rows_headers_and_cells() -> None:
    (table,) = blocks(
        "<table><thead><tr><th>h1</th><th>h2</th></tr></thead>"
        "<tbody><tr><td>a</td><td>b</td></tr></tbody></table>"
    )
    rows = table["content"]
    assert [c["type"] for c in rows[0]["content"]] == ["tableHeader", "tableHeader"]
    assert [c["type"] for c in rows[1]["content"]] == ["tableCell", "tableCell"]
    assert rows[1]["content"][0]["content"] == [paragraph("a")]


def test_colspan_and_rowspan_are_kept() -> None:
    (table,) = blocks(
        '<table><tr><td colspan="2" rowspan="3">a</td><td colspan="x">b</td></tr></table>'
    )
    cells = table["content"][0]["content"]
    assert cells[0]["attrs"] == {"colspan": 2, "rowspan": 3}
    assert "attrs" not in cells[1]


def test_short_rows_are_padded_and_empty_cells_get_a_paragraph() -> None:
    (table,) = blocks("<table><tr><td>a</td><td></td></tr><tr><td>b</td></tr></table>")
    assert [len(row["content"]) for row in table["content"]] == [2, 2]
    assert table["content"][0]["content"][1]["content"] == [paragraph()]


def test_a_nested_table_is_flattened_into_its_cell() -> None:
    document = convert("<table><tr><td>out<table><tr><td>in</td></tr></table></td></tr></table>")
    assert types(document).count("table") == 1
    assert "in" in adf_to_text(document)


def test_a_table_without_rows_keeps_its_text() -> None:
    assert adf_to_text(convert("<table>loose</table>")) == "loose"


# --------------------------------------------------------------------------- code and quotes
def test_pre_becomes_a_code_block_with_language_from_class() -> None:
    (block,) = blocks('<pre><code class="hljs language-python">\nif x:\n    y()\n</code></pre>')
    assert block == code_block("if x:\n    y()", "python")


def test_pre_keeps_whitespace_and_text_only() -> None:
    (block,) = blocks("<pre>a  <b>b</b><br>  c</pre>")
    assert block == code_block("a  b\n  c")


def test_blockquote_content_is_fitted() -> None:
    (quote,) = blocks("<blockquote><h1>h</h1><blockquote>inner</blockquote><hr>x</blockquote>")
    assert quote["type"] == "blockquote"
    assert [b["type"] for b in quote["content"]] == ["paragraph", "paragraph", "paragraph"]


# --------------------------------------------------------------------------- images, mentions, refs
def test_an_ado_attachment_image_with_a_known_url_is_media() -> None:
    (media,) = blocks(f'<div><img src="{ATTACHMENT_SRC}"></div>', ctx())
    assert media["type"] == "mediaSingle"
    assert media["content"][0]["attrs"] == {
        "type": "external",
        "url": f"{JIRA}/att/1",
        "alt": "shot.png",
    }


def test_an_image_without_a_known_url_is_link_text() -> None:
    other = ATTACHMENT_SRC.replace(GUID, "00000000-0000-0000-0000-000000000001")
    nodes = inlines(
        f'<img src="{other}"> <img src="https://x.example/a/d.svg" alt="Diagram">', ctx()
    )
    assert nodes[0]["text"] == "[image: shot.png]"
    assert nodes[0]["marks"][0]["attrs"]["href"] == other
    assert nodes[-1]["text"] == "[image: Diagram]"


def test_a_data_uri_image_is_plain_text() -> None:
    assert inlines('<img src="data:image/png;base64,AAAA">') == [
        {"type": "text", "text": "[image: image]"}
    ]


def test_a_mapped_mention_becomes_a_mention_node() -> None:
    html = f'<a href="#" data-vss-mention="version:2.0,{{{PERSON.upper()}}}">@Jamal Hartnett</a> hi'
    nodes = inlines(html, ctx())
    assert nodes[0] == {"type": "mention", "attrs": {"id": "acc-1", "text": "@Jamal Hartnett"}}


def test_an_unmapped_mention_is_plain_text() -> None:
    html = (
        '<a href="#" data-vss-mention="version:2.0,11111111-2222-3333-4444-555555555555">@Ann</a>'
    )
    assert inlines(html, ctx()) == [{"type": "text", "text": "@Ann"}]


def test_hash_references_to_migrated_items_become_linked_keys() -> None:
    nodes = inlines("See #301, #999, a#301 and <code>#302</code>.", ctx())
    assert nodes[1] == {
        "type": "text",
        "text": "FAB-1",
        "marks": [{"type": "link", "attrs": {"href": f"{JIRA}/browse/FAB-1"}}],
    }
    assert "#999, a#301" in adf_to_text(doc(paragraph(nodes)))
    assert nodes[-2]["text"] == "#302"  # code is code


def test_work_item_urls_in_links_point_at_jira() -> None:
    url = "https://dev.azure.com/fab/Proj/_workitems/edit/302/"
    nodes = inlines(f'<a href="{url}">{url}</a> and <a href="{url}">the item</a>', ctx())
    assert nodes[0]["text"] == "FAB-2"
    assert nodes[0]["marks"][0]["attrs"]["href"] == f"{JIRA}/browse/FAB-2"
    assert nodes[-1]["text"] == "the item"
    assert nodes[-1]["marks"][0]["attrs"]["href"] == f"{JIRA}/browse/FAB-2"


def test_unknown_work_item_urls_stay_as_written() -> None:
    url = "https://dev.azure.com/fab/_apis/wit/workItems/7"
    nodes = inlines(f'<a href="{url}">#7</a>', ctx())
    assert nodes == [
        {"type": "text", "text": "#7", "marks": [{"type": "link", "attrs": {"href": url}}]}
    ]


def test_image_sources_lists_every_img() -> None:
    assert image_sources(f'<p><img src="{ATTACHMENT_SRC}"><img src=""><img src="b.png"></p>') == [
        ATTACHMENT_SRC,
        "b.png",
    ]


# --------------------------------------------------------------------------- refs helpers
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://dev.azure.com/o/p/_workitems/edit/12", 12),
        ("https://o.visualstudio.com/p/_workitems/edit/12?fullScreen=true", 12),
        ("https://dev.azure.com/o/_apis/wit/workItems/34", 34),
        ("https://dev.azure.com/o/p/_apis/wit/workitems/34/comments", 34),
        ("https://dev.azure.com/o/p/_workitems/edit/x", None),
        ("https://dev.azure.com/o/p/_apis/wit/attachments/34", None),
        ("not a url", None),
    ],
)
def test_work_item_ids_are_read_from_urls(url: str, expected: int | None) -> None:
    assert work_item_id_from_url(url) == expected


def test_split_refs_strips_sentence_punctuation_from_urls() -> None:
    segments = split_refs("go https://dev.azure.com/o/p/_workitems/edit/1. now", {1: "K-1"}.get)
    assert "".join(s.text for s in segments) == "go K-1. now"
    assert [s.text for s in segments if s.key] == ["K-1"]


def test_safe_href_allows_only_known_schemes() -> None:
    assert safe_href("https://a") == "https://a"
    assert safe_href("vbscript:x") is None
    assert safe_href("/relative") is None


# --------------------------------------------------------------------------- robustness
def test_deep_nesting_is_bounded_and_keeps_the_text() -> None:
    document = convert("<ul><li>" * 400 + "bottom" + "<blockquote><div>" * 400 + "end")
    assert "bottom" in adf_to_text(document)
    assert "end" in adf_to_text(document)


def test_huge_text_converts() -> None:
    document = convert("<p>" + "word " * 200_000 + "</p>")
    assert adf_char_length(document) > 1_000_000


def test_plain_text_rendering() -> None:
    document = convert(
        "<h2>T</h2><ol><li>a</li><li>b<ul><li>c</li></ul></li></ol><blockquote>q</blockquote>"
    )
    assert adf_to_text(document) == "## T\n\n1. a\n2. b\n  - c\n\n> q"


# --------------------------------------------------------------------------- fixtures
@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.html")))
def test_own_fixtures_convert_to_valid_adf(name: str) -> None:
    html = (FIXTURES / name).read_text(encoding="utf-8")
    for context in (None, ctx()):
        document = convert(html, context)
        assert document["content"]
        assert not [n for n in walk(document) if n["type"] == "text" and not n["text"]]


def test_the_description_fixture_keeps_every_construct() -> None:
    document = convert((FIXTURES / "ado_description.html").read_text(encoding="utf-8"), ctx())
    found = set(types(document))
    assert found >= {
        "heading",
        "bulletList",
        "orderedList",
        "table",
        "tableHeader",
        "tableCell",
        "codeBlock",
        "blockquote",
        "rule",
        "mediaSingle",
        "mention",
        "hardBreak",
    }
    plain = adf_to_text(document)
    assert "FAB-1" in plain and "#999" in plain and "FAB-2" in plain
    assert "never shown" not in plain and "click me" in plain


HTML_KEYS = {
    "System.Description",
    "System.History",
    "Microsoft.VSTS.TCM.ReproSteps",
    "Microsoft.VSTS.TCM.SystemInfo",
    "Microsoft.VSTS.Common.AcceptanceCriteria",
    "text",
    "renderedText",
}


def html_strings(node: Any, key: str = "") -> Iterator[str]:
    """Rich-text fields, and any other string that looks like markup, in an example."""
    if isinstance(node, dict):
        for name, value in node.items():
            yield from html_strings(value, name)
    elif isinstance(node, list):
        for value in node:
            yield from html_strings(value, key)
    elif isinstance(node, str) and (key in HTML_KEYS or ("<" in node and ">" in node)):
        yield node


def example_html() -> list[str]:
    root = specs_path("ado-wit-7.1-httpExamples")
    found: list[str] = []
    for path in sorted(root.rglob("*.json")):
        found.extend(html_strings(json.loads(path.read_text(encoding="utf-8-sig"))))
    return found


def test_every_html_string_in_the_ado_examples_converts_to_valid_adf() -> None:
    strings = example_html()
    assert len(strings) > 50
    for html in strings:
        for context in (None, ctx()):
            convert(html, context)


def test_repro_steps_from_the_examples_keep_their_paragraphs() -> None:
    repro = [s for s in example_html() if s.startswith("<p>step 1</p>")]
    assert repro, "the examples should hold the ReproSteps HTML"
    assert adf_to_text(convert(repro[0])) == "step 1\n\nGüvenlik açığı testi"


# --------------------------------------------------------------------------- randomized
TAGS = [
    "p", "div", "span", "b", "i", "u", "s", "code", "pre", "a", "ul", "ol", "li", "table",
    "thead", "tbody", "tr", "td", "th", "h1", "h3", "h6", "blockquote", "br", "hr", "img",
    "font", "sub", "sup", "del", "strong", "em", "script", "caption", "dl", "dd", "x-y",
]  # fmt: skip
ATTRS = [
    'href="https://x.example/?a=1&amp;b"', 'href="javascript:alert(1)"', 'href="#"',
    f'src="{ATTACHMENT_SRC}"', 'src="https://x.example/i.png"', 'src="data:image/png;base64,AA"',
    'colspan="3"', 'rowspan="0"', 'colspan="-2"', 'start="7"', 'class="language-go"',
    f'data-vss-mention="version:2.0,{PERSON}"', 'data-vss-mention="version:2.0,"',
    'href="https://dev.azure.com/o/p/_workitems/edit/301"', "alt", 'style="a:b"',
]  # fmt: skip
TEXTS = [
    "word", " ", "\n", "\t", "&nbsp;", "&amp;", "&lt;", "&#0;", "&#xD800;", "&bogus;", "#301",
    "#99", "@Jane", "é😀", "\x00", "\x1b", "\u200b", "a  b", "<", ">", "&", '"', "x" * 300,
]  # fmt: skip


def random_html(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    for _ in range(size):
        roll = rng.random()
        tag = rng.choice(TAGS)
        if roll < 0.35:
            attrs = " ".join(rng.sample(ATTRS, rng.randint(0, 2)))
            parts.append(f"<{tag} {attrs}>" if attrs else f"<{tag}>")
        elif roll < 0.55:
            parts.append(f"</{tag}>")
        elif roll < 0.6:
            parts.append(
                rng.choice(["<!--", "-->", "<![CDATA[", "]]>", "<", "</", "<a", "/>", "<?"])
            )
        else:
            parts.append(rng.choice(TEXTS))
    return "".join(parts)


def mutate(rng: random.Random, html: str) -> str:
    """Cut a real fixture at random places and shuffle the pieces."""
    cuts = sorted(rng.sample(range(len(html)), min(6, len(html))))
    pieces = [html[a:b] for a, b in zip([0, *cuts], [*cuts, len(html)], strict=True)]
    rng.shuffle(pieces)
    return "".join(pieces)


def test_garbled_html_always_converts_to_valid_adf() -> None:
    rng = random.Random(20240517)
    fixtures = [p.read_text(encoding="utf-8") for p in sorted(FIXTURES.glob("*.html"))]
    deadline = time.monotonic() + 4.0
    runs = 0
    while runs < 60 or (time.monotonic() < deadline and runs < 2000):
        html = (
            mutate(rng, rng.choice(fixtures))
            if runs % 4 == 0
            else random_html(rng, rng.randint(1, 120))
        )
        try:
            convert(html, ctx() if runs % 2 else None)
        except AssertionError as error:
            raise AssertionError(f"seeded run {runs} produced invalid ADF for {html!r}") from error
        runs += 1
    assert runs >= 60
