"""Issue links and remote links on the simulated Jira site: creating (idempotent for
the same type and ends), deleting, and the per-issue limits. Both ends of a link
are touched when it changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.jira_fields import adf_or_error
from sandbox.jira_records import JiraError, Link, RemoteLink, touch
from sandbox.jira_workflow import LINK_TYPES, find_by_id_or_name

if TYPE_CHECKING:
    from sandbox.jira_records import Issue
    from sandbox.jira_state import JiraState


def link_issues(state: JiraState, body: Any) -> None:
    if not isinstance(body, dict) or not all(
        k in body for k in ("type", "inwardIssue", "outwardIssue")
    ):
        raise JiraError(400, ["The type, inwardIssue and outwardIssue are required."])
    with state.lock:
        ltype = find_by_id_or_name(LINK_TYPES, body["type"])
        if ltype is None:
            shown = body["type"].get("name") if isinstance(body["type"], dict) else None
            raise JiraError(404, [f"No issue link type with name '{shown}' found."])
        inward = state.find_issue_ref(body["inwardIssue"])
        outward = state.find_issue_ref(body["outwardIssue"])
        if inward is None or outward is None:
            raise JiraError(404, ["Issue Does Not Exist"])
        if inward.id == outward.id:
            raise JiraError(400, ["You cannot link an issue to itself."])
        if isinstance(body.get("comment"), dict):
            adf_or_error(body["comment"].get("body"))
        index_key = (ltype["id"], inward.id, outward.id)
        if index_key in state.link_index:
            return  # Jira answers 201 again and keeps the one link
        if _link_count(state, inward.id) >= 2000 or _link_count(state, outward.id) >= 2000:
            raise JiraError(413, ["The per-issue limit for issue links has been breached."])
        link = Link(state.next_id("link"), ltype["id"], inward.id, outward.id)
        state.links[link.id] = link
        state.link_index[index_key] = link.id
        now = touch(inward)
        touch(outward, now)
        state.writes["links"] += 1
        if isinstance(body.get("comment"), dict):
            state.add_comment(inward.key, body["comment"])


def delete_link(state: JiraState, link_id: str) -> None:
    """``deleteIssueLink``: 400 for an id that is not a number, 404 for an unknown one."""
    if not link_id.isdigit():
        raise JiraError(400, [f"The issue link ID '{link_id}' is invalid."])
    with state.lock:
        link = state.links.get(int(link_id))
        if link is None:
            raise JiraError(404, [f"No issue link with id '{link_id}' exists."])
        drop_link(state, link)
        now = touch(state.issues[link.inward_id])
        touch(state.issues[link.outward_id], now)
        state.writes["links_deleted"] += 1


def drop_link(state: JiraState, link: Link) -> None:
    del state.links[link.id]
    state.link_index.pop((link.type_id, link.inward_id, link.outward_id), None)


def _link_count(state: JiraState, issue_id: int) -> int:
    return sum(1 for ln in state.links.values() if issue_id in (ln.inward_id, ln.outward_id))


def links_of(state: JiraState, issue: Issue) -> list[Link]:
    return [ln for ln in state.links.values() if issue.id in (ln.inward_id, ln.outward_id)]


def upsert_remote_link(state: JiraState, id_or_key: str, body: Any) -> tuple[RemoteLink, bool]:
    obj = body.get("object") if isinstance(body, dict) else None
    if not isinstance(obj, dict) or not obj.get("url") or not obj.get("title"):
        raise JiraError(400, [], {"object": "The remote link object needs a url and a title."})
    global_id = body.get("globalId")
    with state.lock:
        issue = state.issue(id_or_key)
        if global_id:
            for existing in issue.remote_links:
                if existing.global_id == global_id:
                    existing.body = dict(body)
                    touch(issue)
                    state.writes["remote_links_updated"] += 1
                    return existing, False
        link = RemoteLink(state.next_id("remotelink"), global_id, dict(body))
        issue.remote_links.append(link)
        touch(issue)
        state.writes["remote_links"] += 1
        return link, True


def delete_remote_link(state: JiraState, id_or_key: str, link_id: str) -> None:
    """``deleteRemoteIssueLinkById``: 400 for a bad id or one of another issue, else 404."""
    with state.lock:
        issue = state.issue(id_or_key)
        if not link_id.isdigit():
            raise JiraError(400, [f"The remote issue link ID '{link_id}' is invalid."])
        link = next((rl for rl in issue.remote_links if rl.id == int(link_id)), None)
        if link is None:
            if any(
                rl.id == int(link_id)
                for other in state.issues.values()
                for rl in other.remote_links
            ):
                raise JiraError(
                    400,
                    [
                        f"The remote issue link with id '{link_id}' does "
                        f"not belong to issue {issue.key}."
                    ],
                )
            raise JiraError(404, [f"No remote issue link with id '{link_id}' exists."])
        issue.remote_links.remove(link)
        touch(issue)
        state.writes["remote_links_deleted"] += 1
