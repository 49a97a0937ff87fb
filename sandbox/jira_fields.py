"""The field values and request bodies Jira accepts: each field's rules on create and
edit (every error collected before refusing, as Jira does), ``update`` operations,
entity properties and ADF bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox import jira_adf, jira_custom
from sandbox.jira_records import (
    ADF_MESSAGE,
    NOT_ON_SCREEN,
    PROPERTY_LIMIT,
    SUMMARY_LIMIT,
    Issue,
    JiraError,
    json_size,
)
from sandbox.jira_workflow import (
    DEFAULT_PRIORITY,
    PRIORITIES,
    SPRINT,
    STORY_POINTS,
    TEAM_POINTS,
    VERSIONS,
    IssueType,
    find_by_id_or_name,
)

if TYPE_CHECKING:
    from sandbox.jira_state import JiraState


def normalise_fields(
    state: JiraState,
    itype: IssueType,
    fields: dict[str, Any],
    *,
    creating: bool,
    issue: Issue | None = None,
) -> dict[str, Any]:
    """Check ``fields`` against the screen and the values Jira accepts.

    Collects every field error before refusing, as Jira does.
    """
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    editable = set(itype.screen) - ({"project", "issuetype"} if not creating else set())
    for fid, value in fields.items():
        if fid not in editable:
            errors[fid] = NOT_ON_SCREEN.format(fid)
            continue
        if fid in ("project", "issuetype"):
            continue
        try:
            out[fid] = _normalise(state, fid, value, itype, issue)
        except ValueError as exc:
            errors[fid] = str(exc)
    if creating:
        _check_required(state, itype, fields, out, errors)
    if errors:
        raise JiraError(400, [], errors)
    return out


def _check_required(
    state: JiraState,
    itype: IssueType,
    fields: dict[str, Any],
    out: dict[str, Any],
    errors: dict[str, str],
) -> None:
    if "summary" not in fields and "summary" not in errors:
        errors["summary"] = "You must specify a summary of the issue."
    if itype.subtask and out.get("parent") is None and "parent" not in errors:
        errors["parent"] = "Issue type is a sub-task but parent issue key or id not specified."
    if (
        state.settings.require_story_points
        and itype.name == "Story"
        and out.get(STORY_POINTS) is None
        and STORY_POINTS not in errors
    ):
        errors[STORY_POINTS] = "Story Points is required."
    out.setdefault("priority", DEFAULT_PRIORITY)
    out.setdefault("reporter", state.me.jira_account_id)


def _normalise(
    state: JiraState, fid: str, value: Any, itype: IssueType, issue: Issue | None
) -> Any:
    if fid == "summary":
        return _summary(value)
    if fid in ("description", "environment"):
        return _adf(value)
    if fid == "priority":
        row = find_by_id_or_name(PRIORITIES, value)
        if row is None:
            raise ValueError("Specify a valid 'id' or 'name' for Priority")
        return row["id"]
    if fid == "labels":
        return _labels(value)
    if fid == "components":
        return _components(state, value)
    if fid == "fixVersions":
        return _versions(value)
    if fid in ("assignee", "reporter"):
        return _account(state, fid, value)
    if fid == "parent":
        return _parent(state, value, itype, issue)
    if fid in (STORY_POINTS, TEAM_POINTS):
        return _number(value)
    if fid == SPRINT:
        return _sprint(state, value)
    if fid in jira_custom.CUSTOM_IDS:
        return jira_custom.normalise(state, fid, value)
    raise ValueError(NOT_ON_SCREEN.format(fid))


def _components(state: JiraState, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ValueError("Components must be an array of objects with an id or a name.")
    ids = []
    for ref in value:
        row = find_by_id_or_name(state.components, ref)
        if row is None:
            shown = ref.get("name", ref.get("id")) if isinstance(ref, dict) else ref
            raise ValueError(f"Component name '{shown}' is not valid")
        ids.append(row["id"])
    return ids


def _account(state: JiraState, fid: str, value: Any) -> str | None:
    if value is None and fid == "assignee":
        return None
    account = value.get("accountId") if isinstance(value, dict) else None
    if not isinstance(account, str) or account not in state.users:
        raise ValueError("Specified user does not exist or you do not have required permissions")
    return account


def _parent(state: JiraState, value: Any, itype: IssueType, issue: Issue | None) -> int | None:
    if value is None and not itype.subtask:
        return None
    parent = state.find_issue_ref(value)
    if parent is None:
        raise ValueError("Could not find issue by id or key.")
    if parent.type.level != itype.level + 1 or (issue is not None and parent.id == issue.id):
        raise ValueError("Given parent work item does not belong to appropriate hierarchy.")
    if state.project_of_type(parent.type) is not state.project_of_type(itype):
        raise ValueError("Given parent work item does not belong to appropriate hierarchy.")
    return parent.id


def _sprint(state: JiraState, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("Number value expected as the Sprint id.")
    sprint = state.sprints.get(value)
    if sprint is None:
        raise ValueError(f"Sprint with id {value} does not exist.")
    if sprint.state == "closed":
        raise ValueError("Issues can be assigned to open or future sprints only.")
    return value


def adf_or_error(doc: Any) -> None:
    try:
        jira_adf.validate(doc)
    except jira_adf.AdfError as exc:
        raise JiraError(400, [], {"comment": f"{ADF_MESSAGE}: {exc}"}) from exc


def _summary(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("You must specify a summary of the issue.")
    if "\n" in value or "\r" in value:
        raise ValueError("The summary is invalid because it contains newline characters.")
    if len(value) > SUMMARY_LIMIT:
        raise ValueError("Summary must be less than 255 characters.")
    return value


def _adf(value: Any) -> Any:
    if value is None:
        return None
    try:
        jira_adf.validate(value)
    except jira_adf.AdfError as exc:
        raise ValueError(f"{ADF_MESSAGE}: {exc}") from exc
    return value


def _labels(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("Labels must be an array of strings.")
    for label in value:
        if not label or any(ch.isspace() for ch in label):
            raise ValueError(f"The label '{label}' contains spaces which is invalid.")
        if len(label) > 255:
            raise ValueError("The label must not exceed 255 characters.")
    return list(dict.fromkeys(value))


def _versions(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ValueError("Fix versions must be an array of objects with an id or a name.")
    ids = []
    for ref in value:
        row = find_by_id_or_name(VERSIONS, ref)
        if row is None:
            raise ValueError(f"Version '{ref}' is not valid")
        ids.append(row["id"])
    return ids


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Operation value must be a number")
    return value


def parse_properties(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise JiraError(400, [], {"properties": "Properties must be an array of {key, value}."})
    out: dict[str, Any] = {}
    for prop in value:
        key = prop.get("key") if isinstance(prop, dict) else None
        if not isinstance(key, str) or not key or len(key) > 255:
            raise JiraError(
                400, [], {"properties": "Each property needs a key of 1 to 255 characters."}
            )
        if "value" not in prop or json_size(prop["value"]) > PROPERTY_LIMIT:
            raise JiraError(
                400,
                [],
                {
                    "properties": f"The property '{key}' has a missing value "
                    f"or one over {PROPERTY_LIMIT} characters."
                },
            )
        out[key] = prop["value"]
    return out


def merge_update(
    fields: dict[str, Any], update: Any, current: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Fold ``update: {field: [{add|set|remove: value}]}`` into plain field values."""
    if not update:
        return dict(fields)
    if not isinstance(update, dict):
        raise JiraError(400, [], {"update": "Update must be an object."})
    merged = dict(fields)
    for fid, ops in update.items():
        if not isinstance(ops, list):
            raise JiraError(400, [], {fid: "Update operations must be an array."})
        value: Any = list((current or {}).get(fid) or []) if fid in ("labels",) else None
        for op in ops:
            value = _apply_op(fid, value, op)
        merged[fid] = value
    return merged


def _apply_op(fid: str, value: Any, op: Any) -> Any:
    if not isinstance(op, dict) or len(op) != 1:
        raise JiraError(400, [], {fid: "Each update operation has exactly one verb."})
    verb, arg = next(iter(op.items()))
    if verb == "set":
        return arg
    if verb in ("add", "remove") and fid == "labels":
        labels = list(value or [])
        if verb == "add" and arg not in labels:
            labels.append(arg)
        if verb == "remove" and arg in labels:
            labels.remove(arg)
        return labels
    raise JiraError(400, [], {fid: f"Operation '{verb}' is not supported for field '{fid}'."})


def transition_comment(update: Any) -> Any:
    ops = update.get("comment") if isinstance(update, dict) else None
    if not isinstance(ops, list) or not ops:
        return None
    add = ops[0].get("add") if isinstance(ops[0], dict) else None
    return add.get("body") if isinstance(add, dict) else None
