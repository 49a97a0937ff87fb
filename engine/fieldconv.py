"""One ADO field value into the Jira field a field map names, by both fields' types.

:func:`convert_value` never raises: it returns the Jira value, or a typed
:class:`~engine.fieldmap.FieldProblem` saying why the value was not carried
(wrong type, option missing, person unmapped, field not on this type's screen).

- string: one line, cut to 255 characters with an ellipsis (a note says so);
  HTML becomes its text, identities "Name (e-mail)", dates ISO.
- doc (textarea, description, environment): HTML to ADF, text to paragraphs,
  cut to Jira's limit on a block boundary.
- number, date (``YYYY-MM-DD`` in UTC), datetime (Jira's
  ``yyyy-MM-dd'T'HH:mm:ss.SSSZ``).
- user / users: ``{"accountId"}`` from the user-resolving callable.
- option / options: ``{"id"}`` of the allowed value whose name matches the
  value-map's option (or the ADO value itself), case-insensitive; ``{"value"}``
  when the screen lists no allowed values.
- labels / strings: ADO's ";"-separated multi-values as an array; labels take
  no spaces, so they are joined with "-".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.adf import html_to_blocks
from engine.adf_nodes import Node, adf_char_length, doc, paragraph
from engine.content import DESCRIPTION_BUDGET, fit_to_limit
from engine.fieldmap import FieldProblem, ResolvedField, allowed_options
from engine.fieldtypes import AdoField, JiraField, type_fit
from engine.history import render_value
from engine.itemvalues import identity_of, label_of, person_label
from engine.model import FieldMeta, Identity

STRING_LIMIT = 255
UserResolve = Callable[[Identity], str | None]


@dataclass(frozen=True)
class Converted:
    value: Any = None  # what goes into ``fields[jira id]``; None with a problem
    problem: FieldProblem | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConvertInput:
    """Everything one conversion needs besides the value."""

    ado: AdoField
    jira: JiraField
    values: Mapping[str, str] = field(default_factory=dict)  # the entry's value map
    meta: FieldMeta | None = None  # the field on this issue type's create screen
    resolve_user: UserResolve | None = None


class _Refused(Exception):
    """A value that cannot go into the field (internal: converted to a problem)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _parse_moment(value: Any) -> datetime:
    raw = str(value).strip()
    head, dot, tail = raw.partition(".")
    if dot:  # ADO sends up to 7 fraction digits; fromisoformat wants at most 6
        digits = tail[: len(tail) - len(tail.lstrip("0123456789"))]
        raw = head + "." + digits[:6] + tail[len(digits) :]
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _Refused("wrong-type", f"{value!r} is not a date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise _Refused("wrong-type", f"{value!r} is not a number")
    if isinstance(value, int):
        return value
    try:
        number = float(value) if isinstance(value, float) else float(str(value).strip())
    except ValueError:
        raise _Refused("wrong-type", f"{value!r} is not a number") from None
    if not math.isfinite(number):  # Jira's JSON has no infinity or NaN
        raise _Refused("wrong-type", f"{value!r} is not a finite number")
    if isinstance(value, float):
        return number
    return int(number) if number.is_integer() and "." not in str(value) else number


def _split(value: Any) -> list[str]:
    parts = [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value).split(";")
    return [p.strip() for p in parts if p.strip()]


def _string(value: Any, notes: list[str]) -> str:
    line = " ".join(render_value(value).split())
    if len(line) > STRING_LIMIT:
        notes.append(f"cut to {STRING_LIMIT} characters")
        line = line[: STRING_LIMIT - 1].rstrip() + "…"
    return line


def _doc(value: Any, ado: AdoField, notes: list[str]) -> Node:
    if ado.value_type == "html" and isinstance(value, str):
        blocks = html_to_blocks(value)
    else:
        lines = render_value(value).split("\n")
        blocks = [paragraph(line) for line in lines if line.strip()]
    note = paragraph("(cut here: the value was too long for Jira)")
    document, cut = fit_to_limit(blocks, [], note, DESCRIPTION_BUDGET)
    if cut:
        notes.append("cut to fit Jira's limit")
    return document if adf_char_length(document) <= DESCRIPTION_BUDGET else doc(note)


def _user(value: Any, inp: ConvertInput) -> dict[str, str]:
    identity = identity_of(value)
    if identity is None:
        raise _Refused("wrong-type", f"{value!r} is not a person")
    account = inp.resolve_user(identity) if inp.resolve_user else None
    if not account:
        raise _Refused("user-unmapped", f"{person_label(identity)} has no Jira account")
    return {"accountId": account}


def _option(value: Any, inp: ConvertInput) -> dict[str, str]:
    raw = render_value(value)
    folded = {k.strip().lower(): v for k, v in inp.values.items()}
    wanted = inp.values.get(str(value)) or folded.get(raw.strip().lower()) or raw
    wanted = wanted.strip()
    if not wanted:
        raise _Refused("wrong-type", "an empty value is no option")
    allowed = allowed_options([inp.meta] if inp.meta else [])
    if not allowed:
        return {"value": wanted}
    for option in allowed:
        name = str(option.get("value") or option.get("name") or "")
        if name.strip().lower() == wanted.lower():
            return {"id": str(option["id"])} if option.get("id") else {"value": name}
    raise _Refused("option-missing", f"{inp.jira.name} has no option {wanted!r}")


def _options(value: Any, inp: ConvertInput, notes: list[str]) -> list[dict[str, str]]:
    out = []
    for part in _split(value):
        try:
            out.append(_option(part, inp))
        except _Refused as refused:
            notes.append(str(refused))
    if not out:
        raise _Refused("option-missing", "; ".join(notes) or "no value")
    return out


def _datetime_text(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def _users(value: Any, inp: ConvertInput) -> list[dict[str, str]]:
    people = value if isinstance(value, list) else [value]
    return [_user(p, inp) for p in people]


def _convert(value: Any, inp: ConvertInput, notes: list[str]) -> Any:
    kind = inp.jira.kind
    simple: dict[str, Callable[[], Any]] = {
        "string": lambda: _string(value, notes),
        "doc": lambda: _doc(value, inp.ado, notes),
        "number": lambda: _number(value),
        "date": lambda: _parse_moment(value).astimezone(UTC).strftime("%Y-%m-%d"),
        "datetime": lambda: _datetime_text(_parse_moment(value)),
        "user": lambda: _user(value, inp),
        "users": lambda: _users(value, inp),
        "option": lambda: _option(value, inp),
        "options": lambda: _options(value, inp, notes),
        "labels": lambda: [label_of(p) for p in _split(render_value(value))],
        "strings": lambda: _split(render_value(value)),
    }
    if kind not in simple:
        raise _Refused(
            "unsupported-jira-type", f"{inp.jira.name} ({inp.jira.type}) is not supported"
        )
    return simple[kind]()


def convert_value(value: Any, inp: ConvertInput) -> Converted:
    """The Jira value for one ADO value, or the problem that stopped it."""
    ref = inp.ado.reference_name
    if value is None or value == "":
        return Converted()
    if type_fit(inp.ado, inp.jira.kind) == 0.0:
        message = f"{inp.ado.value_type} cannot go into {inp.jira.name} ({inp.jira.kind})"
        return Converted(problem=FieldProblem("wrong-type", ref, message))
    notes: list[str] = []
    try:
        converted = _convert(value, inp, notes)
    except _Refused as refused:
        return Converted(problem=FieldProblem(refused.code, ref, str(refused)), notes=tuple(notes))
    except (ValueError, TypeError, OverflowError, KeyError) as exc:
        message = f"value could not be converted ({type(exc).__name__})"
        return Converted(problem=FieldProblem("wrong-type", ref, message))
    return Converted(converted, None, tuple(notes))


def mapped_fields(
    item_fields: Mapping[str, Any],
    resolved: Mapping[str, ResolvedField],
    screen: Sequence[FieldMeta],
    resolve_user: UserResolve | None = None,
) -> tuple[dict[str, Any], list[FieldProblem], list[str]]:
    """Every mapped field of one item for one issue type's screen: values, problems, notes."""
    on_screen = {m.field_id: m for m in screen}
    values: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    notes: list[str] = []
    for ref, rf in resolved.items():
        if ref not in item_fields:
            continue
        meta = on_screen.get(rf.jira.id)
        if meta is None:
            message = f"{rf.jira.name} is not on this issue type's create screen"
            problems.append(FieldProblem("not-on-screen", ref, message))
            continue
        ado = rf.ado or AdoField(ref, ref, "string")
        done = convert_value(
            item_fields[ref], ConvertInput(ado, rf.jira, rf.entry.values, meta, resolve_user)
        )
        notes += [f"{ref} -> {rf.jira.name}: {n}" for n in done.notes]
        if done.problem is not None:
            problems.append(done.problem)
        elif done.value is not None:
            values[rf.jira.id] = done.value
    return values, problems, notes
