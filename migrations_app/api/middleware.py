"""The /api/ guard around every other middleware and view (settings: first after
SecurityMiddleware): request-body limits, and the error shape of every answer.

- Bodies are read up front so that an oversized one answers 413 (DRF's parsers
  read the stream themselves and would not enforce the limit).
- An error answered under /api/ by something that knows nothing of the API
  (the CSRF middleware's HTML 403, a debug page, a library's plain text) is
  re-answered as ``{"code", "message", "details"}`` with the same status; Django's
  handlers and our views already answer in that shape and pass unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.http.request import UnreadablePostError
from django.http.response import HttpResponseBase

from migrations_app.api.errors import error_json, in_error_shape, is_api_path
from migrations_app.errors import ErrorCode

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ApiGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not is_api_path(request.path):
            return self.get_response(request)
        if request.method in _BODY_METHODS:
            refusal = self._check_body(request)
            if refusal is not None:
                return refusal
        return in_error_shape(self.get_response(request))

    def _check_body(self, request: HttpRequest) -> HttpResponseBase | None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            body = request.body
        except RequestDataTooBig:
            return self._too_big(limit)
        except (ValueError, UnreadablePostError):
            return error_json(ErrorCode.PARSE_ERROR, "The request body could not be read.")
        if limit is not None and len(body) > limit:
            return self._too_big(limit)
        return None

    @staticmethod
    def _too_big(limit: int | None) -> HttpResponseBase:
        return error_json(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The request body exceeds {limit} bytes.",
            {"maxBytes": limit},
        )
