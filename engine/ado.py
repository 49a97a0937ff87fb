"""Azure DevOps (Services or Server) read client, REST 7.1: implements ``AdoSource``.

The PAT goes only to the origin of ``base_url`` (see :mod:`engine.netpolicy`):
an attachment URL found in content that points at another host is refused with
:class:`~engine.errors.ForeignOrigin` before anything is sent.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, Literal
from urllib.parse import quote

import requests

from engine.errors import AuthError, ForeignOrigin, PermanentError
from engine.fieldtypes import AdoField, ado_fields
from engine.history import UPDATES_PAGE, next_page
from engine.http import RetryPolicy, Transport, make_session
from engine.model import (
    ClassificationNode,
    Comment,
    Identity,
    Relation,
    StateInfo,
    WorkItem,
    WorkItemType,
)
from engine.netpolicy import AddressPolicy, Origin, OriginCredential, guard_session

API = "7.1"
COMMENTS_API = "7.1-preview.4"
WIQL_CAP = 20_000
DEFAULT_PAGE = 19_999
BATCH = 200
COMMENTS_PAGE = 200
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


def auth_header(pat: str) -> str:
    """Basic ``:pat`` for a PAT; Bearer for an Entra access token (a JWT)."""
    if _JWT.match(pat) and pat.startswith("eyJ"):
        return f"Bearer {pat}"
    return "Basic " + base64.b64encode(f":{pat}".encode()).decode()


def wiql_literal(value: str) -> str:
    """A WIQL string literal: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def build_wiql(
    *,
    area_path: str | None = None,
    types: Sequence[str] | None = None,
    changed_since: str | None = None,
    after_id: int = 0,
) -> str:
    clauses = ["[System.TeamProject] = @project"]
    if types:
        clauses.append(
            "[System.WorkItemType] IN (" + ", ".join(wiql_literal(t) for t in types) + ")"
        )
    if area_path:
        clauses.append(f"[System.AreaPath] UNDER {wiql_literal(area_path)}")
    if changed_since:
        clauses.append(f"[System.ChangedDate] >= {wiql_literal(changed_since)}")
    if after_id:
        clauses.append(f"[System.Id] > {int(after_id)}")
    return (
        "SELECT [System.Id] FROM WorkItems WHERE "
        + " AND ".join(clauses)
        + " ORDER BY [System.Id] ASC"
    )


def _identity(raw: Any) -> Identity:
    if isinstance(raw, dict):
        return Identity(
            display_name=str(raw.get("displayName") or raw.get("uniqueName") or ""),
            unique_name=raw.get("uniqueName"),
            id=raw.get("id"),
        )
    return Identity(display_name=str(raw or ""))


def work_item_from_json(raw: dict[str, Any]) -> WorkItem:
    fields = raw.get("fields") or {}
    return WorkItem(
        id=int(raw["id"]),
        rev=int(raw.get("rev") or 0),
        type=str(fields.get("System.WorkItemType", "")),
        title=str(fields.get("System.Title", "")),
        state=str(fields.get("System.State", "")),
        url=str(raw.get("url", "")),
        fields=dict(fields),
        relations=[
            Relation(
                rel=str(r.get("rel", "")),
                url=str(r.get("url", "")),
                attributes=dict(r.get("attributes") or {}),
            )
            for r in raw.get("relations") or []
        ],
    )


def comment_from_json(raw: dict[str, Any], work_item_id: int) -> Comment:
    cid = raw.get("id", raw.get("commentId"))
    return Comment(
        id=int(cid) if cid is not None else 0,
        work_item_id=int(raw.get("workItemId") or work_item_id),
        text=str(raw.get("text") or ""),
        created_by=_identity(raw.get("createdBy")),
        created_date=str(raw.get("createdDate") or ""),
        modified_date=raw.get("modifiedDate"),
        is_deleted=bool(raw.get("isDeleted", False)),
        version=int(raw.get("version") or 1),
        format=str(raw.get("format") or "html").lower(),
    )


