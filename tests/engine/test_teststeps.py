"""Test case steps, shared steps and parameters to ADF tables; hostile XML (pure)."""

from __future__ import annotations

import random
from html import escape
from typing import Any

import pytest

from engine.adf_nodes import doc
from engine.teststeps import (
    MAX_STEPS,
    XML_LIMIT,
    case_blocks,
    parameters_table,
    parse_parameters,
    parse_steps,
    steps_table,
    steps_text,
)
from tests.engine.adf_schema import assert_valid_adf


def step(sid: int, action: str, expected: str = "", kind: str = "ValidateStep") -> str:
    return (
        f'<step id="{sid}" type="{kind}">'
        f'<parameterizedString isformatted="true">{escape(action)}</parameterizedString>'
        f'<parameterizedString isformatted="true">{escape(expected)}</parameterizedString>'
        "<description/></step>"
    )


def steps(*inner: str) -> str:
    return f'<steps id="0" last="{len(inner) + 1}">{"".join(inner)}</steps>'


STEPS = steps(
    step(2, "<DIV><P>Open the <B>login</B> page</P></DIV>", "<P>The form shows</P>"),
    step(3, "<P>Sign in as @user</P>", "", "ActionStep"),
    '<compref id="4" ref="31"/>',
    step(5, "<P>Log out</P>", "<P>Back at the start &amp; done</P>"),
)
SHARED_31 = steps(
    step(2, "<P>Accept the cookies</P>", "<P>Banner gone</P>"), step(3, "<P>Close tips</P>")
)
PARAMS = (
    '<parameters><param name="user" bind="default"/>'
    '<param name="password" bind="default"/></parameters>'
)
DATA = (
    "<NewDataSet>"
    '<xs:schema id="NewDataSet" xmlns:xs="http://www.w3.org/2001/XMLSchema">'
    '<xs:element name="Table1"/></xs:schema>'
    "<Table1><user>alice</user><password>s3cret</password></Table1>"
    "<Table1><user>bob</user><password></password><extra>x</extra></Table1>"
    "</NewDataSet>"
)


def cells(table: dict[str, Any]) -> list[list[str]]:
    def cell_text(cell: dict[str, Any]) -> str:
        out: list[str] = []
        for block in cell["content"]:
            out.extend(n.get("text", "") for n in block.get("content", []))
        return "".join(out)

    return [[cell_text(c) for c in row["content"]] for row in table["content"]]


def valid(*blocks: dict[str, Any] | None) -> dict[str, Any]:
    document = doc(*blocks)
    assert_valid_adf(document)
    return document


def test_steps_become_a_table_of_action_and_expected_result() -> None:
    parsed = parse_steps(STEPS)
    assert not parsed.problems
    table = steps_table(parsed)
    assert table is not None
    valid(table)
    assert cells(table) == [
        ["#", "Action", "Expected result"],
        ["1", "Open the login page", "The form shows"],
        ["2", "Sign in as @user", ""],
        ["3", "Shared steps #31 (its steps were not available)", ""],
        ["4", "Log out", "Back at the start & done"],
    ]
    assert [s.kind for s in parsed.steps] == ["validate", "action", "shared", "validate"]
    assert parsed.shared_ids == [31]


def test_shared_steps_are_expanded_when_supplied() -> None:
    parsed = parse_steps(STEPS, {31: SHARED_31})
    table = steps_table(parsed)
    assert table is not None
    valid(table)
    rows = cells(table)
    assert rows[3] == ["3", "Shared steps #31", ""]
    assert rows[4] == ["3.1", "Accept the cookies", "Banner gone"]
    assert rows[5] == ["3.2", "Close tips", ""]
    assert rows[6][0] == "4"


def test_shared_steps_that_refer_to_themselves_stop() -> None:
    loop = steps(step(2, "<P>a</P>"), '<compref id="3" ref="40"/>')
    parsed = parse_steps(steps('<compref id="2" ref="40"/>'), {40: loop})
    assert [s.number for s in parsed.steps] == ["1", "1.1", "1.2"]
    valid(steps_table(parsed))


def test_shared_steps_expansion_is_bounded_in_total() -> None:
    big = steps(*(step(i, f"<P>s{i}</P>") for i in range(2, 1502)))
    outer = steps(*(f'<compref id="{i}" ref="50"/>' for i in range(2, 12)))
    parsed = parse_steps(outer, {50: big})
    assert len(parsed.steps) <= MAX_STEPS + 1
    assert [p.code for p in parsed.problems] == ["too-many"]


def test_steps_inline_in_a_compref_are_kept() -> None:
    parsed = parse_steps(steps(f'<compref id="2" ref="60">{step(3, "<P>inner</P>")}</compref>'))
    assert [(s.number, s.kind) for s in parsed.steps] == [("1", "shared"), ("1.1", "validate")]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("<steps><step", "malformed"),
        ("not xml at all", "malformed"),
        ("<steps>" + "x" * XML_LIMIT + "</steps>", "too-large"),
        ('<!DOCTYPE steps [<!ENTITY a "aaaa">]><steps>&a;</steps>', "declaration"),
        (
            '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
            "<steps>&lol2;</steps>",
            "declaration",
        ),
        ('<!DOCTYPE x SYSTEM "file:///etc/passwd"><steps/>', "declaration"),
        ("<!entity x 'y'><steps/>", "declaration"),
        ("<steps>&undefined;</steps>", "malformed"),
        ("<other><step/></other>", "not-steps"),
        ("<steps>\x00</steps>", "malformed"),
    ],
)
def test_hostile_and_malformed_steps_are_problems_not_crashes(raw: str, code: str) -> None:
    parsed = parse_steps(raw)
    assert [p.code for p in parsed.problems] == [code]
    assert parsed.steps == []
    assert steps_table(parsed) is None


