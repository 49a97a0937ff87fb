"""The one application error type: a code, an HTTP status, a message and details.

Services raise it; the API's exception handler renders every error (ours, DRF's
and Django's) as ``{"code", "message", "details"}``.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorCode(str, Enum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    BAD_REQUEST = "BAD_REQUEST"
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_FOUND = "NOT_FOUND"
    PROJECT_NOT_FOUND = "PROJECT_NOT_FOUND"
    MIGRATION_NOT_FOUND = "MIGRATION_NOT_FOUND"
    WEBHOOK_NOT_FOUND = "WEBHOOK_NOT_FOUND"
    CONNECTION_NOT_FOUND = "CONNECTION_NOT_FOUND"
    SCHEDULE_NOT_FOUND = "SCHEDULE_NOT_FOUND"
    SCHEDULE_ENDED = "SCHEDULE_ENDED"
    MIGRATION_NOT_PAUSED = "MIGRATION_NOT_PAUSED"
    MIGRATION_NOT_RUNNING = "MIGRATION_NOT_RUNNING"
    MIGRATION_FINISHED = "MIGRATION_FINISHED"
    MIGRATION_ALREADY_RUNNING = "MIGRATION_ALREADY_RUNNING"
    ROLLBACK_NOT_ALLOWED = "ROLLBACK_NOT_ALLOWED"
    ENGINE_DISPATCH_FAILED = "ENGINE_DISPATCH_FAILED"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    PARSE_ERROR = "PARSE_ERROR"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    THROTTLED = "THROTTLED"
    INTERNAL_ERROR = "INTERNAL_ERROR"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.PROJECT_NOT_FOUND: 404,
    ErrorCode.MIGRATION_NOT_FOUND: 404,
    ErrorCode.WEBHOOK_NOT_FOUND: 404,
    ErrorCode.CONNECTION_NOT_FOUND: 404,
    ErrorCode.SCHEDULE_NOT_FOUND: 404,
    ErrorCode.SCHEDULE_ENDED: 409,
    ErrorCode.MIGRATION_NOT_PAUSED: 400,
    ErrorCode.MIGRATION_NOT_RUNNING: 400,
    ErrorCode.MIGRATION_FINISHED: 400,
    ErrorCode.MIGRATION_ALREADY_RUNNING: 409,
    ErrorCode.ROLLBACK_NOT_ALLOWED: 409,
    ErrorCode.ENGINE_DISPATCH_FAILED: 502,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.NOT_ACCEPTABLE: 406,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.PARSE_ERROR: 400,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.THROTTLED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
}

DESCRIPTIONS: dict[ErrorCode, str] = {
    ErrorCode.VALIDATION_ERROR: "The request is invalid; details maps each bad field "
    "(dotted path, e.g. enginePayload.target.base_url) to messages.",
    ErrorCode.BAD_REQUEST: "The request is malformed outside its body (for example, a Host "
    "header this server does not serve).",
    ErrorCode.NOT_AUTHENTICATED: "Missing, invalid or expired credentials.",
    ErrorCode.PERMISSION_DENIED: "The user belongs to no tenant, or the request was refused.",
    ErrorCode.NOT_FOUND: "No such URL or page.",
    ErrorCode.PROJECT_NOT_FOUND: "Project ID does not exist or belongs to another tenant.",
    ErrorCode.MIGRATION_NOT_FOUND: "Run ID does not exist or belongs to another tenant.",
    ErrorCode.WEBHOOK_NOT_FOUND: "Webhook ID does not exist in this project (or the project "
    "belongs to another tenant).",
    ErrorCode.CONNECTION_NOT_FOUND: "The project has no saved connection.",
    ErrorCode.SCHEDULE_NOT_FOUND: "The project has no schedule.",
    ErrorCode.SCHEDULE_ENDED: "The schedule's cut-over has passed; set a later cutoverAt to "
    "schedule runs again.",
    ErrorCode.MIGRATION_NOT_PAUSED: "Attempted to resume a non-paused run.",
    ErrorCode.MIGRATION_NOT_RUNNING: "Attempted to pause a run that is not RUNNING.",
    ErrorCode.MIGRATION_FINISHED: "Attempted to cancel a finished run.",
    ErrorCode.MIGRATION_ALREADY_RUNNING: "Attempted to start when a run is already active "
    "(PENDING, RUNNING or PAUSED), or to delete a project with an active run.",
    ErrorCode.ROLLBACK_NOT_ALLOWED: "The run cannot be rolled back: it is still active "
    "(PENDING, RUNNING or PAUSED), it is itself a rollback, or it is a dry run (which wrote "
    "nothing).",
    ErrorCode.ENGINE_DISPATCH_FAILED: "Could not start the migration worker (infrastructure "
    "issue); the run is left FAILED with the reason recorded.",
    ErrorCode.METHOD_NOT_ALLOWED: "The method is not allowed on this URL.",
    ErrorCode.NOT_ACCEPTABLE: "Only application/json responses are served.",
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: "Request bodies must be application/json.",
    ErrorCode.PARSE_ERROR: "The request body is not valid JSON.",
    ErrorCode.PAYLOAD_TOO_LARGE: "The request body exceeds the size limit.",
    ErrorCode.THROTTLED: "Too many requests; retry later.",
    ErrorCode.INTERNAL_ERROR: "Unexpected server error.",
}


# The message of every VALIDATION_ERROR whose details name the fields.
INVALID_MESSAGE = "The request is invalid; see details."


class ApplicationError(Exception):
    def __init__(
        self, code: ErrorCode, message: str = "", details: dict[str, Any] | None = None
    ) -> None:
        self.code = code
        self.message = message or DESCRIPTIONS[code]
        self.details = details or {}
        super().__init__(self.message)

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]


def invalid(details: dict[str, Any]) -> ApplicationError:
    """A VALIDATION_ERROR naming each bad field (dotted path → messages)."""
    return ApplicationError(ErrorCode.VALIDATION_ERROR, INVALID_MESSAGE, details)
