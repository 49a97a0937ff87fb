"""The classification node routes: the area and iteration trees, to a ``$depth``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sandbox.ado_args import int_arg
from sandbox.ado_errors import AdoError, bad_request
from sandbox.ado_site import AdoSite
from sandbox.dataset import Node
from sandbox.httpbase import Request, Response, json_response


class ClassificationRoutes:
    """``wit/classificationnodes[/{structureGroup}[/{path}]]``."""

    def __init__(self, site: AdoSite) -> None:
        self.site = site

    def root_nodes(self, request: Request) -> Response:
        depth = int_arg(request, "$depth") or 0
        values = [
            self._node_json(request, nodes, nodes[0], depth)
            for nodes in (self.site.dataset.areas, self.site.dataset.iterations)
        ]
        return json_response(200, {"count": len(values), "value": values})

    def get_node(self, request: Request) -> Response:
        group = request.params["structureGroup"].lower()
        if group not in ("areas", "iterations"):
            raise bad_request(
                f"VS402485: The structure group {group} is not valid; use areas or iterations."
            )
        nodes = self.site.dataset.areas if group == "areas" else self.site.dataset.iterations
        path = request.params.get("path", "").strip("/").replace("/", "\\")
        wanted = nodes[0].path + ("\\" + path if path else "")
        node = next((n for n in nodes if n.path.lower() == wanted.lower()), None)
        if node is None:
            raise AdoError(
                404,
                f"VS402485: The node {path} does not exist under {group}.",
                "ClassificationNodeDoesNotExistException",
            )
        depth = int_arg(request, "$depth") or 0
        return json_response(200, self._node_json(request, nodes, node, depth))

    def _node_json(
        self, request: Request, nodes: list[Node], node: Node, depth: int
    ) -> dict[str, Any]:
        kind = "Areas" if node.structure == "area" else "Iterations"
        rel = node.path.split("\\", 1)[1] if "\\" in node.path else ""
        url = f"{self.site.project_url(request)}/wit/classificationNodes/{kind}" + (
            "/" + quote(rel.replace("\\", "/")) if rel else ""
        )
        children = [n for n in nodes if n.parent == node.id]
        out: dict[str, Any] = {
            "id": node.id,
            "identifier": node.identifier,
            "name": node.name,
            "structureType": node.structure,
            "hasChildren": bool(children),
            "path": f"\\{nodes[0].name}\\{kind[:-1]}" + ("\\" + rel if rel else ""),
        }
        if node.start:
            out["attributes"] = {"startDate": node.start, "finishDate": node.finish}
        if depth > 0 and children:
            out["children"] = [self._node_json(request, nodes, c, depth - 1) for c in children]
        out["url"] = url
        return out
