"""The field map as the run decided it: typed, stored with the plan, shown in the report.

:func:`plan_fields` is the pure part of phase 1's field work. Given the ADO field
definitions, the Jira fields, the create screens of the issue types the run writes
to, which ADO fields the run's items hold (and on which Jira types), and
``spec.field_map``, it returns a :class:`FieldPlan`:

- ``mapped``: the entries phase 2 fills, each with both fields' types, its value map
  and its source (``override``: the user's map; ``suggested``: the user's map and the
  suggestion agree, so the user accepted it);
- ``suggestions``: for every custom ADO field the items use, the Jira field of like
  name and type on the screens, with a reason, a confidence and a proposed value map
  (options that match by name, booleans onto Yes/No), in exactly the
  ``field_map`` shape (:meth:`FieldPlan.suggested_field_map`) so a user can send it
  back as it is;
- ``unmatched``: used custom fields nothing carries;
- ``problems``: what makes the map unusable (unknown field, not on the screen of a
  type that has items holding the field, option missing, wrong type). A real run
  with problems stops in phase 1 before any write.

The plan also keeps the create-screen metadata of the fields it fills (allowed
options for the converter) and the Acceptance Criteria field per type, so a
resumed run converts exactly as the first process did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.acceptance import criteria_field
from engine.fieldmap import (
    FieldProblem,
    FieldSuggestion,
    allowed_options,
    parse_field_map,
    resolve_field_map,
    suggest_field_map,
    unmatched_fields,
)
from engine.fieldtypes import AdoField, JiraField, from_meta
from engine.model import FieldMeta


@dataclass(frozen=True)
class MappedField:
    """One entry phase 2 fills: ADO field → Jira field, with its value map."""

    ado: AdoField
    jira: JiraField
    values: dict[str, str] = field(default_factory=dict)
    source: str = "override"  # override | suggested

    def to_dict(self) -> dict[str, Any]:
        return {
            "ado": asdict(self.ado),
            "jira": asdict(self.jira),
            "values": dict(self.values),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> MappedField:
        return cls(
            AdoField(**raw["ado"]),
            JiraField(**raw["jira"]),
            {str(k): str(v) for k, v in (raw.get("values") or {}).items()},
            str(raw.get("source") or "override"),
        )


@dataclass(frozen=True)
class SuggestedField:
    """A suggestion and the value map proposed with it."""

    suggestion: FieldSuggestion
    values: dict[str, str] = field(default_factory=dict)
    unmatched_values: tuple[str, ...] = ()  # values seen in the items with no option

    def to_dict(self) -> dict[str, Any]:
        return {
            "suggestion": asdict(self.suggestion),
            "values": dict(self.values),
            "unmatched_values": list(self.unmatched_values),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SuggestedField:
        return cls(
            FieldSuggestion(**raw["suggestion"]),
            {str(k): str(v) for k, v in (raw.get("values") or {}).items()},
            tuple(str(v) for v in raw.get("unmatched_values") or []),
        )


@dataclass(frozen=True)
class FieldUse:
    """Where the run's items hold one ADO field: Jira type id → item count, and the values."""

    types: Mapping[str, int]
    values: tuple[str, ...] = ()  # distinct scalar values, for value-map suggestions


