"""/api/schema/ and /api/docs/.

The docs page is Redoc when its script loads, a server-rendered endpoint list when
not (drf-spectacular's sidecar is not installed and the CDN is unreachable offline).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.views import SpectacularAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from migrations_app.api.negotiation import JsonViewMixin

_METHODS = ("get", "post", "put", "patch", "delete")


def _operations(schema: dict[str, Any]) -> list[dict[str, str]]:
    ops = []
    for route, item in schema.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                op = item[method]
                ops.append(
                    {
                        "method": method.upper(),
                        "path": route,
                        "summary": op.get("summary", ""),
                        "tag": (op.get("tags") or [""])[0],
                    }
                )
    return ops


class SchemaView(JsonViewMixin, SpectacularAPIView):
    """The OpenAPI schema (YAML, or JSON with ``?format=json``); its errors are JSON.

    Left alone, an error (``?format=xml`` is a 406) would be rendered by the schema's
    own YAML renderer: still our shape, but not the JSON every other /api/ error is.
    """

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


def api_docs(request: HttpRequest) -> HttpResponse:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return render(
        request,
        "migrations_app/api_docs.html",
        {"operations": _operations(schema), "title": schema["info"]["title"]},
    )
