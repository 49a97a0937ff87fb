"""The core API's project routes: the one project this organisation holds."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from sandbox.ado_errors import project_not_found
from sandbox.ado_site import AdoSite
from sandbox.httpbase import Request, Response, json_response

AGILE_PROCESS_ID = "adcc42ab-9882-485e-a3ed-7678f01f66bc"  # the well-known Agile template id


class ProjectRoutes:
    """``_apis/projects`` and ``_apis/projects/{projectId}``."""

    def __init__(self, site: AdoSite) -> None:
        self.site = site

    def list_projects(self, request: Request) -> Response:
        values = [self._project_ref(request)]
        return json_response(200, {"count": len(values), "value": values})

    def get_project(self, request: Request) -> Response:
        wanted = request.params["projectId"]
        if wanted.lower() not in (self.site.project.lower(), self.site.project_id):
            raise project_not_found(wanted)
        site, base = self.site, self.site.base(request)
        out = self._project_ref(request)
        out["_links"] = {
            "self": {"href": out["url"]},
            "collection": {
                "href": f"{base}/{site.org}/_apis/projectCollections/{site.project_id[::-1]}"
            },
            "web": {"href": f"{base}/{site.org}/{quote(site.project)}"},
        }
        out["capabilities"] = {
            "processTemplate": {"templateName": "Agile", "templateTypeId": AGILE_PROCESS_ID},
            "versioncontrol": {"sourceControlType": "Git"},
        }
        out["defaultTeam"] = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, site.project_id + "/team")),
            "name": f"{site.project} Team",
            "url": f"{base}/{site.org}/_apis/projects/{site.project_id}/teams",
        }
        return json_response(200, out)

    def _project_ref(self, request: Request) -> dict[str, Any]:
        site = self.site
        return {
            "id": site.project_id,
            "name": site.project,
            "description": "Simulated project for the ADO to Jira migrator",
            "url": f"{site.base(request)}/{site.org}/_apis/projects/{site.project_id}",
            "state": "wellFormed",
            "revision": 411,
            "visibility": "private",
            "lastUpdateTime": "2025-05-30T08:00:00.000Z",
        }
