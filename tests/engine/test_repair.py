"""Which copies of a write the verify phase may remove, and which it must leave."""

from __future__ import annotations

from typing import Any

from engine.repair import (
    attachment_copies,
    comment_copies,
    issue_copies,
    jira_time,
    link_copies,
    unchanged,
)

ME = "acc-migration"
T0 = "2026-12-01T10:00:00.000+0000"
T1 = "2026-12-01T10:05:00.000+0000"


def issue(key: str, *, creator: str = ME, updated: str = T0) -> dict[str, Any]:
    return {
        "key": key,
        "fields": {
            "creator": {"accountId": creator},
            "created": T0,
            "updated": updated,
            "labels": ["ado-7"],
        },
    }


def test_jira_timestamps_are_read_in_both_of_jiras_forms() -> None:
    assert jira_time(T0) is not None
    assert jira_time("2026-12-01T10:00:00+0000") == jira_time(T0)
    assert jira_time("2026-12-01T10:00:00Z") == jira_time(T0)
    assert jira_time("yesterday") is None and jira_time(None) is None


def test_unchanged_means_updated_is_created() -> None:
    assert unchanged(T0, T0)
    assert not unchanged(T0, T1)
    assert not unchanged(None, T0)


def test_the_ledgers_issue_is_kept_and_an_untouched_copy_of_ours_may_go() -> None:
    [copy] = issue_copies(7, "MIG-1", [issue("MIG-1"), issue("MIG-9")], ME)
    assert (copy.copy_id, copy.kept, copy.removable) == ("MIG-9", "MIG-1", True)


def test_a_copy_someone_changed_or_made_is_left_with_the_reason() -> None:
    changed, theirs = issue_copies(
        7, "MIG-1", [issue("MIG-1"), issue("MIG-9", updated=T1), issue("MIG-10", creator="x")], ME
    )
    assert not changed.removable and "changed" in changed.why_left
    assert not theirs.removable and "someone else" in theirs.why_left


def test_without_the_migration_account_nothing_is_removed() -> None:
    [copy] = issue_copies(7, "MIG-1", [issue("MIG-1"), issue("MIG-9")], "")
    assert not copy.removable


def comment(cid: str, *, author: str = ME, updated: str = T0) -> dict[str, Any]:
    return {"id": cid, "author": {"accountId": author}, "created": T0, "updated": updated}


def test_comment_copies_keep_the_ledgers_one_and_spare_edited_ones() -> None:
    copies = comment_copies(
        7,
        "MIG-1",
        {
            "45": [comment("100"), comment("101"), comment("102", updated=T1)],
            "46": [comment("103")],
        },
        {"45": "101"},
        ME,
    )
    assert {(c.copy_id, c.kept, c.removable) for c in copies} == {
        ("100", "101", True),
        ("102", "101", False),
    }


def test_a_comment_copy_unknown_to_the_ledger_keeps_the_oldest() -> None:
    [copy] = comment_copies(7, "MIG-1", {"45": [comment("100"), comment("101")]}, {}, ME)
    assert (copy.copy_id, copy.kept) == ("101", "100")


def att(aid: str, name: str = "a.png", size: int = 10, author: str = ME) -> dict[str, Any]:
    return {"id": aid, "filename": name, "size": size, "author": {"accountId": author}}


def test_only_a_file_the_ledger_does_not_know_beside_one_it_knows_is_a_copy() -> None:
    [copy] = attachment_copies(
        7, "MIG-1", [att("1"), att("2"), att("3", "b.png")], {"g1": "1", "g3": "3"}, ME
    )
    assert (copy.copy_id, copy.kept) == ("2", "1")
    # two ADO files with one name and size, both in the ledger: not copies
    assert attachment_copies(7, "MIG-1", [att("1"), att("2")], {"g1": "1", "g2": "2"}, ME) == []
    # neither known: nothing to tell them apart by
    assert attachment_copies(7, "MIG-1", [att("1"), att("2")], {}, ME) == []


def test_the_same_link_twice_is_one_copy_and_other_directions_are_not() -> None:
    links = [
        {"id": "1", "type": {"name": "Blocks"}, "outwardIssue": {"key": "MIG-2"}},
        {"id": "2", "type": {"name": "Blocks"}, "outwardIssue": {"key": "MIG-2"}},
        {"id": "3", "type": {"name": "Blocks"}, "inwardIssue": {"key": "MIG-2"}},
        {"id": "4", "type": {"name": "Relates"}, "outwardIssue": {"key": "MIG-2"}},
    ]
    [copy] = link_copies(7, "MIG-1", links)
    assert (copy.copy_id, copy.kept, copy.removable) == ("2", "1", True)
