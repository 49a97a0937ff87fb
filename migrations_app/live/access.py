"""Who may open a run's stream: checked before any byte is streamed.

django-eventstream refuses a channel inside a 200 response; the view answers
401/403/404 in the API's error shape instead, from here.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from migrations_app import selectors
from migrations_app.errors import ApplicationError, ErrorCode
from migrations_app.live import tokens
from migrations_app.models import MigrationRun


def _raw_token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApplicationError(
                ErrorCode.NOT_AUTHENTICATED, "Use 'Authorization: Bearer <token>'."
            )
        return value.strip()
    token = request.GET.get("token", "").strip()
    if not token:
        raise ApplicationError(
            ErrorCode.NOT_AUTHENTICATED,
            "Authentication credentials were not provided "
            "(Authorization: Bearer <token>, or ?token=).",
        )
    return token


def _user_from_jwt(raw: str) -> Any:
    auth = JWTAuthentication()
    try:
        return auth.get_user(auth.get_validated_token(raw.encode()))
    except (InvalidToken, TokenError, AuthenticationFailed) as exc:
        raise ApplicationError(
            ErrorCode.NOT_AUTHENTICATED, "The token is invalid or expired."
        ) from exc


def _user_from_stream_token(raw: str, run_id: str) -> Any:
    try:
        grant = tokens.read(raw)
    except tokens.StreamTokenError as exc:
        raise ApplicationError(ErrorCode.NOT_AUTHENTICATED, str(exc)) from exc
    if grant.run_id != _normalised(run_id):
        raise ApplicationError(
            ErrorCode.NOT_AUTHENTICATED, "The stream token was issued for another run."
        )
    user = get_user_model().objects.filter(pk=grant.user_id, is_active=True).first()
    if user is None:
        raise ApplicationError(ErrorCode.NOT_AUTHENTICATED, "The token's user is inactive.")
    return user


def _normalised(run_id: str) -> str:
    try:
        return str(uuid.UUID(str(run_id)))
    except ValueError:
        return str(run_id)


def stream_user_and_run(request: HttpRequest, run_id: str) -> tuple[Any, MigrationRun]:
    """The authenticated tenant member and their run, or an ApplicationError (401/403/404)."""
    raw = _raw_token(request)
    if tokens.is_stream_token(raw):
        user = _user_from_stream_token(raw, run_id)
    else:
        user = _user_from_jwt(raw)
    return user, run_for(user, run_id)


def run_for(user: Any, run_id: str) -> MigrationRun:
    if getattr(user, "tenant", None) is None:
        raise ApplicationError(ErrorCode.PERMISSION_DENIED, "This user belongs to no tenant.")
    return selectors.run_get(tenant=user.tenant, run_id=run_id)
