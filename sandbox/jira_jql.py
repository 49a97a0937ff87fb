"""A useful subset of JQL for the simulated Jira's ``/search/jql``.

Grammar (case-insensitive keywords)::

    query   := [expr] [ORDER BY key [ASC|DESC] {, key [ASC|DESC]}]
    expr    := term {OR term}
    term    := factor {AND factor}
    factor  := NOT factor | ( expr ) | clause
    clause  := field (= | != | ~) value
             | field [NOT] IN ( value {, value} )
             | field IS [NOT] (EMPTY | NULL)

Fields: project, key/issuekey, id, labels, issuetype/type, status,
statusCategory, parent, assignee, reporter, summary (``~`` only), created and
updated (``>``/``<`` comparisons are not supported: a migrator has no need).
The search engine answers ``is_bounded`` so that ``order by key`` alone can be
refused with Jira's "Unbounded JQL" error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]  # the view of one issue that clauses read (see JiraState.jql_row)
Predicate = Callable[[Row], bool]

FIELD_ALIASES = {
    "project": "project",
    "key": "key",
    "issuekey": "key",
    "id": "id",
    "labels": "labels",
    "issuetype": "issuetype",
    "type": "issuetype",
    "status": "status",
    "statuscategory": "statusCategory",
    "parent": "parent",
    "assignee": "assignee",
    "reporter": "reporter",
    "summary": "summary",
    "text": "summary",
}
ORDER_FIELDS = {
    "key": "key",
    "issuekey": "key",
    "id": "id",
    "created": "created",
    "updated": "updated",
    "summary": "summary",
    "status": "status",
}
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<op>!=|!~|=|~|\(|\)|,)'
    r"|(?P<word>[^\s=!~(),\"']+))"
)


class JqlError(ValueError):
    """A query Jira would refuse; the message is Jira's wording where known."""


@dataclass
class _Tok:
    kind: str  # str | op | word
    text: str


@dataclass
class Query:
    predicate: Predicate | None  # None: no search restriction (unbounded)
    order: list[tuple[str, bool]]  # (row key, descending)

    @property
    def is_bounded(self) -> bool:
        return self.predicate is not None


