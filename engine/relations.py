"""Every ADO relation kind to a typed decision: issue link, remote link, parent, attachment.

``decide_relation`` looks at one entry of a work item's ``relations[]`` and says
what Jira should get, with the reason, and a report line whenever the relation
is not carried as itself. Nothing is dropped without a reason:

- Work-item links are mapped by name: ``options.link_type_map`` first (keyed by
  the ADO reference name, e.g. ``Microsoft.VSTS.Common.Affects-Forward``, or its
  display name, e.g. ``Affects``), then the engine's defaults (the mappings the
  pipeline has always used), then the site's link types by name, inward or
  outward description. A link type with no Jira counterpart becomes a remote
  link to the other item in ADO.
- A default whose Jira type the site lacks falls back to "Relates", as the
  pipeline does; a map entry naming a type the site lacks is a problem of the
  map (:func:`check_link_type_map`), and its links go to the remote-link path.
- Links to items in another organisation become remote links to that item there.
- ``ArtifactLink`` relations become remote links with a readable title and the ADO
  web URL (see :mod:`engine.artifacts`); ``Hyperlink`` stays a remote link titled
  by its comment. ``AttachedFile`` is the attachment phase's business.
- Hierarchy links are reported as ``parent`` / ``child`` for the pipeline, which
  knows whether the other end is in the run.

Remote-link global ids are stable (a digest of the URL or URI), so a re-run
updates the same link instead of adding another.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from engine.adf import clean_text
from engine.artifacts import (
    Artifact,
    ArtifactContext,
    artifact_title,
    artifact_web_url,
    parse_artifact_uri,
)
from engine.model import Relation

Action = Literal["issue_link", "remote_link", "parent", "child", "attachment"]

HIERARCHY_REVERSE = "System.LinkTypes.Hierarchy-Reverse"
HIERARCHY_FORWARD = "System.LinkTypes.Hierarchy-Forward"
RELATES = "Relates"


@dataclass(frozen=True)
class LinkRule:
    """A Jira link type for an ADO link, and which end this item is."""

    jira_type: str
    outward: bool  # this item is the outward side ("blocks"), the other the inward
    symmetric: bool


# The pipeline's long-standing mappings (ADO relation -> Jira link type).
DEFAULT_LINK_RULES: dict[str, LinkRule] = {
    "System.LinkTypes.Related": LinkRule("Relates", True, True),
    "System.LinkTypes.Dependency-Forward": LinkRule("Blocks", True, False),
    "System.LinkTypes.Dependency-Reverse": LinkRule("Blocks", False, False),
    "System.LinkTypes.Duplicate-Forward": LinkRule("Duplicate", False, False),
    "System.LinkTypes.Duplicate-Reverse": LinkRule("Duplicate", True, False),
    "Microsoft.VSTS.Common.TestedBy-Forward": LinkRule("Tests", False, False),
    "Microsoft.VSTS.Common.TestedBy-Reverse": LinkRule("Tests", True, False),
}
# ADO's display names of the built-in types, for names in the map and matching by name.
ADO_LINK_NAMES: dict[str, str] = {
    "System.LinkTypes.Related": "Related",
    "System.LinkTypes.Dependency-Forward": "Successor",
    "System.LinkTypes.Dependency-Reverse": "Predecessor",
    "System.LinkTypes.Duplicate-Forward": "Duplicate",
    "System.LinkTypes.Duplicate-Reverse": "Duplicate Of",
    "System.LinkTypes.Hierarchy-Forward": "Child",
    "System.LinkTypes.Hierarchy-Reverse": "Parent",
    "Microsoft.VSTS.Common.TestedBy-Forward": "Tested By",
    "Microsoft.VSTS.Common.TestedBy-Reverse": "Tests",
    "Microsoft.VSTS.Common.Affects-Forward": "Affects",
    "Microsoft.VSTS.Common.Affects-Reverse": "Affected By",
    "Microsoft.VSTS.TestCase.SharedStepReferencedBy-Forward": "Test Case",
    "Microsoft.VSTS.TestCase.SharedStepReferencedBy-Reverse": "Shared Steps",
    "Microsoft.VSTS.TestCase.SharedParameterReferencedBy-Forward": "Referenced By",
    "Microsoft.VSTS.TestCase.SharedParameterReferencedBy-Reverse": "References",
}


@dataclass(frozen=True)
class JiraLinkType:
    """One of ``GET /rest/api/3/issueLinkType``'s ``issueLinkTypes``."""

    name: str
    inward: str
    outward: str
    id: str = ""


