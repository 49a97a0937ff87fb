"""The work-item comment routes (a preview API): paged with continuation tokens,
newest first by default, deleted comments only on request, and the comment shape."""

from __future__ import annotations

from typing import Any

from sandbox.ado_args import as_int, decode_token, encode_token, int_arg
from sandbox.ado_errors import AdoError, not_found_item
from sandbox.ado_site import AdoSite
from sandbox.dataset import CommentRecord, identity_ref
from sandbox.httpbase import Request, Response, json_response


class CommentRoutes:
    """``wit/workItems/{workItemId}/comments`` and ``.../comments/{commentId}``."""

    def __init__(self, site: AdoSite) -> None:
        self.site, self.store = site, site.store

    def list_comments(self, request: Request) -> Response:
        ident = as_int(request.params["workItemId"])
        if not self.store.exists(ident):
            raise not_found_item(ident)
        include_deleted = (request.arg("includeDeleted") or "").lower() == "true"
        all_comments = self.store.comments(ident, include_deleted)
        if request.arg("ids"):
            wanted = {as_int(x) for x in (request.arg("ids") or "").split(",")}
            chosen = [c for c in all_comments if c.id in wanted]
            return json_response(200, self._comment_page(request, chosen, len(chosen), None))
        if (request.arg("order") or "desc").lower() != "asc":
            all_comments.reverse()
        top = int_arg(request, "$top") or 200
        offset = decode_token(request.arg("continuationToken"))
        page = all_comments[offset : offset + top]
        token = encode_token(offset + top) if offset + top < len(all_comments) else None
        return json_response(200, self._comment_page(request, page, len(all_comments), token))

    def _comment_page(
        self, request: Request, page: list[CommentRecord], total: int, token: str | None
    ) -> dict[str, Any]:
        expand = (request.arg("$expand") or "none").lower()
        next_page = None
        if token:
            ident = request.params["workItemId"]
            next_page = (
                f"{self.site.project_url(request)}/wit/workItems/{ident}/comments?"
                f"continuationToken={token}&api-version={request.arg('api-version')}"
            )
        return {
            "totalCount": total,
            "count": len(page),
            "comments": [self._comment_json(request, c, expand) for c in page],
            "nextPage": next_page,
            "continuationToken": token,
        }

    def get_comment(self, request: Request) -> Response:
        ident, cid = as_int(request.params["workItemId"]), as_int(request.params["commentId"])
        if not self.store.exists(ident):
            raise not_found_item(ident)
        include_deleted = (request.arg("includeDeleted") or "").lower() == "true"
        for comment in self.store.comments(ident, include_deleted):
            if comment.id == cid:
                expand = (request.arg("$expand") or "none").lower()
                return json_response(200, self._comment_json(request, comment, expand))
        raise AdoError(
            404,
            f"VS402624: Comment {cid} of work item {ident} does not exist, or it has been deleted.",
            "WorkItemCommentNotFoundException",
        )

    def _comment_json(self, request: Request, c: CommentRecord, expand: str) -> dict[str, Any]:
        base, api = self.site.base(request), self.site.project_url(request)
        who = identity_ref(c.author, base, self.site.org)
        out: dict[str, Any] = {
            "workItemId": c.work_item_id,
            "id": c.id,
            "version": c.version,
            "text": c.text,
            "createdBy": who,
            "createdDate": c.created,
            "modifiedBy": who,
            "modifiedDate": c.modified,
            "isDeleted": c.is_deleted,
            "format": c.format,
            "mentions": [
                {
                    "artifactId": str(c.work_item_id),
                    "artifactType": "Person",
                    "commentId": c.id,
                    "targetId": p.ado_id,
                }
                for p in c.mentions
            ],
            "url": f"{api}/wit/workItems/{c.work_item_id}/comments/{c.id}",
        }
        if expand in ("renderedtext", "all", "renderedtextonly"):
            out["renderedText"] = c.text if c.format == "html" else f"<p>{c.text}</p>"
        return out