@pytest.mark.parametrize("raw", [None, "", "   ", 42, b"<steps/>"])
def test_nothing_to_parse_is_no_problem(raw: Any) -> None:
    parsed = parse_steps(raw)
    assert parsed.steps == [] and parsed.problems == []


def test_deep_nesting_does_not_crash() -> None:
    raw = "<steps>" + "<a>" * 5000 + "</a>" * 5000 + step(2, "<P>x</P>") + "</steps>"
    parsed = parse_steps(raw)
    assert [s.number for s in parsed.steps] == ["1"]


def test_odd_steps_still_make_a_valid_table() -> None:
    raw = steps(
        '<step id="2" type="ActionStep"/>',
        '<step id="3"><parameterizedString>&lt;script&gt;alert(1)&lt;/script&gt;'
        "&lt;table&gt;&lt;tr&gt;&lt;td&gt;cell&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;"
        "&lt;h1&gt;Big&lt;/h1&gt;</parameterizedString></step>",
        '<compref id="4" ref="not-a-number"/>',
        '<compref id="5"/>',
        "<junk>ignored</junk>",
    )
    parsed = parse_steps(raw)
    table = steps_table(parsed)
    assert table is not None
    valid(table)
    rows = cells(table)
    assert rows[1] == ["1", "", ""]
    assert "alert" not in rows[2][1] and "cell" in rows[2][1]
    assert rows[3][1].startswith("Shared steps (no id)")


def test_a_shared_step_with_bad_xml_is_reported() -> None:
    parsed = parse_steps(steps('<compref id="2" ref="31"/>'), {31: "<steps><oops"})
    assert [p.code for p in parsed.problems] == ["malformed"]
    assert "#31" in parsed.problems[0].message


def test_parameters_and_their_rows() -> None:
    params = parse_parameters(PARAMS, DATA)
    assert params.names == ["user", "password", "extra"]
    assert params.rows == [
        {"user": "alice", "password": "s3cret"},
        {"user": "bob", "password": "", "extra": "x"},
    ]
    table = parameters_table(params)
    assert table is not None
    valid(table)
    assert cells(table) == [
        ["user", "password", "extra"],
        ["alice", "s3cret", ""],
        ["bob", "", "x"],
    ]


def test_parameters_without_data_and_a_shared_set() -> None:
    only_names = parse_parameters(PARAMS, None)
    assert only_names.rows == [] and only_names.names == ["user", "password"]
    shared = parse_parameters(PARAMS, '{"parameterMap":[],"sharedParameterDataSetIds":[7]}')
    assert [p.code for p in shared.problems] == ["shared-param-set"]
    assert parameters_table(parse_parameters(None, None)) is None


def test_hostile_parameters_are_problems() -> None:
    params = parse_parameters('<!DOCTYPE x [<!ENTITY e "e">]><parameters/>', "<NewDataSet><oops")
    assert [p.code for p in params.problems] == ["declaration", "malformed"]


def test_case_blocks_are_a_valid_document() -> None:
    blocks = case_blocks(parse_steps(STEPS, {31: SHARED_31}), parse_parameters(PARAMS, DATA))
    document = valid(*blocks)
    assert [b["type"] for b in document["content"]] == ["heading", "table", "heading", "table"]
    assert case_blocks(parse_steps(None)) == []


def test_steps_text_for_overflow_files() -> None:
    text = steps_text(parse_steps(STEPS))
    assert text.splitlines() == [
        "1. Open the login page => The form shows",
        "2. Sign in as @user",
        "3. Shared steps #31",
        "4. Log out => Back at the start & done",
    ]


def test_plain_text_steps_keep_their_lines_and_their_angle_brackets() -> None:
    raw = steps(
        '<step id="2" type="ActionStep">'
        '<parameterizedString isformatted="false">'
        "Type a &lt;b&gt;\nthen press Enter</parameterizedString>"
        '<parameterizedString isformatted="false"></parameterizedString></step>'
    )
    parsed = parse_steps(raw)
    table = steps_table(parsed)
    assert table is not None
    valid(table)
    action = table["content"][1]["content"][1]["content"][0]["content"]
    assert [n.get("text") for n in action] == ["Type a <b>", None, "then press Enter"]


def test_random_fragments_never_crash() -> None:
    rng = random.Random(3)
    pieces = [
        "<steps>",
        "</steps>",
        "<step>",
        "</step>",
        '<compref ref="1">',
        "</compref>",
        "<compref/>",
        "<parameterizedString>",
        "</parameterizedString>",
        "&lt;P&gt;x&lt;/P&gt;",
        "&amp;",
        "&",
        "<!--",
        "-->",
        "<![CDATA[",
        "]]>",
        "<?x?>",
        "\x00",
        "\ud800",
        "x",
    ]
    for _ in range(500):
        raw = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 15)))
        parsed = parse_steps(raw, {1: raw})
        table = steps_table(parsed)
        assert table is None or table["type"] == "table"
        parse_parameters(raw, raw)
