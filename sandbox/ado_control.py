"""The ADO sandbox's control routes (``/_sandbox/...``: no auth, no faults) through which
tests and the demo inspect and change the project over HTTP.

Each route calls one method of the Python API on :class:`sandbox.ado.AdoApp`;
a missing item answers 404 and a bad value 400, in plain JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sandbox.ado_args import object_body, plain_int
from sandbox.httpbase import CONTROL_PREFIX, Request, Response, json_response

if TYPE_CHECKING:
    from sandbox.ado import AdoApp


class ControlRoutes:
    def __init__(self, app: AdoApp) -> None:
        self.app = app

    def register(self) -> None:
        c, add = CONTROL_PREFIX, self.app.add_route
        add("GET", c + "/state", self.state, faults=False)
        add("POST", c + "/reset", self.reset, faults=False)
        add("GET", c + "/items/{id}", self.item, faults=False)
        add("PATCH", c + "/items/{id}", self.edit, faults=False)
        add("DELETE", c + "/items/{id}", self.remove, faults=False)
        add("POST", c + "/items", self.add, faults=False)
        add("POST", c + "/items/{id}/comments", self.comment, faults=False)

    @staticmethod
    def _control(action: Callable[[], Any], status: int = 200) -> Response:
        try:
            return json_response(status, action())
        except KeyError as exc:
            return json_response(404, {"message": f"no such work item or comment: {exc}"})
        except (ValueError, TypeError) as exc:
            return json_response(400, {"message": str(exc)})

    def state(self, request: Request) -> Response:
        app = self.app
        counters = app.counter_snapshot()
        return json_response(
            200,
            {
                "org": app.org,
                "project": app.project,
                "projectId": app.project_id,
                "seed": app.dataset.seed,
                "generatedItems": app.dataset.count,
                "roles": app.dataset.roles,
                **app.store.summary(),
                "counters": counters,
            },
        )

    def reset(self, request: Request) -> Response:
        self.app.reset()
        return Response(204)

    def item(self, request: Request) -> Response:
        return self._control(lambda: self.app.item_fields(plain_int(request.params["id"])))

    def edit(self, request: Request) -> Response:
        def edit() -> dict[str, Any]:
            body, ident = object_body(request), plain_int(request.params["id"])
            rev = self.app.edit_item(
                ident, body.get("fields"), title=body.get("title"), state=body.get("state")
            )
            return {"id": ident, "rev": rev}

        return self._control(edit)

    def remove(self, request: Request) -> Response:
        def remove() -> dict[str, Any]:
            ident = plain_int(request.params["id"])  # a bad id answers 400, not 500
            if (request.arg("destroy") or "").lower() == "true":
                return self._recycle(ident)
            return {"id": ident, "rev": self.app.remove_item(ident)}

        return self._control(remove)

    def _recycle(self, ident: int) -> dict[str, Any]:
        self.app.delete_item(ident)
        return {"id": ident, "recycled": True}

    def add(self, request: Request) -> Response:
        def add() -> dict[str, Any]:
            body = object_body(request)
            return {
                "id": self.app.add_item(
                    str(body.get("type", "")),
                    str(body.get("title", "")),
                    parent=body.get("parent"),
                    area_path=body.get("areaPath"),
                    fields=body.get("fields"),
                )
            }

        return self._control(add, 201)

    def comment(self, request: Request) -> Response:
        def comment() -> dict[str, Any]:
            body, ident = object_body(request), plain_int(request.params["id"])
            text, author = str(body.get("text", "")), body.get("author")
            return {"id": self.app.add_comment(ident, text, author)}

        return self._control(comment, 201)
