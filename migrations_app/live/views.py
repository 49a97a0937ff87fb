"""GET /api/migrations/{runId}/stream and POST /api/migrations/{runId}/stream-token.

The stream answers 401/403/404 (and 400 for a malformed last event id) in the
API's error shape before streaming; then it serves the run's channel as
Server-Sent Events: only ``progress``, ``log``, ``status`` and ``done`` named
events, plus comment lines (the opening padding, keep-alives). Each event's id is
``run-{uuid}:{n}``; a client that reconnects with ``Last-Event-ID`` (or
``?lastEventId=``) gets every event numbered above ``n`` once, and none at or
below it. It streams only under ASGI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any
from urllib.parse import unquote

from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django_eventstream.utils import add_default_headers, get_storage
from django_eventstream.views import Listener
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from migrations_app import selectors
from migrations_app.api.errors import error_json
from migrations_app.api.negotiation import JsonViewMixin
from migrations_app.api.schema import AUTHED, SIZED_BODY, error_responses, uuid_path
from migrations_app.errors import ApplicationError, ErrorCode
from migrations_app.events import channel_for
from migrations_app.live import access, fanin, tokens
from migrations_app.live.stream import run_stream

_MAX_DIGITS = 19  # event numbers are 64-bit


def _client_position(request: HttpRequest, channel: str) -> int | None:
    """The number of the last event the client has on ``channel``, if it says.

    The header wins over the query: EventSource reconnects to the same URL (with
    the query of its first connection) and sends the newest id in the header.
    Ids of other channels are ignored; numbers compare as numbers ("007" is 7).
    """
    raw = request.headers.get("Last-Event-ID", "").strip()
    if not raw:
        raw = next((v for v in reversed(request.GET.getlist("lastEventId")) if v.strip()), "")
    if not raw:
        return None
    found = None
    for part in raw.split(","):
        name, sep, number = part.strip().rpartition(":")
        if not (sep and number.isascii() and number.isdigit() and len(number) <= _MAX_DIGITS):
            raise ApplicationError(
                ErrorCode.VALIDATION_ERROR,
                details={"lastEventId": [f"Expected '{channel}:<n>', the id of a received event."]},
            )
        if unquote(name) == channel:
            found = int(number)
    return found


async def _events(channel: str, user: Any, after: int, listener: Listener) -> AsyncIterator[str]:
    await fanin.prepare(channel, after)
    async with aclosing(
        run_stream(channel=channel, user=user, after=after, listener=listener)
    ) as chunks:
        async for chunk in chunks:
            yield chunk


def stream(request: HttpRequest, run_id: str) -> HttpResponseBase:
    """GET only (the URL conf answers 405 to other methods)."""
    try:
        user, run = access.stream_user_and_run(request, run_id)
        channel = channel_for(run.pk)
        claimed = _client_position(request, channel)
    except ApplicationError as exc:
        response = error_json(exc.code, exc.message, exc.details)
        if exc.code == ErrorCode.NOT_AUTHENTICATED:
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response

    # The newest number now, at the request (not when the stream first reads,
    # later): a client without a last id misses nothing published in between.
    head = int(get_storage().get_current_id(channel))
    # A number above the newest was never issued by this database (it was reset):
    # what comes next is new to the client.
    after = head if claimed is None else min(claimed, head)
    listener = Listener()
    listener.user_id = user.pk
    listener.channels = {channel}
    streaming = StreamingHttpResponse(
        _events(channel, user, after, listener), content_type="text/event-stream"
    )
    add_default_headers(streaming, request=request)
    return streaming


class StreamTokenView(JsonViewMixin, APIView):
    @extend_schema(
        tags=["migrations"],
        summary="Mint a short-lived token for the run's live stream",
        description=(
            "For `EventSource`, which cannot send headers: open "
            "`GET /api/migrations/{runId}/stream?token={token}`. The token is bound to "
            "this user and this run and is accepted for `expiresIn` seconds (checked "
            "when the stream connects). The stream also accepts the access JWT as "
            "`?token=` or `Authorization: Bearer`. Events: `progress` "
            '`{"type","current","total","percent","speed"}`, `log` `{"type","message"}`, '
            '`status` `{"type","status"}` (lowercase), `done` `{"type","stats"}`, and '
            "nothing else but SSE comment lines (the opening padding, keep-alives every "
            "15 s). Ids are `run-{runId}:{n}`; a reconnect with `Last-Event-ID` (or "
            "`?lastEventId=`; the header wins) gets every event numbered above `n` once "
            "and none at or below it. A user who loses access sees the stream end."
        ),
        parameters=[uuid_path("run_id", "Run")],
        request=None,
        responses={
            200: inline_serializer(
                "StreamTokenOut",
                {"token": serializers.CharField(), "expiresIn": serializers.IntegerField()},
            ),
            **error_responses(*AUTHED, *SIZED_BODY, 404, codes=(ErrorCode.MIGRATION_NOT_FOUND,)),
        },
    )
    def post(self, request: Request, run_id: str) -> Response:
        user: Any = request.user
        run = selectors.run_get(tenant=user.tenant, run_id=run_id)
        return Response(stream_token_body(user.pk, run.pk))


def stream_token_body(user_id: int, run_id: Any) -> dict[str, Any]:
    token = tokens.mint(user_id=user_id, run_id=run_id)
    return {"token": token, "expiresIn": tokens.lifetime_seconds()}
