"""Simulated Azure DevOps Services, Work Item Tracking REST 7.1 (read side).

Serves a :class:`~sandbox.dataset.Dataset` at ``{base}/{org}/{project}/_apis/...``
with the quirks a migrator must survive: ids-only WIQL with the 20,000-result cap,
200-id batches, ``fields`` and ``$expand`` that cannot be combined, paged
comments, streamed attachments, PAT auth, ``api-version`` checks, throttling with
TF400733, and error bodies in the service's own shape.

This module is the server and its routing; the route handlers, the state, WIQL
and the service's refusals each live in their own ``sandbox/ado_*`` module.
Choices where the real service is undocumented are listed in ``DESIGN_NOTES``.
Mutations for tests and the demo live under ``/_sandbox/...`` (exempt from
faults and auth) and as methods on :class:`AdoApp`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sandbox.ado_attachments import AttachmentRoute
from sandbox.ado_auth import Credentials
from sandbox.ado_checks import LATEST_API_VERSION, check_scope, check_version
from sandbox.ado_classification import ClassificationRoutes
from sandbox.ado_comments import CommentRoutes
from sandbox.ado_control import ControlRoutes
from sandbox.ado_errors import AdoError, error_response
from sandbox.ado_faults import AdoFaultAnswers
from sandbox.ado_fields import FIELDS, FIELDS_BY_NAME, day_of, lookup_field
from sandbox.ado_git import GitRoutes, register_git_routes
from sandbox.ado_metadata import MetadataRoutes
from sandbox.ado_projects import ProjectRoutes
from sandbox.ado_site import AdoSite
from sandbox.ado_state import AdoStore
from sandbox.ado_updates import UpdateRoutes
from sandbox.ado_wiql import WiqlParser, WiqlQuery, WiqlRoute
from sandbox.ado_workitems import BATCH_LIMIT, WorkItemRoutes
from sandbox.dataset import Dataset
from sandbox.httpbase import Handler, Knobs, Request, Response
from sandbox.people import Person

__all__ = [
    "BATCH_LIMIT",
    "DEFAULT_PAT",
    "DESIGN_NOTES",
    "FIELDS",
    "FIELDS_BY_NAME",
    "LATEST_API_VERSION",
    "AdoApp",
    "AdoError",
    "AdoStore",
    "RouteSpec",
    "WiqlParser",
    "WiqlQuery",
    "day_of",
    "error_response",
    "lookup_field",
]

DEFAULT_PAT = "sandbox-ado-pat-0123456789abcdefghijklmnopqrstuv"

DESIGN_NOTES = """
- Missing credentials: 203 with an HTML sign-in page (what the service does for a
  browser-like call) unless the caller sends ``X-TFS-FedAuthRedirect: Suppress``,
  then 401. Wrong credentials: always 401 with a TF400813 JSON body.
- Bearer tokens: accepted when equal to ``bearer_token`` (default: the PAT).
- Error ``typeKey``/``typeName`` values are modelled on the service; the messages
  (VS402337, VS403474, TF401232, TF200016, TF400733, TF51005, TF51535, ...) are the
  documented ones.
- WIQL: ``$top`` truncates without error; with no ``$top`` (or ``$top`` above the
  cap) more matches than the cap answer 400 VS402337. Without ``timePrecision=true``
  date comparisons are made on the date only, as the service does.
- Comments default to ``order=desc`` (newest first) and ``$top=200``; a deleted
  comment appears only with ``includeDeleted=true``.
- ``/{org}/_apis/...`` variants (no project) are served where the spec marks the
  project optional.
- Ambiguous-outcome faults (lost answers, late writes; see ``httpbase.Knobs``):
  this read side has no real writes, so the ``"writes"`` selector picks its only
  non-GET routes, the read-only POSTs ``wit/wiql`` and ``wit/workitemsbatch``.
  ``slow_bulk_ms_per_issue`` has no effect here (no bulk create).