def _tokenize(jql: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(jql):
        if jql[pos:].strip() == "":
            break
        m = _TOKEN.match(jql, pos)
        if not m or m.end() == pos:
            raise JqlError(
                f"Error in the JQL Query: The character '{jql[pos]}' is a reserved "
                f"JQL character (at position {pos})."
            )
        pos = m.end()
        if m.group("str") is not None:
            raw = m.group("str")[1:-1]
            tokens.append(_Tok("str", re.sub(r"\\(.)", r"\1", raw)))
        elif m.group("op") is not None:
            tokens.append(_Tok("op", m.group("op")))
        else:
            tokens.append(_Tok("word", m.group("word")))
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Tok], resolve: Callable[[str, str], str]) -> None:
        self.toks = tokens
        self.i = 0
        self.resolve = resolve  # (field, value) -> normalised value, may raise JqlError

    def peek_word(self, *words: str) -> bool:
        tok = self.toks[self.i] if self.i < len(self.toks) else None
        return tok is not None and tok.kind == "word" and tok.text.lower() in words

    def peek_op(self, op: str) -> bool:
        tok = self.toks[self.i] if self.i < len(self.toks) else None
        return tok is not None and tok.kind == "op" and tok.text == op

    def take(self) -> _Tok:
        if self.i >= len(self.toks):
            raise JqlError("Error in the JQL Query: Expecting more input at the end of the query.")
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect_op(self, op: str) -> None:
        tok = self.take()
        if tok.kind != "op" or tok.text != op:
            raise JqlError(f"Error in the JQL Query: Expecting '{op}' but got '{tok.text}'.")

    def parse(self) -> Query:
        predicate = None
        if self.i < len(self.toks) and not self.peek_word("order"):
            predicate = self.expr()
        order = self.order_by()
        if self.i < len(self.toks):
            raise JqlError(
                f"Error in the JQL Query: Expecting either 'OR' or 'AND' but got "
                f"'{self.toks[self.i].text}'."
            )
        return Query(predicate, order)

    def expr(self) -> Predicate:
        parts = [self.term()]
        while self.peek_word("or"):
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def term(self) -> Predicate:
        parts = [self.factor()]
        while self.peek_word("and"):
            self.take()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def factor(self) -> Predicate:
        if self.peek_word("not"):
            self.take()
            inner = self.factor()
            return lambda row: not inner(row)
        if self.peek_op("("):
            self.take()
            inner = self.expr()
            self.expect_op(")")
            return inner
        return self.clause()

    def clause(self) -> Predicate:
        tok = self.take()
        field = FIELD_ALIASES.get(tok.text.lower())
        if field is None:
            raise JqlError(
                f"Field '{tok.text}' does not exist or you do not have permission to view it."
            )
        if self.peek_word("is"):
            return self.is_empty(field)
        if self.peek_word("in", "not"):
            return self.in_list(field)
        op = self.take()
        if op.kind != "op" or op.text not in ("=", "!=", "~", "!~"):
            raise JqlError(f"Error in the JQL Query: Expecting operator but got '{op.text}'.")
        if (op.text in ("~", "!~")) != (field == "summary"):
            raise JqlError(f"The operator '{op.text}' is not supported by the '{tok.text}' field.")
        value = self.value(field)
        return _compare(field, op.text, value)

    def is_empty(self, field: str) -> Predicate:
        self.take()
        negate = self.peek_word("not")
        if negate:
            self.take()
        word = self.take()
        if word.text.lower() not in ("empty", "null"):
            raise JqlError("Error in the JQL Query: Expecting 'EMPTY' or 'NULL'.")
        return lambda row: _empty(row.get(field)) != negate

    def in_list(self, field: str) -> Predicate:
        negate = self.peek_word("not")
        if negate:
            self.take()
            if not self.peek_word("in"):
                raise JqlError("Error in the JQL Query: Expecting 'IN' after 'NOT'.")
        self.take()
        self.expect_op("(")
        values = [self.value(field)]
        while self.peek_op(","):
            self.take()
            values.append(self.value(field))
        self.expect_op(")")
        wanted = set(values)
        return lambda row: _matches_any(row.get(field), wanted) != negate

    def value(self, field: str) -> str:
        tok = self.take()
        if tok.kind == "op":
            raise JqlError(f"Error in the JQL Query: Expecting a value but got '{tok.text}'.")
        return self.resolve(field, tok.text)

    def order_by(self) -> list[tuple[str, bool]]:
        if not self.peek_word("order"):
            return []
        self.take()
        if not self.peek_word("by"):
            raise JqlError("Error in the JQL Query: Expecting 'by' after 'order'.")
        self.take()
        order = [self.order_key()]
        while self.peek_op(","):
            self.take()
            order.append(self.order_key())
        if len(order) > 7:
            raise JqlError("The ORDER BY clause can have at most 7 fields.")
        return order

    def order_key(self) -> tuple[str, bool]:
        tok = self.take()
        key = ORDER_FIELDS.get(tok.text.lower())
        if key is None:
            raise JqlError(f"Field '{tok.text}' does not exist or cannot be used for ordering.")
        desc = False
        if self.peek_word("asc", "desc"):
            desc = self.take().text.lower() == "desc"
        return key, desc


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == ""


def _matches_any(actual: Any, wanted: set[str]) -> bool:
    if isinstance(actual, list):
        return any(v in wanted for v in actual)
    return actual in wanted


def _compare(field: str, op: str, value: str) -> Predicate:
    if op in ("~", "!~"):
        needle = value.lower()
        return lambda row: (needle in str(row.get(field) or "").lower()) == (op == "~")
    wanted = {value}
    if op == "=":
        return lambda row: _matches_any(row.get(field), wanted)
    return lambda row: not _empty(row.get(field)) and not _matches_any(row.get(field), wanted)


def parse(jql: str, resolve: Callable[[str, str], str]) -> Query:
    """Parse ``jql``; ``resolve(field, literal)`` normalises values (e.g. a key to an id)."""
    return _Parser(_tokenize(jql), resolve).parse()


def sort_rows(rows: list[Row], order: list[tuple[str, bool]]) -> list[Row]:
    """Sort stably by each key, last key first, so the first key wins."""
    result = sorted(rows, key=lambda r: r["id_num"])
    for key, desc in reversed(order):
        sort_key = "key_num" if key in ("key", "id") else key
        result.sort(key=lambda r, k=sort_key: r[k], reverse=desc)  # type: ignore[misc]
    return result
