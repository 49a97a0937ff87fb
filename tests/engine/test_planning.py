"""Filters, SAMPLE selection, per-item decisions and creation order (pure)."""

from __future__ import annotations

from engine.model import Relation, WorkItem
from engine.planning import (
    REMOVED_REASON,
    PlannedItem,
    assign_parents,
    creation_order,
    decide_action,
    matches_filters,
    normalize_type_filter,
    select_sample,
    under_area,
    waves,
)
from engine.ports import LedgerEntry

LEVEL = {"Epic": 2, "Feature": 1, "User Story": 0, "Bug": 0, "Task": -1}


def item(
    i: int, type_: str, parent: int | None = None, area: str = "P", state: str = "New"
) -> WorkItem:
    rels = []
    if parent is not None:
        rels.append(
            Relation(
                "System.LinkTypes.Hierarchy-Reverse", f"https://ado/_apis/wit/workItems/{parent}"
            )
        )
    return WorkItem(
        i, 1, type_, f"t{i}", state, f"https://ado/{i}", {"System.AreaPath": area}, rels
    )


def planned(i: int, level: int, parent: int | None = None, action: str = "create") -> PlannedItem:
    return PlannedItem(
        i,
        "T",
        1,
        "t",
        "New",
        "Proposed",
        "",
        parent,
        f"type{level}",
        f"L{level}",
        level,
        action,  # type: ignore[arg-type]
    )


def test_type_filter_is_comma_separated_with_spaces_ignored() -> None:
    assert normalize_type_filter(" Bug , User Story,,Task ") == ["Bug", "User Story", "Task"]
    assert normalize_type_filter(["Bug, Task", "Bug"]) == ["Bug", "Task"]
    assert normalize_type_filter(None) == []


def test_area_filter_means_under() -> None:
    assert under_area("Proj\\Web", "Proj\\Web")
    assert under_area("Proj\\Web\\Checkout", "proj\\web")
    assert not under_area("Proj\\Website", "Proj\\Web")
    assert under_area("anything", None)


def test_filters_combine() -> None:
    wi = item(1, "Bug", area="P\\Web\\Search")
    assert matches_filters(wi, "P\\Web", ["bug"])
    assert not matches_filters(wi, "P\\Mobile", [])
    assert not matches_filters(wi, None, ["Task"])


def test_sample_holds_each_type_and_the_parents() -> None:
    items = [
        item(1, "Epic"),
        item(2, "Feature", 1),
        item(3, "User Story", 2),
        item(4, "User Story", 2),
        item(5, "Task", 3),
        item(6, "Task", 4),
        item(7, "Bug", 2),
        item(8, "Bug"),
        item(9, "Task", 4),
    ]
    chosen = select_sample(items, 5, lambda t: LEVEL[t])
    types = {i.type for i in items if i.id in chosen}
    assert types == {"Epic", "Feature", "User Story", "Task", "Bug"}
    for i in items:
        if i.id in chosen and i.parent_id:
            assert i.parent_id in chosen


def test_sample_parents_may_push_over_the_size() -> None:
    items = [item(1, "Epic"), item(2, "Feature", 1), item(3, "User Story", 2), item(4, "Task", 3)]
    assert select_sample(items, 1, lambda t: LEVEL[t]) == [1]
    chosen = select_sample([items[3], *items[:3]], 1, lambda t: -LEVEL[t])
    assert chosen == [1, 2, 3, 4]


def test_sample_prefers_items_that_are_not_removed() -> None:
    items = [item(1, "Bug", state="Removed"), item(2, "Bug")]
    assert select_sample(items, 1, lambda t: 0, lambda i: i.state == "Removed") == [2]


def test_decisions() -> None:
    entry = LedgerEntry(1, "P-1", "1", ado_rev=3, extra={"synced_rev": 3})
    assert decide_action(3, False, None, "FULL") == ("create", "")
    assert decide_action(3, False, entry, "FULL") == ("skip", "already migrated as P-1")
    assert decide_action(4, False, entry, "FULL")[0] == "update"
    assert decide_action(3, False, entry, "INCREMENTAL")[0] == "refresh"
    unfinished = LedgerEntry(1, "P-1", "1", ado_rev=3)
    assert decide_action(3, False, unfinished, "FULL")[0] == "complete"
    action, reason = decide_action(3, True, None, "FULL")
    assert action == "skip" and reason == REMOVED_REASON
    assert decide_action(3, True, entry, "FULL")[1].startswith(REMOVED_REASON)


def test_parents_become_fields_or_links() -> None:
    plan = {
        1: planned(1, 1),
        2: planned(2, 1, 1),
        3: planned(3, 0, 2),
        4: planned(4, -1, 3),
        5: planned(5, -1, 1),
        6: planned(6, 0, 99),
        7: planned(7, 0, 98),
    }
    assign_parents(
        plan,
        ledger_levels={99: 1},
        parent_on_screen=lambda _t: True,
        standalone=lambda _p: ("std", "Task"),
    )
    assert plan[2].parent_link == 1 and plan[2].jira_parent is None  # epic under epic
    assert plan[3].jira_parent == 2
    assert plan[4].jira_parent == 3 and plan[4].level == -1
    assert plan[5].jira_type == "Task" and plan[5].level == 0 and plan[5].jira_parent == 1
    assert plan[6].jira_parent == 99  # migrated by an earlier run
    assert plan[7].parent_link == 98  # out of scope: a remote link


def test_a_subtask_without_a_parent_becomes_standalone() -> None:
    plan = {1: planned(1, -1)}
    assign_parents(
        plan,
        ledger_levels={},
        parent_on_screen=lambda _t: True,
        standalone=lambda _p: ("std", "Task"),
    )
    assert (plan[1].jira_type_id, plan[1].level) == ("std", 0)


def test_parent_off_the_create_screen_becomes_a_link() -> None:
    plan = {1: planned(1, 1), 2: planned(2, 0, 1)}
    assign_parents(
        plan, ledger_levels={}, parent_on_screen=lambda _t: False, standalone=lambda _p: None
    )
    assert plan[2].jira_parent is None and plan[2].parent_link == 1


def test_creation_order_is_parents_first_in_waves() -> None:
    plan = {5: planned(5, -1, 3), 3: planned(3, 0, 1), 1: planned(1, 1), 2: planned(2, 0)}
    order = creation_order(plan)
    assert order == [1, 2, 3, 5]
    assert waves(plan, order) == [[1], [2, 3], [5]]
