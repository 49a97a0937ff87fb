"""The work-item read routes (``workitems``, ``workitems/{id}``, ``workitemsbatch``) and
the JSON shape of a work item: fields, relations, ``_links``, ``commentVersionRef``.

The 200-id batch limit and the rule that ``fields`` and ``$expand`` cannot be
combined are enforced here, as the service does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from sandbox.ado_args import as_int, as_of_arg
from sandbox.ado_errors import WEBAPI, WIT, bad_request, not_found_item
from sandbox.ado_fields import lookup_field
from sandbox.ado_site import AdoSite
from sandbox.dataset import ItemRecord
from sandbox.httpbase import Request, Response, json_response

BATCH_LIMIT = 200


class WorkItemRoutes:
    """Handlers for the work-item reads; every item is rendered by :meth:`_render`."""

    def __init__(self, site: AdoSite) -> None:
        self.site, self.store = site, site.store

    def batch(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("ids"), list) or not body["ids"]:
            raise bad_request(
                "VS403470: The ids parameter (WorkItemBatchGetRequest.Ids) must be provided.",
                "VssPropertyValidationException",
                WEBAPI,
            )
        ids = [as_int(x) for x in body["ids"]]
        fields = body.get("fields")
        expand = body.get("$expand") or body.get("expand")
        return self._many(request, ids, fields, expand, body.get("asOf"), body.get("errorPolicy"))

    def list_items(self, request: Request) -> Response:
        raw = request.arg("ids")
        if not raw:
            raise bad_request(
                "VS403470: The ids parameter must be provided.",
                "VssPropertyValidationException",
                WEBAPI,
            )
        ids = [as_int(x) for x in raw.split(",") if x.strip()]
        fields = request.arg("fields")
        return self._many(
            request,
            ids,
            fields.split(",") if fields else None,
            request.arg("$expand"),
            request.arg("asOf"),
            request.arg("errorPolicy"),
        )

    def _many(
        self, request: Request, ids: list[int], fields: Any, expand: Any, as_of: Any, policy: Any
    ) -> Response:
        if len(ids) > BATCH_LIMIT:
            raise bad_request(
                f"VS403474: You requested {len(ids)} work items which exceeds the "
                f"limit of {BATCH_LIMIT}",
                "VssPropertyValidationException",
                WEBAPI,
            )
        wanted = self._check_fields_expand(fields, expand)
        moment = as_of_arg(as_of)
        omit = str(policy or "fail").lower() == "omit"
        values: list[dict[str, Any] | None] = []
        for ident in ids:
            item = self._render(request, ident, wanted, str(expand or "none"), moment, False)
            if item is None and not omit:
                raise not_found_item(ident)
            values.append(item)
        return json_response(200, {"count": len(values), "value": values})

    def get_one(self, request: Request) -> Response:
        ident = as_int(request.params["id"])
        fields = request.arg("fields")
        expand = request.arg("$expand")
        wanted = self._check_fields_expand(fields.split(",") if fields else None, expand)
        item = self._render(
            request, ident, wanted, str(expand or "none"), as_of_arg(request.arg("asOf")), True
        )
        if item is None:
            raise not_found_item(ident)
        return json_response(200, item)

    @staticmethod
    def _check_fields_expand(fields: Any, expand: Any) -> list[str] | None:
        if fields and expand and str(expand).lower() != "none":
            raise bad_request(
                "The expand parameter can not be used with the fields parameter.",
                "ConflictingParametersException",
                WIT,
            )
        if expand and str(expand).lower() not in ("none", "relations", "fields", "links", "all"):
            raise bad_request(f"The value '{expand}' is not valid for $expand.")
        if not fields:
            return None
        if not isinstance(fields, list):
            raise bad_request("VS403471: fields must be a list of field reference names.")
        out = []
        for name in fields:
            spec = lookup_field(str(name))
            if spec is None:
                raise bad_request(
                    f"TF51535: Cannot find field {name}.",
                    "WorkItemTrackingFieldDefinitionNotFoundException",
                    WIT,
                )
            out.append(spec[0])
        return out

    def _render(
        self,
        request: Request,
        ident: int,
        wanted: list[str] | None,
        expand: str,
        as_of: datetime | None,
        single: bool,
    ) -> dict[str, Any] | None:
        base = self.site.base(request)
        rec = self.store.record(ident, base, as_of)
        if rec is None:
            return None
        api = self.site.project_url(request)
        url = f"{api}/wit/workItems/{ident}"
        fields = (
            rec.fields if wanted is None else {k: rec.fields[k] for k in wanted if k in rec.fields}
        )
        out: dict[str, Any] = {
            "id": ident,
            "rev": rec.fields.get("System.Rev", 1),
            "fields": _rebase(fields, base),
        }
        expand = expand.lower()
        if expand in ("relations", "all"):
            out["relations"] = self._relations(rec, api)
        comments = self.store.comments(ident, include_deleted=False)
        if comments and wanted is None:
            last = comments[-1]
            out["commentVersionRef"] = {
                "commentId": last.id,
                "version": last.version,
                "url": f"{url}/comments/{last.id}/versions/{last.version}",
            }
        if single or expand in ("links", "all"):
            out["_links"] = self._item_links(request, rec, url)
        out["url"] = url
        return out

    def _relations(self, rec: ItemRecord, api: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for rel, target, link_attrs in rec.links:
            out.append(
                {"rel": rel, "url": f"{api}/wit/workItems/{target}", "attributes": link_attrs}
            )
        out += [dict(r, attributes=dict(r["attributes"])) for r in rec.other_relations]
        for link_url, comment in rec.hyperlinks:
            out.append(
                {
                    "rel": "Hyperlink",
                    "url": link_url,
                    "attributes": {
                        "authorizedDate": rec.fields["System.CreatedDate"],
                        "id": rec.id * 1000,
                        "resourceCreatedDate": rec.fields["System.CreatedDate"],
                        "revisedDate": "9999-01-01T00:00:00Z",
                        "comment": comment,
                        "name": "Hyperlink",
                    },
                }
            )
        for att in rec.attachments:
            attrs: dict[str, Any] = {
                "authorizedDate": att.created,
                "id": rec.id * 1000 + 1 + att.index,
                "resourceCreatedDate": att.created,
                "resourceModifiedDate": att.created,
                "revisedDate": "9999-01-01T00:00:00Z",
                "resourceSize": att.size,
                "name": att.name,
            }
            if att.comment:
                attrs["comment"] = att.comment
            out.append(
                {
                    "rel": "AttachedFile",
                    "url": f"{api}/wit/attachments/{att.guid}",
                    "attributes": attrs,
                }
            )
        return out

    def _item_links(self, request: Request, rec: ItemRecord, url: str) -> dict[str, Any]:
        base, site = self.site.base(request), self.site
        return {
            "self": {"href": url},
            "workItemUpdates": {"href": url + "/updates"},
            "workItemRevisions": {"href": url + "/revisions"},
            "workItemComments": {"href": url + "/comments"},
            "workItemHistory": {"href": url + "/history"},
            "html": {"href": f"{base}/{site.org}/{quote(site.project)}/_workitems/edit/{rec.id}"},
            "workItemType": {
                "href": f"{self.site.project_url(request)}/wit/workItemTypes/{quote(rec.type)}"
            },
            "fields": {"href": f"{self.site.project_url(request)}/wit/fields"},
        }


def _rebase(fields: dict[str, Any], base: str) -> dict[str, Any]:
    """Identity refs stored without a host (edits made offline) get this request's host."""
    out = {}
    for key, value in fields.items():
        if isinstance(value, dict) and str(value.get("url", "")).startswith("/"):
            value = {
                k: (base + v if isinstance(v, str) and v.startswith("/") else v)
                for k, v in value.items()
            }
        out[key] = value
    return out
