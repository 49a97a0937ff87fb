"""Development artifacts of a generated project: Git repositories, commits, pull
requests, branches, tags, builds, changesets, versioned files and wiki pages, and
the ``ArtifactLink`` relations work items carry to them.

Everything is derived from the seed and small pool indexes, so whether an
artifact exists is a computation, not a lookup table: the ADO web routes and the
Git and build APIs answer from :class:`ArtifactCatalog` alone. Every kind is
linked from at least three items of a 200-item project (item ``i`` carries kind
``i % SLOTS`` when that slot names a kind), and another organisation's work
items are linked from items whose id is ``REMOTE_STEP`` apart.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

REPO_NAMES = ("web-app", "api-service", "infra")
POOL = 12  # commits, pull requests, branches, tags, builds, changesets, files, pages per pool
BRANCHES = ("main", "feature/checkout-v2", "release/2025.1", "bugfix/login-timeout")
TAGS = ("v1.0.0", "v1.1.0", "v2.0.0-rc1")
FILES = ("src/app/checkout.ts", "src/api/orders.py", "deploy/main.tf", "README.md")
PAGES = ("Architecture/Overview", "Runbooks/Deploy", "Onboarding")
WIKI_NAME = "Fabrikam-Fiber.wiki"
BUILD_BASE = 5000  # build ids are BUILD_BASE + 1 … BUILD_BASE + POOL
CHANGESET_BASE = 400
# link names (attributes.name) in the order of the slots items draw from
KINDS = (
    "Fixed in Commit",
    "Pull Request",
    "Branch",
    "Build",
    "Found in build",
    "Fixed in Changeset",
    "Source Code File",
    "Wiki Page",
    "Tag",
    "Integrated in build",
)
SLOTS = 40  # item i carries KINDS[i % SLOTS] when that index names a kind
REMOTE_ORG = "contoso-partners"
REMOTE_STEP = 29  # items 5, 34, 63, … link a work item of REMOTE_ORG
REMOTE_REL = "System.LinkTypes.Remote.Related"


@dataclass(frozen=True)
class Repository:
    id: str
    name: str


class ArtifactCatalog:
    """The artifacts of one project (derived from project id and seed)."""

    def __init__(self, project_id: str, seed: int, project: str) -> None:
        self.project_id, self.seed, self.project = project_id, seed, project
        self.repos = tuple(
            Repository(str(uuid.uuid5(uuid.NAMESPACE_URL, f"git:{project_id}/{name}")), name)
            for name in REPO_NAMES
        )
        self.wiki_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"wiki:{project_id}"))

    # ------------------------------------------------------------------ identities
    def repo(self, id_or_name: str) -> Repository | None:
        key = id_or_name.lower()
        return next((r for r in self.repos if key in (r.id, r.name.lower())), None)

    def commit_sha(self, repo: Repository, n: int) -> str:
        return hashlib.sha1(f"{self.seed}:{repo.name}:{n}".encode()).hexdigest()

    def has_commit(self, repo: Repository, sha: str) -> bool:
        return sha.lower() in {self.commit_sha(repo, n) for n in range(POOL)}

    def pull_request_id(self, repo: Repository, n: int) -> int:
        return 100 * (self.repos.index(repo) + 1) + n + 1

    def has_pull_request(self, repo: Repository, pr: str) -> bool:
        return pr in {str(self.pull_request_id(repo, n)) for n in range(POOL)}

    def build_number(self, build_id: int) -> str | None:
        n = build_id - BUILD_BASE
        return f"2025{1 + n % 5:02d}{1 + n:02d}.{1 + n % 3}" if 1 <= n <= POOL else None

    def build_repo(self, build_id: int) -> Repository:
        return self.repos[build_id % len(self.repos)]

    def has_changeset(self, number: str) -> bool:
        return number.isdigit() and CHANGESET_BASE < int(number) <= CHANGESET_BASE + POOL

    def tfvc_path(self, n: int) -> str:
        return f"$/{self.project}/{FILES[n % len(FILES)]}"

    def has_tfvc_path(self, path: str) -> bool:
        return path in {self.tfvc_path(n) for n in range(len(FILES))}

    def has_page(self, wiki: str, page: str) -> bool:
        return wiki.lower() in (self.wiki_id, WIKI_NAME.lower()) and page.strip("/") in PAGES

    # ------------------------------------------------------------------ links on items
    def _git(self, kind: str, repo: Repository, rest: str) -> str:
        return f"vstfs:///Git/{kind}/{self.project_id}%2F{repo.id}%2F{rest}"

    def uri(self, kind: str, n: int) -> str:
        """The ``vstfs:///`` URI of pool entry ``n`` of link kind ``kind``."""
        repo = self.repos[n % len(self.repos)]
        if kind == "Fixed in Commit":
            return self._git("Commit", repo, self.commit_sha(repo, n % POOL))
        if kind == "Pull Request":
            return self._git("PullRequestId", repo, str(self.pull_request_id(repo, n % POOL)))
        if kind == "Branch":
            return self._git("Ref", repo, "GB" + quote(BRANCHES[n % len(BRANCHES)], safe=""))
        if kind == "Tag":
            return self._git("Ref", repo, "GT" + quote(TAGS[n % len(TAGS)], safe=""))
        if kind in ("Build", "Found in build", "Integrated in build"):
            return f"vstfs:///Build/Build/{BUILD_BASE + 1 + n % POOL}"
        if kind == "Fixed in Changeset":
            return f"vstfs:///VersionControl/Changeset/{CHANGESET_BASE + 1 + n % POOL}"
        if kind == "Source Code File":
            path = quote(quote(self.tfvc_path(n % len(FILES)), safe=""), safe="")
            version = CHANGESET_BASE + 1 + n % POOL
            return (
                f"vstfs:///VersionControl/VersionedItem/{path}"
                f"%2526changesetVersion%253D{version}%2526deletionId%253D0"
            )
        page = quote(PAGES[n % len(PAGES)], safe="")
        return f"vstfs:///Wiki/WikiPage/{self.project_id}%2F{self.wiki_id}%2F{page}"


def artifact_relations(
    catalog: ArtifactCatalog, ident: int, created: str, count: int
) -> list[dict[str, Any]]:
    """The ``ArtifactLink`` and remote work-item relations of item ``ident``."""
    out: list[dict[str, Any]] = []
    slot = ident % SLOTS
    if slot < len(KINDS):
        kind = KINDS[slot]
        out.append(
            {
                "rel": "ArtifactLink",
                "url": catalog.uri(kind, ident // SLOTS),
                "attributes": {
                    "authorizedDate": created,
                    "id": ident * 1000 + 900,
                    "resourceCreatedDate": created,
                    "resourceModifiedDate": created,
                    "revisedDate": "9999-01-01T00:00:00Z",
                    "name": kind,
                },
            }
        )
    if ident % REMOTE_STEP == 5 % REMOTE_STEP and ident <= count:
        out.append(remote_relation(ident))
    return out


def remote_relation(ident: int) -> dict[str, Any]:
    """A link to a work item of another organisation (a cross-organisation link)."""
    other = 7000 + ident
    return {
        "rel": REMOTE_REL,
        "url": f"https://dev.azure.com/{REMOTE_ORG}/_apis/wit/workItems/{other}",
        "attributes": {"isLocked": False, "name": "Remote Related", "remoteHostId": REMOTE_ORG},
    }
