"""The Jira attachment routes: multipart upload (with the XSRF header Jira
requires), metadata, content and delete."""

from __future__ import annotations

from sandbox import jira_multipart
from sandbox.httpbase import Request, Response, empty_response
from sandbox.jira_routes import JiraRoutes, ok
from sandbox.jira_state import JiraError


class AttachmentRoutes(JiraRoutes):
    """Attachments."""

    def add_attachments(self, request: Request) -> Response:
        token = (request.headers.get("X-Atlassian-Token") or "").lower()
        if token not in ("no-check", "nocheck"):
            return Response(403, b"XSRF check failed", {"Content-Type": "text/plain"})
        if not self.settings.attachments_enabled:
            raise JiraError(403, ["Attachments are disabled."])
        try:
            parts = jira_multipart.parse(request.body, request.headers)
        except jira_multipart.MultipartError as exc:
            raise JiraError(400, [f"Invalid multipart request: {exc}"]) from exc
        files = [
            (p.filename or "attachment", p.content_type, p.data) for p in parts if p.name == "file"
        ]
        if not files:
            raise JiraError(400, ["No file was attached: send multipart parts named 'file'."])
        created = self.state.add_attachments(request.params["issueIdOrKey"], files)
        r = self.render(request)
        with self.state.lock:
            return ok([r.attachment(a) for a in created])

    def get_attachment(self, request: Request) -> Response:
        att = self.state.attachment(request.params["id"])
        with self.state.lock:
            # AttachmentMetadata carries the id as a number (Attachment as a string).
            return ok({**self.render(request).attachment(att), "id": att.id, "properties": {}})

    def delete_attachment(self, request: Request) -> Response:
        self.state.delete_attachment(request.params["id"])
        return empty_response(204)

    def get_attachment_content(self, request: Request) -> Response:
        att = self.state.attachment(request.params["id"])
        disposition = f'attachment; filename="{att.filename}"'
        return Response(
            200, att.data, {"Content-Type": att.mime_type, "Content-Disposition": disposition}
        )
