"""Who may call the ADO sandbox: a PAT over Basic auth, or a bearer token.

Missing credentials get the service's browser answer (203 and a sign-in page)
unless the caller sends ``X-TFS-FedAuthRedirect: Suppress``; wrong ones get 401
with a TF400813 body.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import quote

from sandbox.ado_errors import FRAMEWORK, error_response
from sandbox.httpbase import Request, Response

SIGN_IN_PAGE = """<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head>
<body><p>Sign in to continue to Azure DevOps.</p></body></html>"""


@dataclass(frozen=True)
class Credentials:
    pat: str
    bearer_token: str

    def refusal(self, request: Request) -> Response | None:
        """The answer to a caller without valid credentials, or None to let it through."""
        header = request.headers.get("Authorization") or ""
        if not header:
            if (request.headers.get("X-TFS-FedAuthRedirect") or "").lower() == "suppress":
                return unauthorized()
            return Response(
                203,
                SIGN_IN_PAGE.encode(),
                {"Content-Type": "text/html; charset=utf-8", "X-TFS-FedAuthRedirect": "/_signin"},
            )
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic" and self._basic_ok(value.strip()):
            return None
        if scheme.lower() == "bearer" and value.strip() == self.bearer_token:
            return None
        return unauthorized()

    def _basic_ok(self, value: str) -> bool:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        _, sep, secret = decoded.partition(":")
        return bool(sep) and secret == self.pat


def unauthorized() -> Response:
    message = "TF400813: The user '' is not authorized to access this resource."
    return error_response(
        401,
        message,
        "UnauthorizedRequestException",
        FRAMEWORK,
        headers={
            "WWW-Authenticate": "Bearer authorization_uri=https://login.microsoftonline.com/"
            'common, Basic realm="https://dev.azure.com/", TFS-Federated',
            "X-TFS-ServiceError": quote(message),
        },
    )
