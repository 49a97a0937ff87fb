"""Git repositories, builds and the web pages ADO links point at.

API: ``GET {org}/{project}/_apis/git/repositories`` and ``…/repositories/{id}``
(``GitRepository``: id, name, url, project, defaultBranch, remoteUrl, webUrl) and
``GET {org}/{project}/_apis/build/builds/{id}`` (``Build``: id, buildNumber,
status, result, definition, sourceBranch, sourceVersion, repository, _links.web).

Web routes (what a person opens from a link; no API version, no credentials, as a
browser would ask): a work item's ``_workitems/edit/{id}``, commits, pull requests,
branches and tags under ``_git/{repo}``, ``_build/results?buildId=``,
``_versionControl/changeset/{n}`` and ``_versionControl?path=``, and
``_wiki/wikis/{wiki}?pagePath=``. Each answers 200 with a small HTML page naming
the thing when it exists, 404 otherwise. Everything is answered from the dataset's
:class:`~sandbox.dataset_artifacts.ArtifactCatalog`.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from sandbox.ado_errors import AdoError
from sandbox.ado_site import AdoSite
from sandbox.dataset_artifacts import BRANCHES, TAGS, ArtifactCatalog, Repository
from sandbox.httpbase import Request, Response, json_response

if TYPE_CHECKING:
    from sandbox.ado import AdoApp


def _page(status: int, title: str) -> Response:
    body = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1></body></html>"
    )
    return Response(status, body.encode(), {"Content-Type": "text/html; charset=utf-8"})


def _missing(what: str) -> Response:
    return _page(404, f"{what} was not found")


class GitRoutes:
    """The repositories and builds API and the web pages."""

    def __init__(self, site: AdoSite) -> None:
        self.site = site
        self.catalog: ArtifactCatalog = site.dataset.artifacts

    # ------------------------------------------------------------------ API
    def _repo_json(self, request: Request, repo: Repository) -> dict[str, Any]:
        base, org, project = self.site.base(request), self.site.org, self.site.project
        web = f"{base}/{org}/{project}/_git/{repo.name}".replace(" ", "%20")
        return {
            "id": repo.id,
            "name": repo.name,
            "url": f"{self.site.project_url(request)}/git/repositories/{repo.id}",
            "project": {"id": self.site.project_id, "name": project, "state": "wellFormed"},
            "defaultBranch": "refs/heads/main",
            "size": 1024 * (3 + self.catalog.repos.index(repo)),
            "remoteUrl": web,
            "webUrl": web,
            "isDisabled": False,
        }

    def list_repositories(self, request: Request) -> Response:
        values = [self._repo_json(request, r) for r in self.catalog.repos]
        return json_response(200, {"count": len(values), "value": values})

    def get_repository(self, request: Request) -> Response:
        repo = self.catalog.repo(request.params["repositoryId"])
        if repo is None:
            raise AdoError(
                404,
                f"TF401019: The Git repository with name or identifier "
                f"{request.params['repositoryId']} does not exist or you do not have "
                "permissions for the operation you are attempting.",
                "GitRepositoryNotFoundException",
            )
        return json_response(200, self._repo_json(request, repo))

    def get_build(self, request: Request) -> Response:
        raw = request.params["buildId"]
        number = self.catalog.build_number(int(raw)) if raw.isdigit() else None
        if number is None:
            raise AdoError(
                404, f"The requested build {raw} could not be found.", "BuildNotFoundException"
            )
        build_id = int(raw)
        repo = self.catalog.build_repo(build_id)
        base = f"{self.site.base(request)}/{self.site.org}/{self.site.project}".replace(" ", "%20")
        return json_response(
            200,
            {
                "id": build_id,
                "buildNumber": number,
                "status": "completed",
                "result": "succeeded",
                "definition": {"id": 1 + build_id % 2, "name": f"{repo.name}-ci"},
                "sourceBranch": "refs/heads/main",
                "sourceVersion": self.catalog.commit_sha(repo, build_id % 12),
                "repository": {"id": repo.id, "name": repo.name, "type": "TfsGit"},
                "project": {"id": self.site.project_id, "name": self.site.project},
                "url": f"{self.site.project_url(request)}/build/Builds/{build_id}",
                "_links": {"web": {"href": f"{base}/_build/results?buildId={build_id}"}},
            },
        )

    # ------------------------------------------------------------------ web pages
    def _scope_ok(self, request: Request) -> bool:
        org, project = request.params.get("org", ""), request.params.get("project", "")
        known = (self.site.project.lower(), self.site.project_id)
        return org.lower() == self.site.org.lower() and project.lower() in known

    def work_item_page(self, request: Request) -> Response:
        raw = request.params["id"]
        if not self._scope_ok(request) or not raw.isdigit() or not self.site.store.exists(int(raw)):
            return _missing(f"Work item {raw}")
        title = self.site.store.value(int(raw), "System.Title")
        return _page(200, f"Work item {raw}: {title}")

    def _repo_of(self, request: Request) -> Repository | None:
        return self.catalog.repo(request.params["repo"]) if self._scope_ok(request) else None

    def commit_page(self, request: Request) -> Response:
        repo, sha = self._repo_of(request), request.params["sha"]
        if repo is None or not self.catalog.has_commit(repo, sha):
            return _missing(f"Commit {sha}")
        return _page(200, f"Commit {sha[:7]} in repo {repo.name}")

    def pull_request_page(self, request: Request) -> Response:
        repo, pr = self._repo_of(request), request.params["pr"]
        if repo is None or not self.catalog.has_pull_request(repo, pr):
            return _missing(f"Pull request {pr}")
        return _page(200, f"Pull request {pr} in repo {repo.name}")

    def repo_page(self, request: Request) -> Response:
        repo = self._repo_of(request)
        if repo is None:
            return _missing(f"Repository {request.params['repo']}")
        version = request.arg("version") or "GBmain"
        kind, name = version[:2], version[2:]
        if kind == "GB" and name in BRANCHES:
            return _page(200, f"Branch {name} in repo {repo.name}")
        if kind == "GT" and name in TAGS:
            return _page(200, f"Tag {name} in repo {repo.name}")
        return _missing(f"{version} in repo {repo.name}")

    def build_page(self, request: Request) -> Response:
        raw = request.arg("buildId") or ""
        number = self.catalog.build_number(int(raw)) if raw.isdigit() else None
        if not self._scope_ok(request) or number is None:
            return _missing(f"Build {raw}")
        return _page(200, f"Build {number}")

    def changeset_page(self, request: Request) -> Response:
        number = request.params["number"]
        if not self._scope_ok(request) or not self.catalog.has_changeset(number):
            return _missing(f"Changeset {number}")
        return _page(200, f"Changeset {number}")

    def version_control_page(self, request: Request) -> Response:
        path = request.arg("path") or ""
        if not self._scope_ok(request) or not self.catalog.has_tfvc_path(path):
            return _missing(f"File {path}")
        return _page(200, f"File {path}")

    def wiki_page(self, request: Request) -> Response:
        wiki, page = request.params["wiki"], request.arg("pagePath") or ""
        if not self._scope_ok(request) or not self.catalog.has_page(wiki, page):
            return _missing(f"Wiki page {page}")
        return _page(200, f"Wiki page {page}")


def register_git_routes(app: AdoApp, routes: GitRoutes) -> None:
    """The git/build API (guarded like every API route) and the web pages (open)."""
    p = "/{org}/{project}/_apis"
    for pattern, handler in (
        (p + "/git/repositories", routes.list_repositories),
        (p + "/git/repositories/{repositoryId}", routes.get_repository),
        (p + "/build/builds/{buildId}", routes.get_build),
    ):
        app.add_route("GET", pattern, app._guarded(handler, False))
    w = "/{org}/{project}"
    for pattern, handler in (
        (w + "/_workitems/edit/{id}", routes.work_item_page),
        (w + "/_git/{repo}/commit/{sha}", routes.commit_page),
        (w + "/_git/{repo}/pullrequest/{pr}", routes.pull_request_page),
        (w + "/_git/{repo}", routes.repo_page),
        (w + "/_build/results", routes.build_page),
        (w + "/_versionControl/changeset/{number}", routes.changeset_page),
        (w + "/_versionControl", routes.version_control_page),
        (w + "/_wiki/wikis/{wiki}", routes.wiki_page),
    ):
        app.add_route("GET", pattern, handler, faults=False)