def jira_link_types(raw: Sequence[Any]) -> list[JiraLinkType]:
    """The site's link types (malformed rows are left out)."""
    return [
        JiraLinkType(
            str(t.get("name") or ""),
            str(t.get("inward") or ""),
            str(t.get("outward") or ""),
            str(t.get("id") or ""),
        )
        for t in raw
        if isinstance(t, Mapping) and t.get("name")
    ]


@dataclass(frozen=True)
class RelationContext:
    ado_org_url: str  # where this run's work items live: https://dev.azure.com/fabrikam
    ado_web_url: str  # the project's web base: https://dev.azure.com/fabrikam/Fabrikam
    link_types: Sequence[JiraLinkType] = ()
    link_type_map: Mapping[str, str] = field(default_factory=dict)  # ADO ref or name -> Jira name
    artifacts: ArtifactContext | None = None
    ado_link_names: Mapping[str, str] = field(default_factory=dict)  # from workitemrelationtypes


@dataclass(frozen=True)
class RelationDecision:
    rel: str
    action: Action
    reason: str
    target_id: int | None = None
    link: LinkRule | None = None  # for issue links
    url: str = ""  # for remote links
    title: str = ""
    global_id: str = ""
    artifact: Artifact | None = None
    report: str = ""  # a line for the fidelity report when not carried as itself


@dataclass(frozen=True)
class LinkMapProblem:
    code: str  # not-an-object | bad-entry | unknown-jira-type
    key: str
    message: str


def stable_digest(value: str) -> str:
    """The digest remote-link global ids have always been keyed by (sha256 of the JSON string)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def _fold(name: str) -> str:
    return " ".join(name.split()).lower()


def _verb(description: str) -> str:
    return _fold(description).removeprefix("is ")


def find_link_type(types: Sequence[JiraLinkType], wanted: str) -> JiraLinkType | None:
    """A site link type by name, else by its outward or inward description, else by the
    description's verb ("Implemented By" finds "is implemented by")."""
    key = _fold(wanted)
    for attr in ("name", "outward", "inward"):
        found = next((t for t in types if _fold(getattr(t, attr)) == key), None)
        if found is not None:
            return found
    verb = _verb(wanted)
    for attr in ("outward", "inward"):
        found = next(
            (t for t in types if getattr(t, attr) and _verb(getattr(t, attr)) == verb), None
        )
        if found is not None:
            return found
    return None


