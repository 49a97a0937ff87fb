"""The ADO sandbox's answers to injected faults and unmatched requests, in the
service's own shapes: TF400733 throttling with its rate-limit headers, TF400898
server errors, and the ASP.NET 404/405 bodies. The fault knobs themselves live
in :class:`sandbox.httpbase.Knobs`; this is only what a refusal looks like.
"""

from __future__ import annotations

import math
import time
import uuid

from sandbox.ado_errors import FRAMEWORK, WEBAPI, error_response
from sandbox.httpbase import Request, Response, SandboxApp

PROCESS_ID = "d6d0d8f6-0d0c-4d44-9f06-7e4b3f3a2a10"


class AdoFaultAnswers(SandboxApp):
    """The framework's refusal hooks, answered as Azure DevOps answers them."""

    def throttled(self, request: Request, reason: str) -> Response:
        retry = max(1, math.ceil(self.knobs.retry_after_sec))
        message = (
            "TF400733: The request has been canceled: Request was blocked due to "
            "exceeding usage of resource 'ATCPU' in namespace 'User'."
        )
        return error_response(
            429,
            message,
            "RequestBlockedException",
            FRAMEWORK,
            headers={
                "Retry-After": str(retry),
                "X-RateLimit-Resource": "ATCPU",
                "X-RateLimit-Delay": f"{float(retry):.3f}",
                "X-RateLimit-Limit": "200",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(time.time()) + retry),
            },
        )

    def server_error(self, request: Request, status: int) -> Response:
        activity = uuid.uuid4()
        if status == 503:
            return error_response(
                503,
                f"TF400898: The service is temporarily unavailable. ActivityId: {activity}.",
                "ServiceUnavailableException",
                FRAMEWORK,
                headers={"Retry-After": "1"},
            )
        return error_response(
            500,
            f"TF400898: An Internal Error Occurred. Activity Id: {activity}.",
            "InternalServerErrorException",
            FRAMEWORK,
        )

    def not_found(self, request: Request) -> Response:
        return error_response(
            404,
            f"The controller for path '{request.path}' was not found or "
            "does not implement IController.",
            "HttpException",
            "System.Web",
        )

    def method_not_allowed(self, request: Request) -> Response:
        return error_response(
            405,
            f"The requested resource does not support http method '{request.method}'.",
            "HttpException",
            "System.Web",
        )

    def bad_body(self, request: Request, exc: Exception) -> Response:
        return error_response(
            400,
            "VS402366: The request body is missing or not valid JSON.",
            "VssPropertyValidationException",
            WEBAPI,
        )

    def decorate(self, request: Request, response: Response) -> Response:
        response.headers.setdefault("ActivityId", str(uuid.uuid4()))
        response.headers.setdefault("X-TFS-ProcessId", PROCESS_ID)
        return response
