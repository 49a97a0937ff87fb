"""The history writer's exactly-once keys: the comment marker and the carried revision."""

from __future__ import annotations

from engine.adf_nodes import doc, paragraph
from engine.model import WorkItem
from engine.pipeline.history import _with_header, carried_rev, history_key, marker_of
from engine.ports import LedgerEntry
from tests.engine.adf_schema import assert_valid_adf


def _entry(*keys: str) -> LedgerEntry:
    entry = LedgerEntry(7, "MIG-7", "10007")
    entry.comments = {k: str(n) for n, k in enumerate(keys)}
    return entry


def test_the_header_carries_a_marker_that_is_read_back() -> None:
    wi = WorkItem(7, 9, "Bug", "T", "Active", "", {})
    body = _with_header(doc(paragraph("x")), wi, 3, 9)
    assert_valid_adf(body)
    assert marker_of(body) == history_key(3, 9) == "history:3-9"
    assert marker_of(doc(paragraph("an ordinary comment"))) is None
    assert marker_of("not a document") is None


def test_the_carried_revision_follows_the_parts_still_on_the_issue() -> None:
    assert carried_rev(_entry(), None) == 0
    assert carried_rev(_entry("history:1-5"), 5) == 5
    assert carried_rev(_entry("history:1-5", "history:6-8"), 8) == 8
    # a rollback took the second part off: from the first part's end again
    assert carried_rev(_entry("history:1-5", "301"), 8) == 5
    assert carried_rev(_entry("history:1-x"), 4) == 0