def check_link_type_map(raw: Any, types: Sequence[JiraLinkType]) -> list[LinkMapProblem]:
    """Problems of ``options.link_type_map`` against the site's link types (before any write)."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        return [LinkMapProblem("not-an-object", "", "link_type_map must be an object")]
    problems: list[LinkMapProblem] = []
    have = ", ".join(sorted(t.name for t in types)) or "none"
    for key, value in raw.items():
        if not isinstance(key, str) or not key.strip() or not isinstance(value, str):
            problems.append(
                LinkMapProblem(
                    "bad-entry", str(key), f"link_type_map[{key!r}]: {value!r} is not a name"
                )
            )
        elif types and find_link_type(types, value) is None:
            problems.append(
                LinkMapProblem(
                    "unknown-jira-type",
                    key,
                    f"link_type_map[{key!r}]: the site has no link type {value!r} (it has: {have})",
                )
            )
    return problems


def _work_item_web_url(base: str, item_id: int) -> str:
    return f"{base.rstrip('/')}/_workitems/edit/{item_id}"


def org_key(url: str) -> str:
    """Which organisation a URL is in: ``{org}.visualstudio.com`` and ``host/{org}/…`` alike.

    A work item URL may carry the project (``…/{org}/{project}/_apis/…``) or not,
    so only the host and the first path segment say which organisation it is.
    """
    try:
        parts = urlsplit(url.strip())
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:  # a malformed host or port: no organisation to compare
        return ""
    if not host:
        return ""
    if host.endswith(".visualstudio.com"):
        return "dev.azure.com/" + host.split(".", 1)[0]
    first = parts.path.strip("/").split("/", 1)[0].lower()
    return f"{host}:{port}/{first}" if port else f"{host}/{first}"


def _ado_name(rel: str, ctx: RelationContext) -> str:
    return ctx.ado_link_names.get(rel) or ADO_LINK_NAMES.get(rel) or rel.rsplit(".", 1)[-1]


def _opposite(rel: str) -> str | None:
    for this, other in (("-Forward", "-Reverse"), ("-Reverse", "-Forward")):
        if rel.endswith(this):
            return rel[: -len(this)] + other
    return None


def _mapped_name(rel: str, ctx: RelationContext) -> str | None:
    """The map's Jira type for this end, or for the opposite end (one entry maps a pair:
    ``{"Affects": "Blocks"}`` also maps the "Affected By" end of the same link)."""
    lowered = {_fold(k): v for k, v in ctx.link_type_map.items() if isinstance(v, str)}
    for ref in (rel, _opposite(rel)):
        if ref is None:
            continue
        found = lowered.get(_fold(ref)) or lowered.get(_fold(_ado_name(ref, ctx)))
        if found is not None:
            return found
    return None


def _outward(rel: str, found: JiraLinkType | None, ctx: RelationContext) -> bool:
    """Whether this item is the outward end ("blocks", "tests") of the Jira link.

    ADO's name says what this item is to the other ("Tested By": this item is
    tested by the other), so a name matching the inward description makes this
    item the inward end. Otherwise the built-in mapping's direction holds, and
    for a custom type its forward end is the outward one.
    """
    name = _verb(_ado_name(rel, ctx))
    if found is not None and _verb(found.inward) != _verb(found.outward):
        if name == _verb(found.inward):
            return False
        if name == _verb(found.outward):
            return True
    default = DEFAULT_LINK_RULES.get(rel)
    return default.outward if default is not None else not rel.endswith("-Reverse")


def _link_rule(rel: str, ctx: RelationContext) -> tuple[LinkRule | None, str]:
    """The rule for a work-item link type, or None (with why) when Jira has no counterpart."""
    default = DEFAULT_LINK_RULES.get(rel)
    symmetric = default.symmetric if default is not None else False
    mapped = _mapped_name(rel, ctx)
    if mapped is not None:
        found = find_link_type(ctx.link_types, mapped) if ctx.link_types else None
        if found is not None or not ctx.link_types:
            name = found.name if found else mapped
            rule = LinkRule(name, _outward(rel, found, ctx), symmetric)
            return rule, f"link_type_map: '{rel}' -> '{name}'"
        return None, f"link_type_map names '{mapped}', which the site lacks"
    if default is not None:
        if not ctx.link_types or find_link_type(ctx.link_types, default.jira_type):
            return default, f"default mapping '{rel}' -> '{default.jira_type}'"
        if find_link_type(ctx.link_types, RELATES):
            rule = LinkRule(RELATES, default.outward, default.symmetric)
            return rule, f"the site has no '{default.jira_type}' link type; '{RELATES}' used"
        return None, f"the site has neither '{default.jira_type}' nor '{RELATES}'"
    ado_name = _ado_name(rel, ctx)
    found = find_link_type(ctx.link_types, ado_name) or find_link_type(
        ctx.link_types, _verb(ado_name)
    )
    if found is not None:
        rule = LinkRule(found.name, _outward(rel, found, ctx), False)
        return rule, f"'{ado_name}' matches the site's '{found.name}' link type by name"
    return None, f"no Jira link type matches '{ado_name}'"


def _remote_item(
    rel: Relation, ctx: RelationContext, target: int, why: str, base: str | None = None
) -> RelationDecision:
    name = _ado_name(rel.rel, ctx)
    url = _work_item_web_url(base or ctx.ado_web_url, target)
    where = f" in {base.rstrip('/')}" if base else ""
    return RelationDecision(
        rel.rel,
        "remote_link",
        why,
        target_id=target,
        url=url,
        title=f"ADO #{target}{where} ({name})"[:255],
        global_id=f"ado-workitem-{target}"
        if base is None
        else f"ado-workitem-{stable_digest(url)}",
        report=f"link {name} to #{target}{where}: remote link ({why})",
    )


def _artifact_decision(rel: Relation, ctx: RelationContext) -> RelationDecision:
    art = parse_artifact_uri(rel.url)
    link_name = str(rel.attributes.get("name") or "Artifact Link")
    if art is None:
        return RelationDecision(
            rel.rel,
            "remote_link",
            "not an artifact URI",
            url=rel.url,
            title=f"{link_name}: {rel.url}"[:255],
            global_id=f"ado-artifact-{stable_digest(rel.url)}",
            report=f"artifact link {link_name!r}: unreadable URI, kept as a plain remote link",
        )
    actx = ctx.artifacts or ArtifactContext(
        ctx.ado_org_url, ctx.ado_web_url.rstrip("/").rsplit("/", 1)[-1]
    )
    title = artifact_title(art, actx)
    unknown = art.kind == "unknown"
    return RelationDecision(
        rel.rel,
        "remote_link",
        f"artifact '{link_name}' ({art.tool}/{art.artifact_type})",
        url=artifact_web_url(art, actx),
        title=f"{link_name}: {title}"[:255] if unknown else title,
        global_id=f"ado-artifact-{stable_digest(rel.url)}",
        artifact=art,
        report=f"artifact link of unknown kind {art.tool}/{art.artifact_type}: plain remote link"
        if unknown
        else "",
    )


def _hyperlink(rel: Relation) -> RelationDecision:
    comment = " ".join(clean_text(str(rel.attributes.get("comment") or "")).split())
    return RelationDecision(
        rel.rel,
        "remote_link",
        "hyperlink",
        url=rel.url,
        title=(comment or rel.url)[:255],
        global_id=f"hyperlink:{stable_digest(rel.url)}",
    )


def _work_item_decision(rel: Relation, ctx: RelationContext, target: int) -> RelationDecision:
    org = org_key(rel.url)
    if org and ctx.ado_org_url and org != org_key(ctx.ado_org_url):
        base = rel.url.partition("/_apis/")[0]
        return _remote_item(rel, ctx, target, "the item is in another organisation", base)
    if rel.rel == HIERARCHY_REVERSE:
        return RelationDecision(rel.rel, "parent", "hierarchy: the parent", target_id=target)
    if rel.rel == HIERARCHY_FORWARD:
        return RelationDecision(
            rel.rel, "child", "hierarchy: the child links its parent", target_id=target
        )
    rule, why = _link_rule(rel.rel, ctx)
    if rule is None:
        return _remote_item(rel, ctx, target, why)
    return RelationDecision(rel.rel, "issue_link", why, target_id=target, link=rule)


def decide_relation(rel: Relation, ctx: RelationContext) -> RelationDecision:
    """What Jira gets for one ADO relation (never raises on odd input)."""
    if rel.rel == "AttachedFile":
        return RelationDecision(rel.rel, "attachment", "carried by the attachment phase")
    if rel.rel == "ArtifactLink":
        return _artifact_decision(rel, ctx)
    if rel.rel == "Hyperlink":
        return _hyperlink(rel)
    target = rel.target_id
    if target is not None:
        return _work_item_decision(rel, ctx, target)
    return RelationDecision(
        rel.rel,
        "remote_link",
        "a relation kind with no rule",
        url=rel.url,
        title=f"{rel.rel}: {rel.url}"[:255],
        global_id=f"ado-relation-{stable_digest(rel.rel + ' ' + rel.url)}",
        report=f"relation '{rel.rel}' has no rule: kept as a remote link to {rel.url}",
    )


def decide_relations(relations: Sequence[Relation], ctx: RelationContext) -> list[RelationDecision]:
    return [decide_relation(rel, ctx) for rel in relations]
