"""Phases 2 to 5 run at once: each endpoint's budget is in use.

The Jira client below is the real one; its comment and transition calls wait until
the links phase has written something. Were the phases run one after another, the
first comment (phase 4) and the first transition (phase 3) would wait for a link
that phase 5 never gets to write, and the run would stall until the deadline.
Beside phase 2, comments start once issues exist, while phase 2 still works (its
sprint moves wait for a comment below); a comment naming an issue not made yet waits
for it, so that every reference still gets its Jira key.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from engine.errors import AuthError
from engine.pipeline.content import ContentPhase
from tests.engine.test_pipeline_faults import Proxy
from tests.engine.test_pipeline_support import (
    Harness,
    assert_complete,
    clients,
    make_spec,
    wait_until,
)

DEADLINE = 60.0
CHUNK = ContentPhase.stream_batch or 0  # issues made before content starts beside phase 2


def test_transitions_comments_and_links_are_written_at_once(sandboxes: Any) -> None:
    _, jira = clients(sandboxes)
    linked = threading.Event()
    waited: dict[str, bool] = {}

    def after_a_link(name: str) -> Any:
        def wrapper(real: Any, *args: Any, **kwargs: Any) -> Any:
            waited.setdefault(name, linked.wait(DEADLINE))
            return real(*args, **kwargs)

        return wrapper

    def link(real: Any, *args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        linked.set()
        return result

    target = Proxy(
        Proxy(
            Proxy(
                Proxy(Proxy(jira, "remote_link", link), "link_issues", link),
                "add_comment",
                after_a_link("comment"),
            ),
            "transition",
            after_a_link("transition"),
        ),
        "bulk_transition",  # phase 3 moves a chunk in bulk when the account may
        after_a_link("transition"),
    )
    h = Harness(sandboxes)
    outcome = h.run(make_spec(sandboxes), target=target)

    assert outcome.status == "COMPLETED", outcome
    assert_complete(sandboxes, h.store)
    # the first comment and the first transition each saw a link written before them
    assert waited == {"comment": True, "transition": True}
    assert h.store.plan is not None and sorted(h.store.plan["phases_done"]) == [2, 3, 4, 5, 6]


def test_a_refusal_in_one_phase_stops_the_phases_beside_it(sandboxes: Any) -> None:
    _, jira = clients(sandboxes)

    def refused(real: Any, *args: Any, **kwargs: Any) -> Any:
        raise AuthError("HTTP 401: the token was revoked")

    h = Harness(sandboxes)
    outcome = h.run(make_spec(sandboxes), target=Proxy(jira, "remote_link", refused))
    assert outcome.status == "FAILED" and "revoked" in outcome.reason
    assert h.store.plan is not None and 5 not in h.store.plan["phases_done"]
    # a rerun finishes what the stopped phases left, and nothing is doubled
    assert h.run(make_spec(sandboxes)).status == "COMPLETED"
    assert_complete(sandboxes, h.store)


def test_content_is_written_while_phase_2_still_works(make_sandboxes: Any) -> None:
    sandboxes = make_sandboxes(items=160, seed=1)  # several bulk creates at each level
    _, jira = clients(sandboxes)
    commented = threading.Event()
    waited: list[bool] = []

    def after_a_comment(real: Any, *args: Any, **kwargs: Any) -> Any:
        waited.append(commented.wait(DEADLINE))
        return real(*args, **kwargs)

    def comment(real: Any, *args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        commented.set()
        return result

    made, seen, planted = [0], set[int](), list[tuple[int, int]]()
    set_aside = threading.Event()
    h = Harness(sandboxes)

    def on_event(event: dict[str, Any]) -> None:
        message = str(event.get("message", ""))
        if planted and f"ADO #{planted[0][0]} " in message and "which it names" in message:
            set_aside.set()

    h.events.on_event = on_event

    def create(real: Any, payloads: Any) -> Any:
        ids = [
            int(label[4:])
            for p in payloads
            for label in p["fields"].get("labels", [])
            if label.startswith("ado-") and label[4:].isdigit()
        ]
        seen.update(ids)
        if not planted and ids and made[0] + len(ids) >= CHUNK:
            # an item of this request gets a comment naming one made after the others
            assert h.store.plan is not None
            later = [
                i["ado_id"]
                for i in h.store.plan_items
                if i["action"] == "create" and i["ado_id"] not in seen
            ]
            if later:
                sandboxes.ado.add_comment(ids[0], f"<p>Waiting on #{later[-1]} first</p>")
                planted.append((ids[0], later[-1]))
        if made[0] >= CHUNK:  # enough issues for content to start: the rest come after
            waited.append(commented.wait(DEADLINE))
            if planted:  # and after the planted comment was seen naming an issue not made
                waited.append(set_aside.wait(DEADLINE))
        result = real(payloads)
        made[0] += len(result.created)
        return result

    target = Proxy(
        Proxy(Proxy(jira, "add_comment", comment), "move_to_sprint", after_a_comment),
        "create_issues",
        create,
    )
    outcome = h.run(make_spec(sandboxes), target=target)

    assert outcome.status == "COMPLETED", outcome
    # phase 2's last creates and its sprint moves each saw a comment written before them
    assert waited and all(waited), waited
    assert_complete(sandboxes, h.store)
    issues = {i["key"]: i for i in sandboxes.jira.snapshot()["issues"]}
    # every reference to an item of the run carries its issue's key, though some
    # comments were written before the issue they name existed
    keys = {i: e.jira_key for i, e in h.store.ledger.items()}
    named = 0
    for ado_id, entry in h.store.ledger.items():
        bodies = json.dumps([c["body"] for c in issues[entry.jira_key]["comments"]])
        for c in sandboxes.ado.store.comments(ado_id, include_deleted=False):
            for ref in map(int, re.findall(r"#(\d+)", c.text or "")):
                if ref in keys and ref != ado_id:
                    named += 1
                    assert f"/browse/{keys[ref]}" in bodies, (entry.jira_key, ref)
    assert named
    assert planted, "no item was left to be made after content started"
    (item, named_later) = planted[0]
    waits = [m for m in h.events.logs() if f"ADO #{item} " in m and "which it names" in m]
    assert waits and f"#{named_later}" in waits[0], waits


def _linked_pairs(sandboxes: Any, ids: set[int]) -> set[tuple[int, int]]:
    """(item, other end) of the work-item links among ``ids`` that become issue links."""
    ado, _ = clients(sandboxes)
    pairs = set()
    for wi in ado.get_work_items(sorted(ids)):
        for rel in wi.relations:
            other = rel.target_id
            if other in ids and other != wi.id and "Hierarchy-Forward" not in rel.rel:
                pairs.add((wi.id, other))
    return pairs


def test_links_are_written_while_phase_2_still_works_and_none_is_lost(
    make_sandboxes: Any,
) -> None:
    from tests.engine.test_pipeline_plan_versions import jira_state

    def migrate(*, hold_creates: bool) -> tuple[dict[str, Any], list[bool], set[int]]:
        sandboxes = make_sandboxes(items=160, seed=1)
        _, jira = clients(sandboxes)
        linked = threading.Event()
        waited: list[bool] = []
        made: list[Any] = []
        at_hold: set[int] = set()
        h = Harness(sandboxes)

        def link(real: Any, *args: Any, **kwargs: Any) -> Any:
            if not hold_creates:  # links only once every issue exists, as phases in turn
                waited.append(wait_until(lambda: 2 in (h.store.plan or {})["phases_done"]))
            result = real(*args, **kwargs)
            linked.set()
            return result

        def create(real: Any, payloads: Any) -> Any:
            if hold_creates and len(made) >= CHUNK:
                if not at_hold:
                    at_hold.update(i for i, e in h.store.ledger.items() if e.jira_key)
                waited.append(linked.wait(DEADLINE))  # a link goes while phase 2 waits
            result = real(payloads)
            made.extend(result.created)
            return result

        target = Proxy(
            Proxy(Proxy(jira, "remote_link", link), "link_issues", link), "create_issues", create
        )
        outcome = h.run(make_spec(sandboxes), target=target)
        errors = {r.error for r in h.store.items.values() if r.error}
        assert outcome.status == "COMPLETED", (outcome, sorted(errors)[:3])
        assert_complete(sandboxes, h.store)
        if hold_creates:
            in_run = {i["ado_id"] for i in h.store.plan_items if i["action"] != "skip"}
            later = in_run - at_hold
            # some item made before the hold links to one made after it: that link waited
            assert any(b in later for a, b in _linked_pairs(sandboxes, in_run) if a in at_hold)
        return jira_state(sandboxes), waited, at_hold

    streamed, waited, at_hold = migrate(hold_creates=True)
    assert waited and all(waited) and at_hold, waited
    in_turn, waited_after, _ = migrate(hold_creates=False)
    assert waited_after and all(waited_after)
    # the same links and remote links as when every issue existed before the first link
    for key in ("links", "remote"):
        got = {i: sorted(v[key]) for i, v in streamed["issues"].items()}
        assert got == {i: sorted(v[key]) for i, v in in_turn["issues"].items()}, key
    assert sum(len(v["links"]) for v in streamed["issues"].values()) > 10
