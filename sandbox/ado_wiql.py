"""WIQL: the flat-query subset a migrator sends, parsed, run against the store, and
served by the ``wit/wiql`` route (ids only, with the result-size cap)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.ado_args import int_arg
from sandbox.ado_errors import WEBAPI, AdoError, bad_request
from sandbox.ado_fields import FIELDS, FieldSpec, lookup_field, parse_dt
from sandbox.ado_site import AdoSite
from sandbox.ado_state import AdoStore
from sandbox.dataset import iso
from sandbox.httpbase import Request, Response, json_response

_ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_TOKEN = re.compile(
    r"""\s*(?:
    (?P<field>\[[^\]]+\])
  | (?P<str>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<macro>@\w+)
  | (?P<op><>|>=|<=|=|<|>|\(|\)|,|-|\+)
  | (?P<word>[A-Za-z_][\w.]*)
)""",
    re.VERBOSE,
)

Predicate = Callable[[int], bool]


def _wiql_error(message: str) -> AdoError:
    return AdoError(400, message, "WorkItemTrackingQueryInvalidSyntaxException")


@dataclass
class WiqlQuery:
    columns: list[str]
    predicate: Predicate
    order: list[tuple[str, bool]]  # (field, descending)


class WiqlParser:
    """The flat-query subset of WIQL a migrator sends (SELECT ... WHERE ... ORDER BY)."""

    def __init__(
        self, text: str, store: AdoStore, project: str | None, time_precision: bool
    ) -> None:
        self.tokens = self._tokenize(text)
        self.pos, self.store, self.project, self.time_precision = 0, store, project, time_precision

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens, pos = [], 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise _wiql_error(
                    f"TF51006: The query statement is not valid. The error is "
                    f"caused by «{text[pos : pos + 20].strip()}»."
                )
            kind = m.lastgroup or ""
            tokens.append((kind, m.group(kind)))
            pos = m.end()
        return tokens

    # ------------------------------------------------------------------ token helpers
    def _peek(self, offset: int = 0) -> tuple[str, str]:
        idx = self.pos + offset
        return self.tokens[idx] if idx < len(self.tokens) else ("eof", "")

    def _keyword(self, *words: str) -> bool:
        kind, value = self._peek()
        if kind == "word" and value.upper() in words:
            self.pos += 1
            return True
        return False

    def _expect_keyword(self, word: str) -> None:
        if not self._keyword(word):
            raise _wiql_error(
                f"TF51006: Expecting {word}. The error is caused by "
                f"«{self._peek()[1] or 'end of query'}»."
            )

    def _expect_op(self, op: str) -> None:
        if self._peek() != ("op", op):
            raise _wiql_error(
                f"TF51006: Expecting '{op}'. The error is caused by "
                f"«{self._peek()[1] or 'end of query'}»."
            )
        self.pos += 1

    def _field(self) -> FieldSpec:
        kind, value = self._peek()
        if kind not in ("field", "word"):
            raise _wiql_error(f"TF51006: Expecting field name. The error is caused by «{value}».")
        self.pos += 1
        spec = lookup_field(value.strip("[]"))
        if spec is None:
            raise _wiql_error(
                f"TF51005: The query references a field that does not exist. "
                f"The error is caused by «{value}»."
            )
        return spec

    # ------------------------------------------------------------------ grammar
    def parse(self) -> WiqlQuery:
        self._expect_keyword("SELECT")
        columns = [self._field()[0]]
        while self._peek() == ("op", ","):
            self.pos += 1
            columns.append(self._field()[0])
        self._expect_keyword("FROM")
        if not self._keyword("WORKITEMS"):
            raise _wiql_error(
                "TF51006: Only FROM WorkItems is supported by this server "
                "(link queries are not). The error is caused by "
                f"«{self._peek()[1]}»."
            )
        predicate: Predicate = lambda _i: True  # noqa: E731 - trivial default
        if self._keyword("WHERE"):
            predicate = self._or()
        order: list[tuple[str, bool]] = []
        if self._keyword("ORDER"):
            self._expect_keyword("BY")
            order.append(self._order_item())
            while self._peek() == ("op", ","):
                self.pos += 1
                order.append(self._order_item())
        if self._peek()[0] != "eof":
            raise _wiql_error(
                f"TF51006: The query statement is not valid. The error is caused "
                f"by «{self._peek()[1]}»."
            )
        return WiqlQuery(columns, predicate, order)

    def _order_item(self) -> tuple[str, bool]:
        ref = self._field()[0]
        descending = self._keyword("DESC")
        if not descending:
            self._keyword("ASC")
        return ref, descending

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._keyword("OR"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda i: any(p(i) for p in parts))

    def _and(self) -> Predicate:
        parts = [self._factor()]
        while self._keyword("AND"):
            parts.append(self._factor())
        return parts[0] if len(parts) == 1 else (lambda i: all(p(i) for p in parts))

    def _factor(self) -> Predicate:
        if self._keyword("NOT"):
            inner = self._factor()
            return lambda i: not inner(i)
        if self._peek() == ("op", "("):
            self.pos += 1
            inner = self._or()
            self._expect_op(")")
            return inner
        return self._condition()

    def _condition(self) -> Predicate:
        spec = self._field()
        ref, ftype = spec[0], spec[2]
        negate = self._keyword("NOT")
        if self._keyword("IN"):
            values = self._value_list(ftype)
            return self._wrap(negate, ref, lambda v: any(_equal(v, x) for x in values))
        if self._keyword("UNDER"):
            path = str(self._value(ftype)).lower()
            return self._wrap(
                negate,
                ref,
                lambda v: v is not None
                and (str(v).lower() == path or str(v).lower().startswith(path + "\\")),
            )
        if self._keyword("CONTAINS"):
            needle = str(self._value(ftype)).lower()
            return self._wrap(negate, ref, lambda v: v is not None and needle in str(v).lower())
        if negate:
            raise _wiql_error("TF51006: Expecting IN, UNDER or CONTAINS after NOT.")
        kind, op = self._peek()
        if kind != "op" or op not in ("=", "<>", "<", ">", "<=", ">="):
            raise _wiql_error(
                f"TF51006: Expecting comparison operator. The error is caused by "
                f"«{op or 'end of query'}»."
            )
        self.pos += 1
        operand = self._value(ftype)
        compare = _COMPARE[op]
        if ftype == "dateTime":
            return self._date_condition(ref, compare, operand)
        return lambda i: compare(_norm(self.store.value(i, ref)), _norm(operand))

    def _date_condition(
        self, ref: str, compare: Callable[[Any, Any], bool], operand: Any
    ) -> Predicate:
        if not isinstance(operand, datetime):
            raise _wiql_error(f"TF51006: The value «{operand}» is not a valid date.")
        if self.time_precision:
            return lambda i: _has(self.store.value(i, ref)) and compare(
                parse_dt(self.store.value(i, ref)), operand
            )
        day = operand.date()
        return lambda i: _has(self.store.value(i, ref)) and compare(
            parse_dt(self.store.value(i, ref)).date(), day
        )

    def _wrap(self, negate: bool, ref: str, test: Callable[[Any], bool]) -> Predicate:
        if negate:
            return lambda i: not test(_norm(self.store.value(i, ref)))
        return lambda i: test(_norm(self.store.value(i, ref)))

    def _value_list(self, ftype: str) -> list[Any]:
        self._expect_op("(")
        values = [_norm(self._value(ftype))]
        while self._peek() == ("op", ","):
            self.pos += 1
            values.append(_norm(self._value(ftype)))
        self._expect_op(")")
        return values

    def _value(self, ftype: str) -> Any:
        kind, raw = self._peek()
        self.pos += 1
        if kind == "str":
            text = raw[1:-1].replace(raw[0] * 2, raw[0])
            return self._date(text) if ftype == "dateTime" else text
        if kind == "num":
            return float(raw) if "." in raw else int(raw)
        if kind == "macro":
            return self._macro(raw.lower())
        raise _wiql_error(f"TF51006: Expecting a value. The error is caused by «{raw or 'end'}».")

    def _date(self, text: str) -> datetime:
        try:
            return parse_dt(text) if "T" in text or ":" in text else parse_dt(text + "T00:00:00Z")
        except ValueError as exc:
            raise _wiql_error(f"TF51006: The value «{text}» is not a valid date.") from exc

    def _macro(self, name: str) -> Any:
        if name == "@project":
            if self.project is None:
                raise _wiql_error(
                    "TF51011: The specified macro «@project» is not valid in a "
                    "query sent without a project."
                )
            return self.project
        if name == "@today":
            today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            if self._peek() in (("op", "-"), ("op", "+")):
                sign = -1 if self._peek()[1] == "-" else 1
                self.pos += 1
                kind, raw = self._peek()
                if kind != "num":
                    raise _wiql_error("TF51006: Expecting a number after @today.")
                self.pos += 1
                today += timedelta(days=sign * int(raw))
            return today
        raise _wiql_error(f"TF51011: The specified macro «{name}» is not supported by this server.")


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: _equal(a, b),
    "<>": lambda a, b: not _equal(a, b),
    "<": lambda a, b: _has(a) and a < b,
    ">": lambda a, b: _has(a) and a > b,
    "<=": lambda a, b: _has(a) and a <= b,
    ">=": lambda a, b: _has(a) and a >= b,
}


def _has(value: Any) -> bool:
    return value is not None


def _norm(value: Any) -> Any:
    """WIQL string comparisons ignore case; identities compare by display name or e-mail."""
    if isinstance(value, dict):
        return str(value.get("uniqueName") or value.get("displayName") or "").lower()
    if isinstance(value, str):
        return value.lower()
    return value


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str) and "<" in b:
        return a == b or b.endswith("<" + a + ">")  # "Name <email>" identity form
    return bool(a == b)


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, dict):
        return (1, str(value.get("displayName", "")).lower())
    if isinstance(value, str):
        moment = _timestamp(value)
        # ADO drops trailing zeros of the milliseconds (".9Z", ".95Z"): compare instants.
        return (2, moment) if moment is not None else (1, value.lower())
    return (1, value)


def _timestamp(value: str) -> datetime | None:
    if not _ISO_INSTANT.match(value):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class WiqlRoute:
    """``POST .../wit/wiql``: ids only, capped at ``cap`` results as the service caps them."""

    def __init__(self, site: AdoSite, cap: int) -> None:
        self.site, self.store, self.cap = site, site.store, cap

    def query(self, request: Request) -> Response:
        body = request.json()
        query = body.get("query") if isinstance(body, dict) else None
        if not isinstance(query, str) or not query.strip():
            raise bad_request(
                "VS402362: The query text (Wiql.Query) must be provided.",
                "VssPropertyValidationException",
                WEBAPI,
            )
        top = int_arg(request, "$top")
        precision = (request.arg("timePrecision") or "").lower() == "true"
        parsed = WiqlParser(
            query, self.store, self.site.project if "project" in request.params else None, precision
        ).parse()
        ids = self._run(parsed, top)
        return json_response(200, self._result(request, parsed, ids))

    def _run(self, parsed: WiqlQuery, top: int | None) -> list[int]:
        matched = [i for i in self.store.live_ids() if parsed.predicate(i)]
        if len(matched) > self.cap and (top is None or top > self.cap):
            raise AdoError(
                400,
                f"VS402337: The number of work items returned exceeds the size "
                f"limit of {self.cap}. Change the query to return fewer items.",
                "WorkItemTrackingQueryResultSizeLimitExceededException",
                error_code=600171,
            )
        for ref, descending in reversed(parsed.order):
            if ref == "System.Id":
                matched.sort(reverse=descending)
            else:
                matched.sort(key=self._sort_by(ref), reverse=descending)
        return matched[:top] if top is not None else matched

    def _sort_by(self, ref: str) -> Callable[[int], tuple[int, Any]]:
        return lambda ident: _sort_key(self.store.value(ident, ref))

    def _result(self, request: Request, parsed: WiqlQuery, ids: list[int]) -> dict[str, Any]:
        base, api, org = self.site.base(request), self.site.project_url(request), self.site.org

        def ref(name: str) -> dict[str, str]:
            spec = FIELDS[name.lower()]
            return {
                "referenceName": spec[0],
                "name": spec[1],
                "url": f"{base}/{org}/_apis/wit/fields/{spec[0]}",
            }

        return {
            "queryType": "flat",
            "queryResultType": "workItem",
            "asOf": iso(datetime.now(UTC)),
            "columns": [ref(c) for c in parsed.columns],
            "sortColumns": [{"field": ref(f), "descending": d} for f, d in parsed.order],
            "workItems": [{"id": i, "url": f"{api}/wit/workItems/{i}"} for i in ids],
        }
