"""The company-managed project's custom fields (and ``duedate``), and the values Jira
accepts for each.

Definitions are plain data (``CUSTOM_FIELDS``) so ``jira_workflow`` can list them in
its field catalogue and on its screens without importing anything back. Each field
kind follows Jira Cloud's rules for ``fields`` on create and edit: a select takes
``{"value"}`` or ``{"id"}`` of an allowed option, a multi-select a list of them, a
float a number, a date picker ``YYYY-MM-DD``, a date-time ISO 8601 with an offset,
a user picker ``{"accountId"}`` of a known user, a paragraph field ADF and a text
field a string of at most 255 characters; ``null`` clears any of them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sandbox import jira_adf

if TYPE_CHECKING:
    from sandbox.jira_state import JiraState

PLUGIN = "com.atlassian.jira.plugin.system.customfieldtypes:"
TEXT_LIMIT = 255
ACCEPTANCE = "customfield_10062"
DUEDATE = "duedate"

# field id -> (name, plugin or "" for a system field, schema type, schema items)
_SPECS: dict[str, tuple[str, str, str, str]] = {
    "customfield_10050": ("Severity", "select", "option", ""),
    "customfield_10051": ("Value Area", "select", "option", ""),
    "customfield_10052": ("Impact", "select", "option", ""),
    "customfield_10053": ("Customer", "textfield", "string", ""),
    "customfield_10054": ("Risk Score", "float", "number", ""),
    "customfield_10055": ("Confidence", "float", "number", ""),
    "customfield_10056": ("Deadline", "datetime", "datetime", ""),
    "customfield_10057": ("Target Date", "datepicker", "date", ""),
    "customfield_10058": ("Billable", "select", "option", ""),
    "customfield_10059": ("Reviewer", "userpicker", "user", ""),
    "customfield_10060": ("Platforms", "multiselect", "array", "option"),
    "customfield_10061": ("Notes", "textarea", "string", ""),
    ACCEPTANCE: ("Acceptance Criteria", "textarea", "string", ""),
    DUEDATE: ("Due date", "", "date", ""),
}
_OPTION_NAMES: dict[str, tuple[str, ...]] = {
    "customfield_10050": ("1 - Critical", "2 - High", "3 - Medium", "4 - Low"),
    "customfield_10051": ("Business value", "Technical"),
    "customfield_10052": ("High", "Medium", "Low"),
    "customfield_10058": ("Yes", "No"),
    "customfield_10060": ("Web", "iOS", "Android", "Desktop"),
}
# field id -> allowed options {"id", "value"} (ids unique across the site, as Jira's are)
OPTIONS: dict[str, list[dict[str, str]]] = {}
_next = 10100
for _fid, _names in _OPTION_NAMES.items():
    OPTIONS[_fid] = []
    for _name in _names:
        OPTIONS[_fid].append({"id": str(_next), "value": _name})
        _next += 1


def _schema(fid: str, plugin: str, type_: str, items: str) -> dict[str, Any]:
    if not plugin:
        return {"type": type_, "system": fid}
    schema: dict[str, Any] = {"type": type_}
    if items:
        schema["items"] = items
    schema["custom"] = PLUGIN + plugin
    schema["customId"] = int(fid.removeprefix("customfield_"))
    return schema


def _clauses(fid: str, name: str) -> tuple[str, ...]:
    if fid.startswith("customfield_"):
        return (f"cf[{fid.removeprefix('customfield_')}]", name)
    return (fid,)


# (id, name, schema, clause names), for ``jira_workflow.FIELDS``
CUSTOM_FIELDS: tuple[tuple[str, str, dict[str, Any], tuple[str, ...]], ...] = tuple(
    (fid, name, _schema(fid, plugin, t, items), _clauses(fid, name))
    for fid, (name, plugin, t, items) in _SPECS.items()
)
CUSTOM_IDS = frozenset(_SPECS)
# On the create and edit screens of every issue type; Acceptance Criteria on Story's only.
SCREEN = tuple(fid for fid in _SPECS if fid != ACCEPTANCE)
STORY_ONLY = (ACCEPTANCE,)
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})$")


def plugin_of(fid: str) -> str:
    return _SPECS[fid][1]


def option(fid: str, option_id: str) -> dict[str, str] | None:
    return next((o for o in OPTIONS.get(fid, []) if o["id"] == option_id), None)


def normalise(state: JiraState, fid: str, value: Any) -> Any:
    """The stored form of one custom field's value; ValueError with Jira's message."""
    if value is None:
        return None
    plugin = plugin_of(fid)
    if plugin == "select":
        return _option_id(fid, value)
    if plugin == "multiselect":
        if not isinstance(value, list):
            raise ValueError("Specify the options as an array of objects with an id or a value")
        return list(dict.fromkeys(_option_id(fid, v) for v in value))
    if plugin == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("Operation value must be a number")
        return value
    if plugin in ("datepicker", ""):
        return _date(value)
    if plugin == "datetime":
        return _datetime(value)
    if plugin == "userpicker":
        account = value.get("accountId") if isinstance(value, dict) else None
        if not isinstance(account, str) or account not in state.users:
            raise ValueError(
                "Specified user does not exist or you do not have required permissions"
            )
        return account
    if plugin == "textarea":
        try:
            jira_adf.validate(value)
        except jira_adf.AdfError as exc:
            raise ValueError(
                "Operation value must be an Atlassian Document (see the Atlassian "
                f"Document Format): {exc}"
            ) from exc
        return value
    return _text(value)


def _option_id(fid: str, ref: Any) -> str:
    if not isinstance(ref, dict) or not ({"id", "value"} & set(ref)):
        raise ValueError("Specify a valid 'id' or 'value' for the option")
    if "id" in ref:
        found = option(fid, str(ref["id"]))
        if found is None:
            raise ValueError(f"Option id '{ref['id']}' is not valid")
        return found["id"]
    wanted = ref.get("value")
    match = next((o for o in OPTIONS[fid] if o["value"] == wanted), None)
    if match is None:
        raise ValueError(f"Option value '{wanted}' is not valid")
    return match["id"]


def _date(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(f"Error parsing date string: {value}")
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"Error parsing date string: {value}") from None
    return value


def _datetime(value: Any) -> str:
    shown = "yyyy-MM-dd'T'HH:mm:ss.SSSZ"
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise ValueError(f'Invalid date format. Please enter the date in the format "{shown}".')
    text = value.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f'Invalid date format. Please enter the date in the format "{shown}".'
        ) from None
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("Operation value must be a string")
    if len(value) > TEXT_LIMIT:
        raise ValueError(
            f"The entered text is too long. It exceeds the allowed limit of {TEXT_LIMIT} "
            "characters."
        )
    return value
