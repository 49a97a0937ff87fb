"""What the relation rules need from both sites, read once per run: the Jira link
types, the ADO link type names and the Git repository names (for artifact titles).

A read that fails leaves its part empty (titles then carry ids; link types fall
back to the names the plan holds) and says so once in the run's log: a missing
repository list must not stop the links phase.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING
from urllib.parse import unquote

from engine.artifacts import ArtifactContext
from engine.errors import PermanentError
from engine.relations import (
    ADO_LINK_NAMES,
    JiraLinkType,
    LinkMapProblem,
    RelationContext,
    check_link_type_map,
    jira_link_types,
)

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class RelationSetup:
    """The :class:`~engine.relations.RelationContext` of the current run (built once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ctx: RunContext | None = None
        self._relations: RelationContext | None = None

    def context(self, ctx: RunContext) -> RelationContext:
        with self._lock:
            if self._ctx is not ctx or self._relations is None:
                self._relations, self._ctx = build_context(ctx), ctx
            return self._relations

    def ado_name(self, rel: str) -> str:
        names = self._relations.ado_link_names if self._relations else {}
        return names.get(rel) or ADO_LINK_NAMES.get(rel) or rel.rsplit(".", 1)[-1]


def _read(ctx: RunContext, what: str, call: str) -> dict[str, str]:
    reader = getattr(ctx.source, call, None)
    if reader is None:
        return {}
    try:
        return dict(reader())
    except PermanentError as exc:
        ctx.log(f"links: {what} not readable ({exc}); titles and names carry ids")
        return {}


def site_link_types(ctx: RunContext) -> list[JiraLinkType]:
    return jira_link_types(ctx.target.link_types())


def build_context(ctx: RunContext) -> RelationContext:
    web = ctx.ado_web.rstrip("/")
    org_url = str(getattr(ctx.source, "org_url", "") or web.rsplit("/", 1)[0])
    project = unquote(web.rsplit("/", 1)[-1])
    repos = _read(ctx, "Git repositories", "repository_names")
    return RelationContext(
        ado_org_url=org_url,
        ado_web_url=web,
        link_types=site_link_types(ctx),
        link_type_map=dict(ctx.spec.link_type_map),
        artifacts=ArtifactContext(org_url, project, repo_names=repos),
        ado_link_names=_read(ctx, "link types", "relation_type_names"),
    )


def link_map_problems(ctx: RunContext) -> list[LinkMapProblem]:
    """``options.link_type_map`` against the site's link types (phase 1, before any write)."""
    if not ctx.spec.link_type_map:
        return []
    return check_link_type_map(ctx.spec.link_type_map, site_link_types(ctx))
