"""The two sides' field definitions as typed shapes, and which types can meet.

ADO's ``GET _apis/wit/fields`` gives ``referenceName, name, type, isPicklist,
isIdentity``; Jira's ``GET /rest/api/3/field`` gives ``id, name, custom,
schema{type, items, system, custom}`` and the create screen gives the same
schema per field (``FieldMeta``). Each Jira field is reduced to one *kind* the
converter knows how to fill; :data:`COMPATIBLE` says how well each ADO type fits
each kind (1.0 natural, lower a lossy but sensible carry, absent: refused).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from engine.model import FieldMeta

JiraKind = Literal[
    "string",
    "doc",
    "number",
    "date",
    "datetime",
    "user",
    "users",
    "option",
    "options",
    "labels",
    "strings",
    "unsupported",
]
_CUSTOM = "com.atlassian.jira.plugin.system.customfieldtypes:"
_DOC_SYSTEM = frozenset({"description", "environment"})


@dataclass(frozen=True)
class AdoField:
    reference_name: str
    name: str
    type: str  # string | plainText | html | integer | double | dateTime | boolean | identity | ...
    is_picklist: bool = False
    is_identity: bool = False

    @property
    def value_type(self) -> str:
        """The type values arrive in: picklists and identities folded onto their own names."""
        if self.is_identity or self.type == "identity":
            return "identity"
        if self.is_picklist and self.type in ("string", "integer", "double"):
            return "picklist" + self.type[0].upper() + self.type[1:]
        return self.type


@dataclass(frozen=True)
class JiraField:
    id: str
    name: str
    custom: bool
    type: str  # schema.type
    items: str = ""  # schema.items
    custom_type: str = ""  # schema.custom
    system: str = ""  # schema.system

    @property
    def kind(self) -> JiraKind:
        return jira_kind(self.type, self.items, self.custom_type, self.system)


def jira_kind(type_: str, items: str, custom_type: str, system: str) -> JiraKind:
    """What a Jira field holds, from its schema."""
    plugin = custom_type.removeprefix(_CUSTOM)
    if type_ == "doc" or system in _DOC_SYSTEM or plugin == "textarea":
        return "doc"
    if system == "labels" or plugin == "labels":
        return "labels"
    simple: dict[str, JiraKind] = {
        "string": "string",
        "number": "number",
        "date": "date",
        "datetime": "datetime",
        "user": "user",
        "option": "option",
    }
    if type_ in simple:
        return simple[type_]
    if type_ == "array":
        arrays: dict[str, JiraKind] = {"user": "users", "option": "options", "string": "strings"}
        return arrays.get(items, "unsupported")
    return "unsupported"


def ado_field(raw: Mapping[str, Any]) -> AdoField:
    return AdoField(
        reference_name=str(raw.get("referenceName") or ""),
        name=str(raw.get("name") or raw.get("referenceName") or ""),
        type=str(raw.get("type") or "string"),
        is_picklist=bool(raw.get("isPicklist")),
        is_identity=bool(raw.get("isIdentity")),
    )


def ado_fields(raw: Sequence[Any]) -> dict[str, AdoField]:
    """``Fields_List``'s ``value`` by reference name (malformed rows are left out)."""
    out = {}
    for row in raw:
        if isinstance(row, Mapping) and row.get("referenceName"):
            made = ado_field(row)
            out[made.reference_name] = made
    return out


def _schema_field(fid: str, name: str, custom: bool, schema: Mapping[str, Any]) -> JiraField:
    return JiraField(
        id=fid,
        name=name,
        custom=custom,
        type=str(schema.get("type") or ""),
        items=str(schema.get("items") or ""),
        custom_type=str(schema.get("custom") or ""),
        system=str(schema.get("system") or ""),
    )


def jira_field(raw: Mapping[str, Any]) -> JiraField:
    schema = raw.get("schema") if isinstance(raw.get("schema"), Mapping) else {}
    fid = str(raw.get("id") or raw.get("key") or "")
    return _schema_field(fid, str(raw.get("name") or fid), bool(raw.get("custom")), schema or {})


def jira_fields(raw: Sequence[Any]) -> list[JiraField]:
    """``GET /rest/api/3/field`` as typed fields (malformed rows are left out)."""
    return [jira_field(r) for r in raw if isinstance(r, Mapping) and (r.get("id") or r.get("key"))]


def from_meta(meta: FieldMeta) -> JiraField:
    """A create-screen field as a :class:`JiraField` (its schema says the same things)."""
    custom = bool(meta.schema.get("custom")) or meta.field_id.startswith("customfield_")
    return _schema_field(meta.field_id, meta.name, custom, meta.schema)


# ADO value type -> Jira kind -> how well it fits.
COMPATIBLE: dict[str, dict[str, float]] = {
    "string": {
        "string": 1.0,
        "option": 0.8,
        "labels": 0.6,
        "doc": 0.7,
        "strings": 0.6,
        "options": 0.6,
    },
    # plainText also holds ";"-separated multi-values ("Web; iOS"): a multi-select or labels
    "plainText": {"doc": 1.0, "string": 0.7, "options": 0.7, "labels": 0.6, "strings": 0.6},
    "html": {"doc": 1.0, "string": 0.5},
    "integer": {"number": 1.0, "string": 0.5, "option": 0.5},
    "double": {"number": 1.0, "string": 0.5},
    "dateTime": {"datetime": 1.0, "date": 0.9, "string": 0.4},
    "boolean": {"option": 0.7, "string": 0.5, "labels": 0.3},
    "identity": {"user": 1.0, "users": 0.8, "string": 0.4},
    "picklistString": {"option": 1.0, "options": 0.8, "labels": 0.7, "string": 0.6},
    "picklistInteger": {"option": 1.0, "number": 0.9, "string": 0.5},
    "picklistDouble": {"option": 1.0, "number": 0.9, "string": 0.5},
    "treePath": {"string": 0.8, "labels": 0.6, "option": 0.5},
    "guid": {"string": 1.0},
}


def type_fit(ado: AdoField, kind: str) -> float:
    """0 when an ADO field's values cannot go into a field of this kind."""
    return COMPATIBLE.get(ado.value_type, {}).get(kind, 0.0)
