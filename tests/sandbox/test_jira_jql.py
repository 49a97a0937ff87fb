"""The JQL subset's parser, without HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox import jira_jql

ROWS: list[dict[str, Any]] = [
    {
        "id_num": 1,
        "key_num": 1,
        "key": "A-1",
        "project": "A",
        "labels": ["x"],
        "status": "done",
        "summary": "Fix login",
        "created": 3.0,
        "assignee": None,
    },
    {
        "id_num": 2,
        "key_num": 2,
        "key": "A-2",
        "project": "A",
        "labels": [],
        "status": "to do",
        "summary": 'Add "quotes"',
        "created": 1.0,
        "assignee": "u1",
    },
    {
        "id_num": 3,
        "key_num": 3,
        "key": "A-3",
        "project": "A",
        "labels": ["x", "y"],
        "status": "to do",
        "summary": "Other",
        "created": 2.0,
        "assignee": "u2",
    },
]


def _keys(jql: str) -> list[str]:
    query = jira_jql.parse(jql, lambda field, literal: literal)
    assert query.predicate is not None
    rows = [r for r in ROWS if query.predicate(r)]
    return [r["key"] for r in jira_jql.sort_rows(rows, query.order or [("key", False)])]


@pytest.mark.parametrize(
    ("jql", "keys"),
    [
        ("labels = x", ["A-1", "A-3"]),
        ("labels != x", []),
        ("labels not in (y)", ["A-1", "A-2"]),
        ("labels = x OR status = 'to do' AND labels is empty", ["A-1", "A-2", "A-3"]),
        ("(labels = x OR status = 'to do') AND labels is empty", ["A-2"]),
        ("NOT status = done", ["A-2", "A-3"]),
        ('summary ~ "\\"quotes\\""', ["A-2"]),
        ("assignee is not EMPTY order by created desc", ["A-3", "A-2"]),
        ("project = A ORDER BY status ASC, key DESC", ["A-1", "A-3", "A-2"]),
        ("KEY IN (A-3, A-1)", ["A-1", "A-3"]),
    ],
)
def test_it_evaluates_the_subset(jql: str, keys: list[str]) -> None:
    assert _keys(jql) == keys


def test_order_by_alone_is_unbounded() -> None:
    assert not jira_jql.parse("order by key", lambda f, v: v).is_bounded
    assert not jira_jql.parse("  ", lambda f, v: v).is_bounded


@pytest.mark.parametrize(
    "jql",
    ["labels =", "labels = (x", "status ~ x", "a = b", "labels = x y", "order key", "labels in x"],
)
def test_it_refuses_malformed_queries(jql: str) -> None:
    with pytest.raises(jira_jql.JqlError):
        jira_jql.parse(jql, lambda f, v: v)
