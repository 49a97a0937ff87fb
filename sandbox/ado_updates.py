"""``Updates_List`` and ``Updates_Get``: an item's revisions, paged with ``$top`` and
``$skip`` as the spec documents (``$top`` defaults to 200, as the service pages)."""

from __future__ import annotations

from typing import Any

from sandbox.ado_args import as_int, int_arg
from sandbox.ado_errors import AdoError, not_found_item
from sandbox.ado_site import AdoSite
from sandbox.dataset_history import FAR_FUTURE, dataset_updates, edit_updates
from sandbox.httpbase import Request, Response, json_response

DEFAULT_TOP = 200


class UpdateRoutes:
    """``wit/workItems/{id}/updates`` and ``…/updates/{updateNumber}``."""

    def __init__(self, site: AdoSite) -> None:
        self.site, self.store = site, site.store

    def updates(self, request: Request, ident: int) -> list[dict[str, Any]]:
        """Every update of the item, oldest first (generated history, then sandbox edits)."""
        if not self.store.exists(ident):
            raise not_found_item(ident)
        base_url = self.site.base(request)
        base, added, edits, comments = self.store.history_parts(ident, base_url)
        if added:
            first = {k: {"newValue": v} for k, v in base.fields.items()}
            rows = [
                {
                    "id": 1,
                    "workItemId": ident,
                    "rev": 1,
                    "revisedBy": base.fields.get("System.CreatedBy"),
                    "revisedDate": FAR_FUTURE,
                    "fields": first,
                }
            ]
        else:
            rows = dataset_updates(self.site.dataset, base, base_url)
        later = edit_updates(ident, dict(base.fields), edits, comments)
        if later:
            rows[-1]["revisedDate"] = edits[0][1]
        url = f"{self.site.project_url(request)}/wit/workItems/{ident}/updates"
        out = []
        for n, row in enumerate(rows + later, start=1):
            out.append({**row, "id": n, "url": f"{url}/{n}"})
        return out

    def list_updates(self, request: Request) -> Response:
        ident = as_int(request.params["id"])
        top = int_arg(request, "$top")
        skip = int_arg(request, "$skip") or 0
        rows = self.updates(request, ident)
        page = rows[skip : skip + (DEFAULT_TOP if top is None else top)]
        return json_response(200, {"count": len(page), "value": page})

    def get_update(self, request: Request) -> Response:
        ident, number = as_int(request.params["id"]), as_int(request.params["updateNumber"])
        rows = self.updates(request, ident)
        if not 1 <= number <= len(rows):
            raise AdoError(
                404,
                f"VS402324: Update {number} of work item {ident} does not exist.",
                "WorkItemUpdateNotFoundException",
            )
        return json_response(200, rows[number - 1])
