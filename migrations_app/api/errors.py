"""The one exception handler: every API error body is {"code", "message", "details"}."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import Resolver404, resolve
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from migrations_app.errors import (
    DESCRIPTIONS,
    HTTP_STATUS,
    INVALID_MESSAGE,
    ApplicationError,
    ErrorCode,
)

logger = logging.getLogger(__name__)

_DRF_CODES: list[tuple[type[exceptions.APIException], ErrorCode]] = [
    (exceptions.ValidationError, ErrorCode.VALIDATION_ERROR),
    (exceptions.ParseError, ErrorCode.PARSE_ERROR),
    (exceptions.NotAuthenticated, ErrorCode.NOT_AUTHENTICATED),
    (exceptions.AuthenticationFailed, ErrorCode.NOT_AUTHENTICATED),
    (exceptions.PermissionDenied, ErrorCode.PERMISSION_DENIED),
    (exceptions.NotFound, ErrorCode.NOT_FOUND),
    (exceptions.MethodNotAllowed, ErrorCode.METHOD_NOT_ALLOWED),
    (exceptions.NotAcceptable, ErrorCode.NOT_ACCEPTABLE),
    (exceptions.UnsupportedMediaType, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    (exceptions.Throttled, ErrorCode.THROTTLED),
]


def error_body(code: ErrorCode, message: str, details: dict[str, Any] | None = None) -> dict:
    return {"code": code.value, "message": message, "details": details or {}}


def error_json(
    code: ErrorCode, message: str = "", details: dict[str, Any] | None = None
) -> JsonResponse:
    """For plain Django views and middleware (outside DRF)."""
    err = ApplicationError(code, message, details)
    return JsonResponse(error_body(code, err.message, err.details), status=err.status)


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors → {"enginePayload.target.base_url": ["..."]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                path = prefix or "body"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            for p, msgs in flatten_errors(value, path).items():
                out.setdefault(p, []).extend(msgs)
    elif isinstance(detail, list | tuple):
        if all(not isinstance(v, dict | list | tuple) for v in detail):
            out.setdefault(prefix or "body", []).extend(str(v) for v in detail)
        else:
            for index, value in enumerate(detail):
                for p, msgs in flatten_errors(value, f"{prefix}.{index}").items():
                    out.setdefault(p, []).extend(msgs)
    else:
        out.setdefault(prefix or "body", []).append(str(detail))
    return out


def _message_of(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict) and "detail" in detail:  # simplejwt's InvalidToken
        return str(detail["detail"])
    if isinstance(detail, str):
        return str(detail)
    return ""


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    headers: dict[str, str] = {}
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail={"body": exc.messages})

    if isinstance(exc, ApplicationError):
        code, message, details = exc.code, exc.message, exc.details
    elif isinstance(exc, RequestDataTooBig):
        code, message, details = ErrorCode.PAYLOAD_TOO_LARGE, "", {}
    elif isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), ErrorCode.INTERNAL_ERROR)
        message = _message_of(exc)
        details = flatten_errors(exc.detail) if code == ErrorCode.VALIDATION_ERROR else {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = str(exc.auth_header)  # type: ignore[attr-defined]
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait:
            headers["Retry-After"] = str(int(wait))
            details = {"retryAfterSeconds": int(wait)}
        if code == ErrorCode.INTERNAL_ERROR:
            logger.error("unmapped API exception %r", exc)
    else:
        logger.exception("unhandled error in %s", context.get("view"), exc_info=exc)
        code, message, details = ErrorCode.INTERNAL_ERROR, "", {}

    if code == ErrorCode.VALIDATION_ERROR and not message:
        message = INVALID_MESSAGE
    err = ApplicationError(code, message, details)
    set_rollback()
    # NOT_AUTHENTICATED is always 401 (DRF would say 403 on views without an authenticator).
    return Response(
        error_body(code, err.message, err.details), status=HTTP_STATUS[code], headers=headers
    )


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def method_not_allowed(request: HttpRequest, allowed: list[str]) -> JsonResponse:
    response = error_json(ErrorCode.METHOD_NOT_ALLOWED, f'Method "{request.method}" not allowed.')
    response["Allow"] = ", ".join(allowed)
    return response


NOT_FOUND_URL_NAME = "api-not-found"


def _other_slash(path: str) -> str | None:
    """The same path with its trailing slash toggled, when that is an API endpoint."""
    other = path[:-1] if path.endswith("/") else path + "/"
    try:
        match = resolve(other)
    except Resolver404:
        return None
    return None if match.url_name == NOT_FOUND_URL_NAME else other


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """The catch-all for unknown /api/ URLs (every method: no 405 for a URL that is not one)."""
    message = f"No API endpoint at {request.path}."
    other = _other_slash(request.path)
    if other is not None:  # endpoints are spelled exactly; say which spelling exists
        message = f"No API endpoint at {request.path}; did you mean {other}?"
    return error_json(ErrorCode.NOT_FOUND, message)


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 400 (a disallowed Host, too many fields...) in the API's shape under /api/."""
    if not is_api_path(request.path):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return error_json(ErrorCode.PAYLOAD_TOO_LARGE)
    # The exception's text may name settings (ALLOWED_HOSTS): it stays in the log.
    return error_json(ErrorCode.BAD_REQUEST)


def handler403(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A PermissionDenied raised outside DRF's views, in the API's shape under /api/."""
    if not is_api_path(request.path):
        return defaults.permission_denied(request, exception)
    return error_json(ErrorCode.PERMISSION_DENIED)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 for pages; the API's shape under /api/."""
    if is_api_path(request.path):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    """Django's 500 for pages; the API's shape under /api/ (errors outside DRF views)."""
    if is_api_path(request.path):
        return error_json(ErrorCode.INTERNAL_ERROR)
    return defaults.server_error(request)


# The code of a non-JSON error answered under /api/ by something other than our views.
_CODE_BY_STATUS = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.NOT_AUTHENTICATED,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    406: ErrorCode.NOT_ACCEPTABLE,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    429: ErrorCode.THROTTLED,
}
_KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")


def is_json(response: HttpResponseBase) -> bool:
    media_type = response.get("Content-Type", "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def in_error_shape(response: HttpResponseBase) -> HttpResponseBase:
    """A non-JSON error response (Django's CSRF page, a debug page, a library's text)
    re-answered as ``{"code", "message", "details"}``, with its status and the headers
    a client acts on. JSON and non-error responses are returned unchanged."""
    if response.status_code < 400 or is_json(response):
        return response
    status = response.status_code
    code = _CODE_BY_STATUS.get(status) or (
        ErrorCode.INTERNAL_ERROR if status >= 500 else ErrorCode.BAD_REQUEST
    )
    shaped = JsonResponse(error_body(code, DESCRIPTIONS[code]), status=status)
    for header in _KEPT_HEADERS:
        if header in response:
            shaped[header] = response[header]
    return shaped
