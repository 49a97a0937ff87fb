"""The one exception handler: every API error body is {"code", "message", "details"}."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from migrations_app.errors import HTTP_STATUS, ApplicationError, ErrorCode

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
        message = "The request is invalid; see details."
    err = ApplicationError(code, message, details)
    set_rollback()
    # NOT_AUTHENTICATED is always 401 (DRF would say 403 on views without an authenticator).
    return Response(
        error_body(code, err.message, err.details), status=HTTP_STATUS[code], headers=headers
    )


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """The catch-all for unknown /api/ URLs."""
    return error_json(ErrorCode.NOT_FOUND, f"No API endpoint at {request.path}.")


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 for pages; the API's shape under /api/."""
    if request.path.startswith("/api/"):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    """Django's 500 for pages; the API's shape under /api/ (errors outside DRF views)."""
    if request.path.startswith("/api/"):
        return error_json(ErrorCode.INTERNAL_ERROR)
    return defaults.server_error(request)