def node_from_json(raw: dict[str, Any]) -> ClassificationNode:
    attrs = raw.get("attributes") or {}
    return ClassificationNode(
        id=int(raw.get("id") or 0),
        name=str(raw.get("name", "")),
        path=str(raw.get("path", "")),
        structure_type=str(raw.get("structureType", "")),
        start_date=attrs.get("startDate"),
        finish_date=attrs.get("finishDate"),
        children=[node_from_json(c) for c in raw.get("children") or []],
    )


def _is_size_limit(exc: PermanentError) -> bool:
    text = f"{exc} {exc.body}"
    return "VS402337" in text or "QueryResultSizeLimitExceeded" in text


class _Download(io.RawIOBase):
    """A streamed attachment body, content-encoding decoded; closing frees the connection."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__()
        self._response = response
        self._raw = response.raw
        encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
        length = response.headers.get("Content-Length")
        self.content_length: int | None = (
            int(length) if length and length.isdigit() and not encoded else None
        )

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._raw.read(len(view), decode_content=True)
        n = len(data)
        view[:n] = data
        return n

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        return bytes(self._raw.read(size, decode_content=True))

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()


class AttachmentStream(io.BufferedReader):
    """What ``open_attachment`` returns: buffered, with ``content_length`` when known."""

    @property
    def content_length(self) -> int | None:
        raw = self.raw
        return raw.content_length if isinstance(raw, _Download) else None


class AdoClient:
    """``AdoSource`` over HTTP. One session, pooled, shared by the caller's threads."""

    def __init__(
        self,
        base_url: str,
        org: str,
        project: str,
        pat: str,
        *,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        page_size: int = DEFAULT_PAGE,
        pool_size: int = 32,
        policy: AddressPolicy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.org = org
        self.project = project
        self.page_size = max(1, min(page_size, WIQL_CAP))
        self.credential = OriginCredential(Origin.of(self.base_url), auth_header(pat))
        if session is None:
            self.session = make_session(pool_size, policy=policy)
        else:
            self.session = session
            if policy is not None:
                guard_session(session, policy, pool_size)
        # The PAT is never a session default: the transport adds it per request,
        # and only on the ADO origin.
        self.session.headers.pop("Authorization", None)
        # Ask for a 401 instead of the 203/302 sign-in page on a bad token.
        self.session.headers["X-TFS-FedAuthRedirect"] = "Suppress"
        self.session.headers.setdefault("Accept", "application/json")
        self.http = Transport(
            self.session, timeout=timeout, retry=retry, name="ado", credential=self.credential
        )

    # ------------------------------------------------------------------ guards
    def is_own_origin(self, url: str) -> bool:
        """True when ``url`` is on the ADO origin, i.e. the PAT would be sent with it."""
        return self.credential.matches(url)

    def set_stop_check(self, check: Callable[[], bool] | None) -> None:
        """Make waits and unsent attempts raise StopRequested once ``check()`` is true."""
        self.http.stop_check = check

    # ------------------------------------------------------------------ urls
    @property
    def org_url(self) -> str:
        return f"{self.base_url}/{quote(self.org, safe='')}"

    @property
    def project_url(self) -> str:
        return f"{self.org_url}/{quote(self.project, safe='')}"

    def _wit(self, path: str) -> str:
        return f"{self.project_url}/_apis/wit/{path}"

    def _get(self, url: str, params: dict[str, Any] | None = None, *, what: str) -> Any:
        query = {"api-version": API}
        query.update(params or {})
        return self._checked_json("GET", url, params=query, what=what)

    def _checked_json(self, method: str, url: str, *, what: str, **kwargs: Any) -> Any:
        response = self.http.request(method, url, what=what, **kwargs)
        with response:
            if response.status_code == 203 or "text/html" in response.headers.get(
                "Content-Type", ""
            ):
                raise AuthError(
                    f"{what}: Azure DevOps answered with a sign-in page "
                    "(the personal access token is invalid or expired)",
                    status=response.status_code,
                )
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError as exc:
                raise PermanentError(
                    f"{what}: expected JSON, got {response.text[:200]!r}",
                    status=response.status_code,
                ) from exc

    # ------------------------------------------------------------------ AdoSource
    def check_access(self) -> None:
        url = f"{self.org_url}/_apis/projects/{quote(self.project, safe='')}"
        try:
            self._get(url, what="check access")
        except AuthError as exc:
            raise AuthError(
                f"Azure DevOps refused the credentials for {self.org_url}: {exc}",
                status=exc.status,
                body=exc.body,
            ) from exc
        except PermanentError as exc:
            if exc.status == 404:
                raise PermanentError(
                    f"project not found: {self.project!r} in {self.org_url}",
                    status=404,
                    body=exc.body,
                ) from exc
            raise

    def query_ids(
        self,
        *,
        area_path: str | None = None,
        types: Sequence[str] | None = None,
        changed_since: str | None = None,
    ) -> list[int]:
        """All matching ids, ascending; pages by id so no query returns more than the cap."""
        ids: list[int] = []
        last = 0
        page = self.page_size
        while True:
            query = build_wiql(
                area_path=area_path, types=types, changed_since=changed_since, after_id=last
            )
            try:
                body = self._checked_json(
                    "POST",
                    self._wit("wiql"),
                    # Without timePrecision, ADO compares dates by day: an INCREMENTAL
                    # would take every item changed earlier that day.
                    params={
                        "api-version": API,
                        "$top": page,
                        **({"timePrecision": "true"} if changed_since else {}),
                    },
                    json_body={"query": query},
                    idempotent=True,
                    what="WIQL query",
                )
            except PermanentError as exc:
                if _is_size_limit(exc) and page > 1:
                    page = max(1, page // 2)
                    continue
                raise
            got = [int(w["id"]) for w in (body or {}).get("workItems") or []]
            got = [i for i in got if i > last]
            ids.extend(got)
            if len(got) < page or not got:
                return ids
            last = max(got)

    def get_work_items(self, ids: Sequence[int]) -> list[WorkItem]:
        out: list[WorkItem] = []
        for start in range(0, len(ids), BATCH):
            chunk = [int(i) for i in ids[start : start + BATCH]]
            body = self._checked_json(
                "POST",
                self._wit("workitemsbatch"),
                params={"api-version": API},
                json_body={"ids": chunk, "$expand": "relations", "errorPolicy": "omit"},
                idempotent=True,
                what=f"get work items {chunk[0]}..{chunk[-1]}",
            )
            values = body.get("value", []) if isinstance(body, dict) else body or []
            # errorPolicy=omit returns null in place of a missing item.
            out.extend(work_item_from_json(v) for v in values if v)
        return out

    def iter_comments(self, work_item_id: int) -> Iterator[Comment]:
        url = self._wit(f"workItems/{int(work_item_id)}/comments")
        token: str | None = None
        while True:
            # Oldest first (the service's default is newest first), and the deleted ones
            # too, so that the run can report what it leaves out.
            params: dict[str, Any] = {
                "api-version": COMMENTS_API,
                "$top": COMMENTS_PAGE,
                "order": "asc",
                "includeDeleted": "true",
            }
            if token:
                params["continuationToken"] = token
            body = (
                self._checked_json("GET", url, params=params, what=f"comments of {work_item_id}")
                or {}
            )
            for raw in body.get("comments") or []:
                yield comment_from_json(raw, work_item_id)
            next_token = body.get("continuationToken")
            if not next_token or next_token == token:
                return
            token = next_token

    def open_attachment(self, url: str) -> IO[bytes]:
        """Stream one attachment (``AttachedFile`` relation url). The caller closes it.

        ForeignOrigin, with nothing sent, when ``url`` is not on the ADO origin
        (an ``<img src>`` on another host that merely looks like an ADO attachment).
        """
        if not self.is_own_origin(url):
            raise ForeignOrigin(
                url,
                f"download attachment: not fetched, the URL is outside the Azure DevOps "
                f"origin {self.credential.origin}",
            )
        params = {} if "api-version=" in url else {"api-version": API}
        response = self.http.request(
            "GET",
            url,
            params=params,
            headers={"Accept": "application/octet-stream, */*"},
            stream=True,
            what="download attachment",
        )
        if response.status_code == 203 or "text/html" in response.headers.get("Content-Type", ""):
            response.close()
            raise AuthError(
                "download attachment: Azure DevOps answered with a sign-in page",
                status=response.status_code,
            )
        return AttachmentStream(_Download(response), buffer_size=64 * 1024)

    def work_item_types(self) -> list[WorkItemType]:
        body = self._get(self._wit("workitemtypes"), what="work item types") or {}
        types: list[WorkItemType] = []
        for raw in body.get("value") or []:
            name = str(raw.get("name", ""))
            states_raw = raw.get("states")
            if not states_raw or any("category" not in s for s in states_raw):
                # The list carries states with categories on 7.1; older servers do not.
                st = (
                    self._get(
                        self._wit(f"workitemtypes/{quote(name, safe='')}/states"),
                        what=f"states of {name}",
                    )
                    or {}
                )
                states_raw = st.get("value") or []
            types.append(
                WorkItemType(
                    name=name,
                    reference_name=str(raw.get("referenceName", "")),
                    states=[
                        StateInfo(
                            name=str(s.get("name", "")),
                            category=str(s.get("category", "")),
                            color=str(s.get("color", "")),
                        )
                        for s in states_raw
                    ],
                    is_disabled=bool(raw.get("isDisabled", False)),
                    field_refs=[
                        str(f.get("referenceName"))
                        for f in raw.get("fields") or []
                        if f.get("referenceName")
                    ],
                )
            )
        return types

    def field_definitions(self) -> list[AdoField]:
        """The process's fields (``Fields_List``), typed; malformed rows are left out."""
        body = self._get(self._wit("fields"), what="field definitions") or {}
        rows = body.get("value") if isinstance(body, dict) else None
        return list(ado_fields(rows if isinstance(rows, list) else []).values())

    def classification_nodes(self, group: Literal["areas", "iterations"]) -> ClassificationNode:
        if group not in ("areas", "iterations"):
            raise ValueError(f"unknown classification group {group!r}")
        body = self._get(
            self._wit(f"classificationnodes/{group}"), {"$depth": 20}, what=f"{group} tree"
        )
        return node_from_json(body or {})

    # ------------------------------------------------------------------ relations, history
    def repository_names(self) -> dict[str, str]:
        """Git repository id → name (``Repositories_List``), for artifact link titles."""
        body = self._get(f"{self.project_url}/_apis/git/repositories", what="git repositories")
        rows = (body or {}).get("value") or [] if isinstance(body, dict) else []
        return {
            str(r["id"]).lower(): str(r.get("name") or r["id"])
            for r in rows
            if isinstance(r, dict) and r.get("id")
        }

    def relation_type_names(self) -> dict[str, str]:
        """Link type reference name → display name (``Work Item Relation Types_List``)."""
        body = self._get(f"{self.org_url}/_apis/wit/workitemrelationtypes", what="link types")
        rows = (body or {}).get("value") or [] if isinstance(body, dict) else []
        return {
            str(r["referenceName"]): str(r.get("name") or r["referenceName"])
            for r in rows
            if isinstance(r, dict) and r.get("referenceName")
        }

    def work_item_updates(self, work_item_id: int) -> list[dict[str, Any]]:
        """Every update of an item, oldest first (``Updates_List``, ``$top``/``$skip`` paged)."""
        url = self._wit(f"workItems/{int(work_item_id)}/updates")
        out: list[dict[str, Any]] = []
        skip: int | None = 0
        while skip is not None:
            body = self._get(
                url, {"$top": UPDATES_PAGE, "$skip": skip}, what=f"updates of {work_item_id}"
            )
            rows = [r for r in (body or {}).get("value") or [] if isinstance(r, dict)]
            out += rows
            skip = next_page(len(rows), skip, UPDATES_PAGE)
        return out
