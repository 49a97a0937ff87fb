"""Azure DevOps error answers: the exception a handler raises and the body shape it renders.

Every refusal of the simulated service goes through :class:`AdoError` or
:func:`error_response`, so all of them carry the service's own JSON shape
(``$id``, ``typeName``, ``typeKey``, ``errorCode``, ``eventId``).
"""

from __future__ import annotations

from sandbox.httpbase import Response, json_response

WIT = "Microsoft.TeamFoundation.WorkItemTracking.Server"
WEBAPI = "Microsoft.VisualStudio.Services.WebApi"
FRAMEWORK = "Microsoft.TeamFoundation.Framework.Server"
CORE = "Microsoft.TeamFoundation.Core.WebApi"


class AdoError(Exception):
    """An answer in the service's error shape, raised anywhere inside a handler."""

    def __init__(
        self,
        status: int,
        message: str,
        type_key: str,
        namespace: str = WIT,
        event_id: int = 3200,
        error_code: int = 0,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type_key = status, message, type_key
        self.namespace, self.event_id, self.error_code = namespace, event_id, error_code

    def response(self) -> Response:
        return error_response(
            self.status, self.message, self.type_key, self.namespace, self.event_id, self.error_code
        )


def error_response(
    status: int,
    message: str,
    type_key: str,
    namespace: str,
    event_id: int = 3000,
    error_code: int = 0,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {
        "$id": "1",
        "innerException": None,
        "message": message,
        "typeName": f"{namespace}.{type_key}, {namespace}",
        "typeKey": type_key,
        "errorCode": error_code,
        "eventId": event_id,
    }
    return json_response(status, body, headers)


def not_found_item(ident: int) -> AdoError:
    return AdoError(
        404,
        f"TF401232: Work item {ident} does not exist, or you do not have permissions to read it.",
        "WorkItemUnauthorizedAccessException",
        error_code=600171,
    )


def bad_request(
    message: str, type_key: str = "ArgumentException", namespace: str = "System"
) -> AdoError:
    return AdoError(400, message, type_key, namespace, event_id=0)


def project_not_found(project: str) -> AdoError:
    return AdoError(
        404,
        f"TF200016: The following project does not exist: {project}. Verify that "
        "the name of the project is correct and that the project exists on the "
        "specified Azure DevOps Server.",
        "ProjectDoesNotExistWithNameException",
        CORE,
        event_id=3000,
    )
