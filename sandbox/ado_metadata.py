"""The process metadata routes: work item types (with states, fields and transitions),
fields, and work item relation types, rendered from the catalog in ``ado_fields``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sandbox.ado_errors import AdoError
from sandbox.ado_fields import (
    ALLOWED,
    COMMON_TYPE_FIELDS,
    FIELD_SPECS,
    FIELDS,
    RELATION_TYPES,
    TYPE_FIELDS,
    FieldSpec,
    RelationSpec,
    lookup_field,
)
from sandbox.ado_site import AdoSite
from sandbox.dataset import TYPE_INDEX, TYPES
from sandbox.httpbase import Request, Response, json_response


class MetadataRoutes:
    """``wit/workitemtypes...``, ``wit/fields...`` and ``wit/workitemrelationtypes...``."""

    def __init__(self, site: AdoSite) -> None:
        self.site = site

    def list_types(self, request: Request) -> Response:
        values = [self._type_json(request, t.name) for t in TYPES]
        return json_response(200, {"count": len(values), "value": values})

    def get_type(self, request: Request) -> Response:
        return json_response(200, self._type_json(request, self._type_name(request)))

    def _type_name(self, request: Request) -> str:
        wanted = request.params["type"].lower()
        for t in TYPES:
            if wanted in (t.name.lower(), t.reference_name.lower()):
                return t.name
        raise AdoError(
            404,
            f"VS402323: Work item type {request.params['type']} does not exist.",
            "WorkItemTypeNotFoundException",
        )

    def _type_json(self, request: Request, name: str) -> dict[str, Any]:
        t = TYPES[TYPE_INDEX[name]]
        base, api, org = self.site.base(request), self.site.project_url(request), self.site.org
        state_names = [s.name for s in t.states]
        return {
            "name": t.name,
            "referenceName": t.reference_name,
            "description": t.description,
            "color": t.color,
            "isDisabled": False,
            "icon": {
                "id": t.icon,
                "url": f"{base}/{org}/_apis/wit/workItemIcons/{t.icon}?color={t.color}&v=2",
            },
            "fieldInstances": self._field_instances(request, name),
            "fields": self._field_instances(request, name),
            "transitions": {
                "": [{"to": state_names[0]}],
                **{s: [{"to": o} for o in state_names if o != s] for s in state_names},
            },
            "states": [
                {"name": s.name, "color": s.color, "category": s.category} for s in t.states
            ],
            "url": f"{api}/wit/workItemTypes/{quote(t.name)}",
        }

    def _field_instances(self, request: Request, name: str) -> list[dict[str, Any]]:
        base = self.site.base(request)
        out = []
        for ref in COMMON_TYPE_FIELDS + TYPE_FIELDS[name]:
            spec = FIELDS[ref.lower()]
            instance: dict[str, Any] = {
                "alwaysRequired": ref in ("System.Title", "System.State"),
                "referenceName": ref,
                "name": spec[1],
                "url": f"{base}/{self.site.org}/_apis/wit/fields/{ref}",
            }
            if ref in ALLOWED:
                instance["allowedValues"] = ALLOWED[ref]
            out.append(instance)
        return out

    def list_states(self, request: Request) -> Response:
        t = TYPES[TYPE_INDEX[self._type_name(request)]]
        values = [{"name": s.name, "color": s.color, "category": s.category} for s in t.states]
        return json_response(200, {"count": len(values), "value": values})

    def list_type_fields(self, request: Request) -> Response:
        values = self._field_instances(request, self._type_name(request))
        return json_response(200, {"count": len(values), "value": values})

    def list_fields(self, request: Request) -> Response:
        values = [self._field_json(request, spec) for spec in FIELD_SPECS]
        return json_response(200, {"count": len(values), "value": values})

    def get_field(self, request: Request) -> Response:
        spec = lookup_field(request.params["field"])
        if spec is None:
            raise AdoError(
                404,
                f"TF51535: Cannot find field {request.params['field']}.",
                "WorkItemTrackingFieldDefinitionNotFoundException",
            )
        return json_response(200, self._field_json(request, spec))

    def _field_json(self, request: Request, spec: FieldSpec) -> dict[str, Any]:
        ref, name, ftype, read_only, is_identity, is_picklist = spec
        return {
            "name": name,
            "referenceName": ref,
            "description": "",
            "type": ftype,
            "usage": "workItem",
            "readOnly": read_only,
            "canSortBy": ftype != "html",
            "isQueryable": True,
            "supportedOperations": [],
            "isIdentity": is_identity,
            "isPicklist": is_picklist,
            "isPicklistSuggested": False,
            "isLocked": False,
            "url": f"{self.site.base(request)}/{self.site.org}/_apis/wit/fields/{ref}",
        }

    def list_relation_types(self, request: Request) -> Response:
        values = [self._relation_json(request, spec) for spec in RELATION_TYPES]
        return json_response(200, {"count": len(values), "value": values})

    def get_relation_type(self, request: Request) -> Response:
        for spec in RELATION_TYPES:
            if spec[0].lower() == request.params["relation"].lower():
                return json_response(200, self._relation_json(request, spec))
        raise AdoError(
            404,
            f"VS402310: The link type {request.params['relation']} does not exist.",
            "WorkItemLinkTypeNotFoundException",
        )

    def _relation_json(self, request: Request, spec: RelationSpec) -> dict[str, Any]:
        ref, name, topology, opposite = spec
        base = self.site.base(request)
        if topology == "resourceLink":
            attrs: dict[str, Any] = {"usage": "resourceLink", "editable": False, "enabled": True}
        else:
            attrs = {
                "usage": "workItemLink",
                "editable": False,
                "enabled": True,
                "acyclic": topology != "network",
                "directional": opposite is not None,
                "singleTarget": ref.endswith("Hierarchy-Reverse"),
                "topology": topology,
            }
            if opposite:
                attrs["isForward"] = ref.endswith("Forward")
                attrs["oppositeEndReferenceName"] = opposite
        return {
            "attributes": attrs,
            "referenceName": ref,
            "name": name,
            "url": f"{base}/{self.site.org}/_apis/wit/workItemRelationTypes/{ref}",
        }
