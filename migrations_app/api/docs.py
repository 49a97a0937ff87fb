"""/api/docs/: Redoc when its script loads, a server-rendered endpoint list when not
(drf-spectacular's sidecar is not installed and the CDN is unreachable offline)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.generators import SchemaGenerator

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


def api_docs(request: HttpRequest) -> HttpResponse:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return render(
        request,
        "migrations_app/api_docs.html",
        {"operations": _operations(schema), "title": schema["info"]["title"]},
    )
