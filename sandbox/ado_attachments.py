"""The attachment download route: streamed bytes, ``fileName`` and ``download`` honoured."""

from __future__ import annotations

from urllib.parse import quote

from sandbox.ado_errors import AdoError
from sandbox.ado_site import AdoSite
from sandbox.httpbase import Request, Response


class AttachmentRoute:
    """``GET .../wit/attachments/{id}``."""

    def __init__(self, site: AdoSite) -> None:
        self.store = site.store

    def download(self, request: Request) -> Response:
        found = self.store.attachment(request.params["id"])
        if found is None:
            raise AdoError(
                404,
                f"VS402175: The attachment {request.params['id']} was not found.",
                "AttachmentNotFoundException",
            )
        info, chunks = found
        name = request.arg("fileName") or info.name
        disposition = (
            "attachment" if (request.arg("download") or "").lower() == "true" else "inline"
        )
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'{disposition}; filename="{_ascii(name)}"; '
            f"filename*=utf-8''{quote(name)}",
        }
        return Response(200, chunks, headers, content_length=info.size)


def _ascii(name: str) -> str:
    return name.encode("ascii", "replace").decode().replace('"', "'")
