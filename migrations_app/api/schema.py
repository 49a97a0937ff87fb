"""OpenAPI helpers: every documented error response uses the one error shape."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from migrations_app.api.serializers import ErrorOut
from migrations_app.errors import DESCRIPTIONS, HTTP_STATUS, ErrorCode

# Statuses every authenticated JSON operation can answer: no or a bad token, a
# user without tenant, an Accept (or ?format=) that JSON does not satisfy.
AUTHED = (401, 403, 406)
# Every POST, PUT, PATCH and DELETE body is size-checked before the view runs.
SIZED_BODY = (413,)
# Operations that parse a JSON body: invalid or malformed, too big, not JSON.
JSON_BODY = (400, 413, 415)

# Codes an endpoint may answer, beyond those specific to it.
_GENERIC = {
    400: [ErrorCode.VALIDATION_ERROR, ErrorCode.PARSE_ERROR],
    401: [ErrorCode.NOT_AUTHENTICATED],
    403: [ErrorCode.PERMISSION_DENIED],
    404: [ErrorCode.NOT_FOUND],
    406: [ErrorCode.NOT_ACCEPTABLE],
    413: [ErrorCode.PAYLOAD_TOO_LARGE],
    415: [ErrorCode.UNSUPPORTED_MEDIA_TYPE],
    429: [ErrorCode.THROTTLED],
    502: [ErrorCode.ENGINE_DISPATCH_FAILED],
}


def error_responses(*statuses: int, codes: tuple[ErrorCode, ...] = ()) -> dict:
    out = {}
    for status in sorted(set(statuses)):
        listed = [c for c in codes if HTTP_STATUS[c] == status] or _GENERIC.get(status, [])
        text = "; ".join(f"`{c.value}`: {DESCRIPTIONS[c]}" for c in listed)
        out[status] = OpenApiResponse(ErrorOut, description=text or "Error.")
    return out


def uuid_path(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        type=OpenApiTypes.UUID,
        location=OpenApiParameter.PATH,
        description=f"{what} id (UUID). A malformed or unknown id answers 404.",
    )