@dataclass
class FieldPlan:
    """The field map part of the run plan (see the module docstring)."""

    mapped: list[MappedField] = field(default_factory=list)
    suggestions: list[SuggestedField] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    problems: list[FieldProblem] = field(default_factory=list)
    # type id → the create-screen metadata of the fields this plan fills there
    metas: dict[str, list[FieldMeta]] = field(default_factory=dict)
    mapped_users: dict[str, str] = field(default_factory=dict)  # ADO e-mail → accountId
    explicit: bool = False  # the run was given a field map
    # Read from a plan saved before the field map existed: the screens must be read again.
    legacy: bool = False

    def screen(self, type_id: str) -> list[FieldMeta]:
        return list(self.metas.get(type_id, []))

    def suggested_field_map(self) -> dict[str, dict[str, Any]]:
        """The suggestions as ``options.field_map``: send them back to accept them."""
        return {
            s.suggestion.ado_field: {"field": s.suggestion.jira_field_id, "values": dict(s.values)}
            for s in self.suggestions
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "mapped": [m.to_dict() for m in self.mapped],
            "suggestions": [s.to_dict() for s in self.suggestions],
            "unmatched": list(self.unmatched),
            "problems": [asdict(p) for p in self.problems],
            "metas": {k: [asdict(m) for m in v] for k, v in self.metas.items()},
            "mapped_users": dict(self.mapped_users),
            "explicit": self.explicit,
            "legacy": self.legacy,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> FieldPlan:
        if raw is None:
            return cls(legacy=True)
        return cls(
            mapped=[MappedField.from_dict(m) for m in raw.get("mapped") or []],
            suggestions=[SuggestedField.from_dict(s) for s in raw.get("suggestions") or []],
            unmatched=[str(u) for u in raw.get("unmatched") or []],
            problems=[FieldProblem(**p) for p in raw.get("problems") or []],
            metas={
                str(k): [FieldMeta(**m) for m in v] for k, v in (raw.get("metas") or {}).items()
            },
            mapped_users={str(k): str(v) for k, v in (raw.get("mapped_users") or {}).items()},
            explicit=bool(raw.get("explicit")),
            legacy=bool(raw.get("legacy")),
        )


# --------------------------------------------------------------------------- planning
def _fold(text: str) -> str:
    return " ".join(text.split()).lower()


def suggest_values(
    ado: AdoField, jira: JiraField, metas: Sequence[FieldMeta], seen: Iterable[str]
) -> tuple[dict[str, str], tuple[str, ...]]:
    """A value map for a picklist or boolean going into a select: (map, values left over).

    A value whose option has the same name needs no entry; one that an option's
    name starts with or contains ("Business" → "Business value") is proposed;
    booleans go onto Yes/No.
    """
    if jira.kind not in ("option", "options"):
        return {}, ()
    names = [str(o.get("value") or o.get("name") or "") for o in allowed_options(metas)]
    names = list(dict.fromkeys(n for n in names if n))  # each screen lists the same options
    values: dict[str, str] = {}
    left: list[str] = []
    if ado.value_type == "boolean":
        pairs = {"true": "yes", "false": "no"}
        for key, wanted in pairs.items():
            hit = next((n for n in names if _fold(n) == wanted), None)
            if hit:
                values[key] = hit
        return values, ()
    for value in sorted(set(seen)):
        folded = _fold(value)
        if any(_fold(n) == folded for n in names):
            continue
        near = [n for n in names if _fold(n).startswith(folded) or folded in _fold(n)]
        if len(near) == 1 and folded:
            values[value] = near[0]
        else:
            left.append(value)
    return values, tuple(left)


def _used_fields(ado_defs: Mapping[str, AdoField], uses: Mapping[str, FieldUse]) -> list[AdoField]:
    return [ado_defs[ref] for ref in sorted(uses) if ref in ado_defs]


def _screen_problems(
    mapped: MappedField,
    use: FieldUse | None,
    screens: Mapping[str, Sequence[FieldMeta]],
    names: Mapping[str, str],
) -> list[FieldProblem]:
    """A mapped field missing from the screen of a type whose items hold the ADO field."""
    held = sorted(use.types) if use else []
    missing = [t for t in held if all(m.field_id != mapped.jira.id for m in screens.get(t, []))]
    return [
        FieldProblem(
            "not-on-screen",
            mapped.ado.reference_name,
            f"{mapped.jira.name} ({mapped.jira.id}) is not on the create screen of "
            f"{names.get(t, t)}, whose items hold {mapped.ado.name}",
        )
        for t in missing
    ]


def plan_fields(
    *,
    field_map: Any,
    ado_defs: Mapping[str, AdoField],
    jira_fields: Sequence[JiraField],
    screens: Mapping[str, Sequence[FieldMeta]],
    uses: Mapping[str, FieldUse],
    type_names: Mapping[str, str] | None = None,
) -> FieldPlan:
    """The run's field plan (see the module docstring); never raises on bad input."""
    names = dict(type_names or {})
    out = FieldPlan(explicit=bool(field_map))
    used = _used_fields(ado_defs, uses)
    screen_metas = [m for metas in screens.values() for m in metas]
    for s in suggest_field_map(used, screen_metas):
        ado = ado_defs[s.ado_field]
        metas = [m for m in screen_metas if m.field_id == s.jira_field_id]
        jira = from_meta(metas[0])
        seen = uses[s.ado_field].values if s.ado_field in uses else ()
        values, left = suggest_values(ado, jira, metas, seen)
        out.suggestions.append(SuggestedField(s, values, left))
    suggested = {s.suggestion.ado_field: s.suggestion.jira_field_id for s in out.suggestions}
    if field_map:
        parsed = parse_field_map(field_map)
        resolved = resolve_field_map(parsed, jira_fields, screens, ado_defs)
        out.problems += resolved.problems
        for ref, rf in resolved.fields.items():
            ado = rf.ado or AdoField(ref, ref, "string")
            source = "suggested" if suggested.get(ref) == rf.jira.id else "override"
            mapped = MappedField(ado, rf.jira, dict(rf.entry.values), source)
            out.problems += _screen_problems(mapped, uses.get(ref), screens, names)
            out.mapped.append(mapped)
        covered = {m.ado.reference_name for m in out.mapped} | {p.ado_field for p in out.problems}
    else:
        covered = set(suggested)
    out.unmatched = [u for u in unmatched_fields(used, []) if u not in covered]
    keep = {m.jira.id for m in out.mapped}
    for type_id, screen in screens.items():
        wanted = [m for m in screen if m.field_id in keep]
        criteria = criteria_field(screen)
        if criteria is not None and criteria not in wanted:
            wanted.append(criteria)
        if wanted:
            out.metas[type_id] = wanted
    return out


def field_uses(
    items: Iterable[tuple[str, Mapping[str, Any]]], ado_defs: Mapping[str, AdoField]
) -> dict[str, FieldUse]:
    """Which defined ADO fields the items hold a value in, per Jira type id.

    ``items`` gives (Jira type id, ADO fields) for each item the run writes.
    """
    counts: dict[str, dict[str, int]] = {}
    values: dict[str, set[str]] = {}
    for type_id, fields in items:
        for ref, value in fields.items():
            if ref not in ado_defs or value is None or value == "":
                continue
            per_type = counts.setdefault(ref, {})
            per_type[type_id] = per_type.get(type_id, 0) + 1
            if isinstance(value, str) and ado_defs[ref].is_picklist and len(value) <= 255:
                values.setdefault(ref, set()).add(value)
    return {
        ref: FieldUse(dict(types), tuple(sorted(values.get(ref, set()))))
        for ref, types in counts.items()
    }
