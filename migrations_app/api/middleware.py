"""Request-body limits for /api/, answered in the API's error shape."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.http.request import UnreadablePostError

from migrations_app.api.errors import error_json
from migrations_app.errors import ErrorCode

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ApiBodyLimitMiddleware:
    """Reads /api/ request bodies up front so that an oversized one answers 413
    (DRF's parsers read the stream themselves and would not enforce the limit)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/") and request.method in _BODY_METHODS:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            try:
                body = request.body
            except RequestDataTooBig:
                return self._too_big(limit)
            except (ValueError, UnreadablePostError):
                return error_json(ErrorCode.PARSE_ERROR, "The request body could not be read.")
            if limit is not None and len(body) > limit:
                return self._too_big(limit)
        return self.get_response(request)

    @staticmethod
    def _too_big(limit: int | None) -> HttpResponse:
        return error_json(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The request body exceeds {limit} bytes.",
            {"maxBytes": limit},
        )
