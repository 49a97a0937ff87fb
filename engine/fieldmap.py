"""The field map: ``options.field_map`` parsed, validated, resolved, and suggested.

An entry maps an ADO field reference name to a Jira field id or name, either in
the short form ``"Custom.Risk": "Risk"`` or as an object
``{"field": "Risk", "values": {"1 - High": "High"}}`` (``"jira"`` is accepted
for ``"field"``). :func:`parse_field_map` gives typed entries and problems (a
code and the offending ADO field each); :func:`resolve_field_map` finds each
Jira field by id, then by name (case-insensitive; two fields of one name are a
problem, not a guess), checks it is on a create screen, that the ADO type can go
into it, and that every value-map option exists; every problem comes before any
write, and none is an exception.

Without a map, :func:`suggest_field_map` proposes one for the custom fields the
run's items use, by normalised name and compatible type, with a reason and a
confidence, the way :func:`engine.mapping.suggest_type_mappings` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.fieldtypes import AdoField, JiraField, from_meta, type_fit
from engine.mapping import similarity
from engine.model import FieldMeta

# Jira fields the pipeline fills itself: a map or a suggestion must not take them.
RESERVED_JIRA = frozenset(
    {"summary", "project", "issuetype", "parent", "status", "attachment", "issuelinks", "comment"}
)
# ADO fields the content rules already carry (description, priority, points, tags, people...).
CARRIED_ADO = frozenset(
    {
        "System.Title",
        "System.Description",
        "System.Tags",
        "System.State",
        "System.AssignedTo",
        "System.CreatedBy",
        "System.AreaPath",
        "System.IterationPath",
        "Microsoft.VSTS.TCM.ReproSteps",
        "Microsoft.VSTS.TCM.SystemInfo",
        "Microsoft.VSTS.TCM.Steps",
        "Microsoft.VSTS.TCM.Parameters",
        "Microsoft.VSTS.TCM.LocalDataSource",
        "Microsoft.VSTS.Common.AcceptanceCriteria",
        "Microsoft.VSTS.Common.Priority",
        "Microsoft.VSTS.Scheduling.StoryPoints",
        "Microsoft.VSTS.Scheduling.Effort",
        "Microsoft.VSTS.Scheduling.OriginalEstimate",
    }
)
SUGGEST_MIN_NAME = 0.75
_WORDS = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class FieldProblem:
    code: str
    ado_field: str
    message: str


@dataclass(frozen=True)
class FieldMapEntry:
    ado_field: str
    jira: str  # a Jira field id or name, as written
    values: Mapping[str, str] = field(default_factory=dict)  # ADO value -> Jira option


@dataclass
class FieldMap:
    entries: list[FieldMapEntry] = field(default_factory=list)
    problems: list[FieldProblem] = field(default_factory=list)


@dataclass(frozen=True)
class ResolvedField:
    entry: FieldMapEntry
    jira: JiraField
    ado: AdoField | None
    screen_types: tuple[str, ...]  # issue types whose create screen has the field


@dataclass
class ResolvedMap:
    fields: dict[str, ResolvedField] = field(default_factory=dict)  # by ADO reference name
    problems: list[FieldProblem] = field(default_factory=list)


@dataclass(frozen=True)
class FieldSuggestion:
    ado_field: str
    ado_name: str
    jira_field_id: str
    jira_name: str
    reason: str
    confidence: float


# --------------------------------------------------------------------------- parsing
def _values(ado: str, raw: Any) -> tuple[dict[str, str], list[FieldProblem]]:
    if raw is None:
        return {}, []
    if not isinstance(raw, Mapping):
        return {}, [FieldProblem("bad-values", ado, f"field_map[{ado!r}].values must be an object")]
    out: dict[str, str] = {}
    problems = []
    for key, value in raw.items():
        if (
            isinstance(value, (str, int, float))
            and not isinstance(value, bool)
            and str(value).strip()
        ):
            out[str(key)] = str(value).strip()
        else:
            problems.append(
                FieldProblem(
                    "bad-value-option",
                    ado,
                    f"field_map[{ado!r}].values[{key!r}]: {value!r} is not an option",
                )
            )
    return out, problems


def _no_target(ado: str) -> FieldProblem:
    return FieldProblem("missing-jira-field", ado, f"field_map[{ado!r}] names no Jira field")


def _entry(ado: str, raw: Any) -> tuple[FieldMapEntry | None, list[FieldProblem]]:
    if isinstance(raw, str):
        return (FieldMapEntry(ado, raw.strip()), []) if raw.strip() else (None, [_no_target(ado)])
    if not isinstance(raw, Mapping):
        message = f"field_map[{ado!r}] must be a name or an object"
        return None, [FieldProblem("bad-entry", ado, message)]
    problems = [
        FieldProblem("unknown-key", ado, f"field_map[{ado!r}]: unknown key {k!r}")
        for k in raw
        if k not in ("field", "jira", "values")
    ]
    # The contract names the key "field"; "jira" is taken too, as an alias.
    target = raw.get("field", raw.get("jira"))
    if not isinstance(target, str) or not target.strip():
        return None, [*problems, _no_target(ado)]
    values, value_problems = _values(ado, raw.get("values"))
    return FieldMapEntry(ado, target.strip(), values), problems + value_problems


def parse_field_map(raw: Any) -> FieldMap:
    """Validate ``options.field_map`` (None or empty: no map)."""
    out = FieldMap()
    if raw is None:
        return out
    if not isinstance(raw, Mapping):
        out.problems.append(FieldProblem("not-an-object", "", "field_map must be an object"))
        return out
    for ado, value in raw.items():
        if not isinstance(ado, str) or not ado.strip():
            out.problems.append(
                FieldProblem("empty-ado-field", str(ado), "field_map: an empty ADO field")
            )
            continue
        entry, problems = _entry(ado.strip(), value)
        out.problems += problems
        if entry is not None:
            out.entries.append(entry)
    return out


# --------------------------------------------------------------------------- resolving
def _find_jira(wanted: str, fields: Sequence[JiraField]) -> tuple[JiraField | None, str]:
    by_id = next((f for f in fields if f.id == wanted), None)
    if by_id is not None:
        return by_id, ""
    key = " ".join(wanted.split()).lower()
    named = [f for f in fields if " ".join(f.name.split()).lower() == key]
    if len(named) == 1:
        return named[0], ""
    if named:
        ids = ", ".join(f.id for f in named)
        return None, f"{len(named)} Jira fields are named {wanted!r} ({ids}); name one by id"
    return None, f"Jira has no field {wanted!r}"


def allowed_options(metas: Iterable[FieldMeta]) -> list[Mapping[str, Any]]:
    """Every allowed value the create screens list for one field."""
    return [v for m in metas for v in m.allowed_values if isinstance(v, Mapping)]


def option_names(allowed: Iterable[Mapping[str, Any]]) -> set[str]:
    return {str(v.get("value") or v.get("name") or "").strip().lower() for v in allowed} - {""}


def _check(
    entry: FieldMapEntry, jira: JiraField, ado: AdoField | None, metas: Sequence[FieldMeta]
) -> list[FieldProblem]:
    problems = []
    name = entry.ado_field
    if jira.id in RESERVED_JIRA:
        problems.append(
            FieldProblem("reserved-field", name, f"{jira.id!r} is set by the migration itself")
        )
    if ado is not None and type_fit(ado, jira.kind) == 0.0:
        problems.append(
            FieldProblem(
                "wrong-type",
                name,
                f"{ado.name} ({ado.value_type}) cannot go into {jira.name} ({jira.kind})",
            )
        )
    allowed = allowed_options(metas)
    if entry.values and allowed and jira.kind in ("option", "options"):
        have = option_names(allowed)
        missing = sorted({v for v in entry.values.values() if v.lower() not in have})
        if missing:
            problems.append(
                FieldProblem(
                    "option-missing",
                    name,
                    f"{jira.name} has no option {', '.join(map(repr, missing))}",
                )
            )
    return problems


def resolve_field_map(
    field_map: FieldMap,
    jira_fields: Sequence[JiraField],
    screens: Mapping[str, Sequence[FieldMeta]],
    ado_fields: Mapping[str, AdoField] | None = None,
) -> ResolvedMap:
    """Each entry's Jira field, checked against the create screens (issue type -> fields)."""
    out = ResolvedMap(problems=list(field_map.problems))
    targets: dict[str, str] = {}
    known = list(jira_fields)
    ids = {f.id for f in known}
    for metas in screens.values():  # a screen field the fields list lacks still counts
        for meta in metas:
            if meta.field_id not in ids:
                ids.add(meta.field_id)
                known.append(from_meta(meta))
    for entry in field_map.entries:
        jira, why = _find_jira(entry.jira, known)
        if jira is None:
            out.problems.append(FieldProblem("unknown-jira-field", entry.ado_field, why))
            continue
        ado = (ado_fields or {}).get(entry.ado_field)
        if ado_fields is not None and ado is None:
            out.problems.append(
                FieldProblem("unknown-ado-field", entry.ado_field, "ADO has no field of that name")
            )
        on = {t: m for t, ms in screens.items() for m in ms if m.field_id == jira.id}
        if not on:
            out.problems.append(
                FieldProblem(
                    "not-on-screen",
                    entry.ado_field,
                    f"{jira.name} ({jira.id}) is on no create screen",
                )
            )
            continue
        problems = _check(entry, jira, ado, list(on.values()))
        if jira.id in targets:
            problems.append(
                FieldProblem(
                    "duplicate-target",
                    entry.ado_field,
                    f"{targets[jira.id]} maps to {jira.name} too",
                )
            )
        out.problems += problems
        if not problems:
            targets[jira.id] = entry.ado_field
            out.fields[entry.ado_field] = ResolvedField(entry, jira, ado, tuple(sorted(on)))
    return out


