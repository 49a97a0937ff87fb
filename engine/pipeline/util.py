"""Small pure helpers of the pipeline: URLs, digests, JQL, dates, link rules."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from engine.model import ClassificationNode
from engine.pipeline.limits import BACKLINK


def web_url(base: str, ado_id: int) -> str:
    return f"{base.rstrip('/')}/_workitems/edit/{ado_id}"


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def label_jql(project_key: str, ids: Iterable[int]) -> str:
    labels = ", ".join(f'"ado-{i}"' for i in ids)
    return f'project = "{project_key}" AND labels in ({labels}) ORDER BY key ASC'


def properties_of(raw: Any) -> dict[str, Any]:
    """Issue/comment properties as a dict, whether Jira sent a dict or a key/value list."""
    if isinstance(raw, dict):
        return dict(raw)
    if isinstance(raw, list):
        return {str(p.get("key")): p.get("value") for p in raw if isinstance(p, dict)}
    return {}


def node_paths(root: ClassificationNode) -> dict[str, ClassificationNode]:
    """Classification nodes by the path work items use: the API writes
    ``\\Project\\Iteration\\Release 1``, ``System.IterationPath`` ``Project\\Release 1``."""
    out: dict[str, ClassificationNode] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        parts = [p for p in node.path.strip("\\").split("\\") if p]
        if len(parts) >= 2:
            parts.pop(1)  # the structure segment (Iteration / Area)
        if parts:
            out["\\".join(parts).lower()] = node
        stack.extend(node.children)
    return out


def when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def jira_date(value: str | None) -> str | None:
    """An ADO timestamp in the form the agile API documents (``2015-04-20T01:22:00.000Z``)."""
    moment = when(value)
    if moment is None:
        return None
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def link_rule(link_key: str) -> str:
    """The fidelity rule a written link counts under."""
    if link_key == BACKLINK:
        return "ado-backlink"
    if link_key.startswith("remote:ado-artifact-"):
        return "artifact-remote-link"
    if link_key.startswith("remote:hyperlink:"):
        return "hyperlink-remote-link"
    if link_key.startswith("remote:"):
        return "out-of-scope-remote-link"
    if link_key.startswith("parent:"):
        return "parent-as-link"
    return "link-" + link_key.split(":", 1)[0]


def key_number(key: str) -> int:
    tail = key.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0
