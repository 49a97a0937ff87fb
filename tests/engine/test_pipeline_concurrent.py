"""Phases 3 to 5 run at once once every issue exists: each endpoint's budget is in use.

The Jira client below is the real one; its comment and transition calls wait until
the links phase has written something. Were the phases run one after another, the
first comment (phase 4) and the first transition (phase 3) would wait for a link
that phase 5 never gets to write, and the run would stall until the deadline.
"""

from __future__ import annotations

import threading
from typing import Any

from engine.errors import AuthError
from tests.engine.test_pipeline_faults import Proxy
from tests.engine.test_pipeline_support import (
    Harness,
    assert_complete,
    clients,
    make_spec,
)

DEADLINE = 60.0


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