"""


@dataclass(frozen=True)
class RouteSpec:
    """One served route and the spec operation it implements (checked by the tests)."""

    method: str
    pattern: str
    operation_id: str
    spec: str  # "wit" or "core"


class AdoApp(AdoFaultAnswers):
    """The simulated service. ``AdoApp(dataset=generate(60, 1))``."""

    name = "ado"
    case_insensitive_paths = True

    def __init__(
        self,
        *,
        dataset: Dataset,
        pat: str = DEFAULT_PAT,
        bearer_token: str | None = None,
        wiql_cap: int = 20_000,
        knobs: Knobs | None = None,
    ) -> None:
        super().__init__(knobs)
        self.site = AdoSite.of(dataset)
        self.dataset, self.store = dataset, self.site.store
        self.org, self.project, self.project_id = dataset.org, dataset.project, dataset.project_id
        self.pat, self.bearer_token, self.wiql_cap = pat, bearer_token or pat, wiql_cap
        self._credentials = Credentials(self.pat, self.bearer_token)
        self.route_specs: list[RouteSpec] = []
        self._register_api()
        self._register_history_and_git()
        ControlRoutes(self).register()

    # ------------------------------------------------------------------ registration
    def _api(
        self,
        method: str,
        pattern: str,
        handler: Handler,
        operation_id: str,
        preview: bool = False,
        spec: str = "wit",
    ) -> None:
        self.route_specs.append(RouteSpec(method, pattern, operation_id, spec))
        self.add_route(method, pattern, self._guarded(handler, preview))

    def _register_api(self) -> None:
        p, o = "/{org}/{project}/_apis", "/{org}/_apis"
        wi = "Work Items_"
        site = self.site
        wiql, items = WiqlRoute(site, self.wiql_cap), WorkItemRoutes(site)
        files, meta = AttachmentRoute(site), MetadataRoutes(site)
        comments, nodes = CommentRoutes(site), ClassificationRoutes(site)
        for prefix in ("/{org}/{project}/{team}/_apis", p, o):
            self._api("POST", prefix + "/wit/wiql", wiql.query, "Wiql_Query By Wiql")
        for prefix in (p, o):
            self._api(
                "POST", prefix + "/wit/workitemsbatch", items.batch, wi + "Get Work Items Batch"
            )
            self._api("GET", prefix + "/wit/workitems", items.list_items, wi + "List")
            self._api("GET", prefix + "/wit/workitems/{id}", items.get_one, wi + "Get Work Item")
            self._api("GET", prefix + "/wit/attachments/{id}", files.download, "Attachments_Get")
            self._api("GET", prefix + "/wit/fields", meta.list_fields, "Fields_List")
            self._api("GET", prefix + "/wit/fields/{field}", meta.get_field, "Fields_Get")
        self._api(
            "GET",
            p + "/wit/workItems/{workItemId}/comments",
            comments.list_comments,
            "Comments_Get Comments",
            preview=True,
        )
        self._api(
            "GET",
            p + "/wit/workItems/{workItemId}/comments/{commentId}",
            comments.get_comment,
            "Comments_Get Comment",
            preview=True,
        )
        self._api("GET", p + "/wit/workitemtypes", meta.list_types, "Work Item Types_List")
        self._api("GET", p + "/wit/workitemtypes/{type}", meta.get_type, "Work Item Types_Get")
        self._api(
            "GET",
            p + "/wit/workitemtypes/{type}/states",
            meta.list_states,
            "Work Item Type States_List",
        )
        self._api(
            "GET",
            p + "/wit/workitemtypes/{type}/fields",
            meta.list_type_fields,
            "Work Item Types Field_List",
        )
        self._register_tail(p, o, meta, nodes)

    def _register_tail(
        self, p: str, o: str, meta: MetadataRoutes, nodes: ClassificationRoutes
    ) -> None:
        """Classification nodes, relation types and the core API's projects."""
        self._api(
            "GET",
            p + "/wit/classificationnodes",
            nodes.root_nodes,
            "Classification Nodes_Get Root Nodes",
        )
        for path in ("/{structureGroup}", "/{structureGroup}/{path:path}"):
            self._api(
                "GET",
                p + "/wit/classificationnodes" + path,
                nodes.get_node,
                "Classification Nodes_Get",
            )
        self._api(
            "GET",
            o + "/wit/workitemrelationtypes",
            meta.list_relation_types,
            "Work Item Relation Types_List",
        )
        self._api(
            "GET",
            o + "/wit/workitemrelationtypes/{relation}",
            meta.get_relation_type,
            "Work Item Relation Types_Get",
        )
        projects = ProjectRoutes(self.site)
        self._api("GET", o + "/projects", projects.list_projects, "Projects_List", spec="core")
        self._api(
            "GET", o + "/projects/{projectId}", projects.get_project, "Projects_Get", spec="core"
        )

    def _register_history_and_git(self) -> None:
        """Revisions (``Updates_*``), Git repositories, builds and the web pages."""
        p, updates = "/{org}/{project}/_apis", UpdateRoutes(self.site)
        self._api("GET", p + "/wit/workItems/{id}/updates", updates.list_updates, "Updates_List")
        self._api(
            "GET",
            p + "/wit/workItems/{id}/updates/{updateNumber}",
            updates.get_update,
            "Updates_Get",
        )
        register_git_routes(self, GitRoutes(self.site))

    def _guarded(self, handler: Handler, preview: bool) -> Handler:
        """Checks every API call shares: api-version, organization, project; error shape."""

        def run(request: Request) -> Response:
            try:
                check_version(request, preview)
                check_scope(self.site, request)
                return handler(request)
            except AdoError as exc:
                return exc.response()

        return run

    # ------------------------------------------------------------------ hooks
    def authenticate(self, request: Request) -> Response | None:
        return self._credentials.refusal(request)

    # ------------------------------------------------------------------ Python API for tests
    def reset(self) -> None:
        """Forget every edit, knob change and counter: the pristine dataset again."""
        self.store.reset()
        self.knobs.update(asdict(Knobs()))
        self.clear_counters()

    def edit_item(
        self,
        ident: int,
        fields: dict[str, Any] | None = None,
        *,
        title: str | None = None,
        state: str | None = None,
    ) -> int:
        changes = dict(fields or {})
        if title is not None:
            changes["System.Title"] = title
        if state is not None:
            changes["System.State"] = state
        return self.store.edit(ident, changes)

    def add_item(
        self,
        type_name: str,
        title: str,
        *,
        parent: int | None = None,
        area_path: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> int:
        return self.store.add_item(type_name, title, parent, area_path, fields)

    def add_comment(self, ident: int, text: str, author_email: str | None = None) -> int:
        return self.store.add_comment(ident, text, self._person(author_email))

    def add_attachment(self, ident: int, name: str, data: bytes) -> str:
        return self.store.add_attachment(ident, name, data)

    def remove_item(self, ident: int) -> int:
        return self.store.remove(ident)

    def delete_item(self, ident: int) -> None:
        self.store.recycle(ident)

    def item_fields(self, ident: int) -> dict[str, Any]:
        rec = self.store.record(ident, "")
        if rec is None:
            raise KeyError(ident)
        return rec.fields

    def _person(self, email: str | None) -> Person | None:
        if email is None:
            return None
        for person in self.dataset.people:
            if person.email.lower() == email.lower():
                return person
        raise ValueError(f"unknown person {email!r}")
