"""GET /api/migrations/{runId}/stream and POST /api/migrations/{runId}/stream-token.

The stream answers 401/403/404 in the API's error shape before streaming; then
it serves the run's channel as Server-Sent Events (``progress``, ``log``,
``status``, ``done``; plus django-eventstream's ``stream-open``, ``keep-alive``
and ``stream-reset``). Each event's id is ``run-{uuid}:{n}``; a client that
reconnects with ``Last-Event-ID`` (or ``?lastEventId=``) gets what it missed.
It streams only under ASGI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django_eventstream.eventrequest import EventRequest
from django_eventstream.utils import add_default_headers, get_storage, parse_last_event_id
from django_eventstream.views import Listener
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from migrations_app import selectors
from migrations_app.api.errors import error_json
from migrations_app.api.schema import error_responses, uuid_path
from migrations_app.errors import ApplicationError, ErrorCode
from migrations_app.events import channel_for
from migrations_app.live import access, fanin, tokens
from migrations_app.live.stream import run_stream


def _last_event_ids(request: HttpRequest, channel: str) -> dict[str, str]:
    raw = request.headers.get("Last-Event-ID", "")
    if not raw:
        raw = next((v for v in reversed(request.GET.getlist("lastEventId")) if v), "")
    if not raw:
        return {}
    try:
        parsed = parse_last_event_id(raw)
        ids = {ch: str(int(v)) for ch, v in parsed.items() if ch == channel}
    except ValueError as exc:
        raise ApplicationError(
            ErrorCode.VALIDATION_ERROR,
            details={"lastEventId": [f"Expected '{channel}:<n>', the id of a received event."]},
        ) from exc
    return ids


async def _events(channel: str, since: int, event_request: EventRequest, listener: Listener
                  ) -> AsyncIterator[str]:  # fmt: skip
    await fanin.prepare(channel, since)
    async with aclosing(run_stream(event_request, listener)) as chunks:
        async for chunk in chunks:
            yield chunk


def stream(request: HttpRequest, run_id: str) -> HttpResponseBase:
    if request.method != "GET":
        response = error_json(ErrorCode.METHOD_NOT_ALLOWED, "Use GET for the stream.")
        response["Allow"] = "GET"
        return response
    try:
        user, run = access.stream_user_and_run(request, run_id)
        channel = channel_for(run.pk)
        last_ids = _last_event_ids(request, channel)
    except ApplicationError as exc:
        response = error_json(exc.code, exc.message, exc.details)
        if exc.code == ErrorCode.NOT_AUTHENTICATED:
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response

    storage = get_storage()
    # A client without a last id starts at the id current now, at the request, not
    # when the stream first reads (later): nothing published in between is lost.
    # The fan-in delivers from there on; the stream's storage read covers the rest.
    since = int(storage.get_current_id(channel))
    if channel in last_ids:
        since = min(since, int(last_ids[channel]))
    else:
        last_ids = {channel: str(since)}
    event_request = EventRequest()
    event_request.channels = {channel}
    event_request.channel_last_ids = last_ids
    event_request.is_next = False
    event_request.user = user
    listener = Listener()
    listener.user_id = user.pk
    listener.channels = {channel}
    streaming = StreamingHttpResponse(
        _events(channel, since, event_request, listener), content_type="text/event-stream"
    )
    add_default_headers(streaming, request=request)
    return streaming


class StreamTokenView(APIView):
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
            '`status` `{"type","status"}` (lowercase), `done` `{"type","stats"}`; ids are '
            "`run-{runId}:{n}` and `Last-Event-ID` (or `?lastEventId=`) replays."
        ),
        parameters=[uuid_path("run_id", "Run")],
        request=None,
        responses={
            200: inline_serializer(
                "StreamTokenOut",
                {"token": serializers.CharField(), "expiresIn": serializers.IntegerField()},
            ),
            **error_responses(401, 403, 404, codes=(ErrorCode.MIGRATION_NOT_FOUND,)),
        },
    )
    def post(self, request: Request, run_id: str) -> Response:
        user: Any = request.user
        run = selectors.run_get(tenant=user.tenant, run_id=run_id)
        return Response(stream_token_body(user.pk, run.pk))


def stream_token_body(user_id: int, run_id: Any) -> dict[str, Any]:
    token = tokens.mint(user_id=user_id, run_id=run_id)
    return {"token": token, "expiresIn": tokens.lifetime_seconds()}