# --------------------------------------------------------------------------- suggesting
def normalised(name: str) -> str:
    """Lower case, words only: "Custom.TargetDate", "Target date" and "target_date" meet."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return _WORDS.sub(" ", spaced.lower()).strip()


def _ado_names(ado: AdoField) -> list[str]:
    tail = ado.reference_name.rsplit(".", 1)[-1]
    return [n for n in (normalised(ado.name), normalised(tail)) if n]


def _best_for(
    ado: AdoField, candidates: Sequence[JiraField]
) -> tuple[float, float, float, JiraField] | None:
    best = None
    for jira in candidates:
        fit = type_fit(ado, jira.kind)
        if fit == 0.0:
            continue
        score = max(similarity(n, normalised(jira.name)) for n in _ado_names(ado))
        if score < SUGGEST_MIN_NAME:
            continue
        total = 0.7 * score + 0.3 * fit
        if best is None or total > best[0]:
            best = (total, score, fit, jira)
    return best


def suggest_field_map(
    used: Iterable[AdoField], screen_fields: Iterable[FieldMeta]
) -> list[FieldSuggestion]:
    """A suggestion for each used custom ADO field that has a Jira field of like name and type.

    Each Jira field is suggested once, to the ADO field it fits best; the rest
    are left out (the report lists them as not carried).
    """
    seen: dict[str, JiraField] = {}
    for meta in screen_fields:
        if meta.field_id not in RESERVED_JIRA:
            seen.setdefault(meta.field_id, from_meta(meta))
    candidates = list(seen.values())
    scored = []
    for ado in dict.fromkeys(used):
        if ado.reference_name in CARRIED_ADO or ado.reference_name.startswith("System."):
            continue
        best = _best_for(ado, candidates)
        if best is not None:
            scored.append((best, ado))
    scored.sort(key=lambda s: (-s[0][0], s[1].reference_name))
    out: list[FieldSuggestion] = []
    taken: set[str] = set()
    for (total, score, fit, jira), ado in scored:
        if jira.id in taken:
            continue
        taken.add(jira.id)
        reason = (
            f"name '{ado.name}' ~ '{jira.name}' {score:.2f}; "
            f"{ado.value_type} into {jira.kind} fits {fit:.2f}"
        )
        out.append(
            FieldSuggestion(
                ado.reference_name, ado.name, jira.id, jira.name, reason, round(total, 2)
            )
        )
    return sorted(out, key=lambda s: s.ado_field)


def unmatched_fields(used: Iterable[AdoField], suggestions: Iterable[FieldSuggestion]) -> list[str]:
    """The used custom ADO fields no suggestion covers (for the report's "not carried")."""
    covered = {s.ado_field for s in suggestions}
    return sorted(
        {
            ado.reference_name
            for ado in used
            if ado.reference_name not in covered
            and ado.reference_name not in CARRIED_ADO
            and not ado.reference_name.startswith("System.")
        }
    )
