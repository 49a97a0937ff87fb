"""JWT login (simplejwt): token and refresh views, throttled, in the API's error shape."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from migrations_app.api import serializers as s
from migrations_app.api.negotiation import JsonViewMixin
from migrations_app.api.schema import JSON_BODY, error_responses

# No 403 (anyone may log in) but throttled: 429 with Retry-After.
_AUTH_ERRORS = error_responses(*JSON_BODY, 401, 406, 429)


class TokenObtainView(JsonViewMixin, TokenObtainPairView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(
        tags=["auth"],
        summary="Log in: username and password → access and refresh JWTs",
        request=s.TokenObtainIn,
        responses={200: s.TokenPairOut, **_AUTH_ERRORS},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().post(request, *args, **kwargs)


class TokenRefreshView_(JsonViewMixin, TokenRefreshView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(
        tags=["auth"],
        summary="Exchange a refresh JWT for a new access JWT",
        request=s.TokenRefreshIn,
        responses={200: s.TokenAccessOut, **_AUTH_ERRORS},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().post(request, *args, **kwargs)
