"""ADO artifact links (``ArtifactLink`` relations): ``vstfs:///`` URIs to typed artifacts.

Each URI is ``vstfs:///{tool}/{type}/{id}`` where the id is one URL-encoded
string: Git artifacts join project id, repository id and the last part with an
encoded "/" (``%2F``), so only the first two separators split and the rest (a
branch "feature/x", a wiki page "Parent/Child") stays whole. TFVC versioned
items are encoded two or three times over (``%2526changesetVersion%253D4``), so
they are decoded until the ``&changesetVersion=`` arguments appear.

Every artifact gets a readable title ("Commit 3f2a1c9 in repo web-app") and the
ADO web URL that opens it; an unknown tool or type still gets a title that names
it and the URI itself, so the pipeline can carry it as a plain remote link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote, unquote

from engine.adf import clean_text

ArtifactKind = Literal[
    "commit",
    "pull_request",
    "branch",
    "tag",
    "ref_commit",
    "build",
    "changeset",
    "versioned_item",
    "latest_item",
    "wiki_page",
    "unknown",
]
VSTFS = "vstfs:///"
URI_LIMIT = 4096  # longer strings are not artifact URIs worth parsing
_DECODE_ROUNDS = 4
_SHORT_SHA = 7


@dataclass(frozen=True)
class Artifact:
    kind: ArtifactKind
    uri: str
    tool: str
    artifact_type: str
    project_id: str = ""
    repo_id: str = ""
    ident: str = ""  # commit sha, PR id, ref name, build id, changeset, path or page
    version: str = ""  # a TFVC versioned item's changeset ("T" is the latest)


@dataclass(frozen=True)
class ArtifactContext:
    """What titles and web URLs need: where the organisation lives and what names ids carry."""

    org_web_url: str  # e.g. https://dev.azure.com/fabrikam
    project: str  # the run's project name (used when an artifact names no project)
    project_names: Mapping[str, str] = field(default_factory=dict)  # project id -> name
    repo_names: Mapping[str, str] = field(default_factory=dict)  # repository id -> name
    build_numbers: Mapping[str, str] = field(default_factory=dict)  # build id -> "20240501.3"
    wiki_names: Mapping[str, str] = field(default_factory=dict)  # wiki id -> name


def _decoded(part: str) -> str:
    return unquote(part, errors="replace")


def _split_git(ident: str) -> tuple[str, str, str] | None:
    """``project%2Frepo%2Frest`` -> (project, repo, rest decoded); rest keeps its own slashes."""
    lowered = ident.lower()
    first = lowered.find("%2f")
    second = lowered.find("%2f", first + 3) if first >= 0 else -1
    if first <= 0 or second <= first + 3:
        return None
    project, repo, rest = ident[:first], ident[first + 3 : second], ident[second + 3 :]
    if not rest:
        return None
    return _decoded(project), _decoded(repo), _decoded(rest)


def _git_artifact(uri: str, kind_of: str, ident: str) -> Artifact | None:
    parts = _split_git(ident)
    if parts is None:
        return None
    project, repo, rest = parts
    kind: ArtifactKind
    if kind_of == "commit":
        kind = "commit"
    elif kind_of == "pullrequestid":
        kind = "pull_request"
    else:
        prefixes: dict[str, ArtifactKind] = {"GB": "branch", "GT": "tag", "GC": "ref_commit"}
        found = prefixes.get(rest[:2])
        if found is None or len(rest) < 3:
            return None
        kind, rest = found, rest[2:]
    tool_type = {"commit": "Commit", "pullrequestid": "PullRequestId"}.get(kind_of, "Ref")
    return Artifact(kind, uri, "Git", tool_type, project, repo, rest)


def _versioned_item(uri: str, ident: str) -> Artifact | None:
    text = ident
    for _ in range(_DECODE_ROUNDS):
        if "&changesetVersion=" in text or "&changesetversion=" in text.lower():
            break
        text = _decoded(text)
    path, _, args = text.partition("&")
    version = ""
    for arg in args.split("&"):
        name, _, value = arg.partition("=")
        if name.lower() == "changesetversion":
            version = value
    for _ in range(_DECODE_ROUNDS):
        if "%" not in path:
            break
        path = _decoded(path)
    if not path:
        return None
    return Artifact(
        "versioned_item", uri, "VersionControl", "VersionedItem", ident=path, version=version
    )


def _simple(uri: str, kind: ArtifactKind, tool: str, type_: str, ident: str) -> Artifact | None:
    value = _decoded(ident).strip()
    if kind in ("build", "changeset") and not value.isdigit():
        return None
    return Artifact(kind, uri, tool, type_, ident=value) if value else None


def _wiki(uri: str, ident: str) -> Artifact | None:
    parts = _split_git(ident)
    if parts is None:
        return None
    project, wiki, page = parts
    return Artifact("wiki_page", uri, "Wiki", "WikiPage", project, wiki, "/" + page.lstrip("/"))


def parse_artifact_uri(uri: str) -> Artifact | None:
    """A typed artifact; ``kind="unknown"`` for a well-formed URI we have no rule for.

    None for anything that is not a ``vstfs:///tool/type/id`` URI at all.
    """
    if not isinstance(uri, str) or len(uri) > URI_LIMIT or not uri.lower().startswith(VSTFS):
        return None
    tool, _, rest = uri[len(VSTFS) :].partition("/")
    type_, _, ident = rest.partition("/")
    if not tool or not type_ or not ident:
        return None
    key = (tool.lower(), type_.lower())
    parsed: Artifact | None
    if key[0] == "git" and key[1] in ("commit", "pullrequestid", "ref"):
        parsed = _git_artifact(uri, key[1], ident)
    elif key == ("build", "build"):
        parsed = _simple(uri, "build", "Build", "Build", ident)
    elif key == ("versioncontrol", "changeset"):
        parsed = _simple(uri, "changeset", "VersionControl", "Changeset", ident)
    elif key == ("versioncontrol", "versioneditem"):
        parsed = _versioned_item(uri, ident)
    elif key == ("versioncontrol", "latestitemversion"):
        found = _versioned_item(uri, ident)
        parsed = (
            Artifact("latest_item", uri, "VersionControl", "LatestItemVersion", ident=found.ident)
            if found
            else None
        )
    elif key == ("wiki", "wikipage"):
        parsed = _wiki(uri, ident)
    else:
        parsed = None
    return parsed or Artifact("unknown", uri, tool, type_, ident=_decoded(ident))


# --------------------------------------------------------------------------- titles and URLs
def _q(part: str) -> str:
    """One URL segment or query value, encoded; characters UTF-8 cannot carry become "?"."""
    return quote(part, safe="", errors="replace")


def _repo(art: Artifact, ctx: ArtifactContext) -> str:
    return ctx.repo_names.get(art.repo_id) or ctx.repo_names.get(art.repo_id.lower()) or art.repo_id


def _project_segment(art: Artifact, ctx: ArtifactContext) -> str:
    name = ctx.project_names.get(art.project_id) or ctx.project_names.get(art.project_id.lower())
    return _q(name or art.project_id or ctx.project)


def artifact_title(art: Artifact, ctx: ArtifactContext) -> str:
    """A one-line title a person recognises (Jira caps remote link titles at 255)."""
    repo = _repo(art, ctx)
    titles: dict[ArtifactKind, str] = {
        "commit": f"Commit {art.ident[:_SHORT_SHA]} in repo {repo}",
        "ref_commit": f"Commit {art.ident[:_SHORT_SHA]} in repo {repo}",
        "pull_request": f"Pull request {art.ident} in repo {repo}",
        "branch": f"Branch {art.ident} in repo {repo}",
        "tag": f"Tag {art.ident} in repo {repo}",
        "build": f"Build {ctx.build_numbers.get(art.ident) or art.ident}",
        "changeset": f"Changeset {art.ident}",
        "latest_item": f"File {art.ident} (latest version)",
        "wiki_page": f"Wiki page {art.ident}",
    }
    if art.kind == "versioned_item":
        at = "latest version" if art.version in ("", "T") else f"changeset {art.version}"
        title = f"File {art.ident} ({at})"
    elif art.kind == "unknown":
        title = f"Azure DevOps {art.tool} {art.artifact_type} {art.ident}"
    else:
        title = titles[art.kind]
    return " ".join(clean_text(title).split())[:255]


def artifact_web_url(art: Artifact, ctx: ArtifactContext) -> str:
    """The ADO web page that opens the artifact; the URI itself when there is none."""
    org = ctx.org_web_url.rstrip("/")
    base = f"{org}/{_project_segment(art, ctx)}"
    repo = _q(_repo(art, ctx))
    ident = _q(art.ident)
    if art.kind in ("commit", "ref_commit"):
        return f"{base}/_git/{repo}/commit/{ident}"
    if art.kind == "pull_request":
        return f"{base}/_git/{repo}/pullrequest/{ident}"
    if art.kind in ("branch", "tag"):
        prefix = "GB" if art.kind == "branch" else "GT"
        return f"{base}/_git/{repo}?version={prefix}{ident}"
    if art.kind == "build":
        return f"{base}/_build/results?buildId={ident}"
    if art.kind == "changeset":
        return f"{base}/_versionControl/changeset/{ident}"
    if art.kind in ("versioned_item", "latest_item"):
        version = art.version or "T"
        return f"{base}/_versionControl?path={ident}&version={_q(version)}"
    if art.kind == "wiki_page":
        wiki = _q(ctx.wiki_names.get(art.repo_id) or art.repo_id)
        return f"{base}/_wiki/wikis/{wiki}?pagePath={ident}"
    return art.uri
